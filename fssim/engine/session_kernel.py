"""One session of the compiled counter (:mod:`fssim.engine.kernel`): the agents serving the citizens present,
the same arithmetic in the same order as :func:`fssim.engine.counter.serve_session`; with channels, the visio
room, the stations and the agents as :meth:`fssim.engine.stations.ChannelPlan.serve`; and a booking calendar's
ledger (:meth:`fssim.demand.booking.BookingCalendar.take`). Also the columns of the kernel's visit tables.
"""
from __future__ import annotations

import numba
import numpy as np

from fssim.clock import DAY
from fssim.engine.counter import GAVE_UP, SENT_HOME, SERVED
from fssim.engine.stations import COUNTER as CH_COUNTER, SELF_SERVICE as CH_SELF_SERVICE, VISIO as CH_VISIO

# integer columns of the visit table I (float columns: the table F)
KIND, CITIZEN, ATTEMPT, POINT, ORIGIN, DEMARCHE, DEMARCHES, OUTCOME, AGENT, BOOKED, BOOKED_ON, STATION = range(12)
TIME, SERVICE, PATIENCE, START, END, LEAVE = range(6)

jit = numba.njit(cache=True, nogil=True)  # module-level integers (columns, codes) are constants to numba


@jit
def serve(ids, L, F, I, sa, sb, sc, close, free, home, carried_k, carried_c, who=AGENT):
    """One session at the counter (:func:`fssim.engine.counter.serve_session`, same arithmetic, same order).

    ``ids[:L]``: the citizens present, sorted by arrival. Fills ``home`` (returns how many), ``carried_k/c``; the
    server of each citizen served goes to column ``who`` of ``I`` (an agent, or a station).
    Returns (n home, busy, overtime, n carried).
    """
    nseg = len(sa)
    cmax = 0
    for q in range(nseg):
        if sc[q] > cmax:
            cmax = sc[q]
    # duty windows of each agent: contiguous segments with staffing > k, merged
    wa = np.empty((cmax, max(nseg, 1)))
    wb = np.empty((cmax, max(nseg, 1)))
    nw = np.zeros(cmax, np.int64)
    for k in range(cmax):
        for q in range(nseg):
            if sc[q] > k:
                if nw[k] > 0 and wb[k, nw[k] - 1] == sa[q]:
                    wb[k, nw[k] - 1] = sb[q]
                else:
                    wa[k, nw[k]] = sa[q]
                    wb[k, nw[k]] = sb[q]
                    nw[k] += 1
    where = np.zeros(cmax, np.int64)
    st = np.empty(cmax)  # next free time of each agent in the pool (valid where active)
    active = np.zeros(cmax, np.bool_)
    nact = 0
    ncar = 0
    busy = 0.0
    for k in range(cmax):
        f, p = free[k], 0
        while p < nw[k] and wb[k, p] <= f:
            p += 1
        if p > 0 or (nw[k] > 0 and f > wa[k, 0]):
            c = 0.0
            for q in range(min(p + 1, nw[k])):
                if f > wa[k, q]:
                    c += min(wb[k, q], f) - wa[k, q]
            carried_k[ncar] = k
            carried_c[ncar] = c
            ncar += 1
            busy += c
        if p < nw[k]:
            where[k] = p
            a = wa[k, p]
            st[k] = a if a > f else f
            active[k] = True
            nact += 1
    walk = np.empty(L, np.int64)
    wh, wt = 0, 0
    appt = np.empty(L, np.int64)
    ah, at = 0, 0
    i, total = 0, 0.0
    while nact > 0:
        k = -1
        t = 0.0
        for q in range(cmax):
            if active[q] and (k < 0 or st[q] < t):
                k, t = q, st[q]
        while i < L and F[ids[i], TIME] <= t:
            v = ids[i]
            i += 1
            if I[v, BOOKED]:
                appt[at] = v
                at += 1
            else:
                walk[wt] = v
                wt += 1
        v = -1
        if ah < at:
            v = appt[ah]
            ah += 1
        else:
            while wh < wt:
                w = walk[wh]
                wh += 1
                gone = F[w, TIME] + F[w, PATIENCE]
                if gone < t:
                    I[w, OUTCOME] = GAVE_UP
                    F[w, LEAVE] = gone
                else:
                    v = w
                    break
        p = where[k]
        if v < 0:
            if i >= L:
                break
            nt = F[ids[i], TIME]
        else:
            s = F[v, SERVICE]
            F[v, START] = t
            nt = t + s
            F[v, END] = nt
            F[v, LEAVE] = nt
            free[k] = nt
            I[v, OUTCOME] = SERVED
            I[v, who] = k
            total += s
            b = wb[k, p]
            if nt <= b:
                busy += s
            else:
                busy += b - t
                p += 1
                while p < nw[k] and wb[k, p] <= nt:
                    busy += wb[k, p] - wa[k, p]
                    p += 1
                if p < nw[k] and wa[k, p] < nt:
                    busy += nt - wa[k, p]
        while p < nw[k] and wb[k, p] <= nt:
            p += 1
        if p == nw[k]:
            active[k] = False
            nact -= 1
        else:
            where[k] = p
            a = wa[k, p]
            st[k] = a if a > nt else nt
    cs = 0.0
    for q in range(ncar):
        cs += carried_c[q]
    own = busy - cs
    # closing: appointments left (in time order), walk-ins left, then those not arrived yet
    nh = 0
    for part in range(3):
        if part == 0:
            lo, hi = ah, at
        elif part == 1:
            lo, hi = wh, wt
        else:
            lo, hi = i, L
        for x in range(lo, hi):
            w = appt[x] if part == 0 else (walk[x] if part == 1 else ids[x])
            gone = F[w, TIME] + F[w, PATIENCE]
            if gone < close:
                I[w, OUTCOME] = GAVE_UP
                F[w, LEAVE] = gone
            else:
                I[w, OUTCOME] = SENT_HOME
                F[w, LEAVE] = close
                home[nh] = w
                nh += 1
    return nh, busy, total - own, ncar


@jit
def serve_channels(ids, L, F, I, j, sa, sb, sc, close, free, home, carried_k, carried_c, ch_n, chan, needs_help,
                   help_min, st_ptr, st_a, st_b, st_c, st_free, st_ck, st_cc, st_min, st_busy, vis_minutes, vis_min,
                   vis_busy, buf, F2, I2, T):
    """One session at a site with channels (:meth:`fssim.engine.stations.ChannelPlan.serve`, same order): visio
    appointments held, then the stations (the counter's kernel with stations as servers), then the agents, who
    serve the counter's citizens and the help that self-service citizens ask for (at their station start).
    ``buf`` (7 × rows): work rows (desk, stations, stations' home, local ids and home, items and their kind);
    ``F2``, ``I2``, ``T``: the agents' local visit table and item times. Returns as :func:`serve`."""
    desk, st_ids, st_home, loc, home_loc, items_v, items_h = buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6]
    nd, ns, visio_busy = 0, 0, 0.0
    for x in range(L):
        v = ids[x]
        c = chan[v] if v < ch_n else CH_COUNTER
        if c == CH_VISIO:
            F[v, START], F[v, END], F[v, LEAVE] = F[v, TIME], F[v, TIME] + F[v, SERVICE], F[v, TIME] + F[v, SERVICE]
            I[v, OUTCOME] = SERVED
            visio_busy += F[v, SERVICE]
        elif c == CH_SELF_SERVICE:
            st_ids[ns] = v
            ns += 1
        else:
            desk[nd] = v
            nd += 1
    q0, q1 = st_ptr[j], st_ptr[j + 1]
    nhs, station_busy = 0, 0.0
    if q1 > q0:
        nhs, station_busy, _, _ = serve(st_ids, ns, F, I, st_a[q0:q1], st_b[q0:q1], st_c[q0:q1], close, st_free,
                                        st_home, st_ck, st_cc, STATION)
    minutes = 0.0
    for q in range(q0, q1):
        minutes += (st_b[q] - st_a[q]) * st_c[q]
    st_min[j], st_busy[j], vis_min[j], vis_busy[j] = minutes, station_busy, vis_minutes[j], visio_busy
    m = 0
    for x in range(nd):
        items_v[m], items_h[m] = desk[x], 0
        m += 1
    for x in range(ns):
        v = st_ids[x]
        if I[v, OUTCOME] == SERVED and needs_help[v]:
            items_v[m], items_h[m] = v, 1
            m += 1
    if m == nd:  # nobody asked for help: the agents serve the counter's citizens
        nh, busy, overtime, ncar = serve(desk, nd, F, I, sa, sb, sc, close, free, home, carried_k, carried_c)
        for x in range(nhs):
            home[nh + x] = st_home[x]
        return nh + nhs, busy, overtime, ncar
    for i in range(m):  # the agents' queue, sorted by (time, desk before help, visit)
        v = items_v[i]
        T[i] = F[v, TIME] if items_h[i] == 0 else F[v, START]
    for x in range(1, m):  # insertion sort, stable on the key
        tv, th, tt = items_v[x], items_h[x], T[x]
        z = x - 1
        while z >= 0 and (T[z] > tt or (T[z] == tt and (items_h[z] > th or (items_h[z] == th and items_v[z] > tv)))):
            items_v[z + 1], items_h[z + 1], T[z + 1] = items_v[z], items_h[z], T[z]
            z -= 1
        items_v[z + 1], items_h[z + 1], T[z + 1] = tv, th, tt
    for i in range(m):
        v = items_v[i]
        desk_item = items_h[i] == 0
        F2[i, TIME] = T[i]
        F2[i, SERVICE] = F[v, SERVICE] if desk_item else help_min[v]
        F2[i, PATIENCE] = F[v, PATIENCE] if desk_item else np.inf
        F2[i, START], F2[i, END], F2[i, LEAVE] = np.nan, np.nan, np.nan
        I2[i, BOOKED] = I[v, BOOKED] if desk_item else 0
        I2[i, OUTCOME], I2[i, AGENT] = -1, -1
        loc[i] = i
    nh2, busy, overtime, ncar = serve(loc, m, F2, I2, sa, sb, sc, close, free, home_loc, carried_k, carried_c)
    for i in range(m):
        v = items_v[i]
        if items_h[i] == 0:
            F[v, START], F[v, END], F[v, LEAVE] = F2[i, START], F2[i, END], F2[i, LEAVE]
            I[v, OUTCOME], I[v, AGENT] = I2[i, OUTCOME], I2[i, AGENT]
        elif I2[i, OUTCOME] == SERVED:
            I[v, AGENT] = I2[i, AGENT]  # the agent who helped
    nh = 0
    for x in range(nh2):
        if items_h[home_loc[x]] == 0:
            home[nh] = items_v[home_loc[x]]
            nh += 1
    for x in range(nhs):
        home[nh] = st_home[x]
        nh += 1
    return nh, busy, overtime, ncar


@jit
def take_slot(booked_on, wanted, c_start, c_day, c_capacity, c_taken, c_next, horizon_days, walk_in_when_full):
    """:meth:`fssim.demand.booking.BookingCalendar.take`: the slot booked on day ``booked_on`` for moment ``wanted``
    (the first one with room from the slot ``wanted`` falls in), or −1; ``c_taken``, ``c_next`` updated."""
    k = np.searchsorted(c_start, wanted, side="right") - 1
    if not (k >= 0 and c_day[k] == int(wanted // DAY)):
        k += 1
    i = k
    while c_next[i] != i:  # path-halving union-find: the first slot at or after i with room
        c_next[i] = c_next[c_next[i]]
        i = c_next[i]
    k = i
    if k >= len(c_start):
        return -1
    if c_day[k] > booked_on + horizon_days and walk_in_when_full:
        return -1
    c_taken[k] += 1
    if c_taken[k] >= c_capacity[k]:
        c_next[k] = k + 1
    return k

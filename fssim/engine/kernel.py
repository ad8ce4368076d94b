"""The compiled counter: a site's or a bus's whole horizon in one call of a numba-compiled next-event loop.

The Python path (:func:`fssim.engine.counter.serve_session` called per session by
:func:`fssim.engine.simulation.counter`) is the reference; this module does exactly the same arithmetic in the
same order, so its results are identical bit for bit (``tests/test_kernel.py`` checks it on random sites).
It covers what a fixed site does: walk-ins first come, first served, booked citizens with priority, reneging,
agents on and off duty, capacity carried across closures, absences (sessions without agents turn citizens away),
no-shows, returns of those sent home and follow-ups, each landing in a later session of the same site (booked in
the slots left of a booking calendar), and the channels (visio, self-service stations, the agents' help:
:mod:`fssim.engine.session_kernel`); and what a bus does: it drives from its base and between stops, starts a stop
late when the drive or the last service runs over, and its citizens come back at a later visit to their stop. A
bus that sends its citizens to a fallback site in the same shard, that site, and always-open validation sites keep
the Python path (:func:`compiled_path_for` says which).

Compiled with ``cache=True``: the first run on a machine compiles (seconds) and stores the machine code beside
this module (or in ``NUMBA_CACHE_DIR``); later runs load it.
"""
from __future__ import annotations

import numpy as np

from fssim.demand.arrivals import BOOKED as K_BOOKED, FOLLOW_UP, REDIRECT, RETURN, WALK_IN
from fssim.demand.booking import primary_bookings
from fssim.engine.calendar import Session, SessionArrays
from fssim.engine.counter import NO_SHOW, SENT_HOME, SERVED
from fssim.engine.session_kernel import (AGENT, ATTEMPT, BOOKED, BOOKED_ON, CITIZEN, DEMARCHE, DEMARCHES, END, KIND,
                                         LEAVE, ORIGIN, OUTCOME, PATIENCE, POINT, SERVICE, START, STATION, TIME, jit,
                                         serve, serve_channels, take_slot)

def compiled_path_for(plan, fallback_targets: set) -> bool:
    """Whether ``plan`` (a :class:`~fssim.engine.simulation.SitePlan`) can run on the compiled kernel."""
    redirect = plan.is_bus and plan.site.unserved == "nearest_site" and plan.fallback is not None
    return not (redirect or getattr(plan.site, "always_open", False) or plan.site.id in fallback_targets)


def run_site(plan) -> None:
    """Simulate ``plan`` over its horizon with the compiled kernel and fill in its log."""
    a, beh, log = plan.arrivals, plan.config.behaviour, plan.log
    cal, n = plan.calendar, len(plan.arrivals)
    seg_ptr, seg_a, seg_b, seg_c = cal.seg_ptr, cal.seg_a, cal.seg_b, cal.seg_c
    s_day, s_start, s_end, point = cal.day, cal.start, cal.end, cal.point
    prof = plan.profile
    prof_row = np.full(int(prof.units[-1]) + 1 if len(prof.units) else 1, -1, np.int64)
    prof_row[prof.units] = np.arange(len(prof.units))
    prof_ptr, p_start, p_len, p_cum = prof.ptr, prof.starts, prof.lengths, prof.cum
    thresholds = np.array([beh.return_probability ** k for k in range(beh.max_returns + 1)], dtype=float)
    crew = int(seg_c.max()) if len(seg_c) else 0
    bounds = np.asarray(plan.bounds, dtype=np.int64)
    points = np.repeat(point, np.diff(bounds))
    # a bus's citizens are counted at their stop; a site's, at their commune
    origin = points if plan.is_bus else np.asarray(a.origin if a.origin is not None else np.full(n, -1), np.int64)
    drives, departs, pt_ptr, pt_days, pt_sess = _bus_inputs(plan, point, s_day)
    calendar = a.calendar  # a booking calendar: follow-ups book in its slots left (fssim.demand.booking)
    book_follow_ups = calendar is not None and bool(calendar.rule.follow_ups)
    c_start, c_session, c_day, c_capacity, c_horizon, c_walk_in = _calendar_inputs(calendar)
    ch = plan.channels  # stations, visio room, back office (fssim.engine.stations)
    chan, needs_help, help_min, st_ptr, st_a, st_b, st_c, vis_minutes = _channel_inputs(ch, len(s_day))
    cap = n + n // 2 + 64  # room for the later visits (returns, follow-ups) of most sites; doubled if short
    while True:
        F = np.empty((cap, 6))  # the kernel initialises the rows it adds
        I = np.empty((cap, 12), np.int64)
        F[:n, START:] = np.nan
        I[:n, OUTCOME:AGENT + 1] = -1
        F[:n, TIME], F[:n, SERVICE], F[:n, PATIENCE] = a.time, a.service, a.patience
        I[:n, KIND] = np.where(a.booked, K_BOOKED, WALK_IN)
        I[:n, CITIZEN] = np.arange(n)
        I[:n, ATTEMPT] = 0
        I[:n, POINT] = points
        I[:n, ORIGIN] = origin
        I[:n, DEMARCHE], I[:n, DEMARCHES] = a.demarche, a.demarches
        I[:n, BOOKED] = a.booked
        I[:n, BOOKED_ON] = -1  # the primaries' booking days are the arrivals' (a.booked_on)
        I[:n, STATION] = -1
        c_taken = calendar.taken.copy() if calendar is not None else np.zeros(0, np.int64)
        c_next = np.asarray(calendar._next if calendar is not None else [0], dtype=np.int64)
        st_free = np.asarray(ch.free if ch is not None else [], dtype=float)
        ch_out = np.zeros((4, len(s_day)))
        m, busy, overtime, begin, staffed, deferred = site_kernel(
            F, I, n, np.asarray(a.no_show, dtype=np.bool_), np.asarray(a.follow_up, dtype=np.bool_),
            np.asarray(a.follow_up_delay, dtype=np.int64), np.asarray(a.follow_up_u, dtype=float),
            np.asarray(a.follow_up_service, dtype=float), np.asarray(a.walk_in_patience, dtype=float),
            np.asarray(a.return_u, dtype=float), np.asarray(a.return_delay, dtype=np.int64),
            np.asarray(a.return_tod_u, dtype=float), thresholds, beh.max_returns,
            s_day, s_start, s_end, point, seg_ptr, seg_a, seg_b, seg_c, bounds,
            np.asarray(plan.open_days, dtype=np.int64),
            np.asarray(plan.session_start, dtype=float), prof_row, prof_ptr, p_start, p_len, p_cum, crew,
            plan.is_bus, drives, departs, pt_ptr, pt_days, pt_sess, book_follow_ups, c_start, c_session, c_day,
            c_capacity, c_taken, c_next, c_horizon, c_walk_in, ch is not None, ch.n if ch is not None else 0, chan,
            needs_help, help_min, st_ptr, st_a, st_b, st_c, st_free, vis_minutes, ch_out)
        if m >= 0:
            break
        cap *= 2  # more later visits than room: run again with more (the same draws, the same results)
    _fill(log, F[:m], I[:m], cal, busy, overtime, begin, staffed)
    if ch is not None:  # the channels' state and minutes per session, as the Python path leaves them
        ch.station_min, ch.station_busy_min, ch.visio_min, ch.visio_busy_min = (x.tolist() for x in ch_out)
        ch.session, ch.free, ch.station = len(s_day), st_free.tolist(), I[:ch.n, STATION].tolist()
    if calendar is not None:  # the ledger as the Python path leaves it, and who booked when
        calendar.taken[:], calendar._next = c_taken, c_next.tolist()
        later = np.flatnonzero(I[n:m, BOOKED_ON] >= 0) + n
        log.booked_on = {**primary_bookings(a), **dict(zip(later.tolist(), I[later, BOOKED_ON].tolist()))}
    log.deferred += int(deferred)


def _bus_inputs(plan, point, s_day):
    """A bus's drives and departures per stop visit (NaN for None) and each stop's visits in time order
    (``pt_ptr``, their days and session indices); empty arrays for a site."""
    if not plan.is_bus:
        return np.zeros(0), np.zeros(0), np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    drives = np.array([np.nan if d is None else d for d in plan.drives], dtype=float)
    departs = np.array([np.nan if d is None else d for d in plan.departs], dtype=float)
    order = np.argsort(point, kind="stable").astype(np.int64)
    pt_ptr = np.zeros(len(plan.site.stops) + 1, np.int64)
    np.cumsum(np.bincount(point, minlength=len(plan.site.stops)), out=pt_ptr[1:])
    return drives, departs, pt_ptr, s_day[order], order


def _calendar_inputs(calendar):
    """A booking calendar's slots (start, session, day, capacity), its horizon and its rule when full; empty
    arrays without one (the ledger itself, ``taken`` and ``_next``, is copied for each run of the kernel)."""
    if calendar is None:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), 0, False
    return (calendar.start, calendar.session, calendar.day, calendar.capacity, int(calendar.rule.horizon_days),
            calendar.rule.when_full == "walk_in")


def _channel_inputs(ch, sessions: int):
    """A site's channels (:class:`fssim.engine.stations.ChannelPlan`) as arrays: each primary visit's channel, help
    and help minutes, the stations' segments per session and the visio room-minutes; empty arrays without one."""
    if ch is None:
        return (np.zeros(0, np.int64), np.zeros(0, np.bool_), np.zeros(0), np.zeros(sessions + 1, np.int64),
                np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    st = SessionArrays.of([Session(0, 0.0, 0.0, segs) for segs in ch.station_segments])
    return (np.asarray(ch.channel, dtype=np.int64), np.asarray(ch.help, dtype=np.bool_),
            np.asarray(ch.help_minutes, dtype=float), st.seg_ptr, st.seg_a, st.seg_b, st.seg_c,
            np.asarray(ch.visio_minutes, dtype=float))


def _fill(log, F, I, cal, busy, overtime, begin, staffed) -> None:
    log.time, log.service, log.patience = F[:, TIME], F[:, SERVICE], F[:, PATIENCE]
    log.start, log.end, log.leave = F[:, START], F[:, END], F[:, LEAVE]
    log.kind, log.citizen, log.attempt = I[:, KIND], I[:, CITIZEN], I[:, ATTEMPT]
    log.point, log.origin = I[:, POINT], I[:, ORIGIN]
    log.demarche, log.demarches = I[:, DEMARCHE], I[:, DEMARCHES]
    log.outcome, log.agent, log.booked = I[:, OUTCOME], I[:, AGENT], I[:, BOOKED].astype(bool)
    log.session_day = cal.day.tolist()
    log.session_point = cal.point.tolist()
    log.session_open = cal.open_minutes().tolist()
    log.session_staffed = staffed.tolist()
    log.session_busy = busy.tolist()
    log.session_overtime = overtime.tolist()
    log.session_late = (np.minimum(begin, cal.end) - cal.start).tolist()


@jit
def profile_time(r, u, prof_ptr, p_start, p_len, p_cum):
    """The arrival time at uniform ``u`` in row ``r`` of the flat profile (:meth:`fssim.demand.profiles.Profile.time_in`)."""
    lo_, hi_ = prof_ptr[r], prof_ptr[r + 1]
    cum = p_cum[lo_:hi_]
    j = min(np.searchsorted(cum, u, side="right"), len(cum) - 1)
    lo = cum[j - 1] if j else 0.0
    frac = (u - lo) / (cum[j] - lo) if cum[j] > lo else 0.5
    return p_start[lo_ + j] + frac * p_len[lo_ + j]


@jit
def landing(day, delay, u, point, is_bus, open_days, session_start, pt_ptr, pt_days, pt_sess, prof_row, prof_ptr,
            p_start, p_len, p_cum):
    """(session index, time) of a later visit ``delay`` days after ``day`` (−1 beyond the horizon), at uniform ``u``
    of the profile (:meth:`fssim.engine.simulation.SitePlan.landing`): a site's first open day, or the bus's first
    visit to stop ``point`` (``pt_*``: each stop's visits, by day)."""
    if is_bus:
        lo, hi = pt_ptr[point], pt_ptr[point + 1]
        k = np.searchsorted(pt_days[lo:hi], day + delay, side="left")
        if k >= hi - lo:
            return -1, 0.0
        js = pt_sess[lo + k]
        return js, profile_time(prof_row[js], u, prof_ptr, p_start, p_len, p_cum)
    k = np.searchsorted(open_days, day + delay, side="left")
    if k >= len(open_days):
        return -1, 0.0
    t = profile_time(prof_row[open_days[k]], u, prof_ptr, p_start, p_len, p_cum)
    return np.searchsorted(session_start, t, side="right") - 1, t


@jit
def later_visit(F, I, m, v, t, service, patience, kind, attempt, point, js, head, tail, nxt, booked_on=-1):
    """Row ``m``: a later visit (a return or a follow-up, as a walk-in, or booked on day ``booked_on`` ≥ 0) of visit
    ``v``'s citizen, landing in session ``js`` at ``t``, appended to that session's list
    (:func:`fssim.engine.simulation._come_back`)."""
    F[m, TIME], F[m, SERVICE], F[m, PATIENCE] = t, service, patience
    F[m, START], F[m, END], F[m, LEAVE] = np.nan, np.nan, np.nan
    I[m, KIND], I[m, CITIZEN], I[m, ATTEMPT], I[m, POINT] = kind, I[v, CITIZEN], attempt, point
    I[m, ORIGIN], I[m, DEMARCHE], I[m, DEMARCHES] = I[v, ORIGIN], I[v, DEMARCHE], I[v, DEMARCHES]
    I[m, OUTCOME], I[m, AGENT], I[m, BOOKED], I[m, BOOKED_ON] = -1, -1, 1 if booked_on >= 0 else 0, booked_on
    I[m, STATION] = -1
    if head[js] < 0:
        head[js] = m
    else:
        nxt[tail[js]] = m
    tail[js] = m


@jit
def site_kernel(F, I, n, no_show, follow_up, fu_delay, fu_u, fu_service, walk_patience, return_u, return_delay,
          return_tod_u, thresholds, max_returns, s_day, s_start, s_end, s_point, seg_ptr, seg_a, seg_b, seg_c,
          bounds, open_days, session_start, prof_row, prof_ptr, p_start, p_len, p_cum, crew, is_bus, drives, departs,
          pt_ptr, pt_days, pt_sess, book_follow_ups, c_start, c_session, c_day, c_capacity, c_taken, c_next,
          c_horizon, c_walk_in, has_channels, ch_n, chan, needs_help, help_min, st_ptr, st_a, st_b, st_c, st_free,
          vis_minutes, ch_out):
    """The process of :func:`fssim.engine.simulation.counter` over every session of a site or a bus. Returns (visits
    logged, busy, overtime, start (a bus can be late) and staffed minutes per session, deferred later visits), or
    −1 visits when ``F``/``I`` ran out of rows.

    A bus (``is_bus``) drives to each stop as :func:`fssim.engine.simulation._arrive` does (``drives``, ``departs``:
    NaN for None), with SimPy's clock arithmetic (``now + (t − now)``), and its citizens come back at a later
    visit to the same stop (``pt_*``: each stop's visits, by day). A site with channels (``has_channels``) serves each
    session with :func:`serve_channels` and leaves its station and visio minutes per session in ``ch_out``."""
    S = len(s_day)
    cap = F.shape[0]
    m = n
    busy_s = np.zeros(S)
    over_s = np.zeros(S)
    deferred = 0
    free = np.full(max(crew, 1), -np.inf)
    before = np.empty(max(crew, 1))
    origin = np.full(max(crew, 1), -1, np.int64)
    head = np.full(S, -1, np.int64)   # visits landing in each session, in order: a linked list
    tail = np.full(S, -1, np.int64)
    nxt = np.full(cap, -1, np.int64)
    ids = np.empty(cap, np.int64)
    home = np.empty(cap, np.int64)
    carried_k = np.empty(max(crew, 1), np.int64)
    carried_c = np.empty(max(crew, 1))
    extra = np.empty(cap, np.int64)   # a session's later visits, then the session's citizens merged
    merged = np.empty(cap, np.int64)
    begin_s = s_start.copy()
    staffed_s = np.zeros(S)
    now = 0.0  # the process's clock (a bus's drives and waits)
    nseg_max = 1
    for j in range(S):
        nseg_max = max(nseg_max, seg_ptr[j + 1] - seg_ptr[j])
    ca, cb, cc = np.empty(nseg_max), np.empty(nseg_max), np.empty(nseg_max, np.int64)
    rows = cap if has_channels else 1  # the channels' work tables
    buf = np.empty((7, rows), np.int64)
    F2, I2, T = np.empty((rows, 6)), np.empty((rows, 12), np.int64), np.empty(rows)
    st_ck, st_cc = np.empty(max(len(st_free), 1), np.int64), np.empty(max(len(st_free), 1))
    for j in range(S):
        begin = s_start[j]
        if is_bus and not np.isnan(drives[j]):
            depart = departs[j]
            if np.isnan(depart):  # leaves the previous stop when its last citizen in service is done
                depart = s_end[j - 1]
                for k in range(crew):
                    if free[k] > depart:
                        depart = free[k]
            if depart > now:
                now = now + (depart - now)
            now = now + drives[j]
            begin = s_start[j] if s_start[j] >= now else now
        if begin > now:
            now = now + (begin - now)
        begin_s[j] = begin
        lo, hi = bounds[j], bounds[j + 1]
        L = 0
        for v in range(lo, hi):
            if no_show[v]:
                I[v, OUTCOME] = NO_SHOW
                F[v, LEAVE] = F[v, TIME]
            else:
                ids[L] = v
                L += 1
        w = head[j]
        if w >= 0:  # later visits: a stable merge by time (primaries first on ties, then in landing order)
            ne = 0
            while w >= 0:
                extra[ne] = w
                ne += 1
                w = nxt[w]
            for x in range(1, ne):  # insertion sort, stable
                y = extra[x]
                ty = F[y, TIME]
                z = x - 1
                while z >= 0 and F[extra[z], TIME] > ty:
                    extra[z + 1] = extra[z]
                    z -= 1
                extra[z + 1] = y
            pa, pb, q = 0, 0, 0
            while pa < L or pb < ne:
                if pb >= ne or (pa < L and F[ids[pa], TIME] <= F[extra[pb], TIME]):
                    merged[q] = ids[pa]
                    pa += 1
                else:
                    merged[q] = extra[pb]
                    pb += 1
                q += 1
            L += ne
            ids[:L] = merged[:L]
            head[j] = -1
        for k in range(crew):
            before[k] = free[k]
        s0, s1 = seg_ptr[j], seg_ptr[j + 1]
        nc = 0  # the session's segments from when it starts (a late bus loses the minutes before)
        for q in range(s0, s1):
            if begin == s_start[j] or seg_b[q] > begin:
                ca[nc] = seg_a[q] if (begin == s_start[j] or seg_a[q] >= begin) else begin
                cb[nc], cc[nc] = seg_b[q], seg_c[q]
                staffed_s[j] += (cb[nc] - ca[nc]) * cc[nc]
                nc += 1
        if s1 > s0 and has_channels:
            nh, busy, overtime, ncar = serve_channels(
                ids, L, F, I, j, ca[:nc], cb[:nc], cc[:nc], s_end[j], free, home, carried_k, carried_c, ch_n, chan,
                needs_help, help_min, st_ptr, st_a, st_b, st_c, st_free, st_ck, st_cc, ch_out[0], ch_out[1],
                vis_minutes, ch_out[2], ch_out[3], buf, F2, I2, T)
        elif s1 > s0:
            nh, busy, overtime, ncar = serve(ids, L, F, I, ca[:nc], cb[:nc], cc[:nc], s_end[j],
                                             free, home, carried_k, carried_c)
        else:  # nobody on duty: the door stays closed
            for x in range(L):
                v = ids[x]
                I[v, OUTCOME] = SENT_HOME
                F[v, LEAVE] = F[v, TIME]
                home[x] = v
            nh, busy, overtime, ncar = L, 0.0, 0.0, 0
        for q in range(ncar):
            over_s[origin[carried_k[q]]] -= carried_c[q]
        for k in range(crew):
            if free[k] != before[k]:
                origin[k] = j
        busy_s[j] = busy
        over_s[j] = overtime
        day = s_day[j]
        # follow-ups of citizens served for the first time
        for x in range(L):
            v = ids[x]
            kind = I[v, KIND]
            c = I[v, CITIZEN]
            if I[v, OUTCOME] == SERVED and kind != FOLLOW_UP and kind != REDIRECT and follow_up[c]:
                js, t = landing(day, fu_delay[c], fu_u[c], I[v, POINT], is_bus, open_days, session_start, pt_ptr,
                                pt_days, pt_sess, prof_row, prof_ptr, p_start, p_len, p_cum)
                if js < 0:
                    deferred += 1
                    continue
                on = -1
                if book_follow_ups:  # booked in the slots left, on this day (else it comes as a walk-in)
                    k = take_slot(day, t, c_start, c_day, c_capacity, c_taken, c_next, c_horizon, c_walk_in)
                    if k >= 0:
                        js, t, on = c_session[k], c_start[k], day
                if m >= cap:
                    return -1, busy_s, over_s, begin_s, staffed_s, deferred
                later_visit(F, I, m, v, t, fu_service[c], np.inf if on >= 0 else walk_patience[c], FOLLOW_UP, 0,
                            s_point[js], js, head, tail, nxt, on)
                m += 1
        # citizens sent home come back with a probability (conditional at each return)
        for x in range(nh):
            v = home[x]
            if I[v, KIND] == REDIRECT:
                continue
            c = I[v, CITIZEN]
            k = I[v, ATTEMPT] + 1
            if k <= max_returns and return_u[c] < thresholds[k]:
                js, t = landing(day, return_delay[c], return_tod_u[c], I[v, POINT], is_bus, open_days, session_start,
                                pt_ptr, pt_days, pt_sess, prof_row, prof_ptr, p_start, p_len, p_cum)
                if js < 0:
                    deferred += 1
                    continue
                if m >= cap:
                    return -1, busy_s, over_s, begin_s, staffed_s, deferred
                later_visit(F, I, m, v, t, F[v, SERVICE], walk_patience[c], RETURN, k, s_point[js], js, head, tail,
                            nxt)
                m += 1
    return m, busy_s, over_s, begin_s, staffed_s, deferred


__all__ = ["compiled_path_for", "run_site"]

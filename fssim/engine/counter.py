"""The counter: agents serving the citizens of one opening session.

An exact next-event kernel for a multi-server queue, run by the site's SimPy process once per
session (see :mod:`fssim.engine.simulation`). Why not one SimPy process per citizen with a
``simpy.Resource``? A Resource's capacity is fixed, while agents here come and go with the
staffing of each interval; and per-citizen processes cost several scheduled events per visit.
The kernel keeps the agents in a heap of "next free" times, which handles:

* walk-ins first come, first served; booked citizens served at their slot with priority;
* reneging: a walk-in leaves when their patience runs out before an agent calls them (checked
  lazily when their turn comes, which is exact for first-come-first-served);
* shifts: agent *k* is on duty in the segments where staffing exceeds *k*; an agent whose shift ends
  finishes the citizen in front of them (no pre-emption);
* closing: those in service finish, those still waiting are sent home (or, for an always-open
  validation site at the end of the horizon, counted as still waiting);
* across sessions: agent *k* is the same person in every session of a site, so an agent still serving
  at closing is busy in the next session until they are done (their break is shortened). The site
  process keeps each agent's "free at" time (``free``) from one session to the next.

Each session reports agent-minutes busy *within* duty windows (so busy ≤ staffed) and the service
minutes outside them (overtime: shortened breaks, late finishes).
"""
from __future__ import annotations

from collections import deque
from enum import IntEnum
from heapq import heapify, heappop, heappush, heapreplace


class Outcome(IntEnum):
    """How a visit ended; stored as this small integer (``int8``) and shown by its name."""

    SERVED = 0
    GAVE_UP = 1
    SENT_HOME = 2
    NO_SHOW = 3
    STILL_WAITING = 4  # at the end of the horizon of an always-open validation site


#: plain integers for the kernel's inner loop (an IntEnum member costs an attribute lookup per use)
SERVED, GAVE_UP, SENT_HOME, NO_SHOW, STILL_WAITING = (int(o) for o in Outcome)
#: the names, in code order: the categories of the visits table's ``outcome`` column
OUTCOMES = tuple(o.name.lower() for o in Outcome)


def duty_windows(segments, cmax: int) -> list[list[tuple[float, float]]]:
    """For each agent k, the windows when they are on duty: contiguous segments with staffing > k, merged."""
    duty = []
    for k in range(cmax):
        wins: list[tuple[float, float]] = []
        for a, b, c in segments:
            if c > k:
                if wins and wins[-1][1] == a:
                    wins[-1] = (wins[-1][0], b)
                else:
                    wins.append((a, b))
        duty.append(wins)
    return duty


def serve_session(ids, time, service, patience, booked, segments, close, start, end, outcome, leave, agent,
                  free, *, send_home: bool = True) -> tuple[list, float, float, list]:
    """Serve the citizens ``ids`` (sorted by arrival) during one session.

    ``time``, ``service``, ``patience``, ``booked`` are per-visit sequences indexed by visit id;
    ``start``, ``end``, ``outcome``, ``leave``, ``agent`` (who served) are filled in. ``free[k]``: when agent k
    is done with earlier sessions' citizens; updated in place. Returns (ids sent home, agent-minutes busy
    within this session's duty windows, minutes of this session's services outside them, [(agent, minutes of
    an earlier service within this session's duty windows)]).
    """
    cmax = max((c for _, _, c in segments), default=0)
    duty = duty_windows(segments, cmax)
    where = [0] * cmax  # each agent's current duty window
    servers = []
    carried = []
    busy = 0.0
    for k, wins in enumerate(duty):
        f, p = free[k], 0
        while p < len(wins) and wins[p][1] <= f:
            p += 1
        if p > 0 or (wins and f > wins[0][0]):  # still serving a citizen of an earlier session
            c = sum(min(b, f) - a for a, b in wins[:p + 1] if f > a)
            carried.append((k, c))
            busy += c
        if p < len(wins):
            where[k] = p
            a = wins[p][0]
            servers.append((a if a > f else f, k))
    heapify(servers)
    walk_ins: deque = deque()
    appointments: list = []
    n, i, total = len(ids), 0, 0.0
    while servers:
        t, k = servers[0]
        while i < n and time[ids[i]] <= t:
            v = ids[i]
            i += 1
            if booked[v]:
                heappush(appointments, (time[v], v))
            else:
                walk_ins.append(v)
        v = -1
        if appointments:
            v = heappop(appointments)[1]
        else:
            while walk_ins:
                w = walk_ins.popleft()
                gone = time[w] + patience[w]
                if gone < t:
                    outcome[w] = GAVE_UP
                    leave[w] = gone
                else:
                    v = w
                    break
        wins, p = duty[k], where[k]
        if v < 0:  # nobody waiting: this agent is idle until the next arrival
            if i >= n:
                break
            nt = time[ids[i]]
        else:
            s = service[v]
            start[v] = t
            nt = t + s
            end[v] = leave[v] = free[k] = nt
            outcome[v] = SERVED
            agent[v] = k
            total += s
            b = wins[p][1]  # t is inside duty window p
            if nt <= b:
                busy += s
            else:  # past the end of this duty window: only the minutes of duty windows count as busy
                busy += b - t
                p += 1
                while p < len(wins) and wins[p][1] <= nt:
                    busy += wins[p][1] - wins[p][0]
                    p += 1
                if p < len(wins) and wins[p][0] < nt:
                    busy += nt - wins[p][0]
        # when is agent k free next and on duty? (an agent whose shift is over finishes, then leaves)
        while p < len(wins) and wins[p][1] <= nt:
            p += 1
        if p == len(wins):
            heappop(servers)
        else:
            where[k] = p
            a = wins[p][0]
            heapreplace(servers, (a if a > nt else nt, k))
    own = busy - sum(c for _, c in carried)
    home = _close(ids[i:], walk_ins, appointments, time, patience, close, outcome, leave, send_home)
    return home, busy, total - own, carried


def _close(not_arrived, walk_ins, appointments, time, patience, close, outcome, leave, send_home) -> list:
    """At closing: who gave up before, who is sent home (or still waiting at the end of the horizon)."""
    sent_home = []
    left = [v for _, v in sorted(appointments)] + list(walk_ins) + list(not_arrived)
    for w in left:
        gone = time[w] + patience[w]
        if gone < close:
            outcome[w] = GAVE_UP
            leave[w] = gone
        elif send_home:
            outcome[w] = SENT_HOME
            leave[w] = close
            sent_home.append(w)
        else:
            outcome[w] = STILL_WAITING
            leave[w] = close
    return sent_home

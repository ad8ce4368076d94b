"""Agent absences and planned closures at a fixed site: each session's staffing after the day's absences.

Agent k of a site (0 … headcount − 1, the counter's agent k) has a random stream of their own, keyed by
(seed, replication, site, "absences", k), with one uniform per day of the horizon: agent k is absent on day d
when that uniform is below ``agent_daily_rate``. The citizens' streams are separate and drawn before, so
switching absences on changes what happens to the citizens, not who comes (common random numbers), and an
agent's absences depend neither on the other agents, nor on the staffing, nor on the other sites.

On a day with absences, the staffing of each segment drops by the absent agents on duty in it (agent k is
on duty where the staffing exceeds k; those present take the lowest numbers), never below 0. A day whose
agents present fall below ``minimum_agents`` is closed (``below_minimum: close``), as is a day with nobody
present (``open_with_one`` too): its sessions keep their times but lose their segments, and the site process
turns away whoever comes (:func:`turn_away`: sent home, they may come back another day, as at closing). The
citizens on such a day were expected (nobody knew), unlike on a planned closure (``closures``), which is
taken out of the calendar like a public holiday: no session, nobody comes.

Fixed sites only: a bus has its own lost days (``Bus.absences``, ``breakdown_rate``); an always-open
(validation) site has none.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from fssim.config import Config, absences_of
from fssim.demand.randomness import stream
from fssim.engine.calendar import Session
from fssim.engine.counter import SENT_HOME

STREAM = "absences"


def _applies(site) -> bool:
    return hasattr(site, "always_open") and not site.always_open and hasattr(site, "schedule")


def has_absences(config: Config, site) -> bool:
    """Whether absences apply at ``site`` (:func:`draw_absences` returns None otherwise)."""
    return _applies(site) and absences_of(config.absences, site).active


def with_closures(config: Config, site, closed_days: set[dt.date]) -> set[dt.date]:
    """The days ``site`` is closed: ``closed_days`` (public holidays) and its planned closures, if any."""
    if not _applies(site):
        return closed_days
    planned = absences_of(config.absences, site).closures
    return closed_days | set(planned) if planned else closed_days


@dataclass(frozen=True)
class AbsencePlan:
    """A site's sessions after absences, and per session the day's absent agents and closure (both written
    on the day's first session only, 0 on its others, so that they add up to days)."""

    sessions: list[Session]
    absent: np.ndarray   # int64: agents absent that day
    closed: np.ndarray   # int64: 1 if the day is closed for lack of agents


def draw_absences(config: Config, site, sessions: list[Session], replication: int) -> AbsencePlan | None:
    """The absences of a fixed site over its ``sessions``; None when the site has none (nothing to change)."""
    if not has_absences(config, site):
        return None
    rules = absences_of(config.absences, site)
    n = len(sessions)
    absent, closed = np.zeros(n, np.int64), np.zeros(n, np.int64)
    roster = max((c for s in sessions for _, _, c in s.segments), default=0)
    if rules.agent_daily_rate <= 0 or roster == 0:
        return AbsencePlan(list(sessions), absent, closed)
    days = config.horizon.days
    away = np.stack([stream(config.seed, replication, site.id, STREAM, k).random(days) < rules.agent_daily_rate
                     for k in range(roster)])  # agents × days
    out = list(sessions)
    j = 0
    while j < n:  # one day at a time (sessions are in time order, a day's sessions together)
        d = sessions[j].day
        last = j
        while last + 1 < n and sessions[last + 1].day == d:
            last += 1
        head = max(c for s in sessions[j:last + 1] for _, _, c in s.segments)
        gone = away[:head, d]
        k = int(gone.sum())
        if k:
            present = head - k
            absent[j] = k
            shut = present == 0 or (rules.below_minimum == "close" and present < rules.minimum_agents)
            closed[j] = int(shut)
            before = np.r_[0, np.cumsum(gone)]  # absent agents among agents 0 … c − 1
            for i in range(j, last + 1):
                s = sessions[i]
                segs = () if shut else tuple((a, b, c - int(before[c])) for a, b, c in s.segments)
                if not any(c for _, _, c in segs):
                    segs = ()  # nobody on duty in this session: its door stays closed
                out[i] = Session(s.day, s.start, s.end, segs, s.point)
        j = last + 1
    return AbsencePlan(out, absent, closed)


def turn_away(ids, time, outcome, leave) -> list:
    """A session with nobody on duty: whoever comes finds the door closed and leaves at once (sent home, so
    they may come back another day). Returns them, as the counter returns the citizens it sends home."""
    for v in ids:
        outcome[v] = SENT_HOME
        leave[v] = time[v]
    return list(ids)


__all__ = ["AbsencePlan", "draw_absences", "turn_away", "with_closures", "STREAM"]

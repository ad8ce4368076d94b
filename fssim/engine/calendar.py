"""When a site is open: public holidays, rollout dates and weekly hours → sessions on the horizon.

Time in fssim is counted in minutes from midnight on the first day of the horizon. A *session* is a
maximal run of contiguous opening intervals (a day with a lunch closure has two); within a session
staffing is piecewise constant (*segments*). At the end of a session the doors close: citizens in
service finish, those still waiting are sent home.
"""
from __future__ import annotations

from fssim.clock import DAY

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import holidays as _holidays
import numpy as np

from fssim.config import Bus, Horizon, Recurrence, Site
from fssim.errors import InputError
from fssim.defaults import WEEKDAYS



@dataclass(frozen=True, slots=True)
class Session:
    day: int                                   # day index from the horizon start
    start: float                               # minutes from the horizon start
    end: float
    segments: tuple[tuple[float, float, int], ...]  # (from, to, agents on duty), contiguous
    point: int = -1                            # for a bus: the index of the stop; -1 for a fixed site

    @property
    def staffed_minutes(self) -> float:
        return staffed_minutes(self.segments)


def staffed_minutes(segments) -> float:
    """Agent-minutes on duty of (from, to, agents) segments."""
    return sum((b - a) * c for a, b, c in segments)


@lru_cache(maxsize=64)
def _holidays_for(years: tuple[int, ...], subdiv: str | None) -> dict[dt.date, str]:
    try:
        return dict(_holidays.France(years=list(years), subdiv=subdiv, language="fr"))
    except NotImplementedError:  # the holidays package's answer to an unknown subdivision
        raise InputError(f"unknown holidays subdivision {subdiv!r}; use one of "
                         f"{', '.join(_holidays.France.subdivisions)}", field="holidays.subdiv") from None


def public_holidays(start: dt.date, end: dt.date, subdiv: str | None = None) -> dict[dt.date, str]:
    """French public holidays in [start, end): the 11 national days, plus regional ones for ``subdiv``."""
    years = tuple(range(start.year, end.year + 1))
    return {d: n for d, n in _holidays_for(years, subdiv).items() if start <= d < end}


def day_dates(horizon: Horizon) -> list[dt.date]:
    return [horizon.start + dt.timedelta(days=i) for i in range(horizon.days)]


@dataclass
class SessionArrays:
    """The sessions of a site or bus as arrays, one row per session (the compiled counter and the tables read
    these; :meth:`sessions` makes the :class:`Session` objects the Python path walks). Session k's segments
    are ``seg_ptr[k]:seg_ptr[k + 1]`` of ``seg_a``, ``seg_b`` (minutes) and ``seg_c`` (agents on duty)."""

    day: np.ndarray
    start: np.ndarray
    end: np.ndarray
    point: np.ndarray
    seg_ptr: np.ndarray
    seg_a: np.ndarray
    seg_b: np.ndarray
    seg_c: np.ndarray

    def __len__(self) -> int:
        return len(self.day)

    @classmethod
    def of(cls, sessions: list[Session]) -> "SessionArrays":
        seg_ptr = np.zeros(len(sessions) + 1, np.int64)
        np.cumsum([len(s.segments) for s in sessions], out=seg_ptr[1:])
        seg = np.array([x for s in sessions for x in s.segments], dtype=float).reshape(-1, 3)
        return cls(np.array([s.day for s in sessions], dtype=np.int64),
                   np.array([s.start for s in sessions], dtype=float), np.array([s.end for s in sessions], dtype=float),
                   np.array([s.point for s in sessions], dtype=np.int64), seg_ptr, seg[:, 0].copy(), seg[:, 1].copy(),
                   seg[:, 2].astype(np.int64))

    def sessions(self) -> list[Session]:
        day, start, end, point = self.day.tolist(), self.start.tolist(), self.end.tolist(), self.point.tolist()
        ptr, a, b, c = self.seg_ptr.tolist(), self.seg_a.tolist(), self.seg_b.tolist(), self.seg_c.tolist()
        return [Session(day[k], start[k], end[k], tuple(zip(a[ptr[k]:ptr[k + 1]], b[ptr[k]:ptr[k + 1]],
                                                             c[ptr[k]:ptr[k + 1]])), point[k])
                for k in range(len(day))]

    def open_minutes(self) -> np.ndarray:
        """Minutes from opening to closing of each session; 0 for a session without agents (closed by absences)."""
        return np.where(np.diff(self.seg_ptr) > 0, self.end - self.start, 0.0)


def session_arrays(sessions) -> SessionArrays:
    """``sessions`` as arrays, whether given as arrays or as :class:`Session` objects."""
    return sessions if isinstance(sessions, SessionArrays) else SessionArrays.of(sessions)


def session_list(sessions) -> list[Session]:
    """``sessions`` as :class:`Session` objects, whether given as objects or as arrays."""
    return sessions.sessions() if isinstance(sessions, SessionArrays) else sessions


def site_sessions(site: Site, horizon: Horizon, closed_days: set[dt.date]) -> list[Session]:
    """Every session of ``site`` on the horizon, in time order."""
    if site.always_open:
        return _always_open(site, horizon)
    return site_session_arrays(site, horizon, closed_days).sessions()


def _always_open(site: Site, horizon: Horizon) -> list[Session]:
    first = _day_index(site.opens_on, horizon) if site.opens_on else 0
    last = _day_index(site.closes_on, horizon) if site.closes_on else horizon.days
    first, last = max(first, 0), min(last, horizon.days)
    if last <= first:
        return []
    a, b = first * DAY, last * DAY
    return [Session(first, a, b, ((a, b, int(site.agents)),))]


def site_session_arrays(site: Site, horizon: Horizon, closed_days: set[dt.date]) -> SessionArrays:
    """The sessions of :func:`site_sessions` as arrays, built from the weekly template without a Python step per
    session: each open day repeats its weekday's sessions (contiguous intervals merged), shifted to the day."""
    if site.always_open:
        return SessionArrays.of(_always_open(site, horizon))
    groups = []  # per weekday offset k from the horizon's first day: its sessions' segments
    for k in range(7):
        merged: list[list] = []
        for a, b, c in site.schedule.get(WEEKDAYS[(horizon.start.weekday() + k) % 7]) or ():
            if merged and merged[-1][-1][1] == a:
                merged[-1].append((a, b, c))
            else:
                merged.append([(a, b, c)])
        groups.append(merged)
    g_first = np.zeros(8, np.int64)  # weekday offset k has the sessions g_first[k]:g_first[k + 1] of the template
    np.cumsum([len(m) for m in groups], out=g_first[1:])
    template = [g for m in groups for g in m]
    g_nseg = np.array([len(g) for g in template], dtype=np.int64)
    g_seg = np.zeros(len(template) + 1, np.int64)
    np.cumsum(g_nseg, out=g_seg[1:])
    seg = np.array([x for g in template for x in g], dtype=float).reshape(-1, 3)
    g_start = seg[g_seg[:-1], 0] if len(template) else np.zeros(0)
    g_end = seg[g_seg[1:] - 1, 1] if len(template) else np.zeros(0)
    first = max(_day_index(site.opens_on, horizon), 0) if site.opens_on else 0
    last = min(_day_index(site.closes_on, horizon), horizon.days) if site.closes_on else horizon.days
    days = np.arange(first, max(first, last), dtype=np.int64)
    per_day = np.diff(g_first)[days % 7]
    closed = np.array(sorted(_day_index(d, horizon) for d in closed_days), dtype=np.int64)
    keep = (per_day > 0) & ~np.isin(days, closed)
    days, per_day = days[keep], per_day[keep]
    gid = np.repeat(g_first[days % 7] - np.cumsum(per_day) + per_day, per_day) + np.arange(per_day.sum())
    s_day = np.repeat(days, per_day)
    base = s_day * DAY
    nseg = g_nseg[gid]
    seg_ptr = np.zeros(len(gid) + 1, np.int64)
    np.cumsum(nseg, out=seg_ptr[1:])
    sidx = np.repeat(g_seg[gid] - seg_ptr[:-1], nseg) + np.arange(seg_ptr[-1])
    seg_base = np.repeat(base, nseg)
    return SessionArrays(s_day, base + g_start[gid], base + g_end[gid], np.full(len(gid), -1, np.int64), seg_ptr,
                         seg_base + seg[sidx, 0], seg_base + seg[sidx, 1], seg[sidx, 2].astype(np.int64))


def _day_index(date: dt.date, horizon: Horizon) -> int:
    return (date - horizon.start).days


def recurs_on(rec: Recurrence, weekday: str, date: dt.date) -> bool:
    """Does a stop with this recurrence happen on ``date``?"""
    if WEEKDAYS[date.weekday()] != weekday:
        return False
    if rec.nth is not None:
        if rec.nth == -1:
            return (date + dt.timedelta(days=7)).month != date.month
        return (date.day - 1) // 7 + 1 == rec.nth
    return ((date - rec.anchor).days // 7) % rec.weeks == rec.phase


def bus_sessions(bus: Bus, horizon: Horizon, closed_days: set[dt.date], lost_days: set[dt.date]) -> list[Session]:
    """Every stop visit of a bus on the horizon (one session each, never merged: they are different places)."""
    out = []
    windows = [stop.window for stop in bus.stops]
    for i, date in enumerate(day_dates(horizon)):
        if date in closed_days or date in lost_days:
            continue
        if (bus.opens_on and date < bus.opens_on) or (bus.closes_on and date >= bus.closes_on):
            continue
        base = i * DAY
        todays = [(windows[k][0], windows[k][1], k) for k, stop in enumerate(bus.stops)
                  if recurs_on(stop.every, stop.weekday, date)]
        todays.sort()
        for (a1, b1, k1), (a2, b2, k2) in zip(todays, todays[1:]):
            if a2 < b1:
                raise InputError(f"bus {bus.id}: stops[{k1}] and stops[{k2}] overlap on {date} "
                                 f"({bus.stops[k1].start}-{bus.stops[k1].end} and {bus.stops[k2].start}-"
                                 f"{bus.stops[k2].end}); change a window or a recurrence", field="buses")
        for a, b, k in todays:
            out.append(Session(i, base + a, base + b, ((base + a, base + b, bus.agents),), k))
    return out

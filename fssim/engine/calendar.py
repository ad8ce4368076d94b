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


def site_sessions(site: Site, horizon: Horizon, closed_days: set[dt.date]) -> list[Session]:
    """Every session of ``site`` on the horizon, in time order."""
    if site.always_open:
        first = _day_index(site.opens_on, horizon) if site.opens_on else 0
        last = _day_index(site.closes_on, horizon) if site.closes_on else horizon.days
        first, last = max(first, 0), min(last, horizon.days)
        if last <= first:
            return []
        a, b = first * DAY, last * DAY
        return [Session(first, a, b, ((a, b, int(site.agents)),))]
    out = []
    sched = site.schedule
    templates: dict[str, list] = {}  # weekday → its sessions' segments (contiguous intervals merged)
    for day, intervals in sched.items():
        groups: list[list] = []
        for a, b, c in intervals or ():
            if groups and groups[-1][-1][1] == a:
                groups[-1].append((a, b, c))
            else:
                groups.append([(a, b, c)])
        templates[day] = groups
    first = max(_day_index(site.opens_on, horizon), 0) if site.opens_on else 0
    last = min(_day_index(site.closes_on, horizon), horizon.days) if site.closes_on else horizon.days
    closed = {_day_index(d, horizon) for d in closed_days}
    week = [templates.get(WEEKDAYS[(horizon.start.weekday() + k) % 7], ()) for k in range(7)]
    for i in range(first, last):
        groups = week[i % 7]
        if not groups or i in closed:
            continue
        base = i * DAY
        for group in groups:
            if len(group) == 1:  # most sessions: one staffing level from opening to closing
                a, b, c = group[0]
                out.append(Session(i, base + a, base + b, ((base + a, base + b, c),)))
            else:
                run = tuple((base + a, base + b, c) for a, b, c in group)
                out.append(Session(i, run[0][0], run[-1][1], run))
    return out


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

"""When a site is open: public holidays, rollout dates and weekly hours → sessions on the horizon.

Time in fssim is counted in minutes from midnight on the first day of the horizon. A *session* is a
maximal run of contiguous opening intervals (a day with a lunch closure has two); within a session
staffing is piecewise constant (*segments*). At the end of a session the doors close: citizens in
service finish, those still waiting are sent home.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import holidays as _holidays

from .config import Horizon, Site
from .defaults import WEEKDAYS

DAY = 1440.0


@dataclass(frozen=True, slots=True)
class Session:
    day: int                                   # day index from the horizon start
    start: float                               # minutes from the horizon start
    end: float
    segments: tuple[tuple[float, float, int], ...]  # (from, to, agents on duty), contiguous

    @property
    def staffed_minutes(self) -> float:
        return sum((b - a) * c for a, b, c in self.segments)


@lru_cache(maxsize=64)
def _holidays_for(years: tuple[int, ...], subdiv: str | None) -> dict[dt.date, str]:
    return dict(_holidays.France(years=list(years), subdiv=subdiv, language="fr"))


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
    for i, date in enumerate(day_dates(horizon)):
        if date in closed_days:
            continue
        if site.opens_on and date < site.opens_on:
            continue
        if site.closes_on and date >= site.closes_on:
            continue
        intervals = sched.get(WEEKDAYS[date.weekday()])
        if not intervals:
            continue
        base = i * DAY
        run: list[tuple[float, float, int]] = []
        for a, b, c in intervals:
            if run and run[-1][1] == base + a:
                run.append((base + a, base + b, c))
            else:
                if run:
                    out.append(Session(i, run[0][0], run[-1][1], tuple(run)))
                run = [(base + a, base + b, c)]
        out.append(Session(i, run[0][0], run[-1][1], tuple(run)))
    return out


def _day_index(date: dt.date, horizon: Horizon) -> int:
    return (date - horizon.start).days

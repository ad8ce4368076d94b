"""The SimPy model: each site and each bus is a process that follows its calendar and opens its counter.

``counter`` is the process (a generator with the environment passed explicitly): it waits for each
session — an opening session of a fixed site, or a bus's visit to a stop — lets the agents serve the
citizens present (:func:`fssim.counter.serve_session`), then sends the ones who need it to a later
session: citizens sent home at closing come back with a probability (at a site: another open day; at a
bus stop: the bus's next visit to that stop, or the bus's fallback fixed site), served citizens whose
démarche needs it come back for a follow-up. Sites interact only through demand decided before the
simulation and through a bus's fallback site, so a shard holding each bus with its fallback site can be
simulated in its own environment with identical results.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import numpy as np
import simpy

from .calendar import DAY, Session, bus_sessions, public_holidays, site_sessions
from .config import Bus, Config, Site
from .counter import NO_SHOW, STILL_WAITING, serve_session
from .demand import BOOKED, FOLLOW_UP, REDIRECT, RETURN, WALK_IN, DemandModel, generate_arrivals, profile_of
from .randomness import stream


@dataclass
class SiteLog:
    """Everything one site or bus recorded in one replication: visits (parallel lists) and sessions."""

    site_id: str
    points: list = field(default_factory=list)  # stop labels of a bus (visits carry their index)
    # visits, indexed by visit id (primary visits first, then returns, follow-ups and redirections)
    time: list = field(default_factory=list)
    demarche: list = field(default_factory=list)
    kind: list = field(default_factory=list)
    citizen: list = field(default_factory=list)
    service: list = field(default_factory=list)
    patience: list = field(default_factory=list)
    booked: list = field(default_factory=list)
    start: list = field(default_factory=list)
    end: list = field(default_factory=list)
    leave: list = field(default_factory=list)
    outcome: list = field(default_factory=list)
    attempt: list = field(default_factory=list)
    point: list = field(default_factory=list)
    # sessions
    session_day: list = field(default_factory=list)
    session_point: list = field(default_factory=list)
    session_open: list = field(default_factory=list)
    session_staffed: list = field(default_factory=list)
    session_busy: list = field(default_factory=list)
    deferred: int = 0  # returns and follow-ups that fell after the horizon

    def add_visit(self, time, demarche, kind, citizen, service, patience, attempt, point) -> int:
        self.time.append(time)
        self.demarche.append(demarche)
        self.kind.append(kind)
        self.citizen.append(citizen)
        self.service.append(service)
        self.patience.append(patience)
        self.booked.append(False)
        self.start.append(np.nan)
        self.end.append(np.nan)
        self.leave.append(np.nan)
        self.outcome.append(-1)
        self.attempt.append(attempt)
        self.point.append(point)
        return len(self.time) - 1


class SitePlan:
    """A site or a bus ready to simulate: its sessions, its citizens, and where later visits can land."""

    def __init__(self, config: Config, model: DemandModel, entity: Site | Bus, replication: int,
                 closed_days: set):
        self.config, self.site = config, entity
        self.is_bus = isinstance(entity, Bus)
        if self.is_bus:
            self.sessions: list[Session] = bus_sessions(entity, config.horizon, closed_days,
                                                        _breakdown_days(config, entity, replication))
        else:
            self.sessions = site_sessions(entity, config.horizon, closed_days)
        self.session_start = [s.start for s in self.sessions]
        self.open_days = sorted({s.day for s in self.sessions})
        # for a bus: each stop's visits (days and session indices), where its citizens come back
        self.stop_days: dict[int, list[int]] = {}
        self.stop_sessions: dict[int, list[int]] = {}
        for j, s in enumerate(self.sessions):
            self.stop_days.setdefault(s.point, []).append(s.day)
            self.stop_sessions.setdefault(s.point, []).append(j)
        self.profile = profile_of(model, entity, self.sessions)
        rng = stream(config.seed, replication, entity.id, "demand")
        self.arrivals = generate_arrivals(model, entity, self.sessions, self.profile, rng)
        self.bounds = np.searchsorted(self.arrivals.time, np.r_[self.session_start, np.inf], side="left")
        self.log = SiteLog(entity.id, [f"{entity.id}:{s.commune}" for s in entity.stops] if self.is_bus else [])
        self.later: dict[int, list[int]] = {}  # session index → visits (returns, follow-ups…) landing there
        self.fallback: SitePlan | None = None  # a bus's fixed site for citizens it could not serve

    def landing(self, day: int, delay: int, u: float, point: int = -1) -> tuple[int, float] | None:
        """(session index, time) of a visit ``delay`` days after ``day``: the first open day of a site, or the
        bus's first visit to the same stop; None if beyond the horizon."""
        if self.is_bus:
            days = self.stop_days.get(point, [])
            k = bisect_left(days, day + delay)
            if k >= len(days):
                return None
            j = self.stop_sessions[point][k]
            return j, self.profile.time_in(j, u)
        if self.site.always_open:
            target = day + delay
            if target >= self.config.horizon.days or target not in self.profile.cum:
                return None
            return 0, self.profile.time_in(target, u)
        k = bisect_left(self.open_days, day + delay)
        if k >= len(self.open_days):
            return None
        t = self.profile.time_in(self.open_days[k], u)
        return bisect_right(self.session_start, t) - 1, t


def _breakdown_days(config: Config, bus: Bus, replication: int) -> set:
    """Absences plus days lost at random (breakdowns), drawn from the bus's own stream."""
    lost = set(bus.absences)
    if bus.breakdown_rate > 0:
        from .calendar import day_dates
        dates = day_dates(config.horizon)
        u = stream(config.seed, replication, bus.id, "breakdowns").random(len(dates))
        lost |= {d for d, x in zip(dates, u) if x < bus.breakdown_rate}
    return lost


def counter(env: simpy.Environment, plan: SitePlan):
    """SimPy process of one site or bus over the horizon."""
    cfg, a, log = plan.config, plan.arrivals, plan.log
    beh = cfg.behaviour
    n = len(a)
    # primary visits become rows 0..n-1 of the log
    log.time = a.time.tolist()
    log.demarche = a.demarche.tolist()
    log.kind = np.where(a.booked, BOOKED, WALK_IN).tolist()
    log.citizen = list(range(n))
    log.service = a.service.tolist()
    log.patience = a.patience.tolist()
    log.booked = a.booked.tolist()
    log.start = [np.nan] * n
    log.end = [np.nan] * n
    log.leave = [np.nan] * n
    log.outcome = [-1] * n
    log.attempt = [0] * n
    points = np.repeat([s.point for s in plan.sessions], np.diff(plan.bounds)).tolist()
    log.point = points
    no_show = a.no_show.tolist()
    follow_up = a.follow_up.tolist()
    send_home = not getattr(plan.site, "always_open", False)
    redirect = plan.is_bus and plan.site.unserved == "nearest_site" and plan.fallback is not None
    for j, s in enumerate(plan.sessions):
        if s.start > env.now:
            yield env.timeout(s.start - env.now)
        lo, hi = int(plan.bounds[j]), int(plan.bounds[j + 1])
        ids = list(range(lo, hi))
        if True in no_show[lo:hi]:
            for v in range(lo, hi):
                if no_show[v]:
                    log.outcome[v] = NO_SHOW
                    log.leave[v] = log.time[v]
            ids = [v for v in ids if not no_show[v]]
        extra = plan.later.pop(j, None)
        if extra:
            ids = sorted(ids + extra, key=log.time.__getitem__)
        home, busy = serve_session(ids, log.time, log.service, log.patience, log.booked, s.segments, s.end,
                                   log.start, log.end, log.outcome, log.leave, send_home=send_home)
        log.session_day.append(s.day)
        log.session_point.append(s.point)
        log.session_open.append(s.end - s.start)
        log.session_staffed.append(s.staffed_minutes)
        log.session_busy.append(busy)
        # follow-ups of citizens served for the first time (a redirected citizen's file is followed elsewhere)
        for v in ids:
            kind = log.kind[v]
            if log.outcome[v] == 0 and kind != FOLLOW_UP and kind != REDIRECT and follow_up[log.citizen[v]]:
                c = log.citizen[v]
                _come_back(plan, plan, v, s.day, int(a.follow_up_delay[c]), float(a.follow_up_u[c]), FOLLOW_UP,
                           float(a.follow_up_service[c]), 0)
        # citizens sent home come back with a probability (conditional at each return)
        for v in home:
            if log.kind[v] == REDIRECT:
                continue
            c = log.citizen[v]
            k = log.attempt[v] + 1
            if k <= beh.max_returns and a.return_u[c] < beh.return_probability ** k:
                target = plan.fallback if redirect else plan
                _come_back(plan, target, v, s.day, int(a.return_delay[c]), float(a.return_tod_u[c]),
                           REDIRECT if redirect else RETURN, log.service[v], k)
    if not send_home:
        for v, o in enumerate(log.outcome):
            if o == -1:
                log.outcome[v] = STILL_WAITING


def _come_back(plan: SitePlan, target: SitePlan, v: int, day: int, delay: int, u: float, kind: int,
               service: float, attempt: int) -> None:
    """Schedule a later visit of the citizen of visit ``v`` at ``target`` (the same site or bus, or a fallback)."""
    log = plan.log
    where = target.landing(day, delay, u, log.point[v] if target is plan else -1)
    if where is None:
        log.deferred += 1
        return
    j, t = where
    c = log.citizen[v]
    point = target.sessions[j].point
    # whoever comes back does so as a walk-in, with their own patience
    patience = float(plan.arrivals.walk_in_patience[c])
    w = target.log.add_visit(t, log.demarche[v], kind, c if target is plan else -1, service, patience, attempt, point)
    target.later.setdefault(j, []).append(w)


def closed_days(config: Config) -> set:
    if not config.holidays.closed:
        return set()
    return set(public_holidays(config.horizon.start, config.horizon.end, config.holidays.subdiv))


def simulate_sites(config: Config, sites: list[Site | Bus], replication: int,
                   model: DemandModel | None = None) -> list[SitePlan]:
    """Run the given sites and buses (a shard) for one replication in one SimPy environment.

    A bus whose fallback site is not in the shard keeps its citizens for its next visit instead.
    """
    model = model or DemandModel(config)
    holidays = closed_days(config)
    env = simpy.Environment()
    plans = [SitePlan(config, model, s, replication, holidays) for s in sites]
    by_id = {p.site.id: p for p in plans}
    for p in plans:
        if p.is_bus and p.site.fallback_site:
            p.fallback = by_id.get(p.site.fallback_site)
        env.process(counter(env, p))
    env.run(until=config.horizon.days * DAY)
    return plans


__all__ = ["simulate_sites", "counter", "SitePlan", "SiteLog", "DAY"]

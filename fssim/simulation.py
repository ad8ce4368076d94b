"""The SimPy model: each site is a process that follows its calendar and opens its counter.

``site`` is the process (a generator with the environment passed explicitly): it waits for each
session, lets the counter serve the citizens present (:func:`fssim.counter.serve_session`), then sends
the ones who need it to a later open day: citizens sent home at closing come back with a probability,
served citizens whose démarche needs it come back for a follow-up. Sites interact only through
demand decided before the simulation, so any subset of sites can be simulated in its own environment
with identical results (this is how national runs are split into shards).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import numpy as np
import simpy

from .calendar import DAY, Session, public_holidays, site_sessions
from .config import Config, Site
from .counter import NO_SHOW, SENT_HOME, STILL_WAITING, serve_session
from .demand import BOOKED, FOLLOW_UP, RETURN, WALK_IN, DemandModel, day_profile, generate_arrivals
from .randomness import stream


@dataclass
class SiteLog:
    """Everything one site recorded in one replication: visits (parallel lists) and sessions."""

    site_id: str
    # visits, indexed by visit id (primary visits first, then returns and follow-ups as they happen)
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
    # sessions
    session_day: list = field(default_factory=list)
    session_open: list = field(default_factory=list)
    session_staffed: list = field(default_factory=list)
    session_busy: list = field(default_factory=list)
    deferred: int = 0  # returns and follow-ups that fell after the horizon

    def add_visit(self, time, demarche, kind, citizen, service, patience, attempt) -> int:
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
        return len(self.time) - 1


class SitePlan:
    """A site ready to simulate: its sessions, its citizens and where later visits can land."""

    def __init__(self, config: Config, model: DemandModel, site: Site, replication: int,
                 closed_days: set):
        self.config, self.site = config, site
        self.sessions: list[Session] = site_sessions(site, config.horizon, closed_days)
        self.session_start = [s.start for s in self.sessions]
        self.open_days = sorted({s.day for s in self.sessions})
        self.profile = day_profile(model, site, self.sessions)
        rng = stream(config.seed, replication, site.id, "demand")
        self.arrivals = generate_arrivals(model, site, self.sessions, self.profile, rng)
        a = self.arrivals
        self.bounds = np.searchsorted(a.time, np.r_[self.session_start, np.inf], side="left")

    def landing(self, day: int, delay: int, u: float) -> tuple[int, float] | None:
        """(session index, time) of a visit ``delay`` days after ``day``, on the first open day; None if beyond."""
        if self.site.always_open:
            target = day + delay
            if target >= self.config.horizon.days or target not in self.profile.day_cum:
                return None
            t = self.profile.time_of_day(target, u)
            return 0, t
        j = bisect_left(self.open_days, day + delay)
        if j >= len(self.open_days):
            return None
        t = self.profile.time_of_day(self.open_days[j], u)
        return bisect_right(self.session_start, t) - 1, t


def site(env: simpy.Environment, plan: SitePlan, log: SiteLog):
    """SimPy process of one site over the horizon."""
    cfg, a = plan.config, plan.arrivals
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
    no_show = a.no_show
    later: dict[int, list[int]] = {}  # session index → visits (returns, follow-ups) landing there
    send_home = not plan.site.always_open
    for j, s in enumerate(plan.sessions):
        if s.start > env.now:
            yield env.timeout(s.start - env.now)
        ids = [v for v in range(plan.bounds[j], plan.bounds[j + 1]) if not no_show[v]]
        for v in range(plan.bounds[j], plan.bounds[j + 1]):
            if no_show[v]:
                log.outcome[v] = NO_SHOW
                log.leave[v] = log.time[v]
        extra = later.pop(j, None)
        if extra:
            ids = sorted(ids + extra, key=log.time.__getitem__)
        home, busy = serve_session(ids, log.time, log.service, log.patience, log.booked, s.segments, s.end,
                                   log.start, log.end, log.outcome, log.leave, send_home=send_home)
        log.session_day.append(s.day)
        log.session_open.append(s.end - s.start)
        log.session_staffed.append(s.staffed_minutes)
        log.session_busy.append(busy)
        # follow-ups of first visits served in this session
        for v in ids:
            c = log.citizen[v]
            if log.outcome[v] == 0 and log.kind[v] != FOLLOW_UP and a.follow_up[c]:
                _come_back(plan, log, later, v, s.day, int(a.follow_up_delay[c]), float(a.follow_up_u[c]),
                           FOLLOW_UP, float(a.follow_up_service[c]), 0)
        # citizens sent home come back another open day, with a probability (conditional at each return)
        for v in home:
            c = log.citizen[v]
            k = log.attempt[v] + 1
            if k <= beh.max_returns and a.return_u[c] < beh.return_probability ** k:
                _come_back(plan, log, later, v, s.day, int(a.return_delay[c]), float(a.return_tod_u[c]),
                           RETURN, log.service[v], k)
    if not send_home:
        for v, o in enumerate(log.outcome):
            if o == -1:
                log.outcome[v] = STILL_WAITING


def _come_back(plan, log, later, v, day, delay, u, kind, service, attempt):
    where = plan.landing(day, delay, u)
    if where is None:
        log.deferred += 1
        return
    j, t = where
    c = log.citizen[v]
    # whoever comes back does so as a walk-in, with their own patience
    w = log.add_visit(t, log.demarche[v], kind, c, service, float(plan.arrivals.walk_in_patience[c]), attempt)
    later.setdefault(j, []).append(w)


def closed_days(config: Config) -> set:
    if not config.holidays.closed:
        return set()
    return set(public_holidays(config.horizon.start, config.horizon.end, config.holidays.subdiv))


def simulate_sites(config: Config, sites: list[Site], replication: int,
                   model: DemandModel | None = None) -> list[tuple[SitePlan, SiteLog]]:
    """Run the given sites (a shard) for one replication in one SimPy environment."""
    model = model or DemandModel(config)
    holidays = closed_days(config)
    env = simpy.Environment()
    out = []
    for s in sites:
        plan = SitePlan(config, model, s, replication, holidays)
        log = SiteLog(s.id)
        env.process(site(env, plan, log))
        out.append((plan, log))
    env.run(until=config.horizon.days * DAY)
    return out


__all__ = ["simulate_sites", "site", "SitePlan", "SiteLog", "SENT_HOME"]

"""The SimPy model: each site and each bus is a process that follows its calendar and opens its counter.

``counter`` is the process (a generator with the environment passed explicitly): it waits for each
session — an opening session of a fixed site, or a bus's visit to a stop — lets the agents serve the
citizens present (:func:`fssim.engine.counter.serve_session`; each agent's "free at" time carries over from one
session to the next, so a service running through a closure keeps its agent busy after it), then sends
the ones who need it to a later
session: citizens sent home at closing come back with a probability (at a site: another open day; at a
bus stop: the bus's next visit to that stop, or the bus's fallback fixed site), served citizens whose
démarche needs it come back for a follow-up (booked in the site's calendar when it has one,
:mod:`fssim.demand.booking`). Sites interact only through demand decided before the
simulation and through a bus's fallback site, so a shard holding each bus with its fallback site can be
simulated in its own environment with identical results.

A bus drives: it leaves a stop when its last citizen in service is done (or at the stop's end), drives to
the day's next stop (the first one from its base, leaving at ``leaves_base``) with the road minutes of
``territory.travel``, and a stop it reaches after its start time starts late (minutes lost are logged).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import simpy

from fssim.engine.calendar import (DAY, Session, SessionArrays, bus_sessions, public_holidays,
                                   site_session_arrays, staffed_minutes)
from fssim.config import Bus, Config, Site, parse_clock
from fssim.engine.counter import NO_SHOW, STILL_WAITING, serve_session
from fssim.engine.absences import draw_absences, has_absences, turn_away, with_closures
from fssim.demand.arrivals import BOOKED, FOLLOW_UP, REDIRECT, RETURN, WALK_IN, DemandModel, generate_arrivals
from fssim.demand.profiles import profile_of
from fssim.demand.origins import origin_communes
from fssim.demand.booking import primary_bookings
from fssim.demand.randomness import stream


@dataclass
class SiteLog:
    """Everything one site or bus recorded in one replication: visits (parallel lists) and sessions."""

    site_id: str
    points: list = field(default_factory=list)  # stop labels of a bus (visits carry their index)
    communes: list = field(default_factory=list)  # communes of residence (visits carry their index)
    # visits, indexed by visit id (primary visits first, then returns, follow-ups and redirections)
    time: list = field(default_factory=list)
    demarche: list = field(default_factory=list)   # the visit's first démarche
    demarches: list = field(default_factory=list)  # how many démarches the visit handles
    kind: list = field(default_factory=list)
    citizen: list = field(default_factory=list)
    service: list = field(default_factory=list)
    patience: list = field(default_factory=list)
    booked: list = field(default_factory=list)
    start: list = field(default_factory=list)
    end: list = field(default_factory=list)
    leave: list = field(default_factory=list)
    outcome: list = field(default_factory=list)
    agent: list = field(default_factory=list)  # who served the visit (0, 1, …), −1 if not served
    attempt: list = field(default_factory=list)
    point: list = field(default_factory=list)
    origin: list = field(default_factory=list)  # index in ``communes`` of where the visit's citizen lives
    # sessions
    session_day: list = field(default_factory=list)
    session_point: list = field(default_factory=list)
    session_open: list = field(default_factory=list)
    session_staffed: list = field(default_factory=list)
    session_busy: list = field(default_factory=list)      # agent-minutes in service within duty windows
    session_overtime: list = field(default_factory=list)  # service minutes outside them (of services started)
    session_late: list = field(default_factory=list)      # minutes a bus started the stop late (0 for a site)
    deferred: int = 0  # returns and follow-ups that fell after the horizon
    booked_on: dict = field(default_factory=dict)  # visit → day its booking was made (booking calendar only)

    def commune_index(self, code: str) -> int:
        """Index of commune ``code`` in ``communes``, added if new (a citizen redirected from a bus)."""
        try:
            return self.communes.index(code)
        except ValueError:
            self.communes.append(code)
            return len(self.communes) - 1

    def add_visit(self, time, demarche, demarches, kind, citizen, service, patience, attempt, point,
                  origin) -> int:
        self.time.append(time)
        self.demarche.append(demarche)
        self.demarches.append(demarches)
        self.kind.append(kind)
        self.citizen.append(citizen)
        self.service.append(service)
        self.patience.append(patience)
        self.booked.append(False)
        self.start.append(np.nan)
        self.end.append(np.nan)
        self.leave.append(np.nan)
        self.outcome.append(-1)
        self.agent.append(-1)
        self.attempt.append(attempt)
        self.point.append(point)
        self.origin.append(origin)
        return len(self.time) - 1


class SitePlan:
    """A site or a bus ready to simulate: its sessions, its citizens, and where later visits can land."""

    def __init__(self, config: Config, model: DemandModel, entity: Site | Bus, replication: int,
                 closed_days: set):
        self.config, self.site = config, entity
        self.is_bus = isinstance(entity, Bus)
        self._sessions: list[Session] | None = None  # made from ``calendar`` when the Python path needs them
        if self.is_bus:
            self.sessions = bus_sessions(entity, config.horizon, closed_days,
                                         _breakdown_days(config, entity, replication))
        else:
            self.calendar = site_session_arrays(entity, config.horizon, with_closures(config, entity, closed_days))
        self.session_start = self.calendar.start.tolist()
        self.open_days = np.unique(self.calendar.day).tolist()
        # for a bus: each stop's visits (days and session indices), where its citizens come back
        self.stop_days: dict[int, list[int]] = {}
        self.stop_sessions: dict[int, list[int]] = {}
        if self.is_bus:
            for j, s in enumerate(self.sessions):
                self.stop_days.setdefault(s.point, []).append(s.day)
                self.stop_sessions.setdefault(s.point, []).append(j)
        drawn_on = self.sessions if self.is_bus else self.calendar  # a site's demand reads the arrays
        self.profile = profile_of(model, entity, drawn_on)
        rng = stream(config.seed, replication, entity.id, "demand")
        self.arrivals = generate_arrivals(model, entity, drawn_on, self.profile, rng)
        # agents absent: the same citizens, fewer agents (None: no absences at this site)
        self.absences = draw_absences(config, entity, self.sessions, replication) if has_absences(
            config, entity) else None
        if self.absences is not None:
            self.sessions = self.absences.sessions
        self.channels = None  # stations, visio room, back office (fssim.engine.stations), None: the counter only
        if self.arrivals.channel_u is not None:
            from fssim.engine.stations import ChannelPlan
            self.arrivals, self.channels = ChannelPlan.build(config, entity, self.sessions, self.arrivals)
        self.bounds = np.searchsorted(self.arrivals.time, np.r_[self.session_start, np.inf], side="left")
        self.log = SiteLog(entity.id, [f"{entity.id}:{s.commune}" for s in entity.stops] if self.is_bus else [],
                           origin_communes(entity)[0])
        self.later: dict[int, list[int]] = {}  # session index → visits (returns, follow-ups…) landing there
        self.fallback: SitePlan | None = None  # a bus's fixed site for citizens it could not serve
        # for a bus: per session, road minutes from the previous stop or the base (None: not driven), and
        # when the crew leaves the base (the day's first stop) or None (leaves the previous stop when done)
        self.drives, self.departs = bus_legs(config, entity, self.sessions) if self.is_bus else (None, None)

    @property
    def sessions(self) -> list[Session]:
        """The sessions as objects (the Python path, absences, channels), made from ``calendar`` when first asked."""
        if self._sessions is None:
            self._sessions = self.calendar.sessions()
        return self._sessions

    @sessions.setter
    def sessions(self, sessions: list[Session]) -> None:
        self._sessions, self.calendar = sessions, SessionArrays.of(sessions)

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
            if target >= self.config.horizon.days or target not in self.profile:
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
        from fssim.engine.calendar import day_dates
        dates = day_dates(config.horizon)
        u = stream(config.seed, replication, bus.id, "breakdowns").random(len(dates))
        lost |= {d for d, x in zip(dates, u) if x < bus.breakdown_rate}
    return lost


def bus_legs(config: Config, bus: Bus, sessions: list[Session]) -> tuple[list, list]:
    """Per stop visit: road minutes of the drive before it (None when an end has no coordinates) and, for
    the first stop of a day, when the crew leaves the base (None: it leaves the previous stop when done)."""
    n = len(sessions)
    pts = [(st.lat, st.lon, st.commune) for st in bus.stops] + [(bus.base_lat, bus.base_lon, bus.base)]
    lat = np.array([np.nan if a is None else a for a, _, _ in pts], dtype=float)
    lon = np.array([np.nan if b is None else b for _, b, _ in pts], dtype=float)
    if not np.isfinite(lat[:-1] + lon[:-1]).any():
        return [None] * n, [None] * n
    minutes = _road_model(config).minutes(lat, lon, _densities([c for _, _, c in pts]), lat, lon)
    np.fill_diagonal(minutes, 0.0)  # the same stop twice in a row
    leave, base = parse_clock(bus.leaves_base), len(bus.stops)
    drives, departs = [], []
    for j, s in enumerate(sessions):
        first = j == 0 or sessions[j - 1].day != s.day
        m = minutes[base if first else sessions[j - 1].point, s.point]
        drives.append(float(m) if np.isfinite(m) else None)
        departs.append(s.day * DAY + leave if first else None)
    return drives, departs


def _road_model(config: Config):
    """The road model of ``territory.travel`` (a commune → site travel matrix cannot time a bus's drives)."""
    from fssim.geo.travel import RoadModel
    return RoadModel.of(config)


def _densities(codes: list) -> np.ndarray:
    """Density class of each commune code (of the embedded territory; 'peu_dense' when unknown, as for bases)."""
    table = _density_table()
    return np.array([table.get(str(c), "peu_dense") for c in codes], dtype=object)


@lru_cache(maxsize=1)
def _density_table() -> dict:
    from fssim.geo.territory import load_territory
    c = load_territory().communes
    return dict(zip(c["code"].astype(str), c["density_class"].astype(str)))


def _arrive(env: simpy.Environment, plan: SitePlan, j: int, free: list):
    """A bus drives to stop visit ``j``: it leaves the base (first stop of the day) or the previous stop when
    its last citizen in service is done, then drives. Returns when the stop starts (late or on time)."""
    s = plan.sessions[j]
    drive = plan.drives[j]
    if drive is None:
        return s.start
    depart = plan.departs[j]
    if depart is None:
        depart = max([plan.sessions[j - 1].end, *free])
    if depart > env.now:
        yield env.timeout(depart - env.now)
    yield env.timeout(drive)
    return max(s.start, env.now)


def counter(env: simpy.Environment, plan: SitePlan):
    """SimPy process of one site or bus over the horizon."""
    cfg, a, log = plan.config, plan.arrivals, plan.log
    beh = cfg.behaviour
    n = len(a)
    # primary visits become rows 0..n-1 of the log
    log.time = a.time.tolist()
    log.demarche = a.demarche.tolist()
    log.demarches = a.demarches.tolist()
    log.kind = np.where(a.booked, BOOKED, WALK_IN).tolist()
    log.citizen = list(range(n))
    log.service = a.service.tolist()
    log.patience = a.patience.tolist()
    log.booked = a.booked.tolist()
    log.start = [np.nan] * n
    log.end = [np.nan] * n
    log.leave = [np.nan] * n
    log.outcome = [-1] * n
    log.agent = [-1] * n
    log.attempt = [0] * n
    points = np.repeat([s.point for s in plan.sessions], np.diff(plan.bounds)).tolist()
    log.point = points
    log.origin = list(points) if plan.is_bus else a.origin.tolist()
    if a.calendar is not None:
        log.booked_on = primary_bookings(a)
    no_show = a.no_show.tolist()
    follow_up = a.follow_up.tolist()
    send_home = not getattr(plan.site, "always_open", False)
    redirect = plan.is_bus and plan.site.unserved == "nearest_site" and plan.fallback is not None
    crew = max((c for s in plan.sessions for _, _, c in s.segments), default=0)
    free = [-np.inf] * crew  # when each agent is done with the citizens of earlier sessions
    origin = [-1] * crew     # the session row of each agent's last service
    for j, s in enumerate(plan.sessions):
        begin = (yield from _arrive(env, plan, j, free)) if plan.is_bus else s.start
        if begin > env.now:
            yield env.timeout(begin - env.now)
        segments = s.segments if begin == s.start else tuple((max(a, begin), b, c) for a, b, c in s.segments
                                                              if b > begin)
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
        before = free[:]
        if s.segments:
            serve = serve_session if plan.channels is None else plan.channels.serve
            home, busy, overtime, carried = serve(ids, log.time, log.service, log.patience, log.booked,
                                                  segments, s.end, log.start, log.end, log.outcome, log.leave,
                                                  log.agent, free, send_home=send_home)
        else:  # nobody on duty (agents absent): the door stays closed
            home, busy, overtime, carried = turn_away(ids, log.time, log.outcome, log.leave), 0.0, 0.0, ()
            if plan.channels is not None:
                plan.channels.closed()
        for k, minutes in carried:  # an earlier service's minutes within today's duty are not overtime
            log.session_overtime[origin[k]] -= minutes
        row = len(log.session_day)
        for k in range(crew):
            if free[k] != before[k]:
                origin[k] = row
        log.session_day.append(s.day)
        log.session_point.append(s.point)
        log.session_open.append(s.end - s.start if s.segments else 0.0)
        log.session_staffed.append(staffed_minutes(segments))
        log.session_busy.append(busy)
        log.session_overtime.append(overtime)
        log.session_late.append(min(begin, s.end) - s.start)
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
    booked = False
    if kind == FOLLOW_UP and target.arrivals.calendar is not None:  # booked in the slots left, on that day
        where, booked = target.arrivals.calendar.follow_up(day, where)
    if where is None:
        log.deferred += 1
        return
    j, t = where
    c = log.citizen[v]
    point = target.sessions[j].point
    # whoever comes back does so as a walk-in, with their own patience and the same démarches
    patience = float(plan.arrivals.walk_in_patience[c])
    origin = log.origin[v] if target is plan else target.log.commune_index(log.communes[log.origin[v]])
    w = target.log.add_visit(t, log.demarche[v], log.demarches[v], kind, c if target is plan else -1, service,
                             np.inf if booked else patience, attempt, point, origin)
    if booked:
        target.log.booked[w], target.log.booked_on[w] = True, day
    target.later.setdefault(j, []).append(w)


def closed_days(config: Config) -> set:
    if not config.holidays.closed:
        return set()
    return set(public_holidays(config.horizon.start, config.horizon.end, config.holidays.subdiv))


def compiled_counter(env: simpy.Environment, plan: SitePlan):
    """SimPy process of a fixed site whose horizon runs in one call of the compiled kernel
    (:mod:`fssim.engine.kernel`): its citizens meet no other site's, so nothing needs interleaving."""
    from fssim.engine.kernel import run_site
    run_site(plan)
    yield env.timeout(0)


#: the counter's implementations: ``compiled`` (numba, the default) and ``python`` (the reference)
KERNELS = ("compiled", "python")


def kernel_choice(kernel: str | None = None) -> str:
    """The kernel asked for, else ``FSSIM_KERNEL`` from the environment, else ``compiled``."""
    import os
    choice = kernel or os.environ.get("FSSIM_KERNEL") or "compiled"
    if choice not in KERNELS:
        from fssim.errors import InputError
        raise InputError(f"{choice!r} is not a kernel: use one of {', '.join(KERNELS)}", field="FSSIM_KERNEL")
    return choice


def simulate_sites(config: Config, sites: list[Site | Bus], replication: int,
                   model: DemandModel | None = None, kernel: str | None = None) -> list[SitePlan]:
    """Run the given sites and buses (a shard) for one replication in one SimPy environment.

    A bus whose fallback site is not in the shard keeps its citizens for its next visit instead. ``kernel``:
    see :func:`kernel_choice`; both give the same results, the compiled one faster.
    """
    model = model or DemandModel(config)
    holidays = closed_days(config)
    env = simpy.Environment()
    plans = [SitePlan(config, model, s, replication, holidays) for s in sites]
    by_id = {p.site.id: p for p in plans}
    for p in plans:
        if p.is_bus and p.site.fallback_site:
            p.fallback = by_id.get(p.site.fallback_site)
    compiled = kernel_choice(kernel) == "compiled"
    if compiled:
        from fssim.engine.kernel import compiled_path_for
        targets = {p.fallback.site.id for p in plans if p.fallback is not None}
    for p in plans:
        env.process(compiled_counter(env, p) if compiled and compiled_path_for(p, targets) else counter(env, p))
    env.run(until=config.horizon.days * DAY)
    return plans


__all__ = ["simulate_sites", "counter", "compiled_counter", "kernel_choice", "KERNELS", "SitePlan", "SiteLog", "DAY"]

"""Demand: who comes to a site, when, for which démarche, and what each citizen will do.

For each site the whole horizon is drawn at once (vectorised): a non-homogeneous Poisson process over
the opening hours, with weekday, month and hour-of-day profiles, then every citizen's attributes
(démarche, booked or walk-in, no-show, service time, patience, follow-up and return decisions). Drawing
all of a citizen's random numbers up front, each attribute from its own named stream of the site and keyed
by the citizen (day, index in the day), is what keeps common random numbers across scenarios: changing
staffing or appointments changes outcomes, never the citizens; more demand adds citizens, it does not
redraw the others.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pandas as pd
from scipy.special import ndtri

from fssim.engine.calendar import DAY, Session, day_dates, session_arrays, session_list
from fssim import defaults as D
from fssim.config import Bus, Config, Site
from fssim.defaults import WEEKDAYS
from fssim.demand.booking import book_arrivals
from fssim.demand.channels import channel_uniforms
from fssim.demand.origins import origins as _origins
from fssim.demand.distributions import LogNormal
from fssim.demand.profiles import Profile
from fssim.demand.randomness import Streams

class VisitKind(IntEnum):
    """Why a citizen comes; stored as this small integer (``int8``) and shown by its name."""

    WALK_IN = 0
    BOOKED = 1
    RETURN = 2       # sent home at closing, coming back another day
    FOLLOW_UP = 3    # a démarche that needs a second visit
    REDIRECTED = 4   # sent from a bus stop to the bus's fallback site


#: plain integers for the simulation's loops
WALK_IN, BOOKED, RETURN, FOLLOW_UP, REDIRECT = (int(k) for k in VisitKind)
#: the names, in code order: the categories of the visits table's ``kind`` column
KINDS = tuple(k.name.lower() for k in VisitKind)


class DemandModel:
    """Network-level demand inputs shared by every site: démarche mix per day and distributions."""

    def __init__(self, config: Config):
        self.config = config
        self.dates = day_dates(config.horizon)
        self.demarches = [d.name for d in config.demarches]
        self.mix_cum = self._daily_mix_cumulative()
        self._mix: np.ndarray | None = None
        self.laws = DemarcheLaws.of(config)
        d = config.demand
        self.weekday_factor = np.array([d.weekday.get(w, 0.0) for w in WEEKDAYS])
        month = np.asarray(d.month, dtype=float)
        self.month_factor = month / month.mean() if month.mean() > 0 else month
        self.hour_weight = np.array([d.hour.get(h, 0.0) for h in range(24)])
        self.day_weekday = np.array([x.weekday() for x in self.dates])
        self.day_month = np.array([x.month - 1 for x in self.dates])

    def _daily_mix_cumulative(self) -> np.ndarray:
        """days × démarches matrix of cumulative shares, with the seasonal shifts applied."""
        cfg = self.config
        base = np.array([d.share for d in cfg.demarches], dtype=float)
        mix = np.tile(base, (len(self.dates), 1))
        index = {n: i for i, n in enumerate(self.demarches)}
        mmdd = np.array([x.strftime("%m-%d") for x in self.dates])
        for s in cfg.demand.mix_shifts:
            if s.start <= s.end:
                on = (mmdd >= s.start) & (mmdd <= s.end)
            else:  # wraps over the new year
                on = (mmdd >= s.start) | (mmdd <= s.end)
            mix[on, index[s.demarche]] *= s.factor
        mix /= mix.sum(axis=1, keepdims=True)
        cum = np.cumsum(mix, axis=1)
        cum[:, -1] = 1.0
        return cum

    def daily_mix(self) -> np.ndarray:
        """days × démarches shares (computed once; read, not written, by every site's draws)."""
        if self._mix is None:
            self._mix = np.diff(self.mix_cum, axis=1, prepend=0.0)
        return self._mix


@dataclass
class Arrivals:
    """Primary visits of one site over the horizon (sorted by time) and each citizen's pre-drawn future."""

    time: np.ndarray
    day: np.ndarray
    demarche: np.ndarray      # index into the catalogue: the visit's first démarche
    demarches: np.ndarray     # how many démarches the visit handles (1, 2, …)
    other_demarches: np.ndarray  # visits × (most démarches − 1): the further ones, −1 where there are fewer
    booked: np.ndarray
    no_show: np.ndarray
    service: np.ndarray       # all of the visit's démarches (see :func:`_visit_service`)
    patience: np.ndarray      # inf for booked citizens or when nobody gives up
    walk_in_patience: np.ndarray  # the same citizen's patience when they come as a walk-in
    follow_up: np.ndarray     # needs a second visit after being served
    follow_up_delay: np.ndarray  # days
    follow_up_service: np.ndarray
    follow_up_u: np.ndarray   # time-of-day uniform
    return_u: np.ndarray      # decision uniform for coming back after being sent home
    return_delay: np.ndarray  # days
    return_tod_u: np.ndarray
    drawn_time: np.ndarray | None = None  # arrival time as drawn, before appointments move it (a stable key)
    origin: np.ndarray | None = None  # index in origin_communes(entity) of the commune the citizen lives in
    booked_on: np.ndarray | None = None  # with a booking calendar (fssim.demand.booking): day of the booking,
    no_slot: np.ndarray | None = None    # asked for an appointment and found no slot within its horizon,
    calendar: object | None = None       # and the calendar itself (the follow-ups book in it)
    channel_u: np.ndarray | None = None  # visits × channel draws (fssim.demand.channels), None: all at the counter

    def __len__(self) -> int:
        return len(self.time)


def expected_per_unit(model: DemandModel, entity, sessions: list[Session]):
    """(units, day of each unit, expected first visits per unit) for a site (units = open days) or a bus
    (units = its stop visits, i.e. its sessions)."""
    if isinstance(entity, Bus):
        return _expected_per_stop_visit(model, entity, sessions)
    days, lam = expected_per_day(model, entity, sessions)
    return days, days, lam


def _expected_per_stop_visit(model: DemandModel, bus: Bus, sessions: list[Session]):
    cfg = model.config
    units = np.arange(len(sessions))
    if not len(units):
        return units, units, np.zeros(0)
    day = np.array([s.day for s in sessions])
    point = np.array([s.point for s in sessions])
    w = model.weekday_factor[model.day_weekday[day]] * model.month_factor[model.day_month[day]]
    lam = np.zeros(len(units))
    active = max(1, (min(cfg.horizon.days, (bus.closes_on - cfg.horizon.start).days) if bus.closes_on else
                     cfg.horizon.days) - (max(0, (bus.opens_on - cfg.horizon.start).days) if bus.opens_on else 0))
    for i, stop in enumerate(bus.stops):
        m = point == i
        if not m.any():
            continue
        if stop.visits_per_visit is not None:
            per_visit = stop.visits_per_visit
        elif stop.visits_per_year is not None:
            per_visit = stop.visits_per_year / (m.sum() * 365.0 / active)
        else:
            per_visit = D.BUS_VISITS_PER_STOP
        mean_w = w[m].mean() if w[m].mean() > 0 else 1.0
        lam[m] = per_visit * w[m] / mean_w
    return units, day, lam


def expected_per_day(model: DemandModel, site: Site, sessions: list[Session]) -> tuple[np.ndarray, np.ndarray]:
    """Expected visits on each open day of the site: (day indices, expected counts)."""
    cfg = model.config
    open_min = np.zeros(cfg.horizon.days)
    if site.always_open:  # one long session: spread it over its days
        for s in session_list(sessions):
            d0, d1 = int(s.start // DAY), int(np.ceil(s.end / DAY))
            open_min[d0:d1] += DAY
    else:
        cal = session_arrays(sessions)
        np.add.at(open_min, cal.day, cal.end - cal.start)  # in session order, as a loop would add them
    days = np.flatnonzero(open_min > 0)
    if len(days) == 0:
        return days, np.zeros(0)
    spec = cfg.demand
    own = site.demand
    rate_hour = own.rate_per_hour or (
        None if (own.visits_per_open_day or own.visits_per_year or own.schedule) else spec.rate_per_hour)
    if rate_hour is not None:
        return days, rate_hour * open_min[days] / 60.0 * own.multiplier
    w = model.weekday_factor[model.day_weekday[days]] * model.month_factor[model.day_month[days]]
    mean_w = w.mean() if w.mean() > 0 else 1.0
    per_day = None
    if own.visits_per_open_day or own.visits_per_year or own.schedule:
        per_day, per_year = own.visits_per_open_day, own.visits_per_year
    else:
        per_day, per_year = spec.visits_per_open_day, spec.visits_per_year
    if per_day is None:
        # yearly volumes become daily ones through the number of days the site opens in a year
        first = max(0, (site.opens_on - cfg.horizon.start).days) if site.opens_on else 0
        last = min(cfg.horizon.days, (site.closes_on - cfg.horizon.start).days) if site.closes_on else cfg.horizon.days
        open_days_per_year = len(days) * 365.0 / max(last - first, 1)
        if own.schedule:
            starts = np.array([(p.start - cfg.horizon.start).days for p in own.schedule])
            vols = np.array([p.visits_per_year for p in own.schedule])
            k = np.searchsorted(starts, days, side="right") - 1
            per_year = np.where(k >= 0, vols[np.maximum(k, 0)], vols[0])
        per_day = np.asarray(per_year, dtype=float) / open_days_per_year
    lam = per_day * w / mean_w * own.multiplier
    if own.ramp_up and site.opens_on is not None and cfg.catchment.ramp_up_months > 0:
        age = days - (site.opens_on - cfg.horizon.start).days
        c = cfg.catchment
        lam = lam * np.clip(c.ramp_up_start + (1 - c.ramp_up_start) * age / (c.ramp_up_months * 30.44),
                            c.ramp_up_start, 1.0)
    return days, lam


def generate_arrivals(model: DemandModel, site, sessions: list[Session], profile: Profile,
                      rng: "np.random.Generator | Streams") -> Arrivals:
    """Draw the primary visits of a site or bus for the whole horizon from its own streams.

    ``rng`` is the site's :class:`~fssim.demand.randomness.Streams` (or its demand Generator, whose key names
    them). A citizen is the pair (day, index k of the citizen among the day's draws, see
    :func:`_unit_offsets` for a bus): each unit's count is the Poisson quantile of one uniform, and each
    attribute (arrival time, démarche, booking, no-show, service time, follow-up, patience, return) is
    read from its own named stream at (day, k), before appointments move anyone; so are the number of
    démarches of the visit and each further démarche (streams ``demarches``, ``demarche_2``, ``service_2``…), and
    the lead of a booking through a calendar (``booking_lead``, :mod:`fssim.demand.booking`). So turning on appointments, changing the mix of démarches or adding citizens to a day
    leaves every other citizen exactly as they were.
    """
    streams = rng if isinstance(rng, Streams) else Streams.of(rng)
    beh = model.config.behaviour
    units, unit_day, lam = expected_per_unit(model, site, sessions)
    offset = _unit_offsets(site, sessions, units, unit_day)
    counts = _poisson_counts(streams.uniforms("count", unit_day, offset), lam)
    day = np.repeat(unit_day, counts)
    k = np.repeat(offset, counts) + np.arange(len(day)) - np.repeat(np.cumsum(counts) - counts, counts)
    time = _times_in_units(profile, units, counts, streams.uniforms("arrival", day, k))
    order = np.argsort(time, kind="stable")
    time, day, k = time[order], day[order], k[order]

    def draw(name: str) -> np.ndarray:
        """One uniform per citizen from the stream ``name``, in arrival order."""
        return streams.uniforms(name, day, k)

    n = len(time)
    from fssim.demand.compiled import first_demarche  # numba: imported when a site first draws

    demarche = first_demarche(draw("demarche"), model.mix_cum, day)
    count, others = _further_demarches(model, day, demarche, draw)
    a = _attributes(model, demarche, count, others, draw)
    a["time"], a["day"], a["drawn_time"] = time, day, time.copy()
    a["booked"] = np.zeros(n, dtype=bool)
    calendar = None
    if (u := channel_uniforms(model.config, site, draw)) is not None:
        a["channel_u"] = u
    if getattr(site, "appointments", False) and beh.appointment_share > 0 and n:
        wants = draw("booking") < beh.appointment_share
        calendar = book_arrivals(site, beh, sessions, a, wants, draw)
        if calendar is None:
            a["time"], a["booked"] = _book_slots(time, wants, sessions, beh.slot_minutes, beh.appointment_desks)
        order = np.argsort(a["time"], kind="stable")
        a = {key: v[order] for key, v in a.items()}
    a["origin"] = _origins(site, a.pop("origin_u"))
    a["no_show"] = a.pop("no_show_u") < (beh.no_show if calendar is None else a.pop("no_show_p"))
    a["no_show"] &= a["booked"]
    a["patience"] = np.where(a["booked"], np.inf, a["walk_in_patience"])
    return Arrivals(**a, calendar=calendar)


def _unit_offsets(entity, sessions: list[Session], units, unit_day) -> np.ndarray:
    """Where each demand unit's citizen indices start. A site's unit is its day (offset 0); a bus's is
    its visit to a stop, numbered from ``point << 40`` (and the visit's rank among the same day's visits
    to the same stop, ``<< 32``), so a one-stop bus draws the citizens of a site open at the same hours."""
    if not isinstance(entity, Bus) or not len(units):
        return np.zeros(len(units), dtype=np.int64)
    point = np.array([sessions[j].point for j in units], dtype=np.int64)
    rank = pd.DataFrame({"d": unit_day, "p": point}).groupby(["d", "p"]).cumcount().to_numpy(np.int64)
    return (point << 40) + (rank << 32)


def _poisson_counts(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson counts by inversion: a slightly larger mean adds citizens, it never redraws the others.

    The quantile as ``scipy.stats.poisson.ppf`` computes it for u in (0, 1) and a positive mean (the inverse CDF,
    then one step down where the CDF already reaches u), without its argument checks: ``tests/test_model.py``
    compares the two."""
    from scipy import special

    lam = np.asarray(lam, dtype=float)
    out = np.zeros(len(lam), dtype=np.int64)
    on = lam > 0
    if on.any():
        q, mu = u[on], lam[on]
        vals = np.ceil(special.pdtrik(q, mu))
        below = np.maximum(vals - 1, 0)
        out[on] = np.where(special.pdtr(below, mu) >= q, below, vals).astype(np.int64)
    return out


def _times_in_units(profile: Profile, units, counts, u_time: np.ndarray) -> np.ndarray:
    """Arrival times: inverse CDF of each visit's unit profile, vectorised over all units (unit k's
    cumulative weights are shifted by k so that one sorted array holds them all)."""
    time = np.empty(len(u_time))
    counts = np.asarray(counts)
    busy = np.flatnonzero(counts)
    if not len(busy):
        return time
    rows = profile.rows(np.asarray(units)[busy])
    lens = profile.ptr[rows + 1] - profile.ptr[rows]
    first = np.zeros(len(busy), dtype=np.int64)
    np.cumsum(lens[:-1], out=first[1:])
    idx = np.repeat(profile.ptr[rows] - first, lens) + np.arange(lens.sum())
    cum_all = np.repeat(busy.astype(float), lens) + profile.cum[idx]
    start_all, length_all = profile.starts[idx], profile.lengths[idx]
    last = first + lens - 1
    rank = np.repeat(busy.astype(float), counts[busy])
    which = np.repeat(np.arange(len(busy)), counts[busy])
    ug = rank + u_time
    j = np.minimum(np.searchsorted(cum_all, ug, side="right"), last[which])
    lo = np.where(j > first[which], cum_all[np.maximum(j - 1, 0)], rank)
    width = cum_all[j] - lo
    frac = np.where(width > 0, (ug - lo) / np.where(width > 0, width, 1), 0.5)
    time[:] = start_all[j] + np.clip(frac, 0.0, 1.0) * length_all[j]
    return time


def _further_demarches(model: DemandModel, day: np.ndarray, first: np.ndarray, draw):
    """How many démarches each visit handles and which further ones (visits × (most − 1), −1 padded).

    The number is read from ``behaviour.demarches_per_visit`` at the uniform of stream ``demarches``,
    capped by the démarches the day's mix offers; the j-th démarche comes from the day's mix without
    the ones already drawn, at the uniform of stream ``demarche_j``. Own streams: another distribution
    of the number changes no citizen's arrival, first démarche or service time of a first démarche.
    """
    table = model.config.behaviour.demarches_per_visit
    sizes = np.array(list(table), dtype=np.int64)
    cum = np.cumsum(list(table.values()))
    cum[-1] = 1.0
    n = len(first)
    count = sizes[np.minimum(np.searchsorted(cum, draw("demarches"), side="right"), len(sizes) - 1)]
    mix = model.daily_mix()
    count = np.minimum(count, (mix > 0).sum(axis=1)[day]).astype(np.int8)
    most = int(count.max()) if n else 1
    others = np.full((n, max(most - 1, 0)), -1, dtype=np.int16)
    if most > 1:
        from fssim.demand.compiled import further_demarches

        further_demarches(mix, day, first, count, np.stack([draw(f"demarche_{j + 1}") for j in range(1, most)]),
                          others)
    return count, others


@dataclass(frozen=True)
class DemarcheLaws:
    """What the draws read of each démarche, made once per model (not per site): its service-time law, the
    log-normal ones' mu and sigma (:meth:`LogNormal.ppf`'s), and its follow-up share and delay bounds. Index −1
    (no such démarche) is a last row that is not log-normal."""

    laws: list
    log_normal: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    follow_share: np.ndarray
    follow_lo: np.ndarray
    follow_hi: np.ndarray

    @classmethod
    def of(cls, cfg) -> "DemarcheLaws":
        laws = [d.service for d in cfg.demarches]
        ln = [isinstance(x, LogNormal) for x in laws]
        sigma2 = np.array([math.log1p(x.cv ** 2) if k else 0.0 for x, k in zip(laws, ln)] + [0.0])
        mu = np.array([math.log(x.mean) if k else 0.0 for x, k in zip(laws, ln)] + [0.0]) - sigma2 / 2
        days = [d.follow_up.delay_days for d in cfg.demarches]
        return cls(laws, np.array(ln + [False]), mu, np.sqrt(sigma2),
                   np.array([d.follow_up.share for d in cfg.demarches]),
                   np.array([lo for lo, _ in days], dtype=np.int64), np.array([hi for _, hi in days], dtype=np.int64))


def _by_demarche(cfg, demarche: np.ndarray, u: np.ndarray, laws: DemarcheLaws | None = None) -> np.ndarray:
    """Service time of each démarche index at its uniform (0 where the index is −1: no such démarche).

    The log-normal démarches (the default catalogue's) in one pass: ``exp(mu + sigma × ndtri(u))`` with each
    visit's own mu and sigma is, element by element, what :meth:`LogNormal.ppf` computes; the others one by one.
    ``laws``: the model's :class:`DemarcheLaws` (made from ``cfg`` when not given)."""
    laws = laws or DemarcheLaws.of(cfg)
    out = np.zeros(len(demarche))
    if laws.log_normal.any():
        idx = np.flatnonzero(laws.log_normal[demarche])
        d = demarche[idx]
        out[idx] = np.exp(laws.mu[d] + laws.sigma[d] * ndtri(u[idx]))
    for i, law in enumerate(laws.laws):
        if not laws.log_normal[i]:
            idx = np.flatnonzero(demarche == i)
            if len(idx):
                out[idx] = law.ppf(u[idx])
    return out


def mean_visit_service(config) -> float:
    """Expected agent minutes of a first visit: the mix's mean service time for the first démarche, plus
    ``extra_demarche_factor`` × the same mean for each further démarche (the rule of :func:`_visit_service`,
    the further démarches' mix taken as the day's mix). Used by the Erlang C staffing and capacity rules."""
    mean = sum(d.share * d.service.expected for d in config.demarches)
    beh = config.behaviour
    extra = max(0.0, min(beh.mean_demarches(), len(config.demarches)) - 1.0)
    return mean * (1.0 + beh.extra_demarche_factor * extra)


def _visit_service(cfg, first: np.ndarray, others: np.ndarray, draw, name: str,
                   laws: DemarcheLaws | None = None) -> np.ndarray:
    """Agent time of a visit: its first démarche's service time in full, plus each further démarche's
    own service time × ``behaviour.extra_demarche_factor`` (the citizen is already identified and
    seated). Stream ``name`` for the first démarche, ``name_2``, ``name_3``… for the further ones."""
    total = _by_demarche(cfg, first, draw(name), laws)
    factor = cfg.behaviour.extra_demarche_factor
    for j in range(others.shape[1]):
        total += factor * _by_demarche(cfg, others[:, j], draw(f"{name}_{j + 2}"), laws)
    return total


def _attributes(model: DemandModel, demarche: np.ndarray, count: np.ndarray, others: np.ndarray,
                draw) -> dict[str, np.ndarray]:
    """Each citizen's future, one named stream per attribute; durations by the quantile of their
    démarches' distributions at their own uniforms. A follow-up handles the same démarches again
    (its service time by the same rule); whether one is needed depends on the first démarche."""
    cfg, beh = model.config, model.config.behaviour
    n = len(demarche)
    laws = model.laws
    service = _visit_service(cfg, demarche, others, draw, "service", laws)
    follow_service = _visit_service(cfg, demarche, others, draw, "follow_up_service", laws)
    u_follow, u_delay = draw("follow_up"), draw("follow_up_delay")
    follow = u_follow < laws.follow_share[demarche]  # each first démarche's follow-up rule
    delay = _whole_days(u_delay, laws.follow_lo[demarche], laws.follow_hi[demarche])
    patience = beh.patience.ppf(draw("patience")) if beh.patience is not None else np.full(n, np.inf)
    return {
        "demarche": demarche, "demarches": count, "other_demarches": others,
        "no_show_u": draw("no_show"), "service": service, "walk_in_patience": patience,
        "follow_up": follow, "follow_up_delay": delay, "follow_up_service": follow_service,
        "follow_up_u": draw("follow_up_time"), "return_u": draw("return"),
        "return_delay": _whole_days(draw("return_delay"), *beh.return_delay_days),
        "return_tod_u": draw("return_time"), "origin_u": draw("origin"),
    }


def _whole_days(u: np.ndarray, lo, hi) -> np.ndarray:
    """A whole number of days, uniform on lo..hi (numbers, or one per uniform), from a uniform."""
    return np.minimum(lo + (u * (hi - lo + 1)).astype(np.int64), hi).astype(np.int32)


def _book_slots(time, booked, sessions, slot, desks):
    """Move booked citizens to the start of their slot; a full slot sends the extra ones to the walk-in queue."""
    cal = session_arrays(sessions)
    starts, ends = cal.start, cal.end
    sess = np.searchsorted(starts, time, side="right") - 1
    s0 = starts[sess]
    slot_start = s0 + np.floor((time - s0) / slot) * slot
    slot_start = np.minimum(slot_start, ends[sess] - 1e-6)
    idx = np.flatnonzero(booked)
    if len(idx):
        o = idx[np.lexsort((time[idx], slot_start[idx]))]
        keys = slot_start[o]
        first = np.r_[True, keys[1:] != keys[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(o)), 0))
        rank = np.arange(len(o)) - group_start
        overflow = o[rank >= desks]
        booked = booked.copy()
        booked[overflow] = False
    time = np.where(booked, slot_start, time)
    return time, booked


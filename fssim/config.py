"""Scenario configuration: YAML validated into typed objects (pydantic).

The schema is the contract with analysts: unknown keys are errors, every field has a default taken
from :mod:`fssim.defaults` (with its source) or is required, and every error names the file, the
field path and what is expected. ``load_config`` is the one way in; ``Config.model_dump`` gives the
fully resolved config written beside each run.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from fssim import defaults as D
from fssim.metrics import kpis as kpi_registry
from fssim.demand.distributions import Distribution, LogNormal, Triangular
from fssim.errors import InputError
from fssim.geo.travel import RoadModel

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Share = Annotated[float, Field(ge=0, le=1)]
_TIME = re.compile(r"^\s*(\d{1,2})[:h](\d{2})\s*$")
#: INSEE commune code: 2 digits of département (2A/2B in Corsica) + 3 digits; overseas 97x + 2 digits.
_COMMUNE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
#: Longest horizon: the calendar, holiday and rollout tables are built day by day.
MAX_HORIZON_YEARS = 50
MAX_HORIZON_DAYS = round(MAX_HORIZON_YEARS * 365.25)
#: More replications than this is a typo (confidence intervals are tight long before).
MAX_REPLICATIONS = 10_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def parse_clock(text: str) -> int:
    """'09:30' → 570 minutes after midnight; '24:00' allowed as the end of a day."""
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a time of day: write HH:MM, e.g. 09:00")
    h, mi = int(m.group(1)), int(m.group(2))
    if mi >= 60 or h > 24 or (h == 24 and mi):
        raise ValueError(f"{text!r} is not a valid time of day (00:00 to 24:00)")
    return 60 * h + mi


def clock(minutes: float) -> str:
    m = int(round(minutes))
    return f"{m // 60:02d}:{m % 60:02d}"


def parse_day_hours(value: str | list[str] | None) -> list[tuple[int, int]]:
    """'09:00-12:00 / 14:00-17:00' (or a list of 'HH:MM-HH:MM') → sorted minute intervals.

    Raises ValueError for reversed or overlapping intervals.
    """
    if value is None:
        return []
    parts = value if isinstance(value, list) else [p for p in value.split("/")]
    out = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        if p.count("-") != 1:
            raise ValueError(f"{p!r} is not an interval: write HH:MM-HH:MM, several joined by ' / '")
        a, b = (parse_clock(x) for x in p.split("-"))
        if b <= a:
            raise ValueError(f"interval {p!r} ends before it starts: write the earlier time first")
        out.append((a, b))
    out.sort()
    for (a1, b1), (a2, b2) in zip(out, out[1:]):
        if a2 < b1:
            raise ValueError(
                f"intervals {clock(a1)}-{clock(b1)} and {clock(a2)}-{clock(b2)} overlap: merge or separate them"
            )
    return out


# --------------------------------------------------------------------------- démarches


class FollowUp(_Model):
    """Share of visits for this démarche that need a second visit, and its delay in days."""

    share: Share = 0.0
    delay_days: tuple[PositiveInt, PositiveInt] = D.FOLLOW_UP_DELAY_DAYS

    @model_validator(mode="after")
    def _ordered(self):
        if self.delay_days[0] > self.delay_days[1]:
            raise ValueError("delay_days is [min, max] with min <= max")
        return self


class Demarche(_Model):
    name: str = Field(pattern=r"^[a-z0-9_]+$", description="identifier, lower-case with underscores")
    partner: str = ""
    share: Share = Field(description="share of visits (the catalogue's shares sum to 1)")
    service: Distribution = Field(description="agent time with the citizen, minutes")
    follow_up: FollowUp = FollowUp()


def default_catalogue() -> list[Demarche]:
    """The démarche catalogue of §9.3 of the facts file (shares [P]/[E], service times [E])."""
    return [
        Demarche(
            name=n, partner=p, share=s,
            service=LogNormal(dist="lognormal", mean=m, cv=cv),
            follow_up=FollowUp(share=f),
        )
        for n, p, s, m, cv, f in D.DEMARCHES
    ]


class MixShift(_Model):
    """Multiply a démarche's share between two days of every year (MM-DD, inclusive), then renormalise."""

    demarche: str
    start: str = Field(pattern=r"^\d{2}-\d{2}$")
    end: str = Field(pattern=r"^\d{2}-\d{2}$")
    factor: NonNegativeFloat


# --------------------------------------------------------------------------- demand and behaviour


class Demand(_Model):
    """How many citizens come, and when. Exactly one volume: per open day, per year, or per open hour.

    ``rate_per_hour`` gives a constant Poisson rate over opening hours with no weekday, hour or month
    profile (used for validation against queueing theory).
    """

    visits_per_open_day: PositiveFloat | None = None
    visits_per_year: PositiveFloat | None = None
    rate_per_hour: PositiveFloat | None = None
    weekday: dict[Weekday, NonNegativeFloat] = Field(default_factory=lambda: dict(D.WEEKDAY_FACTORS))
    month: list[NonNegativeFloat] = Field(default_factory=lambda: list(D.MONTH_FACTORS), min_length=12, max_length=12)
    hour: dict[int, NonNegativeFloat] = Field(default_factory=lambda: dict(D.HOUR_WEIGHTS))
    mix_shifts: list[MixShift] = Field(default_factory=lambda: [
        MixShift(demarche=d, start=a, end=b, factor=f) for d, a, b, f in D.MIX_SHIFTS
    ])

    @field_validator("hour")
    @classmethod
    def _hours(cls, v):
        bad = [h for h in v if not 0 <= h <= 23]
        if bad:
            raise ValueError(f"hour keys are clock hours 0..23, got {bad}")
        if not any(w > 0 for w in v.values()):
            raise ValueError("at least one hour weight must be positive")
        return dict(sorted(v.items()))

    def volumes_given(self) -> list[str]:
        return [k for k in ("visits_per_open_day", "visits_per_year", "rate_per_hour") if getattr(self, k) is not None]


class VolumePhase(_Model):
    """From ``start`` on, the site receives ``visits_per_year`` first visits a year (catchments per phase)."""

    start: dt.date
    visits_per_year: NonNegativeFloat


class SiteDemand(_Model):
    """Per-site volume: one of a constant volume or a schedule of volumes; or a multiplier of the default.

    ``ramp_up``: a site opening during the horizon starts at ``catchment.ramp_up_start`` of its volume.
    """

    visits_per_open_day: NonNegativeFloat | None = None
    visits_per_year: NonNegativeFloat | None = None
    rate_per_hour: NonNegativeFloat | None = None
    schedule: list[VolumePhase] = Field(default_factory=list)
    multiplier: NonNegativeFloat = 1.0
    ramp_up: bool = False

    @model_validator(mode="after")
    def _ordered(self):
        starts = [p.start for p in self.schedule]
        if starts != sorted(starts):
            raise ValueError("schedule: phases must be in date order")
        if 0 in (self.visits_per_open_day, self.visits_per_year, self.rate_per_hour):
            self.multiplier = 0.0  # a site nobody visits (0 would otherwise read as "no volume given")
        return self

    def volumes_given(self) -> list[str]:
        return [k for k in ("visits_per_open_day", "visits_per_year", "rate_per_hour")
                if getattr(self, k) is not None] + (["schedule"] if self.schedule else [])


class Behaviour(_Model):
    """Citizens' behaviour: appointments, no-shows, patience of walk-ins, return after being sent home."""

    appointment_share: Share = Field(
        D.APPOINTMENT_SHARE_WHEN_OFFERED, description="share of arrivals booked, at sites offering appointments")
    slot_minutes: PositiveInt = D.SLOT_MINUTES
    appointment_desks: PositiveInt = Field(1, description="appointments bookable per slot")
    no_show: Share = D.NO_SHOW
    patience: Distribution | None = Field(
        default_factory=lambda: Triangular(**D.PATIENCE),
        description="how long a walk-in waits before giving up (minutes); null = never gives up")
    return_probability: Share = D.RETURN_PROBABILITY
    return_delay_days: tuple[PositiveInt, PositiveInt] = D.RETURN_DELAY_DAYS
    max_returns: int = Field(2, ge=0)
    demarches_per_visit: dict[PositiveInt, Share] = Field(
        default_factory=lambda: dict(D.DEMARCHES_PER_VISIT),
        description="probability of each number of démarches handled in one visit, e.g. {1: 0.62, 2: 0.26, "
                    "3: 0.12}; the first is drawn from the day's mix, the others from the same mix, distinct")
    extra_demarche_factor: float = Field(
        D.EXTRA_DEMARCHE_FACTOR, gt=0, le=1,
        description="agent time of each further démarche of a visit, as a share of its own service time")

    @field_validator("demarches_per_visit")
    @classmethod
    def _a_distribution(cls, table: dict[int, float]) -> dict[int, float]:
        """A probability table over 1, 2, …: non-empty, summing to 1."""
        total = sum(table.values())
        if not table or abs(total - 1) > 1e-6:
            raise ValueError(
                f"probabilities sum to {total:.4f}; they must sum to 1, e.g. {{1: 0.62, 2: 0.26, 3: 0.12}}")
        return dict(sorted(table.items()))

    def mean_demarches(self) -> float:
        """Expected démarches per visit (before capping by the number of démarches in the catalogue)."""
        return sum(k * p for k, p in self.demarches_per_visit.items())


# --------------------------------------------------------------------------- sites


def commune_code(v):
    """Validate an INSEE commune code; a 5-digit YAML number is taken as its text (75056 → '75056')."""
    if isinstance(v, bool):
        raise ValueError("an INSEE commune code is text, e.g. '08105'")
    if isinstance(v, int):
        if not 10000 <= v <= 99999:
            raise ValueError(f"{v} is not an INSEE commune code (5 characters); write it in quotes so that a "
                             "leading 0 is kept, e.g. commune: \"08105\"")
        v = str(v)
    if isinstance(v, str):
        v = v.strip().upper()
        if not _COMMUNE.match(v):
            raise ValueError(f"{v!r} is not an INSEE commune code: 5 characters, the département then 3 digits "
                             "('08105', '2A004' in Corsica, '97411' overseas); in YAML, quote it: \"08105\"")
    return v


#: (name, lat min, lat max, lon min, lon max) of the parts of France, with a margin of about 20 km.
FRANCE_BOXES = (
    ("metropolitan France and Corsica", 41.2, 51.3, -5.3, 9.8),
    ("Guadeloupe", 15.7, 16.7, -61.9, -60.8), ("Saint-Martin and Saint-Barthélemy", 17.7, 18.3, -63.3, -62.6),
    ("Martinique", 14.2, 15.0, -61.4, -60.7), ("Guyane", 2.0, 5.9, -54.8, -51.4),
    ("La Réunion", -21.5, -20.7, 55.1, 56.0), ("Mayotte", -13.2, -12.5, 44.9, 45.4),
    ("Saint-Pierre-et-Miquelon", 46.6, 47.3, -56.6, -56.0), ("Nouvelle-Calédonie", -23.0, -19.4, 163.4, 168.3),
    ("Polynésie française", -28.1, -7.7, -155.0, -134.2), ("Wallis-et-Futuna", -14.5, -13.0, -178.4, -176.0),
)
#: A site or stop further than this from its commune's town hall is an error unless flagged far_from_commune.
MAX_KM_FROM_COMMUNE = 25.0


def in_france(lat: float, lon: float) -> bool:
    return any(a <= lat <= b and c <= lon <= d for _, a, b, c, d in FRANCE_BOXES)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _places(config) -> list[tuple[str, Any]]:
    """(field path, site or stop, generated) of every place written in the config (network sites come from data;
    the stops of a bus ``generated`` by fssim take their coordinates from the territory it was given)."""
    out = [(f"sites[{i}]", s, False) for i, s in enumerate(config.sites)]
    out += [(f"buses[{i}].stops[{j}]", st, b.generated) for i, b in enumerate(config.buses)
            for j, st in enumerate(b.stops)]
    return out


def check_places(config) -> None:
    """Coordinates of the sites and stops written in a config: both or neither, inside France, not swapped, and
    within 25 km of the town hall of their commune when the embedded territory knows it (unless flagged)."""
    near = []
    for where, p, generated in _places(config):
        if (p.lat is None) != (p.lon is None):
            raise ValueError(f"{where}.{'lon' if p.lon is None else 'lat'}: give both lat and lon, or neither")
        if p.lat is None:
            continue
        if not in_france(p.lat, p.lon):
            if in_france(p.lon, p.lat):
                raise ValueError(f"{where}.lat: lat {p.lat} and lon {p.lon} look swapped (that point is outside "
                                 f"France; lat {p.lon}, lon {p.lat} is inside): exchange them")
            raise ValueError(f"{where}.lat: ({p.lat}, {p.lon}) is outside France (metropolitan and overseas); give "
                             "WGS84 decimal degrees, latitude first (Paris is lat 48.86, lon 2.35)")
        if p.commune and not p.far_from_commune and not generated:
            near.append((where, p))
    if not near:
        return
    from fssim.geo.territory import load_territory

    terr = load_territory()
    codes = terr.current_code([p.commune for _, p in near])
    town = terr.communes.set_index("code")[["lat", "lon", "name"]]
    for (where, p), code in zip(near, codes):
        if not code or code not in town.index:
            continue  # a commune the embedded territory does not know: nothing to compare with
        t = town.loc[code]
        km = _km(p.lat, p.lon, float(t["lat"]), float(t["lon"]))
        if km > MAX_KM_FROM_COMMUNE:
            raise ValueError(
                f"{where}.lat: ({p.lat}, {p.lon}) is {km:.0f} km from the town hall of {t['name']} ({p.commune}), "
                f"more than {MAX_KM_FROM_COMMUNE:g} km; fix the coordinates or the commune, or set "
                "far_from_commune: true if the place really is that far")


class Site(_Model):
    """A France services counter: where, when it is open, with how many agents.

    ``hours`` maps weekdays to intervals ('09:00-12:00 / 14:00-17:00'); ``agents`` is a number for every
    interval, or per weekday a number or a list with one number per interval of that day.
    ``always_open`` makes one continuous session over the whole horizon (queueing validation).
    """

    id: str = Field(min_length=1)
    name: str = ""
    commune: str | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    hours: dict[Weekday, str | list[str]] = Field(default_factory=lambda: dict(D.DEFAULT_HOURS))
    agents: int | dict[Weekday, int | list[int]] = D.DEFAULT_AGENTS
    appointments: bool = False
    demand: SiteDemand = SiteDemand()
    opens_on: dt.date | None = None
    closes_on: dt.date | None = None
    always_open: bool = False
    kind: str = Field("fixe", description="fixe, antenne, bus stop…: carried into the outputs")
    far_from_commune: bool = Field(
        False, description="lat/lon are knowingly more than 25 km from the town hall of the commune (otherwise "
        "an error: swapped or mistyped coordinates are the usual cause)")

    _schedule: dict[str, list[tuple[int, int, int]]] = PrivateAttr(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, v):
        return str(v) if isinstance(v, int) else v

    @field_validator("commune", mode="before")
    @classmethod
    def _commune(cls, v):
        return None if v in (None, "") else commune_code(v)

    @model_validator(mode="after")
    def _build_schedule(self):
        sched: dict[str, list[tuple[int, int, int]]] = {}
        for day in D.WEEKDAYS:
            try:
                intervals = parse_day_hours(self.hours.get(day))
            except ValueError as e:
                raise ValueError(f"hours.{day}: {e}") from None
            agents = self.agents if isinstance(self.agents, int) else self.agents.get(day, D.DEFAULT_AGENTS)
            if isinstance(agents, int):
                agents = [agents] * len(intervals)
            elif len(agents) != len(intervals):
                raise ValueError(
                    f"agents.{day}: {len(agents)} numbers for {len(intervals)} opening intervals; "
                    "give one number per interval, or a single number")
            for a in agents:
                if a < 0:
                    raise ValueError(f"agents.{day}: {a} agents; the number of agents cannot be negative")
                if a == 0:
                    raise ValueError(
                        f"agents.{day}: an open interval needs at least 1 agent (remove the interval to close it)")
            if intervals:
                sched[day] = [(a, b, c) for (a, b), c in zip(intervals, agents)]
        if self.always_open:
            if not isinstance(self.agents, int):
                raise ValueError("agents: an always_open site takes a single number of agents")
            if self.agents < 1:
                raise ValueError(f"agents: {self.agents}; an always_open site needs at least 1 agent")
        elif not sched:
            raise ValueError("hours: the site is never open; give at least one opening interval")
        if self.opens_on and self.closes_on and self.closes_on <= self.opens_on:
            raise ValueError("closes_on must be after opens_on")
        self._schedule = sched
        return self

    @property
    def schedule(self) -> dict[str, list[tuple[int, int, int]]]:
        """Weekly schedule: weekday → [(start_min, end_min, agents)], sorted."""
        return self._schedule

    def weekly_hours(self) -> float:
        return sum(b - a for day in self._schedule.values() for a, b, _ in day) / 60


class Recurrence(_Model):
    """When a stop recurs: every ``weeks`` weeks (weeks counted from ``anchor``, the stop happens when
    week_index % weeks == phase), or on the ``nth`` given weekday of each month (1..4, or -1 for the last)."""

    weeks: PositiveInt = 1
    phase: int = Field(0, ge=0)
    nth: int | None = Field(None, ge=-1, le=5)
    anchor: dt.date = Field(dt.date(2024, 1, 1), description="a Monday from which week indices are counted")

    @model_validator(mode="after")
    def _coherent(self):
        if self.phase >= self.weeks:
            raise ValueError(f"phase: {self.phase} must be below weeks ({self.weeks})")
        if self.nth == 0:
            raise ValueError("nth: 1 for the first weekday of the month … 4, or -1 for the last")
        if self.anchor.weekday() != 0:
            raise ValueError(f"anchor: {self.anchor} is not a Monday")
        return self


_SHORTHANDS = {"weekly": {"weeks": 1}, "fortnightly": {"weeks": 2}, "monthly": {"nth": 1}}


class Stop(_Model):
    """A half-day (or any window) of a bus in a commune, on a weekday, with a recurrence.

    ``every``: weekly, fortnightly, monthly (first such weekday of the month) or a Recurrence mapping.
    ``demand``: first visits per year at this stop, or per visit of the bus; default: from catchments
    (network scenarios) or the network's ``visits_per_open_day`` spread over the bus's stops.
    """

    commune: str
    name: str = ""
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    weekday: Weekday
    start: str
    end: str
    every: Recurrence = Recurrence()
    visits_per_visit: NonNegativeFloat | None = None
    visits_per_year: NonNegativeFloat | None = None
    far_from_commune: bool = Field(False, description="as for a site: lat/lon knowingly > 25 km from the town hall")

    @field_validator("commune", mode="before")
    @classmethod
    def _commune(cls, v):
        return commune_code(v)

    @field_validator("every", mode="before")
    @classmethod
    def _shorthand(cls, v):
        if isinstance(v, str):
            if v not in _SHORTHANDS:
                raise ValueError(f"{v!r}: write weekly, fortnightly, monthly or a mapping (weeks, phase, nth)")
            return _SHORTHANDS[v]
        return v

    @model_validator(mode="after")
    def _window(self):
        a, b = parse_clock(self.start), parse_clock(self.end)
        if b <= a:
            raise ValueError(f"end: the stop ends ({self.end}) before it starts ({self.start})")
        if self.visits_per_visit is not None and self.visits_per_year is not None:
            raise ValueError("give visits_per_visit or visits_per_year, not both")
        return self

    @property
    def window(self) -> tuple[int, int]:
        return parse_clock(self.start), parse_clock(self.end)


class Bus(_Model):
    """A bus France services: a crew travelling between stops along a timetable.

    Citizens of a stop arrive only while the bus is there (more of them at the start: ``front_load``; or
    ``arrival_profile: hours`` to use the network's hour-of-day profile, as for a site); those not served when
    it leaves come back at its next visit to that stop (``unserved: next_visit``) or go to the nearest fixed
    site (``unserved: nearest_site``). Travel between stops is computed from the road model
    (``territory.travel``) and is time the crew cannot serve: the bus leaves a stop when its last citizen
    in service is done (or at the stop's end), drives to the day's next stop, and a stop it cannot reach by
    its start time starts late (citizens who came earlier wait; the lost minutes are reported). The first
    drive of a day is from the base (``base_lat``/``base_lon``), leaving at ``leaves_base``. A leg whose
    end has no coordinates (a bus whose stops have none) is not driven: that stop starts on time.
    """

    id: str = Field(min_length=1)
    name: str = ""
    base: str | None = Field(None, description="commune code of the bus's base")
    base_lat: float | None = None
    base_lon: float | None = None
    agents: PositiveInt = 2
    leaves_base: str = Field(D.BUS_CREW_HOURS[0], description="when the crew leaves the base each day (HH:MM)")
    stops: list[Stop] = Field(min_length=1)
    absences: list[dt.date] = Field(default_factory=list, description="days the bus does not run")
    breakdown_rate: Share = Field(0.0, description="share of running days lost at random (seeded)")
    front_load: float = Field(0.5, ge=0, lt=1, description="0 = uniform arrivals over the stop, 0.5 = twice as many at the start as at the end… ")
    arrival_profile: Literal["front_loaded", "hours"] = "front_loaded"
    unserved: Literal["next_visit", "nearest_site"] = "next_visit"
    fallback_site: str | None = Field(None, description="fixed site for unserved citizens (default: the nearest)")
    opens_on: dt.date | None = None
    closes_on: dt.date | None = None
    generated: bool = Field(False, description="stops generated by fssim (not known from the source): flagged")

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, v):
        return str(v) if isinstance(v, int) else v

    @field_validator("leaves_base")
    @classmethod
    def _clock(cls, v):
        parse_clock(v)
        return v


class Horizon(_Model):
    start: dt.date = dt.date(2024, 1, 1)
    days: PositiveInt = Field(365, description=f"at most {MAX_HORIZON_YEARS} years ({MAX_HORIZON_DAYS} days)")
    warmup_days: int = Field(0, ge=0, description="days excluded from the metrics (only useful for always_open sites)")

    @model_validator(mode="after")
    def _bounded(self):
        if self.days > MAX_HORIZON_DAYS:
            raise ValueError(f"days: {self.days} days is {self.days / 365.25:.0f} years; the horizon is at most "
                             f"{MAX_HORIZON_YEARS} years ({MAX_HORIZON_DAYS} days): shorten it (a year, 365, is usual)")
        if self.warmup_days >= self.days:
            raise ValueError(f"warmup_days: {self.warmup_days} warm-up days leave nothing of the {self.days}-day "
                             "horizon to measure; make the warm-up shorter than the horizon")
        return self

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days)


class Holidays(_Model):
    """French public holidays (fixed dates, Easter Monday, Ascension, Whit Monday; regional ones by subdiv)."""

    closed: bool = Field(True, description="sites are closed on public holidays")
    subdiv: str | None = Field(None, description="holidays subdivision: '57' Moselle, '971' Guadeloupe…")

    @field_validator("subdiv", mode="before")
    @classmethod
    def _known(cls, v):
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if isinstance(v, str):
            import holidays

            known = holidays.France.subdivisions
            if v not in known and v not in getattr(holidays.France, "subdivisions_aliases", {}):
                raise ValueError(f"unknown holidays subdivision {v!r}; use one of {', '.join(known)} "
                                 "(57 Moselle, 6AE Alsace, 971 Guadeloupe…), or leave it out for the national days")
        return v


class Outputs(_Model):
    wait_threshold_min: PositiveFloat = D.WAIT_THRESHOLD_MIN
    visits: bool = Field(True, description="write one row per visit (visits.parquet)")


#: KPIs usable in targets and experiments: the registry's (fssim.metrics.kpis)
KPIS = kpi_registry.names()


class Target(_Model):
    """A KPI goal: the network mean (or every site's, with scope: site) at most ``max`` and/or at least ``min``."""

    kpi: str
    max: float | None = None
    min: float | None = None
    scope: Literal["network", "site"] = "network"
    label: str = ""

    @model_validator(mode="after")
    def _bound(self):
        if kpi_registry.find(self.kpi) is None:
            raise ValueError(f"kpi: {kpi_registry.unknown(self.kpi)}")
        if self.max is None and self.min is None:
            raise ValueError("give max, min or both")
        return self


def default_targets() -> list[Target]:
    """[E] No official waiting standard exists (facts §9.4); these follow the usual service-level form:
    90 % of citizens served within 15 minutes, at most 5 % giving up."""
    return [
        Target(kpi="p90_wait_min", max=15.0, label="P90 wait ≤ 15 min"),
        Target(kpi="abandonment_rate", max=0.05, label="abandonment ≤ 5 %"),
    ]


class RoadSpec(_Model):
    """Road-time model parameters; defaults, sources and meaning are those of fssim.geo.travel.RoadModel."""

    detour: float = Field(RoadModel.detour, ge=1)
    speed_dense: PositiveFloat = RoadModel.speed_dense
    speed_intermediaire: PositiveFloat = RoadModel.speed_intermediaire
    speed_peu_dense: PositiveFloat = RoadModel.speed_peu_dense
    speed_tres_peu_dense: PositiveFloat = RoadModel.speed_tres_peu_dense
    access_minutes: NonNegativeFloat = RoadModel.access_minutes


class Territory(_Model):
    """Which part of France: the embedded territory, optionally restricted to départements or régions."""

    departements: list[str] | None = None
    regions: list[str] | None = None
    travel: RoadSpec = RoadSpec()
    travel_matrix: str | None = Field(None, description="CSV/Parquet of origin commune, destination site, minutes")

    @field_validator("departements", "regions", mode="before")
    @classmethod
    def _codes_as_text(cls, v):
        return [str(x).zfill(2) if isinstance(x, int) else x for x in v] if isinstance(v, list) else v


class AgentsByDensity(_Model):
    """Agents at the counter by the density class of the site's commune [P, rounded]: rural sites 2.2,
    peri-urban 2.5, QPV 4.5 on average (IGA 2020, Sénat rapport 778); the label requires 2."""

    dense: PositiveInt = 4
    intermediaire: PositiveInt = 3
    peu_dense: PositiveInt = 2
    tres_peu_dense: PositiveInt = 2


class StaffingRule(_Model):
    """How many agents each site of a network gets.

    ``density``: by the density class of its commune (``agents``). ``volume``: the smallest number, at least the
    density rule's (itself at least the label's 2), for which Erlang C gives P(wait > outputs.wait_threshold_min)
    ≤ ``max_wait_share`` at the site's peak rate (its mean rate over opening hours × ``peak_factor`` [E]), at
    most ``max_agents``. Unset: ``volume`` for a placed network (``source: placement``), ``density`` for the
    ANCT list (its sites have the staff they have). ``max_agents`` also sets the capacity of one site for a
    demand-aware placement (``placement.demand_aware``).
    """

    rule: Literal["density", "volume"] | None = Field(
        None, description="density or volume; unset: volume for a placed network, density for the ANCT list")
    max_wait_share: Share = 0.1
    peak_factor: PositiveFloat = 1.5
    max_agents: PositiveInt = 12


class Placement(_Model):
    """Choose the sites: N sites maximising the population within max_minutes (fssim.network.placement); demand-aware
    by default, so that no site is expected to receive more than its agents can serve within the wait target."""

    n_sites: PositiveInt
    max_minutes: PositiveFloat = 30.0
    one_per_canton: bool = True
    method: Literal["greedy", "milp", "auto"] = "greedy"
    nested: bool = Field(True, description="the n + 1 sites placed contain the n (greedy order, no swaps), so "
                         "networks of growing size differ only by the sites added; false: free placement by "
                         "method (greedy with swaps, milp, auto)")
    demand_aware: bool = Field(
        True, description="relieve overloaded sites before adding the next covering site: a site whose expected "
        "first visits a year (catchment rule: nearest site, a commune hosting k sites splits its demand equally, "
        "rate catchment.annual_visits, default 9 M, over France's population decayed by travel time: the "
        "planning rule, whatever catchment.model) exceed the capacity of one "
        "site (the visits a year network.staffing.max_agents agents serve with P(wait > "
        "outputs.wait_threshold_min) ≤ max_wait_share at the peak rate, Erlang C) gets another site in its "
        "commune or in the commune sending it the most demand; a populous commune can host several sites "
        "(ids p-<INSEE>, p-<INSEE>-2…). Sites are only ever added, so the n + 1 sites still contain the n. "
        "false: the covering order alone, one site per commune")


class RolloutPhase(_Model):
    """From this date, the first ``sites`` sites of the network (in placement order) are open."""

    date: dt.date
    sites: PositiveInt
    label: str = ""


class Network(_Model):
    """Where the sites come from when they are not listed one by one.

    ``source: anct`` reads the official list (``snapshot`` in the data directory, or a CSV path) and opens
    each site on its labelling date (``rollout: labelling``); ``source: placement`` places ``placement.n_sites``
    sites on the embedded territory and opens them along ``phases``.
    """

    source: Literal["anct", "placement"]
    snapshot: str = "2024-08"
    formats: list[Literal["fixe", "fixe_antenne", "multisites", "bus", "itinerante"]] = Field(
        default_factory=lambda: ["fixe", "fixe_antenne", "multisites"],
        description="ANCT formats simulated as fixed counters (buses and itinerant services: see buses)")
    rollout: Literal["labelling", "none"] = "labelling"
    mobile: Literal["none", "anct"] = Field(
        "none", description="anct: add the list's buses and itinerant services, with generated stops (flagged)")
    placement: Placement | None = None
    phases: list[RolloutPhase] = Field(default_factory=list)
    agents: AgentsByDensity = AgentsByDensity()
    staffing: StaffingRule = StaffingRule()
    hours: dict[Weekday, str | list[str]] = Field(
        default_factory=lambda: dict(D.DEFAULT_HOURS), description="hours of sites whose hours are unknown")

    @model_validator(mode="after")
    def _coherent(self):
        if self.source == "placement" and self.placement is None:
            raise ValueError("placement: source 'placement' needs a placement block (n_sites, max_minutes…)")
        if self.staffing.rule is None:  # agents follow the volume a placement gives each site
            self.staffing = self.staffing.model_copy(
                update={"rule": "volume" if self.source == "placement" else "density"})
        counts = [p.sites for p in self.phases]
        if counts != sorted(counts) or [p.date for p in self.phases] != sorted(p.date for p in self.phases):
            raise ValueError("phases: dates and site counts must both increase")
        return self


class Catchment(_Model):
    """How communes' demand reaches sites, and how much there is.

    ``model: calibrated`` (default): each access point (site, or bus stop) receives the actes of the model
    fitted by ``fssim calibrate`` on the observed actes by département and month (Baromètre IND-323):
    exp(level + growth × years) × weekly hours / 30 × ramp-up since its opening × a factor for the density of
    its commune (parameters in :data:`fssim.defaults.DEMAND_CALIBRATION`, with their provenance), divided by
    the mean démarches per visit to give visits. A site's volume depends only on itself, so adding a site
    changes no other site's citizens (common random numbers); demand per inhabitant follows by sharing each
    site's volume over the population around it (fssim.demand.calibration.rate_per_inhabitant).
    ``model: population``: the earlier rule, demand per inhabitant = ``annual_visits`` over France's population
    (default 9 million requests in 2023 [P, Cour des comptes 2024]), falling with travel time (halved every
    ``decay_half_minutes`` [E]), sent to the nearest open site (``choice: nearest``) or spread over the
    ``candidates`` nearest with weights exp(−beta × minutes) (``choice: gravity``); new sites start at
    ``ramp_up_start`` of their volume and reach it after ``ramp_up_months`` [E, facts §9.2].
    ``annual_visits`` with the calibrated model is an override: volumes are scaled so that the territory
    receives ``annual_visits`` × its share of France's population on the reference date. ``multiplier``
    scales every volume (a what-if on demand; 2 doubles it). ``reference_date`` (default: the last day of the
    horizon) is the date of the network tables.
    """

    model: Literal["calibrated", "population"] = "calibrated"
    multiplier: PositiveFloat = 1.0
    choice: Literal["nearest", "gravity"] = "nearest"
    candidates: PositiveInt = 5
    beta_per_minute: PositiveFloat = 0.1
    decay_half_minutes: PositiveFloat | None = 30.0
    annual_visits: PositiveFloat | None = None
    reference_date: dt.date | None = None
    ramp_up_start: Share = 0.5
    ramp_up_months: float = Field(12.0, ge=0)
    stop_share: Share = Field(
        0.3, description="[E] share of the demand of a commune nearer a bus stop than any fixed site that goes "
        "to the stop, per visit of the bus a week (weekly 0.3, fortnightly 0.15…); the rest goes to fixed sites")
    stop_max_per_visit: PositiveFloat = Field(
        20.0, description="[E] at most this many first visits per visit of a bus to a stop (a crew of 2 serves "
        "≈ 15 in a half-day); catchment demand above it is left out and reported (bus_demand_capped)")

    @model_validator(mode="after")
    def _one_rule(self):
        if self.model == "calibrated":
            fields = type(self).model_fields
            wrong = sorted(name for name in ("choice", "candidates", "beta_per_minute", "ramp_up_start",
                                             "ramp_up_months") if getattr(self, name) != fields[name].default)
            if wrong:
                raise ValueError(f"{', '.join(wrong)}: only for model: population (the calibrated model has its "
                                 "own ramp-up and sends each commune to the sites around it); remove them or set "
                                 "model: population")
        return self

    @property
    def population_visits(self) -> float:
        """National visits a year at zero minutes from a site under the population rule (also the planning
        demand of placement)."""
        return float(self.annual_visits if self.annual_visits is not None else D.NETWORK_REQUESTS_2023)


class Coverage(_Model):
    thresholds: list[PositiveInt] = Field(default_factory=lambda: [10, 20, 30], min_length=1,
                                         description="travel-time thresholds in whole minutes")


class Config(_Model):
    """A scenario: horizon, seed, démarches, demand, behaviour and sites (listed, or built from a network)."""

    name: str = "scenario"
    description: str = ""
    horizon: Horizon = Horizon()
    seed: int = Field(20240801, ge=0)
    replications: int = Field(1, ge=1, le=MAX_REPLICATIONS)
    data_dir: str | None = None
    demarches: list[Demarche] = Field(default_factory=default_catalogue, min_length=1)
    demand: Demand = Field(default_factory=lambda: Demand(visits_per_open_day=D.VISITS_PER_OPEN_DAY))
    behaviour: Behaviour = Behaviour()
    holidays: Holidays = Holidays()
    outputs: Outputs = Outputs()
    targets: list[Target] = Field(default_factory=default_targets)
    site_defaults: dict[str, Any] = Field(default_factory=dict, description="keys copied into every site lacking them")
    sites: list[Site] = Field(default_factory=list)
    buses: list[Bus] = Field(default_factory=list)
    territory: Territory = Territory()
    network: Network | None = None
    catchment: Catchment = Catchment()
    coverage: Coverage = Coverage()

    _base_dir: Path | None = PrivateAttr(default=None)
    _source: str | None = PrivateAttr(default=None)
    _notes: list[str] = PrivateAttr(default_factory=list)

    @property
    def source(self) -> str | None:
        """The file the config was read from (None when built in code)."""
        return self._source

    @property
    def notes(self) -> list[str]:
        """What validation adjusted without error (e.g. default seasonal shifts left out), for the user."""
        return self._notes

    @property
    def base_dir(self) -> Path | None:
        """The folder of the config file: relative paths (data_dir, travel_matrix…) start there."""
        return self._base_dir

    @model_validator(mode="before")
    @classmethod
    def _apply_site_defaults(cls, data):
        if isinstance(data, dict) and isinstance(data.get("site_defaults"), dict) and isinstance(data.get("sites"), list):
            allowed = set(Site.model_fields)
            unknown = set(data["site_defaults"]) - allowed
            if unknown:
                raise ValueError(f"site_defaults: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
            data = dict(data)
            data["sites"] = [
                {**data["site_defaults"], **s} if isinstance(s, dict) else s for s in data["sites"]
            ]
        return data

    @model_validator(mode="after")
    def _consistent(self):
        names = [d.name for d in self.demarches]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"demarches: duplicate names {dup}")
        total = sum(d.share for d in self.demarches)
        if abs(total - 1) > 1e-6:
            raise ValueError(f"demarches: shares sum to {total:.4f}; they must sum to 1")
        if "mix_shifts" not in self.demand.model_fields_set:  # the defaults fit the default catalogue only
            kept = [s for s in self.demand.mix_shifts if s.demarche in names]
            dropped = sorted({s.demarche for s in self.demand.mix_shifts} - set(names))
            if dropped:
                self.demand.mix_shifts = kept
                self._notes = [*self._notes, (
                    f"demand.mix_shifts: the default seasonal shifts of {', '.join(dropped)} are left out (not in "
                    f"your démarche catalogue); {len(kept)} default shifts kept. Write demand.mix_shifts to set "
                    "your own (or [] for none)")]
        for i, s in enumerate(self.demand.mix_shifts):
            if s.demarche not in names:
                raise ValueError(
                    f"demand.mix_shifts[{i}].demarche: unknown démarche {s.demarche!r}; known: {', '.join(names)}")
        if len(self.demand.volumes_given()) != 1:
            raise ValueError(
                "demand: give exactly one of visits_per_open_day, visits_per_year, rate_per_hour "
                f"(got {self.demand.volumes_given() or 'none'})")
        if not self.sites and not self.buses and self.network is None:
            raise ValueError("sites: give at least one site or bus, or a network block (source: anct or placement)")
        ids = [s.id for s in self.sites] + [b.id for b in self.buses]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"sites: duplicate site or bus ids {dup}")
        for i, s in enumerate(self.sites):
            if len(s.demand.volumes_given()) > 1:
                raise ValueError(f"sites[{i}].demand: give at most one volume (got {s.demand.volumes_given()})")
        check_places(self)
        return self

    def digest(self) -> str:
        """sha256 of the canonical resolved config: the identity of a scenario in manifests."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- loading


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("lognormal", "exponential", "fixed", "triangular", "empirical", "int", "str", "list[str]",
                      "dict[str,int]", "list[int]", "function-after[_build_schedule(), Site]"):
            continue  # union branch tags add nothing for the reader
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(err: ValidationError, file: str) -> InputError:
    lines = []
    seen = set()
    for e in err.errors():
        where = _loc(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        inner = re.match(r"^([A-Za-z_][\w.\[\]]*): (.+)$", msg, re.S)
        if e["type"] == "value_error" and inner:  # a validator that names the field inside the object
            where = inner.group(1) if where == "(top level)" else f"{where}.{inner.group(1)}"
            msg = inner.group(2)
        if e["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling (see the schema: `fssim schema`)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        key = (where, msg)
        if key in seen:
            continue
        seen.add(key)
        got = e.get("input")
        shown = "" if e["type"] in ("missing",) or isinstance(got, (dict, list)) else f" (got {got!r})"
        lines.append(f"  {where}: {msg}{shown}")
    return InputError("invalid configuration:\n" + "\n".join(lines), file=file)


def non_finite(data: Any, path: str = "") -> tuple[str, float] | None:
    """(field path, value) of the first infinite or NaN number in nested mappings and lists, or None."""
    if isinstance(data, float) and not math.isfinite(data):
        return path or "(top level)", data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for k, v in items:
        found = non_finite(v, f"{path}[{k}]" if isinstance(k, int) else f"{path}.{k}" if path else str(k))
        if found:
            return found
    return None


def config_from_dict(data: dict, *, source: str = "<config>", base: Path | None = None) -> Config:
    """Validate a mapping into a Config; errors become InputError naming ``source``."""
    if not isinstance(data, dict):
        raise InputError("the top level must be a mapping of keys (name, horizon, sites…)", file=source)
    bad = non_finite(data)
    if bad:
        raise InputError(f"{bad[1]} is not a finite number; write a number (.inf and .nan are not accepted)",
                         file=source, field=bad[0])
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise format_validation_error(e, source) from None
    if source != "<config>":
        cfg._source = source
    if base is not None:
        cfg._base_dir = Path(base).resolve()
        for d in cfg.demarches:
            if getattr(d.service, "file", None) and not Path(d.service.file).is_absolute():
                object.__setattr__(d.service, "file", str((base / d.service.file).resolve()))
    return cfg


#: Scenario and experiment files are a few kilobytes; anything above this is not one (and would keep the
#: YAML parser busy for minutes).
MAX_YAML_BYTES = 5_000_000


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a repeated key or an impossible date is an error at its line."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *anchor' merges are meant to be overridden
                key = self.construct_object(key_node, deep=True)
                try:
                    line = first.setdefault(key, key_node.start_mark.line)
                except TypeError:
                    continue  # an unhashable key: the base loader reports it
                if line != key_node.start_mark.line:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first given at line {line + 1}); keep only one",
                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a real date ({e}); write an existing date as YYYY-MM-DD",
                node.start_mark) from None


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


def _read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a small file, or an InputError saying what is wrong and how to fix it."""
    if not path.exists():
        raise InputError(f"file not found; give the path of {what}", file=str(path))
    if path.is_dir():
        raise InputError(f"this is a folder, not a file; give the path of {what}", file=str(path))
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise InputError(f"{size / 1e6:.1f} MB is too large for {what} (at most {MAX_YAML_BYTES / 1e6:g} MB); "
                             "check that this is the right file (data tables go in CSV/Parquet files that the "
                             "scenario names)", file=str(path))
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror}); check its permissions", file=str(path)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InputError(
            f"line {line}: not UTF-8 text (byte 0x{raw[e.start]:02X}); fssim reads YAML files as UTF-8. Convert "
            f"the file, e.g. `iconv -f latin1 -t utf-8 {path.name} > {path.stem}-utf8{path.suffix}`, or save it "
            "as UTF-8 in your editor", file=str(path)) from None


def read_yaml(path: str | Path, what: str = "a YAML scenario (see configs/)") -> Any:
    """The content of a YAML file, or an InputError naming the file (and the line of a syntax error).

    Repeated keys and impossible dates are errors (PyYAML would keep the last key silently, or crash)."""
    path = Path(path)
    text = _read_text(path, what)
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        if not isinstance(e, yaml.constructor.ConstructorError):
            problem = f"not valid YAML ({problem})"
        raise InputError(where + problem, file=str(path)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read a YAML scenario file; ``overrides`` maps dotted paths to values (e.g. {'seed': 3})."""
    path = Path(path)
    data = read_yaml(path)
    for key, value in (overrides or {}).items():
        set_path(data, key, value)
    return config_from_dict(data, source=str(path), base=path.parent)


def set_path(data: dict, dotted: str, value: Any) -> None:
    """Set ``a.b[2].c`` in nested dicts/lists (used by overrides and experiment factors)."""
    tokens = re.findall(r"[^.\[\]]+|\[\d+\]", dotted)
    cur = data
    for i, tok in enumerate(tokens):
        last = i == len(tokens) - 1
        if tok.startswith("["):
            idx = int(tok[1:-1])
            if not isinstance(cur, list) or idx >= len(cur):
                raise InputError(f"{dotted}: no item {idx} here", field=dotted)
            if last:
                cur[idx] = value
            else:
                cur = cur[idx]
        else:
            if not isinstance(cur, dict):
                raise InputError(f"{dotted}: {tok!r} is not inside a mapping", field=dotted)
            if last:
                cur[tok] = value
            else:
                cur = cur.setdefault(tok, {})

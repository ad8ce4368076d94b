"""The schema of access points: fixed sites, bus stops and their recurrence, buses."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveInt,
    PrivateAttr,
    field_validator,
    model_validator,
)

from fssim import defaults as D
from fssim.config.base import MAX_KM_FROM_COMMUNE, Share, Weekday, _Model, _km, commune_code, in_france, parse_clock, parse_day_hours
from fssim.config.booking import Booking
from fssim.config.demand import SiteDemand
from fssim.config.absences import SiteAbsences
from fssim.config.resources import SelfService, Visio, check_site_resources



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
    booking: Booking | None = Field(None, description="this site's booking calendar (default: behaviour.booking)")
    demand: SiteDemand = SiteDemand()
    opens_on: dt.date | None = None
    closes_on: dt.date | None = None
    always_open: bool = False
    self_service: SelfService | None = Field(None, description="self-service stations (computer, scanner, printer)")
    visio: Visio | None = Field(None, description="visio rooms and their weekly timetable per partner")
    kind: str = Field("fixe", description="fixe, antenne, bus stop…: carried into the outputs")
    far_from_commune: bool = Field(
        False, description="lat/lon are knowingly more than 25 km from the town hall of the commune (otherwise "
        "an error: swapped or mistyped coordinates are the usual cause)")
    absences: SiteAbsences | None = Field(None, description="agent absences and closures (overrides the network's)")

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
        check_site_resources(self)
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

    def label(self) -> str:
        """weekly, fortnightly, monthly (every 4 weeks or the nth weekday of the month), or 'every N weeks'."""
        if self.nth is not None:
            return "monthly"
        return {1: "weekly", 2: "fortnightly", 4: "monthly"}.get(self.weeks, f"every {self.weeks} weeks")

    def describe(self) -> str:
        """The label with which visit it is: 'fortnightly (week 2 of 2)', 'monthly (3rd of the month)'."""
        if self.nth is not None:
            suffix = {1: "st", 2: "nd", 3: "rd"}.get(self.nth, "th")
            return f"monthly ({self.nth}{suffix} of the month)" if self.nth > 0 else "monthly (last of the month)"
        return self.label() if self.weeks == 1 else f"{self.label()} (week {self.phase + 1} of {self.weeks})"

    def per_year(self) -> float:
        """Nominal visits a year (52 weeks; 12 for the nth weekday of the month)."""
        return 12.0 if self.nth is not None else 52.0 / self.weeks

    def short_form(self):
        """As written in a config: 'weekly', 'fortnightly', 'monthly' or a mapping (weeks, phase or nth)."""
        if self.nth is None and self.weeks == 1:
            return "weekly"
        if self.nth is None and self.weeks == 2 and self.phase == 0:
            return "fortnightly"
        if self.nth == 1:
            return "monthly"
        return {"weeks": self.weeks, "phase": self.phase} if self.nth is None else {"nth": self.nth}


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

"""The schema of demand: démarches and their mix, volumes, behaviour of citizens, catchments."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from fssim import defaults as D
from fssim.demand.distributions import Distribution, LogNormal, Triangular
from fssim.config.base import Share, Weekday, _Model, commune_code
from fssim.config.booking import Booking
from fssim.config.resources import Channel, channel_shares



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
    label: str = Field("", description="display name in reports (default: the catalogue's, in the report's language)")
    partner: str = ""
    share: Share = Field(description="share of visits (the catalogue's shares sum to 1)")
    service: Distribution = Field(description="agent time with the citizen, minutes")
    follow_up: FollowUp = FollowUp()
    channels: dict[Channel, Share] | None = Field(
        None, description="channel → share of this démarche's visits (counter, self_service, visio, back_office; "
        "summing to 1); default: the config's channels.mix")

    @field_validator("channels")
    @classmethod
    def _channels(cls, v):
        return channel_shares(v)


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
    origins: dict[str, NonNegativeFloat] = Field(
        default_factory=dict, description="commune code → weight: where the site's citizens live (the network "
        "builder fills it from the catchment); empty: the site's own commune")

    @field_validator("origins", mode="before")
    @classmethod
    def _origin_codes(cls, v):
        if isinstance(v, dict):
            return {commune_code(k): w for k, w in v.items()}
        return v

    @model_validator(mode="after")
    def _ordered(self):
        if self.origins and not sum(self.origins.values()) > 0:
            raise ValueError("origins: the weights must not all be 0")
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
    booking: Booking = Field(default_factory=Booking, description="the network's booking calendar (a site's "
                             "own booking block replaces it); off by default: same-day slots")
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

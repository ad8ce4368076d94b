"""The scenario itself: horizon, holidays, outputs, targets and the Config that holds every stage."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    field_validator,
    model_validator,
)

from fssim import defaults as D
from fssim.metrics import kpis as kpi_registry
from fssim.config.base import MAX_HORIZON_DAYS, MAX_HORIZON_YEARS, MAX_REPLICATIONS, _Model
from fssim.config.demand import Behaviour, Catchment, Demand, Demarche, default_catalogue
from fssim.config.sites import Bus, Site, check_places
from fssim.config.absences import Absences
from fssim.config.network import Coverage, Network, Territory
from fssim.config.resources import Channels, check_channels



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
    absences: Absences = Field(Absences(), description="agent absences and closures of every fixed site")
    territory: Territory = Territory()
    network: Network | None = None
    catchment: Catchment = Catchment()
    coverage: Coverage = Coverage()
    channels: Channels = Channels()

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
        check_channels(self)
        return self

    def digest(self) -> str:
        """sha256 of the canonical resolved config: the identity of a scenario in manifests."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- loading

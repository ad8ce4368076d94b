"""The schema of the network and its geography: territory, road model, placement, rollout, staffing rules."""
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
from fssim.geo.travel import RoadModel
from fssim.config.base import Share, Weekday, _Model



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

    def of(self, density_class) -> int:
        """Agents of a site whose commune has this density class; an unknown class (or none) counts as peu_dense."""
        known = isinstance(density_class, str) and density_class in type(self).model_fields
        return int(getattr(self, density_class)) if known else self.peu_dense


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


class Coverage(_Model):
    thresholds: list[PositiveInt] = Field(default_factory=lambda: [10, 20, 30], min_length=1,
                                         description="travel-time thresholds in whole minutes")
    access_minutes: PositiveFloat = Field(D.ACCESS_MINUTES, description="road minutes to the access point "
                                          "within which a commune counts as served (the access indicator)")

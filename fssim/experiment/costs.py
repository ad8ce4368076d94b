"""What a scenario costs a year: its agents, sites and buses at unit costs (the ``costs:`` block of an experiment).

The resources of a scenario are counted over its horizon: a site or bus open for half of it counts 0.5, so a
bus withdrawn on the first day (``closes_on`` = horizon start) counts 0. Agents are those at the counter,
averaged over each site's weekly opening hours (5 in the morning and 3 in the afternoon for as long: 4), plus
the crew of each bus. The cost is agents × ``agent`` + sites × ``site`` + buses × ``bus``, in euros a year.

Default unit costs (estimates [E]; set your own in the experiment's ``costs:`` block)::

    costs: {agent: 40000, site: 50000, bus: 32500}

* ``agent`` 40,000 € [E] (:data:`fssim.defaults.AGENT_COST_EUR`): a La Poste-hosted site costs ≈150 k€ a
  year, two thirds of it staff, for 2 to 2.5 agents [P, facts §5.4, §9.5];
* ``site`` 50,000 € [E]: the other third of that ≈150 k€, premises, equipment and running costs beyond the
  agents. The IGA survey's all-in mean is lower (≈110 k€: rural 93.8 k€, QPV 200.1 k€ [P, facts §5.4]), so
  these defaults lean high: they rank scenarios, they are not a budget;
* ``bus`` 32,500 € [E]: :class:`fssim.geo.bus_coverage.BusCosts` without its crew: the vehicle (the 60 k€
  investment aid [P, facts §1.2] over eight years [E]), 15 k€ of fuel, maintenance and insurance [E] and 10 k€
  of overhead [E]; its crew are agents.

For what the State and the operators pay instead, count the grant per site only: ``{agent: 0, site: 50000,
bus: 30000}`` (50 k€ per site from 2026, 35 k€ in 2023 [P, facts §5.4]).
"""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from fssim.config import Config, Site
from fssim.defaults import AGENT_COST_EUR
from fssim.geo.bus_coverage import BusCosts

SITE_COST_EUR = 50_000.0   # [E] a site's yearly cost beyond its agents (module docstring)
BUS_COST_EUR = BusCosts().yearly() - BusCosts().agents * BusCosts().agent_eur  # [E] beyond its crew: 32,500 €


class CostSpec(BaseModel):
    """Unit costs in euros a year (estimates by default: see :mod:`fssim.experiment.costs`)."""

    model_config = ConfigDict(extra="forbid")

    agent: float = Field(AGENT_COST_EUR, ge=0, description="€ a year per agent at the counter [E]")
    site: float = Field(SITE_COST_EUR, ge=0, description="€ a year per fixed site, beyond its agents [E]")
    bus: float = Field(BUS_COST_EUR, ge=0, description="€ a year per bus, beyond its crew [E]")
    currency: str = "EUR"


def mean_agents(site: Site) -> float:
    """Agents at the counter averaged over the site's weekly opening hours."""
    if site.always_open:
        return float(site.agents)
    num = den = 0.0
    for iv in site.schedule.values():
        for a, b, c in iv:
            num += (b - a) * c
            den += b - a
    return num / den if den else 0.0


def open_share(opens_on: dt.date | None, closes_on: dt.date | None, config: Config) -> float:
    """Share of the horizon during which something open from ``opens_on`` until ``closes_on`` (excluded) is open."""
    start = config.horizon.start
    end = start + dt.timedelta(days=config.horizon.days)
    a = max(start, opens_on) if opens_on else start
    b = min(end, closes_on) if closes_on else end
    return max((b - a).days, 0) / config.horizon.days


def resources(sites: list, buses: list, config: Config) -> dict[str, float]:
    """Agents, sites and buses of a scenario, each weighted by its share of the horizon open."""
    agents = n_sites = n_buses = 0.0
    for s in sites:
        w = open_share(s.opens_on, s.closes_on, config)
        n_sites += w
        agents += w * mean_agents(s)
    for b in buses:
        w = open_share(b.opens_on, b.closes_on, config)
        n_buses += w
        agents += w * b.agents
    return {"agents": round(agents, 4), "sites": round(n_sites, 4), "buses": round(n_buses, 4)}


def cost(res: dict, unit: CostSpec) -> dict[str, float]:
    """The yearly cost of resources (:func:`resources`): each part and the total."""
    parts = {"agents_cost": res["agents"] * unit.agent, "sites_cost": res["sites"] * unit.site,
             "buses_cost": res["buses"] * unit.bus}
    return {**parts, "cost": sum(parts.values())}

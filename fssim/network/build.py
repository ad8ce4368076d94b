"""The network of sites of a scenario: from the official ANCT list, from a placement, or listed in the config.

``build_network`` returns a plain table (one row per site: site_id, name, commune, lat, lon, hours,
agents, appointments, opens_on, closes_on, format, generated_hours) plus the rows that needed a fix
(``problems``): unknown hours filled with the network's default hours, communes unknown to the territory…
never a silent drop.
"""
from __future__ import annotations

from fssim.clock import WEEKDAYS, interval_text

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fssim.config import Config, parse_day_hours
from fssim.errors import InputError

DAYS = WEEKDAYS


@dataclass
class NetworkTable:
    sites: pd.DataFrame
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["site_id", "problem", "detail"]))
    data_sources: list[dict] = field(default_factory=list)  # name, path, sha256


def _hours_text(calendar: dict) -> dict[str, str]:
    """ANCT calendar (day → [(start_min, end_min)]) → config hours ('09:00-12:00 / 14:00-17:00')."""
    out = {}
    for day in DAYS:
        iv = calendar.get(day) or []
        if iv:
            out[day] = " / ".join(interval_text(a, b) for a, b in iv)
    return out


def _agents_for(density: pd.Series, config: Config) -> np.ndarray:
    return density.map(config.network.agents.of).astype(int).to_numpy()


def from_anct(config: Config, communes: pd.DataFrame, aliases: pd.DataFrame | None = None) -> NetworkTable:
    """The ANCT list of the data directory, restricted to the configured formats and territory.

    Commune codes of arrondissements (Paris, Lyon, Marseille) and of merged communes are translated to the
    current commune through the territory's ``aliases``."""
    from fssim.sources.anct import load_anct
    from fssim.sources.datadir import resolve_data_dir

    net = config.network
    data_dir = resolve_data_dir(config.data_dir, base=config.base_dir)
    snapshot = net.snapshot
    if snapshot.endswith(".csv") and config.base_dir and not Path(snapshot).is_absolute():
        snapshot = str(config.base_dir / snapshot)
    sl = load_anct(snapshot, data_dir=data_dir)
    s = sl.sites
    s = s[s["format"].isin(net.formats)].copy()
    if aliases is not None and len(aliases):
        lookup = dict(zip(aliases["code"], aliases["commune"]))
        s["commune"] = [lookup.get(c, c) for c in s["commune"]]
    known = communes.set_index("code")
    in_territory = s["commune"].isin(known.index)
    # a site whose commune is outside a regional subset is simply not part of this territory; a commune code
    # unknown to the whole of France is a problem worth listing
    problems = []
    if config.territory.departements or config.territory.regions:
        s = s[in_territory]
    else:
        for _, r in s[~in_territory].iterrows():
            problems.append((r["site_id"], "unknown_commune", f"commune {r['commune']!r} is not in the territory; "
                             "site kept at its own coordinates"))
    missing_hours = ~s["has_hours"] | (s["weekly_hours"] <= 0)
    default_hours = {d: v for d, v in net.hours.items()}
    hours = [default_hours if miss else _hours_text(cal) for cal, miss in zip(s["hours"], missing_hours)]
    for sid in s.loc[missing_hours, "site_id"]:
        problems.append((sid, "hours_missing", "no opening hours in the list: the network's default hours are used"))
    density = s["commune"].map(known["density_class"]) if "density_class" in known else pd.Series("peu_dense",
                                                                                                  index=s.index)
    opens = s["labelled_on"] if net.rollout == "labelling" else pd.Series(pd.NaT, index=s.index)
    table = pd.DataFrame({
        "site_id": s["site_id"].astype(str).to_numpy(),
        "name": s["name"].to_numpy(),
        "commune": s["commune"].to_numpy(),
        "dep": s["dep"].to_numpy(),
        "lat": s["lat"].to_numpy(float),
        "lon": s["lon"].to_numpy(float),
        "hours": hours,
        "agents": _agents_for(density.fillna("peu_dense"), config),
        "appointments": s["appointments"].astype(bool).to_numpy(),
        "opens_on": pd.to_datetime(opens).dt.date.to_numpy(),
        "closes_on": None,
        "format": s["format"].to_numpy(),
        "generated_hours": missing_hours.to_numpy(),
        "density_class": density.fillna("peu_dense").to_numpy(),
    })
    bad_coords = table["lat"].isna() | table["lon"].isna()
    for sid in table.loc[bad_coords, "site_id"]:
        problems.append((sid, "no_coordinates", "no coordinates: left out of coverage and catchments, not simulated"))
    table = table[~bad_coords].reset_index(drop=True)
    src = [{"name": f"ANCT liste des structures France services ({net.snapshot})", "path": str(sl.source),
            "sha256": sl.sha256}]
    return NetworkTable(table, pd.DataFrame(problems, columns=["site_id", "problem", "detail"]), src)


def placement_method(placement) -> str:
    """The placement method of a config: "nested" (the n + 1 sites contain the n sites, greedy order without
    swaps) unless ``placement.nested`` is false, then the free ``placement.method`` (greedy with swaps,
    milp, auto)."""
    return "nested" if getattr(placement, "nested", True) else placement.method


def placed_site_ids(codes) -> list[str]:
    """Stable ids of placed sites from their commune: ``p-<INSEE code>``, then ``p-<code>-2``, ``-3``… in
    placement order when a commune hosts several. An id does not depend on how many sites are placed."""
    seen: dict[str, int] = {}
    out = []
    for code in codes:
        code = str(code)
        seen[code] = seen.get(code, 0) + 1
        out.append(f"p-{code}" if seen[code] == 1 else f"p-{code}-{seen[code]}")
    return out


def placement_capacity(config: Config):
    """The SiteCapacity of a demand-aware placement: the visits a year one site with ``staffing.max_agents``
    agents serves within the wait target (fssim.scenario.site_capacity), and the catchment's demand rule
    (the population rule, whatever ``catchment.model``: ``catchment.population_visits`` over France's
    population, halved every ``decay_half_minutes``): the planning demand, where people live)."""
    from fssim.network.demand_aware import SiteCapacity
    from fssim.scenario import site_capacity
    from fssim.geo.territory import load_territory

    national = float(load_territory().communes["population"].sum())
    return SiteCapacity(site_capacity(config), config.catchment.population_visits / national,
                        config.catchment.decay_half_minutes)


def from_placement(config: Config, communes: pd.DataFrame, model) -> NetworkTable:
    """Place ``n_sites`` sites (fssim.network.placement) and open them in placement order along the phases; demand-aware
    by default (``placement.demand_aware``): a populous commune hosts as many sites as its demand needs."""
    from fssim.network.placement import PlacementProblem
    from fssim.geo.travel import TravelMatrix

    pl, net = config.network.placement, config.network
    if isinstance(model, TravelMatrix):  # placement chooses communes: the matrix must reach communes
        model.check_for_placement(communes)
    problem = PlacementProblem(communes, n_sites=pl.n_sites, max_minutes=pl.max_minutes, model=model,
                               one_per_canton=pl.one_per_canton,
                               capacity=placement_capacity(config) if pl.demand_aware else None)
    problem.solve(method=placement_method(pl))
    sel = problem.selected.sort_values("order").reset_index(drop=True)
    known = communes.set_index("code")
    dens = sel["code"].map(known["density_class"])
    opens = [None] * len(sel)
    if net.phases:
        counts = [p.sites for p in net.phases]
        for i in range(len(sel)):
            k = int(np.searchsorted(counts, i, side="right"))  # first phase whose count exceeds i
            opens[i] = net.phases[k].date if k < len(net.phases) else None
            if k >= len(net.phases):  # beyond the last phase: the site never opens on this plan
                opens[i] = "never"
    hours = {d: v for d, v in net.hours.items()}
    table = pd.DataFrame({
        "site_id": placed_site_ids(sel["code"]),
        "name": ["Site placé à " + str(n) for n in sel["name"]],
        "commune": sel["code"].to_numpy(),
        "dep": sel["dep"].to_numpy(),
        "lat": sel["lat"].to_numpy(float),
        "lon": sel["lon"].to_numpy(float),
        "hours": [hours] * len(sel),
        "agents": _agents_for(dens, config),
        "appointments": False,
        "opens_on": opens,
        "closes_on": None,
        "format": "fixe",
        "generated_hours": True,
        "density_class": dens.to_numpy(),
    })
    table = table[table["opens_on"].astype(str) != "never"].reset_index(drop=True)
    table.attrs["placement"] = {"covered_share": float(problem.share_covered), "method": problem.method,
                                "solve_seconds": float(problem.solve_seconds),
                                "cantons_without_site": int(len(problem.cantons_without_site)),
                                "site_capacity": float("nan") if problem.site_capacity is None else
                                float(problem.site_capacity),
                                "communes_with_several_sites": int((sel["code"].value_counts() > 1).sum())}
    if isinstance(model, TravelMatrix):  # placed ids are generated: sites are found by their commune
        model.check_sites(table, what="placed sites")
    return NetworkTable(table)


def from_config(config: Config) -> NetworkTable:
    """Sites listed one by one in the config."""
    rows = []
    for s in config.sites:
        rows.append({"site_id": s.id, "name": s.name, "commune": s.commune, "dep": None, "lat": s.lat, "lon": s.lon,
                     "hours": s.hours, "agents": s.agents, "appointments": s.appointments, "opens_on": s.opens_on,
                     "closes_on": s.closes_on, "format": s.kind, "generated_hours": False, "density_class": None})
    return NetworkTable(pd.DataFrame(rows))


def check_hours(table: pd.DataFrame) -> None:
    """Every site's hours must parse (the ANCT reader already normalised them)."""
    for sid, hours in zip(table["site_id"], table["hours"]):
        for day, text in hours.items():
            try:
                parse_day_hours(text)
            except ValueError as e:
                raise InputError(f"site {sid}: hours.{day}: {e}") from None

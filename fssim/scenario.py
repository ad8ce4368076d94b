"""From a config to the sites to simulate: territory → network → catchments → demand per site.

``build_scenario`` is the stage between configuration and simulation. For a config that lists its
sites it changes nothing. For a network config (``network.source: anct`` or ``placement``) it loads the
territory, builds the network table, computes catchments on each rollout date and gives every site its
volume schedule; the coverage of each phase is computed on the way. The result is plain data
(``Scenario``): the list of sites, and tables for the run directory and the report.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import pandas as pd

from fssim.demand.catchment import volumes_at, weekly_hours
from fssim.config import Config, Site
from fssim.errors import InputError
from fssim.geo.territory import departement_of


@dataclass
class Scenario:
    config: Config
    sites: list[Site]
    network: pd.DataFrame | None = None         # one row per site, with its volume at the reference date
    problems: pd.DataFrame | None = None        # rows fixed or left out while building the network
    rollout: pd.DataFrame | None = None         # per phase: start date, label, sites open, coverage, cantons
    coverage: pd.DataFrame | None = None        # per commune at the reference date: minutes to nearest site
    data_sources: list[dict] = field(default_factory=list)

    buses: list = field(default_factory=list)
    generated_buses: pd.DataFrame | None = None  # stops generated for the list's buses (every one flagged)

    def entities(self) -> list:
        """Everything that serves citizens: fixed sites, then buses."""
        return list(self.sites) + list(self.buses)

    def shards(self, max_size: int = 200) -> list[list]:
        """Independent groups to simulate separately (:func:`shards_of`): by département, a bus with its
        fallback site. Results do not depend on the sharding (each entity has its own random streams)."""
        return list(shards_of(self.entities(), max_size).values())

    def phase_starts(self) -> dict[pd.Timestamp, str] | None:
        """Start date → label of each rollout phase (for the summary's ``phase`` scope), None without a rollout."""
        if self.rollout is None or not len(self.rollout):
            return None
        return dict(zip(pd.to_datetime(self.rollout["date"]), self.rollout["phase"].astype(str)))

    def geography(self):
        """Where citizens live, for the canton, département and région scopes and the access indicator
        (:class:`fssim.metrics.geography.Geography`); None when no site has a commune of the territory."""
        from fssim.metrics.geography import Geography

        entities = self.entities()
        site_communes = {e.id: (getattr(e, "commune", None) or getattr(e, "base", None) or "") for e in entities}
        access = float(self.config.coverage.access_minutes)
        if self.coverage is not None and len(self.coverage):
            c = self.coverage.rename(columns={"nearest_site": "site_id"})
            return Geography(c, site_communes, access)
        return config_site_geography(self.config, self.sites, site_communes, access)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tables to write beside the run (name → DataFrame), only those that exist."""
        out = {"network": self.network, "network_problems": self.problems, "rollout": self.rollout,
               "coverage": self.coverage, "generated_buses": self.generated_buses, "stops": stops_table(self.buses)}
        return {k: v for k, v in out.items() if v is not None and len(v)}


def config_site_geography(config: Config, sites: list, site_communes: dict, access: float):
    """Geography of a run of listed sites: the communes their citizens come from (their origins, else their
    own commune), with the road minutes to the nearest listed site; None if none is in the territory."""
    from fssim.geo.territory import load_territory
    from fssim.geo.travel import travel_times
    from fssim.metrics.geography import Geography

    codes = {c for s in sites for c in (s.demand.origins or [s.commune]) if c}
    communes = load_territory().communes
    communes = communes[communes["code"].isin(codes)].reset_index(drop=True)
    located = [s for s in sites if s.lat is not None and s.lon is not None]
    if communes.empty or not located:
        return None
    points = pd.DataFrame({"site_id": [s.id for s in located], "lat": [s.lat for s in located],
                           "lon": [s.lon for s in located]})
    near = travel_times(communes, points, road_model(config))
    communes = communes.assign(minutes=near.nearest_minutes, site_id=near.nearest_site)
    return Geography(communes, site_communes, access)


def road_model(config: Config):
    """The travel-time model of the config: a user matrix when given, else the road model."""
    from fssim.geo.travel import RoadModel, TravelMatrix, matrix_path

    path = matrix_path(config)
    if path:
        return TravelMatrix.from_file(path)
    return RoadModel.of(config)


def load_scenario_territory(config: Config):
    """The embedded territory, restricted to the config's départements or régions."""
    from fssim.geo.territory import load_territory

    terr = load_territory()
    t = config.territory
    if t.departements or t.regions:
        known_d = set(terr.departements["code"])
        bad = [d for d in (t.departements or []) if d not in known_d]
        if bad:
            raise InputError(f"unknown département codes {bad}; use INSEE codes such as '08', '2A', '971'",
                             field="territory.departements")
        known_r = set(terr.regions["code"])
        bad = [r for r in (t.regions or []) if r not in known_r]
        if bad:
            raise InputError(f"unknown région codes {bad}; use INSEE codes such as '44', '84'",
                             field="territory.regions")
        terr = terr.subset(deps=t.departements, regions=t.regions)
    return terr


def phase_dates(config: Config, network: pd.DataFrame) -> list[dt.date]:
    """The horizon start and every opening or closing date inside the horizon."""
    start, end = config.horizon.start, config.horizon.end
    dates = {start}
    for col in ("opens_on", "closes_on"):
        for d in network[col].dropna():
            d = pd.Timestamp(d).date()
            if start < d < end:
                dates.add(d)
    return sorted(dates)


def phase_labels(config: Config, dates: list[dt.date]) -> list[str]:
    """The label of the phase starting on each date: that of the config's rollout phase in force then
    (``network.phases[].label``), else the ISO date. Labels are made unique by adding the date."""
    phases = sorted(config.network.phases if config.network is not None else [], key=lambda p: p.date)
    labels = []
    for d in dates:
        current = [p for p in phases if p.date <= d]
        labels.append(current[-1].label if current and current[-1].label else d.isoformat())
    return [f"{lab} ({d.isoformat()})" if labels.count(lab) > 1 else lab for d, lab in zip(dates, labels)]


def rollout_table(config: Config, dates: list[dt.date], covs: list) -> pd.DataFrame:
    """One row per phase: start date, label, sites opened and open, coverage shares, cantons (official and
    pseudo-cantons apart, see fssim.geo.coverage)."""
    rows = []
    for d, label, cov in zip(dates, phase_labels(config, dates), covs):
        row = {"date": pd.Timestamp(d), "phase": label, "sites": len(cov.sites),
               "population": float(cov.population_total), "cantons_total": int(cov.cantons_total),
               "cantons_with_site": int(cov.cantons_with_site),
               "pseudo_cantons_total": int(cov.pseudo_cantons_total),
               "pseudo_cantons_with_site": int(cov.pseudo_cantons_with_site)}
        for t in cov.thresholds:
            row[f"share_within_{t}"] = float(cov.share_within[t])
        rows.append(row)
    rollout = pd.DataFrame(rows)
    rollout.insert(2, "cumulative", rollout["sites"])
    rollout.insert(2, "opened", rollout["sites"].diff().fillna(rollout["sites"]).astype(int))
    return rollout


def build_network(config: Config):
    """(territory, network table, travel model) of a config: the geography before any demand."""
    from fssim.network.build import check_hours, from_anct, from_config, from_placement

    terr = load_scenario_territory(config)
    model = road_model(config)
    if config.network is None:
        nt = from_config(config)
        if nt.sites[["lat", "lon"]].isna().any().any():
            bad = list(nt.sites.loc[nt.sites[["lat", "lon"]].isna().any(axis=1), "site_id"])[:5]
            raise InputError(f"sites {bad} have no lat/lon; give coordinates to compute coverage", field="sites")
    elif config.network.source == "anct":
        nt = from_anct(config, terr.communes, terr.aliases)
    else:
        nt = from_placement(config, terr.communes, model)
    if nt.sites.empty:
        raise InputError("the network has no site in this territory and these formats; check network.formats "
                         "and territory.departements", field="network")
    check_hours(nt.sites)
    from fssim.geo.travel import TravelMatrix
    if isinstance(model, TravelMatrix):
        model.check_sites(nt.sites)  # a matrix that reaches none of the sites is an error, before any run
    return terr, nt, model


def stops_table(buses: list) -> pd.DataFrame | None:
    """One row per bus stop: bus, commune, coordinates, weekday, window, recurrence, volume, generated."""
    rows = []
    for b in buses:
        for i, st in enumerate(b.stops):
            ev = st.every
            every = (f"nth {ev.nth}" if ev.nth is not None else "weekly" if ev.weeks == 1
                     else f"every {ev.weeks} weeks (phase {ev.phase})")
            rows.append({"bus": b.id, "stop": f"{b.id}:{st.commune}", "index": i, "commune": st.commune,
                         "name": st.name, "lat": st.lat, "lon": st.lon, "weekday": st.weekday, "start": st.start,
                         "end": st.end, "every": every, "visits_per_year": st.visits_per_year,
                         "visits_per_visit": st.visits_per_visit, "generated": b.generated})
    return pd.DataFrame(rows) if rows else None


def _visits_per_year_weight(stop) -> float:
    """Relative number of visits a year of a stop: weekly 1, every N weeks 1/N, monthly 12/52."""
    ev = stop.every
    return 12 / 52 if ev.nth is not None else 1 / ev.weeks


def prepare_buses(config: Config, terr, nt, model) -> tuple[list, pd.DataFrame | None]:
    """The buses of a scenario: the config's, plus the list's (``network.mobile: anct``, stops generated and
    flagged); stops located on the territory; a fallback fixed site where citizens are redirected."""
    buses = list(config.buses)
    generated = None
    net = config.network
    if net is not None and net.source == "anct" and net.mobile == "anct":
        from fssim.sources.anct import load_anct
        from fssim.network.buses import buses_from_anct
        from fssim.sources.datadir import resolve_data_dir

        sl = load_anct(net.snapshot, data_dir=resolve_data_dir(config.data_dir, base=config.base_dir))
        made, generated = buses_from_anct(sl, terr.communes, model, seed=config.seed)
        known = {b.id for b in buses}
        buses += [b for b in made if b.id not in known]
    if not buses:
        return [], generated
    where = terr.communes.set_index("code")[["lat", "lon", "dep"]]
    fixed = nt.sites
    out = []
    for b in buses:
        stops = []
        for st in b.stops:
            if (st.lat is None or st.lon is None) and st.commune in where.index:
                st = st.model_copy(update={"lat": float(where.at[st.commune, "lat"]),
                                           "lon": float(where.at[st.commune, "lon"])})
            stops.append(st)
        update = {"stops": stops}
        if b.unserved == "nearest_site" and not b.fallback_site and len(fixed):
            update["fallback_site"] = _nearest_fixed(b, stops, fixed, where)
        out.append(b.model_copy(update=update))
    return out, generated


def _nearest_fixed(bus, stops, fixed: pd.DataFrame, where: pd.DataFrame) -> str | None:
    """The fixed site nearest the bus's base (or first stop), in the same département when there is one."""
    import numpy as np

    code = bus.base or stops[0].commune
    lat, lon = (bus.base_lat, bus.base_lon) if bus.base_lat is not None else (stops[0].lat, stops[0].lon)
    if (lat is None or lon is None) and code in where.index:
        lat, lon = where.at[code, "lat"], where.at[code, "lon"]
    if lat is None:
        return None
    dep = departement_of(code)
    pool = fixed[fixed["commune"].astype(str).map(departement_of) == dep] if "commune" in fixed else fixed
    pool = pool if len(pool) else fixed
    d = (pool["lat"] - lat) ** 2 + ((pool["lon"] - lon) * np.cos(np.radians(lat))) ** 2
    return str(pool.loc[d.idxmin(), "site_id"])


def month_starts(horizon) -> list[dt.date]:
    """The first day of each month of the horizon, and its first day: where calibrated volumes change
    (ramp-up of new sites and network growth, month by month)."""
    out, d = [horizon.start], dt.date(horizon.start.year, horizon.start.month, 1)
    while d < horizon.end:
        if d > horizon.start:
            out.append(d)
        d = dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return out


def stop_points(buses: list) -> pd.DataFrame:
    """Bus stops as access points for catchments and coverage: one point per (bus, commune), with the
    number of visits of the bus a week there and the hours it stays a week (on average over its recurrence)."""
    rows = {}
    for b in buses:
        for st in b.stops:
            if st.lat is None or st.lon is None:
                continue
            key = f"{b.id}:{st.commune}"
            row = rows.setdefault(key, {"site_id": key, "commune": st.commune, "lat": st.lat, "lon": st.lon,
                                        "opens_on": b.opens_on, "closes_on": b.closes_on, "visits_per_week": 0.0,
                                        "hours_per_week": 0.0})
            row["visits_per_week"] += _visits_per_year_weight(st)
            a, z = st.window
            row["hours_per_week"] += _visits_per_year_weight(st) * (z - a) / 60
    return pd.DataFrame(list(rows.values()), columns=["site_id", "commune", "lat", "lon", "opens_on", "closes_on",
                                                      "visits_per_week", "hours_per_week"])


def with_stop_volumes(buses: list, volumes: pd.Series, max_per_visit: float, days: int) -> tuple[list, list]:
    """Give each stop without a volume its share of its point's yearly demand (by visit frequency), at most
    ``max_per_visit`` per visit of the bus; returns (buses, [(bus, stop commune, demand left out a year)])."""
    out, capped = [], []
    for b in buses:
        weight: dict[str, float] = {}
        for st in b.stops:
            weight[st.commune] = weight.get(st.commune, 0.0) + _visits_per_year_weight(st)
        stops = []
        for st in b.stops:
            key = f"{b.id}:{st.commune}"
            if st.visits_per_visit is None and st.visits_per_year is None:
                # a stop no commune reaches before a fixed site gets no demand of its own
                volume = float(volumes[key]) if key in volumes.index else 0.0
                share = volume * _visits_per_year_weight(st) / weight[st.commune]
                cap = max_per_visit * 52.18 * _visits_per_year_weight(st)
                if share > cap:
                    capped.append((b.id, st.commune, share - cap))
                    share = cap
                st = st.model_copy(update={"visits_per_year": share})
            stops.append(st)
        out.append(b.model_copy(update={"stops": stops}))
    return out, capped


def network_coverage(config: Config, date: dt.date | None = None):
    """Coverage of the config's network on ``date`` (default: the last day of the horizon); with buses, the
    coverage by fixed sites and bus stops with their frequency (fssim.geo.bus_coverage)."""
    from fssim.geo.coverage import coverage as coverage_of

    terr, nt, model = build_network(config)
    buses, _ = prepare_buses(config, terr, nt, model)
    date = date or (config.horizon.end - dt.timedelta(days=1))
    if buses:
        from fssim.geo.bus_coverage import coverage_with_buses
        return coverage_with_buses(terr.communes, nt.sites, buses, thresholds=tuple(config.coverage.thresholds),
                                   model=model, date=date, cantons=terr.cantons)
    return coverage_of(terr.communes, nt.sites, thresholds=tuple(config.coverage.thresholds), model=model,
                       date=date, cantons=terr.cantons, aliases=terr.aliases)


def bus_access_table(communes, net, buses, thresholds, model, date, cantons) -> pd.DataFrame:
    """The commune table of a network with buses, counted as ``fssim coverage`` does (fssim.geo.bus_coverage):
    ``minutes`` to the nearest access point (fixed site or bus stop), ``site_minutes`` and ``stop_minutes``
    apart, the stop's frequency, and ``within_T`` true when a site or a stop is within T minutes."""
    from fssim.geo.bus_coverage import coverage_with_buses

    res = coverage_with_buses(communes, net, buses, thresholds=thresholds, model=model, date=date, cantons=cantons)
    bc = res.by_commune.rename(columns={"site": "nearest_site", "best_minutes": "minutes"})
    for t in res.thresholds:
        bc[f"within_{t}"] = (bc["site_minutes"] <= t).to_numpy() | bc.pop(f"bus_frequency_within_{t}").notna().to_numpy()
    return bc


def _staffing_inputs(config: Config) -> tuple:
    """(staffing rule, mean service minutes, wait threshold) of the volume rule and the site capacity."""
    from fssim.demand.arrivals import mean_visit_service
    mean_service = mean_visit_service(config)
    return config.network.staffing, mean_service, config.outputs.wait_threshold_min




def _peak_rate(visits_per_year: float, weekly_hours: float, peak_factor: float) -> float:
    """Arrivals a minute at a site's peak: its mean rate over opening hours × peak_factor."""
    return visits_per_year / (weekly_hours * 52.18) / 60 * peak_factor if weekly_hours else 0.0


def _meets_target(c: int, lam: float, mean_service: float, threshold: float, max_wait_share: float) -> bool:
    from fssim.engine.queueing import erlang_c_wait_exceeds

    return lam * mean_service < c and erlang_c_wait_exceeds(c, lam, mean_service, threshold) <= max_wait_share


def volume_staffing(config: Config, net: pd.DataFrame, cp, ref: dt.date) -> list[int]:
    """Agents per site by the ``volume`` rule: the fewest agents for which Erlang C at the site's peak rate gives
    P(wait > wait_threshold_min) ≤ max_wait_share, never below the density rule's (nor the label's 2), at most
    ``max_agents``."""
    rule, mean_service, threshold = _staffing_inputs(config)
    per_year = volumes_at(cp.volumes, ref)
    out = []
    for r in net.itertuples(index=False):
        lam = _peak_rate(float(per_year.get(r.site_id, 0.0)), weekly_hours(r.hours), rule.peak_factor)
        c = max(int(r.agents), 2)
        while c < rule.max_agents and not _meets_target(c, lam, mean_service, threshold, rule.max_wait_share):
            c += 1
        out.append(c)
    return out


def site_capacity(config: Config, hours: dict | None = None) -> float:
    """First visits a year one site open ``hours`` (default: the network's) can take with ``max_agents`` agents
    and still meet the volume rule's wait target (Erlang C at the peak rate): the capacity of a placed site."""
    rule, mean_service, threshold = _staffing_inputs(config)
    weekly = weekly_hours(hours if hours is not None else dict(config.network.hours))
    c = rule.max_agents
    per_year = lambda lam: lam / rule.peak_factor * 60 * weekly * 52.18  # inverse of _peak_rate
    lo, hi = 0.0, c / mean_service
    for _ in range(60):  # bisection on the peak rate
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _meets_target(c, mid, mean_service, threshold, rule.max_wait_share) else (lo, mid)
    return per_year(lo)


def build_scenario(config: Config) -> Scenario:
    if config.network is None:
        return Scenario(config, list(config.sites), buses=list(config.buses))
    from fssim.demand.catchment import CatchmentProblem
    from fssim.geo.coverage import coverage as coverage_of
    from fssim.geo.territory import load_territory

    terr, nt, model = build_network(config)
    communes = terr.communes
    net = nt.sites
    buses, generated = prepare_buses(config, terr, nt, model)
    points = stop_points(buses)
    national = float(load_territory().communes["population"].sum())
    ref = config.catchment.reference_date or (config.horizon.end - dt.timedelta(days=1))
    dates = phase_dates(config, net)
    cp = CatchmentProblem(communes, net, config.catchment, model,
                          population_share=float(communes["population"].sum()) / national, stops=points)
    cp.actes_per_visit = config.behaviour.mean_demarches()
    calibrated = config.catchment.model == "calibrated"
    cp.solve(sorted(set(dates) | set(month_starts(config.horizon))) if calibrated else dates, ref)
    at_ref = cp.volumes_on(ref)
    if len(points):
        buses, capped = with_stop_volumes(buses, at_ref,
                                          config.catchment.stop_max_per_visit, config.horizon.days)
        if capped:
            extra = pd.DataFrame([(bid, "bus_demand_capped", f"stop {c}: {v:,.0f} first visits a year above "
                                   f"catchment.stop_max_per_visit left out") for bid, c, v in capped],
                                 columns=["site_id", "problem", "detail"])
            nt.problems = pd.concat([nt.problems, extra], ignore_index=True)
    if config.network.staffing.rule == "volume":
        net = net.assign(agents=volume_staffing(config, net, cp, ref))
    sites = []
    for r in net.itertuples(index=False):
        sched = cp.schedule(r.site_id)
        if not sched:
            continue  # never open within the horizon
        sites.append(Site(
            id=r.site_id, name=r.name, commune=r.commune, lat=r.lat, lon=r.lon, hours=r.hours, agents=int(r.agents),
            appointments=bool(r.appointments), kind=r.format,
            opens_on=r.opens_on if r.opens_on is not None and not pd.isna(r.opens_on) else None,
            # the calibrated volumes carry their ramp-up; origins: where the site's citizens live
            demand={"schedule": sched, "ramp_up": not calibrated, "origins": cp.origins_of(r.site_id)},
        ))
    if not sites:
        raise InputError("no site of the network is open during the horizon; check horizon.start and the "
                         "rollout dates", field="horizon")
    network = net.assign(
        hours=net["hours"].map(lambda h: " ; ".join(f"{d} {v}" for d, v in h.items())),
        hours_json=net["hours"].map(lambda h: json.dumps(h, ensure_ascii=False)),
        visits_per_year=net["site_id"].map(at_ref).fillna(0.0),
        opens_on=pd.to_datetime(net["opens_on"]),
    ).drop(columns=["closes_on"])
    # coverage on each phase date, and on the reference date for the commune table (not a phase of its own)
    thresholds = tuple(config.coverage.thresholds)
    summaries, by_commune = [], None
    for d in sorted(set(dates) | {ref}):
        cov = coverage_of(communes, net, thresholds=thresholds, model=model, date=d, cantons=terr.cantons,
                          aliases=terr.aliases)
        if d in dates:
            summaries.append(cov)
        if d == ref:
            by_commune = cov.by_commune
        cov.by_commune = cov.beyond = None  # keep only the figures of the phases
    rollout = rollout_table(config, dates, summaries)
    if buses:
        by_commune = bus_access_table(communes, net, buses, thresholds, model, ref, terr.cantons)
    coverage = by_commune.merge(communes[["code", "lat", "lon"]], on="code", how="left")
    return Scenario(config, sites, network, nt.problems, rollout, coverage, nt.data_sources, buses=buses,
                    generated_buses=generated)


NO_COMMUNE = "_"
"""Shard of the sites and buses whose commune is unknown."""


def shard_key(entity) -> str:
    """The département of a site (its commune code) or bus (its base): 2 characters, 3 overseas (97x); '_'
    when unknown."""
    code = (getattr(entity, "commune", None) or getattr(entity, "base", None) or "").strip()
    return departement_of(code) or NO_COMMUNE


def shards_of(entities: list, max_sites: int | None = None) -> dict[str, list]:
    """Sites and buses grouped by département (sorted keys, scenario order inside), the one sharder of runs and
    experiments. A bus travels with its fallback site (they exchange citizens): the two form one unit. A
    département with more than ``max_sites`` entities is cut into numbered pieces ('59.0', '59.1'…) between
    units, so a piece exceeds ``max_sites`` only when one unit does."""
    by_id = {e.id: e for e in entities}
    riders: dict[str, list] = {}  # fallback site → the buses sending it their citizens
    for e in entities:
        fb = getattr(e, "fallback_site", None)
        if fb and fb in by_id and fb != e.id:
            riders.setdefault(fb, []).append(e)
    aboard = {b.id for bs in riders.values() for b in bs}
    groups: dict[str, list[list]] = {}
    for e in entities:
        if e.id not in aboard:
            groups.setdefault(shard_key(e), []).append([e] + riders.get(e.id, []))
    out: dict[str, list] = {}
    for key in sorted(groups):
        pieces: list[list] = [[]]
        for unit in groups[key]:
            if max_sites and pieces[-1] and len(pieces[-1]) + len(unit) > max_sites:
                pieces.append([])
            pieces[-1] += unit
        for i, piece in enumerate(pieces):
            out[key if len(pieces) == 1 else f"{key}.{i}"] = piece
    return out

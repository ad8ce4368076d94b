"""Coverage with buses: who is within T minutes of a fixed site, of a bus stop only, and how often it comes.

A bus stop is an access point only on its days: a commune 10 minutes from a monthly stop is not served like
one 10 minutes from a site open 29 hours a week. `coverage_with_buses` therefore keeps the two apart: for
each commune the nearest fixed site, the nearest bus stop and that stop's frequency, and, for every
threshold T, the population within T of a stop but not of a fixed site, by the best frequency among the
stops within T (weekly, fortnightly, monthly). Cantons "reached" only through a bus are those with no fixed
site but at least one bus stop (the programme's goal is one access point per canton).

Stops at one place are pooled: a commune visited weekly on Monday and fortnightly on Thursday has
52 + 26 visits a year. Frequency classes by nominal visits a year: weekly ≥ 50, fortnightly ≥ 25, monthly
below (every 4 weeks, or the nth weekday of the month).

`compare_bus_or_site` puts "K more buses" and "M more fixed sites" side by side at equal yearly cost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fssim.config import Bus
from fssim.geo.coverage import CoverageResult, check_communes, coverage, to_timestamp
from fssim.defaults import AGENT_COST_EUR, SITE_COST_EUR
from fssim.errors import InputError
from fssim.network.covering import coverage_matrix
from fssim.network.rotation import RotationDesign
from fssim.geo.travel import RoadModel, TravelMatrix, codes_of, travel_times

FREQUENCIES = ("weekly", "fortnightly", "monthly")


def frequency_class(visits: float) -> str:
    """weekly (≥ 50 visits a year), fortnightly (≥ 25), monthly (fewer)."""
    return "weekly" if visits >= 50 else "fortnightly" if visits >= 25 else "monthly"


def stop_table(buses: list[Bus], communes: pd.DataFrame, date=None) -> pd.DataFrame:
    """One row per bus stop running on `date` (all when None): bus, commune, lat, lon, visits_per_year.

    Coordinates are the stop's own, else its commune's; a stop with neither is an InputError naming it.
    """
    day = to_timestamp(date)
    codes = codes_of(communes["code"])
    where = pd.DataFrame({"lat": communes["lat"].to_numpy(float), "lon": communes["lon"].to_numpy(float)},
                         index=pd.Index(codes, dtype=object))
    where = where[~where.index.duplicated()]
    rows = []
    for i, bus in enumerate(buses):
        if not isinstance(bus, Bus):
            raise InputError(f"buses[{i}] is not a fssim.config.Bus (got {type(bus).__name__})", field="buses")
        if day is not None and ((bus.opens_on and pd.Timestamp(bus.opens_on) > day)
                                or (bus.closes_on and pd.Timestamp(bus.closes_on) <= day)):
            continue
        for k, st in enumerate(bus.stops):
            lat, lon = st.lat, st.lon
            if lat is None or lon is None:
                if st.commune not in where.index:
                    raise InputError(f"stop {k} of bus {bus.id!r}: commune {st.commune!r} is not in the territory "
                                     f"and the stop has no lat/lon; give the INSEE code of a commune of the "
                                     f"territory or the stop's coordinates", field=f"buses[{i}].stops[{k}]")
                lat, lon = where.loc[st.commune, "lat"], where.loc[st.commune, "lon"]
            rows.append({"bus": bus.id, "commune": st.commune, "weekday": st.weekday, "start": st.start,
                         "end": st.end, "lat": float(lat), "lon": float(lon),
                         "visits_per_year": st.every.per_year()})
    return pd.DataFrame(rows, columns=["bus", "commune", "weekday", "start", "end", "lat", "lon", "visits_per_year"])


def stop_places(stops: pd.DataFrame) -> pd.DataFrame:
    """Stops pooled by place (commune and coordinates): site_id (= commune code), lat, lon, visits a year,
    frequency class, buses."""
    if stops.empty:
        return pd.DataFrame(columns=["site_id", "commune", "lat", "lon", "visits_per_year", "frequency", "buses"])
    g = stops.groupby(["commune", "lat", "lon"], sort=True)
    out = g.agg(visits_per_year=("visits_per_year", "sum"),
                buses=("bus", lambda b: ",".join(sorted(set(map(str, b)))))).reset_index()
    dup = out["commune"].duplicated(keep=False)
    out["site_id"] = np.where(dup, out["commune"] + "#" + out.groupby("commune").cumcount().astype(str),
                              out["commune"])
    out["frequency"] = out["visits_per_year"].map(frequency_class)
    return out[["site_id", "commune", "lat", "lon", "visits_per_year", "frequency", "buses"]]


@dataclass
class BusCoverageResult:
    """Coverage by fixed sites and bus stops, with the frequency of the stops."""

    fixed: CoverageResult  # coverage by the fixed sites alone (fssim.geo.coverage)
    thresholds: tuple[int, ...]
    stops: pd.DataFrame  # one row per stop place: site_id, commune, lat, lon, visits_per_year, frequency, buses
    by_commune: pd.DataFrame  # code…, population, site_minutes, stop_minutes, stop_frequency, best_minutes, access
    population_total: int
    population_within: dict[int, int]  # within T of a fixed site or a stop
    share_within: dict[int, float]
    population_only_bus: dict[int, int]  # within T of a stop and beyond T of every fixed site
    population_only_bus_by_frequency: pd.DataFrame  # threshold, weekly, fortnightly, monthly
    cantons_total: int  # official cantons, as in fssim.geo.coverage (pseudo-cantons apart)
    cantons_with_site: int
    cantons_only_bus: list[str]  # official cantons with no fixed site and at least one bus stop
    n_buses: int
    notes: list[str] = field(default_factory=list)

    @property
    def date(self) -> pd.Timestamp | None:
        return self.fixed.date

    @property
    def sites(self) -> pd.DataFrame:
        """The fixed sites open on the date."""
        return self.fixed.sites

    @property
    def beyond(self) -> pd.DataFrame:
        """Communes beyond the largest threshold of every access point (fixed site or stop), largest first."""
        far = self.by_commune[self.by_commune["best_minutes"] > self.thresholds[-1]]
        return far.sort_values(["population", "code"], ascending=[False, True], kind="stable").reset_index(drop=True)

    @property
    def pseudo_cantons_total(self) -> int:
        return self.fixed.pseudo_cantons_total

    @property
    def pseudo_cantons_with_site(self) -> int:
        return self.fixed.pseudo_cantons_with_site

    def to_json_line(self) -> str:
        """fssim.geo.coverage's JSON line (share_within_min and the beyond figures count any access point) plus
        population_only_bus_within_min, by frequency, and cantons_only_bus."""
        record = json.loads(self.fixed.to_json_line())
        largest = self.thresholds[-1]
        beyond = self.by_commune["best_minutes"] > largest
        freq = self.population_only_bus_by_frequency.set_index("threshold")
        record.update({
            "share_within_min": {str(t): round(float(self.share_within[t]), 6) for t in self.thresholds},
            "communes_beyond": int(beyond.sum()),
            "population_beyond": int(self.by_commune.loc[beyond, "population"].sum()),
            "buses": int(self.n_buses),
            "bus_stops": int(len(self.stops)),
            "population_only_bus_within_min": {str(t): int(self.population_only_bus[t]) for t in self.thresholds},
            "population_only_bus_by_frequency": {str(t): {f: int(freq.loc[t, f]) for f in FREQUENCIES}
                                                 for t in self.thresholds},
            "cantons_only_bus": len(self.cantons_only_bus),
        })
        return json.dumps(record, ensure_ascii=False)


def coverage_with_buses(communes: pd.DataFrame, sites: pd.DataFrame, buses: list[Bus], *, thresholds=(10, 20, 30),
                        model=RoadModel(), date=None, cantons: pd.DataFrame | None = None) -> BusCoverageResult:
    """Coverage of `communes` by the fixed `sites` and the stops of `buses` running on `date`.

    `model`: a RoadModel (or any object with `.minutes`), or a TravelMatrix whose destinations include the
    site ids and the stop communes' codes (a stop is known by its commune code).
    """
    check_communes(communes)
    fixed = coverage(communes, sites, thresholds=thresholds, model=model, date=date, cantons=cantons)
    thresholds = fixed.thresholds
    running = stop_table(list(buses), communes, date)
    stops = stop_places(running)
    near = travel_times(communes, stops[["site_id", "lat", "lon"]], model)
    bc = fixed.by_commune.rename(columns={"nearest_site": "site", "minutes": "site_minutes"})
    bc = bc.drop(columns=[c for c in bc.columns if c.startswith("within_")])
    freq_of = stops.set_index("site_id")["frequency"] if len(stops) else pd.Series(dtype=object)
    bc["stop"] = near.nearest_site
    bc["stop_minutes"] = near.nearest_minutes
    bc["stop_frequency"] = freq_of.reindex(pd.Index(near.nearest_site, dtype=object)).to_numpy() if len(stops) \
        else None
    bc["best_minutes"] = np.minimum(bc["site_minutes"].to_numpy(), bc["stop_minutes"].to_numpy())
    site_first = bc["site_minutes"].to_numpy() <= bc["stop_minutes"].to_numpy()
    bc["access"] = np.where(~np.isfinite(bc["best_minutes"]), "none", np.where(site_first, "site", "bus"))
    pop = bc["population"].to_numpy(np.int64)
    total = int(pop.sum())
    rank = {f: i for i, f in enumerate(FREQUENCIES)}
    within, share, only, by_freq = {}, {}, {}, []
    for t in thresholds:
        by_site = bc["site_minutes"].to_numpy() <= t
        best = _best_frequency_within(communes, stops, t, model, rank)
        bc[f"bus_frequency_within_{t}"] = best
        by_bus = best != None  # noqa: E711 (object array)
        within[t] = int(pop[by_site | by_bus].sum())
        share[t] = within[t] / total if total else 0.0
        only_mask = by_bus & ~by_site
        only[t] = int(pop[only_mask].sum())
        by_freq.append({"threshold": t, **{f: int(pop[only_mask & (best == f)].sum()) for f in FREQUENCIES}})
    # cantons: those counted by fixed coverage; which host a stop and no site
    cant_of = pd.Series(codes_of(communes["canton"]), index=pd.Index(codes_of(communes["code"]), dtype=object))
    cant_of = cant_of[~cant_of.index.duplicated()]
    with_site = set(fixed.sites["canton"].dropna()) if "canton" in fixed.sites else set()
    counted = set(_counted_cantons(fixed, communes, cantons))
    stop_cantons = set(cant_of.reindex(pd.Index(stops["commune"], dtype=object)).dropna()) if len(stops) else set()
    only_bus = sorted((stop_cantons - with_site) & counted)
    notes = list(fixed.notes)
    unknown = sorted(set(stops["commune"]) - set(cant_of.index)) if len(stops) else []
    if unknown:
        notes.append(f"{len(unknown)} stop commune(s) are not in the territory and count for no canton "
                     f"(e.g. {unknown[:3]})")
    if near.missing:
        notes.append(f"{len(near.missing)} commune(s) are absent from the travel matrix for bus stops")
    return BusCoverageResult(
        fixed=fixed, thresholds=thresholds, stops=stops, by_commune=bc, population_total=total,
        population_within=within, share_within=share,
        population_only_bus=only, population_only_bus_by_frequency=pd.DataFrame(by_freq),
        cantons_total=fixed.cantons_total, cantons_with_site=fixed.cantons_with_site, cantons_only_bus=only_bus,
        n_buses=int(running["bus"].nunique()), notes=notes)


def _counted_cantons(fixed: CoverageResult, communes: pd.DataFrame, cantons) -> list[str]:
    """The official cantons counted by the coverage (pseudo-cantons, type P, left out)."""
    if cantons is not None:
        official = codes_of(cantons["type"]) != "P" if "type" in cantons.columns else np.ones(len(cantons), bool)
        return list(codes_of(cantons["code"])[official])
    return list(pd.unique(pd.Series(codes_of(communes["canton"]), dtype=object).dropna()))


def _best_frequency_within(communes, stops, t, model, rank) -> np.ndarray:
    """For each commune, the most frequent class among the stop places within t minutes (None if none)."""
    out = np.full(len(communes), None, dtype=object)
    if stops.empty:
        return out
    a = coverage_matrix(communes, stops["lat"], stops["lon"], t, model, ids=stops["site_id"]).tocoo()
    if a.nnz == 0:
        return out
    r = stops["frequency"].map(rank).to_numpy()[a.col]
    best = pd.Series(r).groupby(a.row).min()
    out[best.index.to_numpy()] = np.array(FREQUENCIES, dtype=object)[best.to_numpy()]
    return out


# --------------------------------------------------------------------------- bus or site?


@dataclass(frozen=True)
class BusCosts:
    """Yearly cost of a bus France services, in euros.

    - investment_eur 60 k€ [P]: the investment aid per bus (facts §1.2: up to 60 k€, 30 k€ Banque des
      Territoires + 30 k€ préfecture), taken as the price of the fitted vehicle; annualised over `years`.
    - years 8 [E]: service life of a fitted utility vehicle.
    - agent_eur 40 k€ per agent a year [E from P]: La Poste-hosted sites cost ≈150 k€ a year, two-thirds of
      it staff (facts §5.4), for ≈2.5 agents per site (§5.3) → ≈40 k€ per agent.
    - agents 2 [P]: the crew (facts §9.6).
    - vehicle_eur 15 k€ [E]: fuel, maintenance, insurance, mobile connection, for ≈40,000 km a year.
    - overhead_eur 10 k€ [E]: supervision, IT, training and the structure's share of premises.
    """

    investment_eur: float = 60_000.0
    years: float = 8.0
    agent_eur: float = AGENT_COST_EUR
    agents: int = 2
    vehicle_eur: float = 15_000.0
    overhead_eur: float = 10_000.0

    def yearly(self) -> float:
        return self.investment_eur / self.years + self.agents * self.agent_eur + self.vehicle_eur + self.overhead_eur


def compare_bus_or_site(communes: pd.DataFrame, fixed_sites: pd.DataFrame, *, budget_eur: float,
                        costs: BusCosts = BusCosts(), site_cost_eur: float = SITE_COST_EUR["mean"],
                        max_minutes: float = 30, model=RoadModel(), design: dict | None = None,
                        placement_method: str = "auto") -> pd.DataFrame:
    """'K more buses' against 'M more fixed sites' for the same yearly budget.

    M = budget // site cost (default 110 k€ [P, IGA 2020 mean]; rural sites 93.8 k€, SITE_COST_EUR["rural"])
    sites placed by fssim.network.placement.PlacementProblem with the existing sites kept; K = budget // bus cost
    (BusCosts, ≈112.5 k€ by default, mostly [E]) buses designed by RotationDesign (`design`: its options).
    Rows: the current network, +M sites, +K buses. Columns: option, units, yearly_cost_eur,
    population_within_T (fixed or bus), of which population_fixed_within_T and population_only_bus_within_T
    with its weekly / fortnightly / monthly parts, population_added, cantons_reached (cantons hosting a site
    or a bus stop), cost_per_person_added_eur.
    """
    from fssim.network.placement import PlacementProblem

    if not budget_eur >= 0:
        raise InputError(f"budget_eur must be ≥ 0, got {budget_eur!r}", field="budget_eur")
    if not site_cost_eur > 0 or not costs.yearly() > 0:
        raise InputError("site and bus costs must be > 0", field="costs")
    if isinstance(model, TravelMatrix):
        raise InputError("comparing with buses needs a travel model with .minutes (e.g. RoadModel)", field="model")
    t = int(round(max_minutes))
    if t != max_minutes or t <= 0:
        raise InputError(f"max_minutes must be a positive whole number of minutes, got {max_minutes!r}",
                         field="max_minutes")
    fixed = fixed_sites.copy()
    fixed["site_id"] = codes_of(fixed["site_id"])
    m_sites = int(budget_eur // site_cost_eur)
    k_buses = int(budget_eur // costs.yearly())
    rows = []
    base = coverage_with_buses(communes, fixed, [], thresholds=(t,), model=model)
    rows.append(_option_row("current network", 0, 0.0, base, t, communes))
    problem = PlacementProblem(communes, n_sites=len(fixed) + m_sites, max_minutes=t, model=model, existing=fixed)
    problem.solve(method=placement_method)
    placed = problem.sites()
    placed = placed[~placed["site_id"].isin(set(fixed["site_id"]))]
    more_sites = pd.concat([fixed[["site_id", "lat", "lon"] + (["commune"] if "commune" in fixed else [])],
                            placed[["site_id", "lat", "lon", "commune"]]], ignore_index=True)
    res_sites = coverage_with_buses(communes, more_sites, [], thresholds=(t,), model=model)
    rows.append(_option_row(f"+{m_sites} fixed sites", m_sites, m_sites * site_cost_eur, res_sites, t, communes))
    buses: list[Bus] = []
    if k_buses:
        d = RotationDesign(communes, n_buses=k_buses, fixed_sites=fixed, max_minutes=t, model=model,
                           **(design or {})).solve()
        buses = d.buses
    res_bus = coverage_with_buses(communes, fixed, buses, thresholds=(t,), model=model)
    rows.append(_option_row(f"+{k_buses} buses", k_buses, k_buses * costs.yearly(), res_bus, t, communes))
    out = pd.DataFrame(rows)
    out["population_added"] = out[f"population_within_{t}"] - out[f"population_within_{t}"].iloc[0]
    out["cost_per_person_added_eur"] = out["yearly_cost_eur"] / out["population_added"].where(
        out["population_added"] > 0)
    return out


def _option_row(name, units, cost, res: BusCoverageResult, t, communes) -> dict:
    freq = res.population_only_bus_by_frequency.set_index("threshold")
    fixed_pop = int(res.by_commune.loc[res.by_commune["site_minutes"] <= t, "population"].sum())
    return {"option": name, "units": units, "yearly_cost_eur": float(cost),
            f"population_within_{t}": int(res.population_within[t]),
            f"population_fixed_within_{t}": fixed_pop,
            f"population_only_bus_within_{t}": int(res.population_only_bus[t]),
            **{f"only_bus_{f}": int(freq.loc[t, f]) for f in FREQUENCIES},
            "cantons_reached": int(res.cantons_with_site + len(res.cantons_only_bus)),
            "cantons_total": int(res.cantons_total)}

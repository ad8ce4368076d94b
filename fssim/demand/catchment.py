"""Catchments: how much demand each site receives, and from which communes, phase by phase of a rollout.

``CatchmentProblem(communes, sites, spec, model).solve(dates, reference_date)`` gives every access point (site
or bus stop) its volume (visits a year) on each date, and each commune its visits at the reference date.

- ``catchment.model: calibrated`` (default): the demand model fitted by ``fssim calibrate`` on the observed
  actes (fssim.demand.calibration): a point's actes depend on its weekly hours, its age (ramp-up), the density of its
  commune and the year (network growth), divided by the mean démarches per visit. Communes share each point's
  volume by the kernel of the calibration (two-step floating catchment), so demand per inhabitant falls with
  travel time to the sites and rises near a new one.
- ``catchment.model: population``: demand per inhabitant ``annual_visits`` over France's population, decayed
  by travel time, sent to the nearest site (or spread by a gravity choice).

Either way a site whose own inputs are unchanged keeps a bit-identical volume whatever the other sites (sums in
a fixed order, rounded to ``VOLUME_DECIMALS``), so its citizens stay the same (common random numbers).
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from fssim import defaults as D
from fssim.config import Catchment
from fssim.errors import InputError

VOLUME_DECIMALS = 6
"""Site volumes (visits a year) are rounded to this many decimals, so that they do not depend on the
order in which the other sites' flows were summed."""


def _open_on(sites: pd.DataFrame, date: dt.date) -> pd.DataFrame:
    opens = pd.to_datetime(sites["opens_on"])
    closes = pd.to_datetime(sites["closes_on"]) if "closes_on" in sites else pd.Series(pd.NaT, index=sites.index)
    d = pd.Timestamp(date)
    keep = (opens.isna() | (opens <= d)) & (closes.isna() | (d < closes))
    return sites[keep.to_numpy()]


class CatchmentProblem:
    """Assign commune demand to sites on given dates; results as attributes and DataFrames.

    After ``.solve(dates, reference_date)`` (None before): ``volumes`` (site_id, start, visits_per_year: each
    access point's volume from each date on), ``by_commune`` (code, site_id, minutes, population,
    visits_per_year at the reference date), ``origins`` (site_id, code, weight: where each site's visits live,
    on the reference date) and ``rate_per_inhabitant`` (first visits a year per inhabitant).
    """

    def __init__(self, communes: pd.DataFrame, sites: pd.DataFrame, spec: Catchment, model,
                 *, population_share: float = 1.0, stops: pd.DataFrame | None = None):
        self.communes, self.sites, self.spec, self.model = communes, sites, spec, model
        # bus stops (site_id, lat, lon, opens_on, closes_on, visits_per_week): a commune whose nearest access
        # point is a stop sends it a share of its demand that grows with the bus's frequency
        self.stops = stops if stops is not None and len(stops) else None
        self.population_share = population_share  # territory population / France's
        self.rate_per_inhabitant: float | None = None  # first visits a year per inhabitant at zero minutes
        self.volumes: pd.DataFrame | None = None     # site_id, start, visits_per_year
        self.by_commune: pd.DataFrame | None = None  # at the reference date
        self.origins: pd.DataFrame | None = None     # site_id, code, weight: where each site's visits live
        self.actes_per_visit = 1.0  # calibrated model: mean démarches per visit (set from the behaviour)

    def _flows(self, date: dt.date) -> pd.DataFrame:
        """commune × site flows on ``date``: population weight × choice share × distance decay."""
        from fssim.geo.travel import travel_times

        open_sites = _open_on(self.sites, date)
        if open_sites.empty:
            return pd.DataFrame(columns=["code", "site_id", "minutes", "weight"])
        k = 1 if self.spec.choice == "nearest" else min(self.spec.candidates, len(open_sites))
        near = travel_times(self.communes, open_sites, self.model, k=k)
        minutes = near.minutes
        ok = np.isfinite(minutes)
        if k == 1:
            share = ok.astype(float)
        else:
            w = np.where(ok, np.exp(-self.spec.beta_per_minute * (minutes - minutes[:, :1])), 0.0)
            share = w / np.where(w.sum(axis=1, keepdims=True) > 0, w.sum(axis=1, keepdims=True), 1)
        decay = 1.0 if self.spec.decay_half_minutes is None else np.power(
            0.5, np.where(ok, minutes, 0) / self.spec.decay_half_minutes)
        pop = self.communes["population"].to_numpy(float)[:, None]
        weight = pop * share * decay
        flows = pd.DataFrame({
            "code": np.repeat(near.codes, k), "site_id": near.site_ids.ravel(),
            "minutes": minutes.ravel(), "weight": weight.ravel(),
        })
        flows = self._hosted(flows, open_sites, pop[:, 0])
        if self.stops is not None:
            flows = self._with_stops(flows, date, minutes[:, 0], pop[:, 0])
        return flows[flows["weight"] > 0]

    def _hosted(self, flows: pd.DataFrame, open_sites: pd.DataFrame, pop) -> pd.DataFrame:
        """A commune hosting open sites shares its demand equally between them.

        A commune is one point (its town hall): without this rule all of Paris would go to the one site
        nearest the Hôtel de Ville. Travel inside the commune counts as the access time of the model.
        """
        if "commune" not in open_sites.columns:
            return flows
        hosted = open_sites.dropna(subset=["commune"]).groupby("commune")["site_id"].apply(list)
        codes = self.communes["code"].to_numpy()
        inside = np.isin(codes, hosted.index)
        if not inside.any():
            return flows
        access = float(getattr(self.model, "access_minutes", 0.0))
        decay = 1.0 if self.spec.decay_half_minutes is None else 0.5 ** (access / self.spec.decay_half_minutes)
        rows = []
        for code, p in zip(codes[inside], pop[inside]):
            ids = hosted[code]
            for sid in ids:
                rows.append((code, sid, access, p * decay / len(ids)))
        own = pd.DataFrame(rows, columns=["code", "site_id", "minutes", "weight"])
        return pd.concat([flows[~flows["code"].isin(set(codes[inside]))], own], ignore_index=True)

    def _with_stops(self, flows: pd.DataFrame, date, fixed_minutes, pop) -> pd.DataFrame:
        """Communes nearer a bus stop than any fixed site send it ``stop_share`` × (visits a week) of their
        demand (at most all of it); the rest still goes to the fixed sites."""
        from fssim.geo.travel import travel_times

        live = _open_on(self.stops, date)
        if live.empty:
            return flows
        near = travel_times(self.communes, live, self.model, k=1)
        t = near.minutes[:, 0]
        closer = np.isfinite(t) & (t < fixed_minutes)
        per_week = live.set_index("site_id")["visits_per_week"]
        share = np.zeros(len(t))
        share[closer] = np.minimum(1.0, self.spec.stop_share * per_week.reindex(near.site_ids[closer, 0]).to_numpy())
        decay = 1.0 if self.spec.decay_half_minutes is None else np.power(
            0.5, np.where(closer, t, 0) / self.spec.decay_half_minutes)
        keep = pd.Series(1.0 - share, index=near.codes)
        flows = flows.assign(weight=flows["weight"] * keep.reindex(flows["code"]).to_numpy())
        to_stops = pd.DataFrame({"code": near.codes[closer], "site_id": near.site_ids[closer, 0],
                                 "minutes": t[closer], "weight": (pop * share * decay)[closer]})
        return pd.concat([flows, to_stops], ignore_index=True)

    def demand_rate(self) -> float:
        """First visits a year per inhabitant at zero minutes from a site, the same for every commune and
        every network: ``annual_visits`` over France's population (the territory's over its share)."""
        pop = float(self.communes["population"].sum())
        if pop <= 0:
            raise InputError("the territory has no inhabitants; check territory.departements", field="territory")
        return self.spec.population_visits * self.population_share / pop

    def site_volumes(self, flows: pd.DataFrame) -> pd.Series:
        """Visits a year per site: its flows summed in (site, commune) order and rounded, so that a site
        with the same catchment gets the same bits whatever the other sites."""
        f = flows.assign(visits=flows["weight"].to_numpy(float) * self.rate_per_inhabitant)
        f = f.sort_values(["site_id", "code"], kind="stable")
        ids, start = np.unique(f["site_id"].to_numpy(), return_index=True)
        totals = [math.fsum(part) for part in np.split(f["visits"].to_numpy(float), start[1:])]
        return pd.Series(np.round(totals, VOLUME_DECIMALS), index=pd.Index(ids, name="site_id"))

    def solve(self, dates: list[dt.date], reference_date: dt.date) -> "CatchmentProblem":
        if self.spec.model == "calibrated":
            return self._solve_calibrated(dates, reference_date)
        ref = self._flows(reference_date)
        if ref["weight"].sum() <= 0:
            raise InputError(f"no site is open on the catchment reference date {reference_date}; "
                             "set catchment.reference_date to a date when sites are open", field="catchment")
        self.rate_per_inhabitant = self.demand_rate()
        rows = []
        for d in sorted(set(dates)):
            f = self._flows(d)
            if f.empty:
                continue
            v = self.site_volumes(f) * self.spec.multiplier
            rows.append(pd.DataFrame({"site_id": v.index, "start": d, "visits_per_year": v.to_numpy()}))
        self.volumes = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
            columns=["site_id", "start", "visits_per_year"])
        pop = self.communes.set_index("code")["population"]
        ref = ref.assign(visits_per_year=ref["weight"] * self.rate_per_inhabitant)
        nearest = ref.sort_values("minutes").drop_duplicates("code")
        self.by_commune = pd.DataFrame({"code": pop.index}).merge(
            nearest[["code", "site_id", "minutes"]], on="code", how="left").merge(
            ref.groupby("code")["visits_per_year"].sum().rename("visits_per_year").reset_index(), on="code",
            how="left")
        self.by_commune["population"] = self.by_commune["code"].map(pop).to_numpy()
        self.by_commune["visits_per_year"] = self.by_commune["visits_per_year"].fillna(0.0)
        self.origins = ref[["site_id", "code", "weight"]]
        return self

    def origins_of(self, site_id: str) -> dict[str, float]:
        """Commune code → share of the site's visits on the reference date (largest first, 6 digits), the
        communes that send it at least ORIGIN_MIN_SHARE of them; {} when none reaches it."""
        if self.origins is None:
            return {}
        if not hasattr(self, "_origins_by_site"):
            f = self.origins[self.origins["weight"] > 0]
            self._origins_by_site = {sid: g for sid, g in f.groupby("site_id", sort=False)}
        g = self._origins_by_site.get(site_id)
        if g is None:
            return {}
        w = g.groupby("code")["weight"].sum()
        w = w / w.sum()
        w = w[w >= ORIGIN_MIN_SHARE].sort_index()
        w = (w / w.sum()).sort_values(ascending=False, kind="stable")
        return {str(c): float(f"{v:.6g}") for c, v in w.items()}

    def schedule(self, site_id: str) -> list[dict]:
        """The site's volume phases: [{start, visits_per_year}, …] in date order."""
        v = self.volumes[self.volumes["site_id"] == site_id].sort_values("start")
        return [{"start": s, "visits_per_year": float(x)} for s, x in zip(v["start"], v["visits_per_year"])]

    # -- calibrated model
    def _points(self) -> pd.DataFrame:
        """Sites and stops as access points: site_id, lat, lon, opens_on, closes_on, hours_per_week, density."""
        if "hours_per_week" in self.sites:
            sites = self.sites
        elif "hours" in self.sites:
            sites = self.sites.assign(hours_per_week=self.sites["hours"].map(weekly_hours))
        else:
            raise InputError("the calibrated demand model needs each site's opening hours: a column 'hours' "
                             "(weekday → HH:MM-HH:MM) or 'hours_per_week'", field="hours")
        parts = [sites[["site_id", "lat", "lon", "opens_on", "closes_on", "hours_per_week"]
                       + (["commune"] if "commune" in sites else [])]]
        if self.stops is not None:
            parts.append(self.stops[["site_id", "lat", "lon", "opens_on", "closes_on", "hours_per_week", "commune"]])
        points = pd.concat(parts, ignore_index=True)
        if "closes_on" not in points:
            points["closes_on"] = None
        points["density"] = point_density(points, self.communes)
        return points

    def _solve_calibrated(self, dates: list[dt.date], reference_date: dt.date) -> "CatchmentProblem":
        if not self.actes_per_visit >= 1:
            raise InputError(f"mean démarches per visit must be ≥ 1, got {self.actes_per_visit!r}",
                             field="behaviour.demarches_per_visit")
        points = self._points()
        params = self.calibration
        rows = []
        for p in points.itertuples(index=False):
            for d in point_dates(p.opens_on, p.closes_on, dates):
                rows.append((p.site_id, d, calibrated_visits(p.hours_per_week, p.density, p.opens_on, d, params,
                                                            self.actes_per_visit)))
        volumes = pd.DataFrame(rows, columns=["site_id", "start", "visits_per_year"])
        total = volumes_at(volumes, reference_date).sum()
        if not total > 0:
            raise InputError(f"no site is open on the catchment reference date {reference_date}; "
                             "set catchment.reference_date to a date when sites are open", field="catchment")
        scale = self.spec.multiplier
        if self.spec.annual_visits is not None:  # an override of the territory's total on the reference date
            scale *= self.spec.annual_visits * self.population_share / total
        volumes["visits_per_year"] = np.round(volumes["visits_per_year"].to_numpy(float) * scale, VOLUME_DECIMALS)
        self.volumes = volumes
        at_ref = self.volumes_on(reference_date)
        self.by_commune = self._shared(points, at_ref, reference_date)
        pop = float(self.communes["population"].sum())
        self.rate_per_inhabitant = float(at_ref.sum()) / pop if pop > 0 else 0.0
        return self

    def _shared(self, points: pd.DataFrame, at_ref: pd.Series, date: dt.date) -> pd.DataFrame:
        """code, site_id (nearest open point), minutes, population, visits_per_year: each point's volume shared
        over the population around it with the calibration's kernel (exp(−minutes / KERNEL_MINUTES) within
        REACH_MINUTES), so Σ communes = Σ points reached by some commune."""
        from fssim.demand.calibration import KERNEL_MINUTES, REACH_MINUTES
        from fssim.geo.travel import travel_times

        live = _open_on(points, date)
        live = live[live["site_id"].isin(at_ref.index)]
        pop = self.communes["population"].to_numpy(float)
        k = min(SHARED_NEIGHBOURS, len(live))
        near = travel_times(self.communes, live, self.model, k=k)
        minutes = near.minutes
        kernel = np.where(np.isfinite(minutes) & (minutes <= REACH_MINUTES),
                          np.exp(-np.where(np.isfinite(minutes), minutes, 0) / KERNEL_MINUTES), 0.0)
        ids = pd.Index(near.site_ids.ravel())
        column = pd.Index(live["site_id"]).get_indexer(ids).reshape(minutes.shape)
        around = np.bincount(column.ravel(), (kernel * pop[:, None]).ravel(), minlength=len(live))
        volume = at_ref.reindex(live["site_id"]).to_numpy(float)
        per_head = np.divide(volume, around, out=np.zeros(len(live)), where=around > 0)
        flows = pop[:, None] * kernel * per_head[column]
        visits = flows.sum(axis=1)
        keep = flows > 0
        self.origins = pd.DataFrame({"site_id": near.site_ids[keep], "code": np.repeat(near.codes, k).reshape(
            flows.shape)[keep], "weight": flows[keep]})
        return pd.DataFrame({"code": near.codes, "site_id": near.site_ids[:, 0], "minutes": minutes[:, 0],
                             "population": pop, "visits_per_year": visits})

    @property
    def calibration(self) -> dict:
        return D.DEMAND_CALIBRATION["parameters"]

    def volumes_on(self, date: dt.date) -> pd.Series:
        """Visits a year of each site (or stop point) in force on ``date``, indexed by site_id."""
        return volumes_at(self.volumes, date)


ORIGIN_MIN_SHARE = 1e-4
"""A commune sending a site less than this share of its visits is left out of the site's origins."""

SHARED_NEIGHBOURS = 20
"""Communes share the volumes of at most this many nearest points (the kernel beyond is negligible)."""


def volumes_at(volumes: pd.DataFrame, date: dt.date) -> pd.Series:
    """Visits a year of each point in force on ``date`` (its last volume phase started by then), by site_id."""
    v = volumes[pd.to_datetime(volumes["start"]) <= pd.Timestamp(date)]
    v = v.sort_values("start", kind="stable").drop_duplicates("site_id", keep="last")
    return v.set_index("site_id")["visits_per_year"]


def weekly_hours(hours) -> float:
    """Opening hours a week of a site's timetable (weekday → "HH:MM-HH:MM / …")."""
    from fssim.config import parse_day_hours

    if not isinstance(hours, dict):
        return 0.0
    return sum(b - a for text in hours.values() for a, b in parse_day_hours(text)) / 60


def point_density(points: pd.DataFrame, communes: pd.DataFrame) -> np.ndarray:
    """Index in fssim.demand.calibration.DENSITY of each point's commune (the nearest commune when unknown)."""
    from scipy.spatial import cKDTree

    from fssim.demand.calibration import DENSITY
    from fssim.geo.travel import unit_vectors

    codes = pd.Categorical(communes["density_class"], categories=DENSITY).codes
    by_code = dict(zip(communes["code"], codes))
    known = points["commune"].map(by_code) if "commune" in points else pd.Series(np.nan, index=points.index)
    tree = cKDTree(unit_vectors(communes["lat"].to_numpy(float), communes["lon"].to_numpy(float)))
    _, nearest = tree.query(unit_vectors(points["lat"].to_numpy(float), points["lon"].to_numpy(float)))
    out = np.where(known.notna(), known.fillna(0), codes[nearest]).astype(int)
    return np.where(out < 0, 0, out)


def point_dates(opens_on, closes_on, dates: list[dt.date]) -> list[dt.date]:
    """The dates a point's volume changes: its opening (if within the dates' span), then each later date
    given, while it is open."""
    opens = None if opens_on is None or pd.isna(opens_on) else pd.Timestamp(opens_on).date()
    closes = None if closes_on is None or pd.isna(closes_on) else pd.Timestamp(closes_on).date()
    ds = sorted(set(dates))
    out = [d for d in ds if (opens is None or d >= opens) and (closes is None or d < closes)]
    if opens is not None and ds and ds[0] < opens < ds[-1] and (not out or out[0] != opens):
        out = [opens] + out
    return out


def calibrated_visits(hours_per_week: float, density: int, opens_on, date: dt.date, params: dict,
                      actes_per_visit: float) -> float:
    """Visits a year of an access point from ``date`` to the next volume date (taken at mid-month):
    12 × exp(level + growth × years since 2023) × hours / 30 × (1 − exp(−age months / ramp_months))
    × exp(density factor) / actes per visit, the fitted model of fssim.demand.calibration."""
    mid = pd.Timestamp(date) + pd.Timedelta(days=14)
    years = (mid - pd.Timestamp(D.DEMAND_CALIBRATION["epoch"])).days / 365.25
    factor = (0.0, params["density_intermediaire"], params["density_peu_dense"], params["density_tres_peu_dense"])
    if opens_on is None or pd.isna(opens_on):
        ramp = 1.0
    else:
        age = max((mid - pd.Timestamp(opens_on)).days / 30.44, 0.0)
        ramp = 1 - math.exp(-(age + 0.5) / params["ramp_months"])
    actes = (12 * math.exp(params["level"] + params["growth_per_year"] * years) * hours_per_week / 30.0 * ramp
             * math.exp(factor[int(density)]))
    return actes / actes_per_visit

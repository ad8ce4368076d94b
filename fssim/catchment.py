"""Catchments: how the demand of each commune reaches the sites, phase by phase of a rollout.

``CatchmentProblem(communes, sites, spec, model).solve(dates)`` assigns each commune's demand to its
nearest open site (or spreads it over its nearest candidates with a gravity choice model) on each date.
Demand is a rate per inhabitant that does not depend on the network (``catchment.annual_visits`` over
France's population: the national volume if everyone lived at zero minutes from a site), falling with
each commune's travel time. Site volumes therefore come from geography alone: a site opening nearby takes
demand from its neighbours and creates some of its own, and a site whose catchment is unchanged keeps a
bit-identical volume (sums in a fixed order, rounded to ``VOLUME_DECIMALS``) whatever the other sites, so
its citizens stay the same (common random numbers across networks).
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from .config import Catchment
from .errors import InputError

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
    """Assign commune demand to sites on given dates; results as attributes and DataFrames."""

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

    def _flows(self, date: dt.date) -> pd.DataFrame:
        """commune × site flows on ``date``: population weight × choice share × distance decay."""
        from .travel import travel_times

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
        from .travel import travel_times

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
        return self.spec.annual_visits * self.population_share / pop

    def site_volumes(self, flows: pd.DataFrame) -> pd.Series:
        """Visits a year per site: its flows summed in (site, commune) order and rounded, so that a site
        with the same catchment gets the same bits whatever the other sites."""
        f = flows.assign(visits=flows["weight"].to_numpy(float) * self.rate_per_inhabitant)
        f = f.sort_values(["site_id", "code"], kind="stable")
        ids, start = np.unique(f["site_id"].to_numpy(), return_index=True)
        totals = [math.fsum(part) for part in np.split(f["visits"].to_numpy(float), start[1:])]
        return pd.Series(np.round(totals, VOLUME_DECIMALS), index=pd.Index(ids, name="site_id"))

    def solve(self, dates: list[dt.date], reference_date: dt.date) -> "CatchmentProblem":
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
            v = self.site_volumes(f)
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
        return self

    def schedule(self, site_id: str) -> list[dict]:
        """The site's volume phases: [{start, visits_per_year}, …] in date order."""
        v = self.volumes[self.volumes["site_id"] == site_id].sort_values("start")
        return [{"start": s, "visits_per_year": float(x)} for s, x in zip(v["start"], v["visits_per_year"])]

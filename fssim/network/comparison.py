"""Placed versus real network, département by département (population within T, cantons with a site, sites)."""

from __future__ import annotations

import pandas as pd

from fssim.errors import InputError
from fssim.geo.coverage import coverage
from fssim.geo.travel import RoadModel
from fssim.network.placement import PlacementProblem


def compare_networks(placed, real: pd.DataFrame, *, communes: pd.DataFrame | None = None,
                     max_minutes: float | None = None, model=None, date=None,
                     cantons: pd.DataFrame | None = None, aliases: pd.DataFrame | None = None) -> pd.DataFrame:
    """Placed versus real network by département: population share within T, cantons with a site, sites.

    `placed` is a solved PlacementProblem (its communes, T and model are the defaults) or a site table.
    The last row, dep "total", is the whole territory.
    """
    if isinstance(placed, PlacementProblem):
        if placed.selected is None:
            raise InputError("solve the placement problem before comparing it", field="placed")
        communes = placed.communes if communes is None else communes
        max_minutes = placed.max_minutes if max_minutes is None else max_minutes
        model = placed.model if model is None else model
        placed = placed.sites()
    if communes is None:
        raise InputError("give the communes table to compare two site tables", field="communes")
    t = int(round(30 if max_minutes is None else max_minutes))
    model = RoadModel() if model is None else model
    a = coverage(communes, placed, thresholds=(t,), model=model, cantons=cantons, aliases=aliases)
    b = coverage(communes, real, thresholds=(t,), model=model, date=date, cantons=cantons, aliases=aliases)
    keep = ["dep", "population", f"share_within_{t}", "sites", "cantons_total", "cantons_with_site"]
    da, db = a.by_departement[keep], b.by_departement[keep]
    out = da.merge(db.drop(columns=["population", "cantons_total"]), on="dep", how="outer",
                   suffixes=("_placed", "_real"))
    total = {"dep": "total", "population": a.population_total,
             f"share_within_{t}_placed": a.share_within[t], "sites_placed": len(a.sites),
             "cantons_total": a.cantons_total, "cantons_with_site_placed": a.cantons_with_site,
             f"share_within_{t}_real": b.share_within[t], "sites_real": len(b.sites),
             "cantons_with_site_real": b.cantons_with_site}
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    out[f"share_within_{t}_gain"] = out[f"share_within_{t}_placed"] - out[f"share_within_{t}_real"]
    cols = ["dep", "population", f"share_within_{t}_placed", f"share_within_{t}_real", f"share_within_{t}_gain",
            "cantons_total", "cantons_with_site_placed", "cantons_with_site_real", "sites_placed", "sites_real"]
    return out[cols]

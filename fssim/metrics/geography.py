"""Results where people live: canton, département and région scopes, and the access indicator.

A visit's area is that of its citizen's commune of residence (the visits table's ``commune``), so the
département scope answers "how are the inhabitants of this département served", wherever they go; the
capacity KPIs of an area (utilisation, staffed time…) are those of the sites located in it.

The access indicator ``population_served_within_targets`` is, per commune c,
population_c × [road minutes to its access point ≤ T] × s_c, summed over an area and divided by its
population: s_c is the share of the commune's arrivals whose service started within the wait threshold
(W, ``outputs.wait_threshold_min``); a commune none of whose citizens came in a replication takes the
share of its access point's arrivals (else the network's). T is ``coverage.access_minutes`` (the
programme's promise: 30 minutes).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: scope → column of :attr:`Geography.communes` holding the area code
LEVELS = {"canton": "canton", "departement": "dep", "region": "region"}


@dataclass
class Geography:
    """Plain data for the geographic scopes: communes (code, name, population, canton, dep, region, minutes
    to the nearest access point, site_id of that point), each site's commune, the travel target T."""

    communes: pd.DataFrame
    site_communes: dict[str, str]
    access_minutes: float = 30.0


_LAST: list = []  # [(weakref to visits, (id of geo, threshold, rows), result, geo)]: the latest computation, reused


def _commune_shares(visits: pd.DataFrame, geo: Geography, threshold: float) -> pd.DataFrame:
    """Per replication and commune of the territory: s_c (see the module docstring).

    A run asks for it at every level (network, région, département, canton) and for ``access.parquet``;
    over millions of visits it is computed once and reused while the same visits table is asked about."""
    key = (id(geo), threshold, len(visits))
    if _LAST and _LAST[0][0]() is visits and _LAST[0][1] == key and _LAST[0][3] is geo:
        return _LAST[0][2].copy()
    out = _compute_shares(visits, geo, threshold)
    _LAST[:] = [(weakref.ref(visits), key, out, geo)]
    return out.copy()


def text_codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(integer code of each row, the text of each code): a categorical column's own codes, so millions of
    visits are grouped by integers and only the groups are named (a missing value's text is 'nan')."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, names = col.cat.codes.to_numpy().astype(np.int64), col.cat.categories.astype(str)
    else:
        codes, names = pd.factorize(col.astype(str))
    names = np.append(np.asarray(names, dtype=object), "nan")
    return np.where(codes < 0, len(names) - 1, codes), names


def _named(sums: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
    """``sums`` indexed by (replication, code) → by (replication, text of the code)."""
    return sums.set_axis(pd.MultiIndex.from_arrays([sums.index.get_level_values(0),
                                                    names[sums.index.get_level_values(1).to_numpy()]],
                                                   names=sums.index.names))


def _compute_shares(visits: pd.DataFrame, geo: Geography, threshold: float) -> pd.DataFrame:
    arrived = (visits["outcome"] != "no_show").to_numpy(bool)
    good = visits["wait_min"].le(threshold) & visits["wait_min"].notna()
    commune, communes = text_codes(visits["commune"])
    site_id, site_ids = text_codes(visits["site_id"])
    frame = pd.DataFrame({"replication": visits["replication"].to_numpy(), "commune": commune, "site_id": site_id,
                          "arrived": arrived, "good": good.to_numpy(bool) & arrived})
    frame = frame[frame["arrived"]]
    reps = np.sort(visits["replication"].unique())
    by_commune = _named(frame.groupby(["replication", "commune"])[["arrived", "good"]].sum(), communes)
    by_site = _named(frame.groupby(["replication", "site_id"])[["arrived", "good"]].sum(), site_ids)
    network = frame.groupby("replication")[["arrived", "good"]].sum()
    c = geo.communes
    grid = pd.MultiIndex.from_product([reps, c["code"].astype(str)], names=["replication", "commune"])
    own = by_commune.reindex(grid)
    share = own["good"] / own["arrived"].where(own["arrived"] > 0)
    site = c["site_id"].astype(str).to_numpy() if "site_id" in c else np.full(len(c), "")
    site_grid = pd.MultiIndex.from_arrays([grid.get_level_values(0), np.tile(site, len(reps))])
    at_site = by_site.reindex(site_grid)
    site_share = (at_site["good"] / at_site["arrived"].where(at_site["arrived"] > 0)).to_numpy()
    net = network.reindex(reps)
    net_share = np.repeat((net["good"] / net["arrived"].where(net["arrived"] > 0)).to_numpy(), len(c))
    s = share.to_numpy()
    s = np.where(np.isfinite(s), s, np.where(np.isfinite(site_share), site_share, net_share))
    pop = np.tile(c["population"].to_numpy(float), len(reps))
    near = np.tile((c["minutes"].to_numpy(float) <= geo.access_minutes), len(reps))
    return pd.DataFrame({"replication": grid.get_level_values(0), "code": grid.get_level_values(1),
                         "population": pop, "population_served": pop * near * np.nan_to_num(s),
                         "share": s, "within_travel": near})


def access_sums(visits: pd.DataFrame, geo: Geography, threshold: float, level: str | None) -> pd.DataFrame:
    """population and population_served per replication (and area of ``level``), for the KPI registry."""
    per = _commune_shares(visits, geo, threshold)
    keys = ["replication"]
    if level is not None:
        per[level] = per["code"].map(geo.communes.set_index("code")[LEVELS[level]].astype(str))
        keys.append(level)
    return per.groupby(keys)[["population", "population_served"]].sum()


def access_by_commune(visits: pd.DataFrame, geo: Geography, threshold: float) -> pd.DataFrame:
    """The access table (``access.parquet``): per commune, its population, road minutes to its access point,
    the share of its arrivals served within the wait threshold and ``within_target`` (share of its
    population served within both targets), means over replications."""
    per = _commune_shares(visits, geo, threshold)
    mean = per.groupby("code", sort=False)[["share", "population_served"]].mean()
    c = geo.communes.set_index("code")
    cols = [k for k in ("name", "dep", "canton", "region", "lat", "lon", "population", "minutes", "site_id")
            if k in c]
    out = c[cols].copy()
    out["served_within_wait"] = mean["share"].reindex(out.index)
    pop = out["population"].astype(float)
    out["within_target"] = (mean["population_served"].reindex(out.index) / pop.where(pop > 0)).fillna(0.0)
    return out.reset_index()


__all__ = ["Geography", "LEVELS", "access_sums", "access_by_commune"]

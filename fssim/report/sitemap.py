"""The report's map of the France services: sites sized by volume, coloured by a KPI, over the communes.

Reads the run directory: ``summary.parquet`` (rows ``scope == "site"``: key = site id; visits and the KPIs of
:data:`fssim.report.maps.SITE_KPIS`), the sites (config or ``network.parquet``: name, commune, coordinates),
and when present ``coverage.parquet`` (travel time per commune), ``access.parquet`` (one row per commune:
code, name, dep, lat, lon, population, minutes, within_target — the share 0..1 of its population served within
the targets) and ``stops.parquet`` (bus stops). Sites without coordinates are left out; no site with
coordinates, no section.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from fssim.errors import InputError
from fssim.report import extras
from fssim.report.blocks import Plot, Section
from fssim.report.i18n import Translator
from fssim.report.maps import SITE_KPIS, area_of, site_map
from fssim.report.names import area_names
from fssim.geo.territory import departement_of
from fssim.report.rundata import RunData

ACCESS_COLUMNS = ("code", "lat", "lon", "population", "within_target")


def site_points(run: RunData) -> pd.DataFrame | None:
    """One row per simulated site with coordinates: id, label (its name), where (commune, département), dep,
    lat, lon, visits and the site KPIs (means across replications); None when no site has coordinates."""
    sites = [s for s in run.sites if s.lat is not None and s.lon is not None]
    if not sites:
        return None
    s = run.summary
    rows = s[s["scope"] == "site"]
    wide = rows.pivot_table(index="key", columns="kpi", values="mean", aggfunc="first") if len(rows) \
        else pd.DataFrame()
    communes, deps = area_names("commune"), area_names("departement")
    out = []
    for site in sites:
        code = str(site.commune or "")
        dep = departement_of(code) if code else ""
        where = ", ".join(x for x in (communes.get(code, ""), deps.get(dep, "")) if x)
        rec = {"id": str(site.id), "label": str(site.name or site.id), "where": where or str(site.id), "dep": dep,
               "lat": float(site.lat), "lon": float(site.lon)}
        for k in ("visits",) + tuple(k for k, _ in SITE_KPIS):
            rec[k] = float(wide.at[str(site.id), k]) if k in wide.columns and str(site.id) in wide.index else np.nan
        out.append(rec)
    return pd.DataFrame(out)


def stop_points(run: RunData) -> pd.DataFrame | None:
    """Bus stops pooled by stop (bus and commune): label (stop name, commune), dep, lat, lon, buses, every."""
    st = run.extras.get("stops")
    if st is None or not len(st):
        return None
    extras.require_columns(st, ("bus", "commune", "lat", "lon"), run, "stops")
    st = st.dropna(subset=["lat", "lon"]).copy()
    if not len(st):
        return None
    st["commune"] = st["commune"].astype(str)
    names = area_names("commune")
    name = st["name"].fillna("").astype(str) if "name" in st else pd.Series("", index=st.index)
    st["label"] = [n or names.get(c, c) for n, c in zip(name, st["commune"])]
    st["every"] = st["every"].astype(str) if "every" in st else ""
    g = st.groupby(["commune", "lat", "lon"], sort=True)
    out = g.agg(label=("label", "first"), buses=("bus", lambda b: ", ".join(sorted(set(map(str, b))))),
                every=("every", lambda e: ", ".join(dict.fromkeys(map(str, e))))).reset_index()
    out["dep"] = out["commune"].map(departement_of)
    return out


def access_points(run: RunData) -> pd.DataFrame | None:
    """access.parquet's communes as map points (label, dep…), or None; a share outside 0..1 is an InputError."""
    acc = run.extras.get("access")
    if acc is None or not len(acc):
        return None
    extras.require_columns(acc, ACCESS_COLUMNS, run, "access")
    share = pd.to_numeric(acc["within_target"], errors="coerce")
    bad = ~share.between(0, 1) & share.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"row {i}: within_target {acc['within_target'].iloc[i]!r} is not a share between 0 and 1",
                         file=str(run.path / "access.parquet"), field="within_target")
    pts = extras.commune_points(acc.assign(within_target=share))
    return pts.dropna(subset=["lat", "lon", "within_target"])


def section_map(run: RunData, t: Translator) -> Section | None:
    sites = site_points(run)
    if sites is None:
        return None
    cov = extras.coverage_points(run)
    stops = stop_points(run)
    fig = site_map(sites, t, outlines=extras.load_outlines(), coverage=cov, access=access_points(run),
                   stops=stops, cmax=extras.COVERAGE_CMAX)
    overseas = any(area_of(d) != "metro" for d in sites["dep"])
    caption = t("map.caption") + (t("map.caption_stops") if stops is not None else "")
    return Section("map", t("map.title"), [Plot("fig-site-map", fig, caption, height=680 if overseas else 620)],
                   lead=t("map.lead") + (t("map.lead_overseas") if overseas else ""))

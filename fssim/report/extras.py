"""Sections drawn only when the run directory holds their table: coverage map, rollout (experiments:
:mod:`fssim.report.experiment`).

The tables (written by other parts of fssim) are checked here; a table lacking a column raises InputError
naming the file and the columns it needs:

* ``coverage.parquet``: one row per commune — code, lat, lon, population, minutes (travel time to the
  nearest access point); optional name, dep; with buses ``site_minutes`` (nearest fixed site) and
  ``stop_minutes`` (nearest bus stop), ``minutes`` being the smaller.
* ``rollout.parquet``: date, and optionally opened (sites opened that date) and cumulative; without
  them each row is one opening. With ``phase``, ``sites`` and the canton counts (``fssim run`` of a network)
  a table of the phases: sites, access within 30 minutes, official cantons and pseudo-cantons apart.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from fssim.errors import InputError
from fssim.geo.territory import departement_of
from fssim.report.blocks import Note, Plot, Section, Table
from fssim.report.figures import rollout_timeline
from fssim.report.maps import coverage_map
from fssim.report.i18n import Translator
from fssim.report.rundata import RunData

COVERAGE_THRESHOLDS = (10, 20, 30, 45)
COVERAGE_CMAX = 45.0  # colour saturates at 45 minutes: the same colours in every report


def require_columns(df: pd.DataFrame, columns, run: RunData, name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"column(s) {missing} missing; {name}.parquet needs {', '.join(columns)}",
                         file=str(run.path / f"{name}.parquet"))


def load_outlines() -> dict | None:
    """Département outlines (GeoJSON, feature id = département code) from the embedded territory, if any."""
    try:
        from fssim.geo.territory import load_territory
    except ImportError:
        return None
    try:
        return load_territory().outlines
    except (AttributeError, OSError, InputError):
        return None


# --------------------------------------------------------------------------- coverage

def commune_points(df: pd.DataFrame) -> pd.DataFrame:
    """Communes as map points: code (5 characters), dep, label ('name (code)'), sorted by code."""
    pts = df.copy()
    pts["code"] = pts["code"].astype(str).str.zfill(5)
    pts["dep"] = pts["dep"].astype(str) if "dep" in pts else pts["code"].map(departement_of)
    pts["label"] = (pts["name"].astype(str) + " (" + pts["code"] + ")") if "name" in pts else pts["code"]
    return pts.sort_values("code", kind="stable").reset_index(drop=True)


def coverage_points(run: RunData) -> pd.DataFrame | None:
    """coverage.parquet's communes as map points, or None when the run has none."""
    cov = run.extras.get("coverage")
    if cov is None:
        return None
    require_columns(cov, ("code", "lat", "lon", "population", "minutes"), run, "coverage")
    return commune_points(cov)


def section_coverage(run: RunData, t: Translator) -> Section | None:
    """Population by travel time (fixed sites and, with buses, stops: coverage.parquet's ``minutes`` is then the
    nearest access point, as ``fssim coverage`` counts); the communes' map unless the site map draws them."""
    from fssim.report.sitemap import site_points

    pts = coverage_points(run)
    if pts is None:
        return None
    blocks: list = []
    if site_points(run) is None:
        outlines = load_outlines()
        if outlines is None:
            blocks.append(Note(t("coverage.no_outlines")))
        fig = coverage_map(pts, outlines, t, cmax=COVERAGE_CMAX)
        blocks.append(Plot("fig-coverage-map", fig, t("coverage.caption"), height=560))
    else:
        blocks.append(Note(t("coverage.see_map")))
    total = float(pts["population"].sum())
    bus = "site_minutes" in pts
    rows = []
    for m in COVERAGE_THRESHOLDS:
        within = pts["minutes"] <= m
        pop = float(pts.loc[within, "population"].sum())
        row = [t("coverage.within", m=m), t.int(pop), t.pct(pop / total if total else np.nan)]
        if bus:
            row.append(t.int(float(pts.loc[within & ~(pts["site_minutes"] <= m), "population"].sum())))
        rows.append(row)
    head = [t("coverage.minutes"), t("coverage.population"), t("coverage.share")] + (
        [t("coverage.only_bus")] if bus else [])
    blocks.append(Table(head, rows, title=t("coverage.table"), numeric=tuple(range(1, len(head))),
                        note=t("coverage.bus_note") if bus else ""))
    return Section("coverage", t("coverage.title"), blocks)


# --------------------------------------------------------------------------- rollout

def section_rollout(run: RunData, t: Translator) -> Section | None:
    ro = run.extras.get("rollout")
    if ro is None:
        return None
    require_columns(ro, ("date",), run, "rollout")
    d = ro.assign(date=pd.to_datetime(ro["date"], errors="coerce"))
    if d["date"].isna().any():
        i = int(d["date"].isna().to_numpy().nonzero()[0][0])
        raise InputError(f"row {i}: not a date ({ro['date'].iloc[i]!r}); write YYYY-MM-DD",
                         file=str(run.path / "rollout.parquet"), field="date")
    if "opened" not in d:
        d["opened"] = 1
    g = d.groupby("date", sort=True).agg(opened=("opened", "sum"), **(
        {"cumulative": ("cumulative", "max")} if "cumulative" in d else {})).reset_index()
    if "cumulative" not in g:
        g["cumulative"] = g["opened"].cumsum()
    fig = rollout_timeline(g, t)
    blocks: list = [Plot("fig-rollout", fig, t("rollout.caption"), height=340)]
    if {"phase", "sites", "cantons_total", "cantons_with_site"} <= set(d.columns):
        blocks.append(phase_table(d, t))
    return Section("rollout", t("rollout.title"), blocks)


def phase_table(d: pd.DataFrame, t: Translator) -> Table:
    """One row per rollout phase: label, start, open sites, share within 30 min, cantons with a site."""
    within = "share_within_30" if "share_within_30" in d else None
    pseudo = "pseudo_cantons_total" in d and d["pseudo_cantons_total"].fillna(0).gt(0).any()
    head = ([t("rollout.phase"), t("rollout.start"), t("rollout.sites")] + ([t("rollout.within", m=30)] if within
            else []) + [t("rollout.cantons")] + ([t("rollout.pseudo")] if pseudo else []))
    rows = []
    for r in d.sort_values("date").itertuples(index=False):
        row = [str(r.phase), t.date(r.date), t.int(r.sites)]
        if within:
            row.append(t.pct(getattr(r, within)))
        row.append(f"{t.int(r.cantons_with_site)} / {t.int(r.cantons_total)}")
        if pseudo:
            row.append(f"{t.int(r.pseudo_cantons_with_site)} / {t.int(r.pseudo_cantons_total)}")
        rows.append(row)
    return Table(head, rows, title=t("rollout.table"), numeric=tuple(range(2, len(head))))

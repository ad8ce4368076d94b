"""Sections drawn only when the run directory holds their table: coverage map, rollout, experiments.

The tables (written by other parts of fssim) are checked here; a table lacking a column raises InputError
naming the file and the columns it needs:

* ``coverage.parquet``: one row per commune — code, lat, lon, population, minutes (travel time to the
  nearest access point); optional name, dep; with buses ``site_minutes`` (nearest fixed site) and
  ``stop_minutes`` (nearest bus stop), ``minutes`` being the smaller.
* ``rollout.parquet``: date, and optionally opened (sites opened that date) and cumulative; without
  them each row is one opening. With ``phase``, ``sites`` and the canton counts (``fssim run`` of a network)
  a table of the phases: sites, access within 30 minutes, official cantons and pseudo-cantons apart.
* ``experiment.parquet``: one row per variant and KPI — scenario, kpi, mean; optional ci_low, ci_high, n,
  scope (only ``network`` rows are shown when present).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fssim.metrics import kpis as kpi_registry
from fssim.errors import InputError
from fssim.report.blocks import Grid, Note, Plot, Section, Table, plot_text
from fssim.report.figures import BLUE, GREY, _arr, _error, _layout, ref_line, rollout_timeline
from fssim.report.maps import coverage_map
from fssim.report.i18n import Translator
from fssim.report.rundata import RunData
from fssim.report.sections import target_line

COVERAGE_THRESHOLDS = (10, 20, 30, 45)
COVERAGE_CMAX = 45.0  # colour saturates at 45 minutes: the same colours in every report
EXPERIMENT_KPIS = ("p90_wait_min", "abandonment_rate", "sent_home_rate", "utilisation", "mean_wait_min")


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


def departement_of(code: str) -> str:
    """'08105' → '08', '2A004' → '2A', '97411' → '974'."""
    return code[:3] if code.startswith("97") else code[:2]


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


# --------------------------------------------------------------------------- experiments

def experiment_plot(df: pd.DataFrame, kpi: str, run: RunData, t: Translator, order: list[str]) -> Plot:
    rows = df[df["kpi"] == kpi].set_index("scenario").reindex(order).dropna(subset=["mean"])
    rate = t.kpi_unit(kpi) == "rate"
    scale = 100.0 if rate else 1.0
    low = rows["ci_low"] if "ci_low" in rows else pd.Series(np.nan, index=rows.index)
    high = rows["ci_high"] if "ci_high" in rows else pd.Series(np.nan, index=rows.index)
    fig = go.Figure(go.Scatter(
        x=_arr(rows["mean"] * scale), y=[plot_text(s) for s in rows.index], mode="markers",
        marker=dict(color=BLUE, size=9), error_x=_error(rows["mean"], low, high, scale),
        hovertemplate="%{y}: %{x:.2f}" + (t.pct_suffix if rate else "") + "<extra></extra>"))
    bound, label = target_line(run, t, kpi)
    if bound is not None:
        ref_line(fig, "x", bound * scale, text=plot_text(label))
    fig.update_yaxes(type="category", autorange="reversed", showgrid=True, gridcolor="#f0f2f4")
    fig.update_xaxes(title_text=t.kpi(kpi) + (" (min)" if t.kpi_unit(kpi) == "minutes" else ""),
                     ticksuffix=t.pct_suffix if rate else "", showgrid=True, gridcolor="#e6e9ed", linecolor=GREY)
    _layout(fig, t, showlegend=False)
    ci = t("ci.bars") if np.isfinite(low.to_numpy(float)).any() else ""
    side = next((t("exp.left") if tg.max is not None else t("exp.right")
                 for tg in run.config.targets if tg.kpi == kpi), "")
    k = kpi_registry.find(kpi)
    better = t(f"exp.better.{k.direction}") if k and k.direction != "none" else ""  # said when no target line
    caption = (t("exp.caption", kpi=t.kpi(kpi), ci=ci, target=t("exp.target", t=label)) + side
               if bound is not None else t("exp.caption_nt", kpi=t.kpi(kpi), ci=ci) + better)
    return Plot(f"fig-exp-{kpi}", fig, caption, height=max(260, 34 * len(rows) + 110))


def section_experiment(run: RunData, t: Translator) -> Section | None:
    ex = run.extras.get("experiment")
    if ex is None:
        return None
    require_columns(ex, ("scenario", "kpi", "mean"), run, "experiment")
    df = ex[ex["scope"] == "network"] if "scope" in ex else ex
    df = df.assign(scenario=df["scenario"].astype(str))
    order = list(dict.fromkeys(df["scenario"]))
    wanted = [tg.kpi for tg in run.config.targets] + list(EXPERIMENT_KPIS)
    kpis = [k for k in dict.fromkeys(wanted) if k in set(df["kpi"])][:4]
    blocks: list = [Grid([experiment_plot(df, k, run, t, order) for k in kpis])] if kpis else []
    cells = df.set_index(["scenario", "kpi"])
    rows = []
    for s in order:
        row = [s]
        for k in kpis:
            r = cells.loc[(s, k)] if (s, k) in cells.index else None
            if r is None:
                row.append("—")
                continue
            r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
            text = t.kpi_value(k, float(r["mean"]))
            if "ci_low" in r and pd.notna(r["ci_low"]):
                text += f" [{t.kpi_value(k, float(r['ci_low']))} – {t.kpi_value(k, float(r['ci_high']))}]"
            row.append(text)
        rows.append(row)
    if kpis:
        blocks.append(Table([t("exp.scenario")] + [t.kpi(k) for k in kpis], rows,
                            numeric=tuple(range(1, len(kpis) + 1))))
    return Section("experiment", t("exp.title"), blocks, lead=t("exp.lead"))

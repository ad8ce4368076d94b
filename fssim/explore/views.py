"""What the explorer shows of a run beside the baseline, as Dash components built from the report's pieces.

KPI cards (the targets' verdicts of :func:`fssim.report.targets.evaluate_targets`, and headline KPIs with the
paired difference against the baseline: same seed, so the same citizens, and
:func:`fssim.experiment.stats.paired_differences`), the site map (:mod:`fssim.report.sitemap`), P90 waits by
hour and weekday (the report's bar charts, the baseline as grey diamonds), and the animated day at the busiest
site (:mod:`fssim.report.day`). Every element has a fixed id (``kpi-<name>``, ``fig-…``) for tests.
"""
from __future__ import annotations

import difflib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from fssim.errors import InputError
from fssim.experiment.stats import paired_differences
from fssim.report.day import choose_day, section_day
from fssim.report.figures import GREY, PLOTLY_CONFIG
from fssim.report.i18n import Translator, add_labels
from fssim.report.rundata import RunData, load_run_dir
from fssim.report.sections import breakdown_plot, key_labels, ordered, target_cards, target_line
from fssim.report.sitemap import section_map
from fssim.report.targets import evaluate_targets

HEADLINE = ("visits_per_open_day", "mean_wait_min", "p90_wait_min", "share_wait_over_threshold", "abandonment_rate",
            "sent_home_rate", "utilisation")

add_labels({
    "explore.baseline": ("Référence", "Baseline"),
    "explore.delta": ("Écart", "Difference"),
    "explore.same": ("identique à la référence", "same as the baseline"),
    "explore.paired": ("écart apparié (mêmes citoyens), IC 95 %", "paired difference (same citizens), 95 % CI"),
    "explore.significant": ("significatif", "significant"),
    "explore.diff_title": ("Écarts à la référence", "Differences from the baseline"),
    "explore.no_diff": ("Aucun paramètre ne diffère de la référence.", "No setting differs from the baseline."),
    "explore.baseline_trace": ("référence", "baseline"),
    "explore.scenario_trace": ("scénario", "scenario"),
})


def load(job) -> RunData:
    """The run directory of a finished job, read as the report reads it."""
    return load_run_dir(job.run_dir)


def differences(base_job, job) -> pd.DataFrame:
    """Paired differences scenario − baseline of every network KPI (replications matched one to one)."""
    per_rep = pd.concat([base_job.per_rep.assign(scenario="baseline"), job.per_rep.assign(scenario="scenario")],
                        ignore_index=True)
    return paired_differences(per_rep, "baseline").set_index("kpi")


def _signed(t: Translator, kpi: str, x: float) -> str:
    if x is None or not np.isfinite(x):
        return "—"
    return ("+" if x > 0 else "") + t.kpi_value(kpi, x)


def kpi_cards(run: RunData, diffs: pd.DataFrame, t: Translator, *, same: bool) -> html.Div:
    """One card per target (verdict badge) and per headline KPI (value, baseline, paired difference)."""
    ev = evaluate_targets(run.summary, run.config.targets)
    cards, _ = target_cards(run.config, ev, t)
    out = []
    for i, c in enumerate(cards):
        out.append(html.Div([
            html.Div(c.title, className="card-title"),
            html.Div(c.value, className="card-value", id=f"target-{i}-value"),
            html.Div(c.status_label, className=f"badge {c.status}", id=f"target-{i}-status"),
            html.Div(c.detail, className="card-detail")], className="card target", id=f"target-{i}"))
    for k in HEADLINE:
        row = run.network(k)
        if row is None:
            continue
        d = diffs.loc[k] if k in diffs.index else None
        detail = [html.Div(t.colon(t("explore.baseline")) + t.kpi_value(k, d["baseline_mean"] if d is not None
                                                                         else np.nan), className="card-detail")]
        if same:
            detail.append(html.Div(t("explore.same"), className="card-detail"))
        elif d is not None:
            ci = (f" [{_signed(t, k, d['ci_low'])} ; {_signed(t, k, d['ci_high'])}]"
                  if np.isfinite(d["ci_low"]) else "")
            flag = " ●" if bool(d["significant"]) else ""
            detail.append(html.Div(t.colon(t("explore.delta")) + _signed(t, k, d["mean"]) + ci + flag,
                                   className="card-delta", id=f"kpi-{k}-delta", title=t("explore.paired")))
        out.append(html.Div([html.Div(t.kpi(k), className="card-title"),
                             html.Div(t.kpi_value(k, row["mean"]), className="card-value", id=f"kpi-{k}-value"),
                             *detail], className="card", id=f"kpi-{k}"))
    return html.Div(out, className="cards", id="kpi-cards-inner")


def diff_table(diffs: pd.DataFrame, t: Translator) -> html.Table:
    """The headline KPIs: baseline, scenario, paired difference and its 95 % interval."""
    head = html.Tr([html.Th(x) for x in ("", t("explore.baseline"), t("explore.scenario_trace"), t("explore.delta"),
                                         "IC 95 %" if t.lang == "fr" else "95 % CI")])
    rows = []
    for k in HEADLINE:
        if k not in diffs.index:
            continue
        d = diffs.loc[k]
        ci = f"{_signed(t, k, d['ci_low'])} ; {_signed(t, k, d['ci_high'])}" if np.isfinite(d["ci_low"]) else "—"
        rows.append(html.Tr([html.Td(t.kpi(k)), html.Td(t.kpi_value(k, d["baseline_mean"])),
                             html.Td(t.kpi_value(k, d["scenario_mean"])), html.Td(_signed(t, k, d["mean"])),
                             html.Td(ci)], className="significant" if bool(d["significant"]) else ""))
    return html.Table([html.Thead(head), html.Tbody(rows)], id="diff-table-inner", className="diff")


def config_diff(base_yaml: str, yaml_text: str, t: Translator) -> str:
    """The resolved configs' YAML lines that differ (unified diff, one line of context)."""
    lines = list(difflib.unified_diff(base_yaml.splitlines(), yaml_text.splitlines(), "baseline", "scenario",
                                      n=1, lineterm=""))
    return "\n".join(lines) if lines else t("explore.no_diff")


def graph(gid: str, fig: go.Figure, height: int = 360) -> dcc.Graph:
    return dcc.Graph(id=gid, figure=fig, config=PLOTLY_CONFIG, style={"height": f"{height}px"})


def _beside_baseline(plot, base: RunData, scope: str, t: Translator) -> go.Figure:
    """The scenario's bars with the baseline's means as grey diamonds."""
    fig = plot.figure
    b = base.breakdown(scope, "p90_wait_min")
    x = list(fig.data[0].x)
    b = ordered(b, scope)
    labels = key_labels(scope, b["key"], t, base)
    means = dict(zip(labels, b["mean"].astype(float)))
    fig.data[0].name = t("explore.scenario_trace")
    fig.add_trace(go.Scatter(x=x, y=[means.get(v, None) for v in x], mode="markers", name=t("explore.baseline_trace"),
                             marker=dict(symbol="diamond", color=GREY, size=10),
                             hovertemplate="%{x}: %{y:.1f} min<extra>" + t("explore.baseline_trace") + "</extra>"))
    fig.update_layout(showlegend=True)
    return fig


def figures(run: RunData, base: RunData, t: Translator) -> list:
    """The map, P90 by hour and by weekday beside the baseline, and a day at the busiest site."""
    out: list = []
    sec = section_map(run, t)
    if sec is not None:
        p = next(iter(sec.flat()))
        out.append(html.Div([html.H3(sec.title), graph("fig-map", p.figure, 560)], className="figure"))
    target = target_line(run, t, "p90_wait_min")
    for scope in ("hour", "weekday"):
        plot = breakdown_plot(run, t, scope, "p90_wait_min", pid=f"fig-p90-{scope}", caption="{by}",
                              axis_title=t.kpi("p90_wait_min") + " (min)", target=target)
        if plot is not None:
            out.append(html.Div([html.H3(plot.title), graph(f"fig-p90-{scope}", _beside_baseline(plot, base, scope, t),
                                                            320)], className="figure half"))
    day = day_block(run, t)
    if day is not None:
        out.append(day)
    return out


def sites_by_visits(run: RunData) -> list[str]:
    """The run's sites, busiest first (the choices of the day at a site)."""
    daily = run.daily.assign(site_id=run.daily["site_id"].astype(str))
    return list(daily.groupby("site_id")["visits"].sum().sort_values(ascending=False, kind="stable").index)


def day_block(run: RunData, t: Translator, site: str | None = None) -> html.Div | None:
    """The animated day at ``site`` (default: the busiest) on its busiest day of the first replication, with a
    choice of the site when the run has several."""
    sites = sites_by_visits(run) if len(run.daily) else []
    if not sites:
        return None
    site = site if site in sites else sites[0]
    try:
        if len(sites) > 1:
            run.day = choose_day(run, site)
        sec = section_day(run, t)
    except InputError:
        return None
    if sec is None:
        return None
    blocks = list(sec.flat())
    lead = next((b.text for b in blocks if b.kind == "paragraph"), "")
    plot = next(b for b in blocks if b.kind == "plot")
    names = {str(s.id): s.name or str(s.id) for s in run.sites}
    choice = dcc.Dropdown(id="day-site", value=site, clearable=False,
                          options=[{"label": f"{names.get(s, s)} ({s})", "value": s} for s in sites])
    return html.Div([html.H3(sec.title), html.Div(choice, style={} if len(sites) > 1 else {"display": "none"}),
                     html.Div([html.P(lead, id="day-lead"), graph("fig-day", plot.figure, 620)], id="day-body")],
                    className="figure", id="day-block")

"""Plotly figures of the report, built from small aggregated tables (never from raw visits).

Every builder returns a ``go.Figure`` with a small fixed template (no plotly default template written into
each figure), the language's number separators and no random ids, so the same data give the same bytes.
Axes never use scientific notation (``exponentformat="none"``, thousands separated). Maps are in
:mod:`fssim.report.maps`.
Rates are drawn in percent (×100 with a % tick suffix) so French axes read ``5 %``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fssim.report.blocks import plot_text
from fssim.report.i18n import Translator

BLUE, LIGHT, GREY, RED, GREEN, ORANGE = "#1f4e79", "#9dbbd8", "#6b7280", "#b3261e", "#2e7d32", "#c77700"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TEMPLATE = go.layout.Template(layout=dict(
    font=dict(family=FONT, size=12, color="#1e2a38"),
    colorway=[BLUE, ORANGE, GREEN, RED, GREY, LIGHT],
    paper_bgcolor="white", plot_bgcolor="white", hovermode="closest",
    xaxis=dict(showgrid=False, linecolor="#9aa3ad", ticks="outside", tickcolor="#9aa3ad", automargin=True,
               exponentformat="none", separatethousands=True),
    yaxis=dict(showgrid=True, gridcolor="#e6e9ed", zeroline=False, linecolor="#9aa3ad", automargin=True,
               exponentformat="none", separatethousands=True),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    margin=dict(l=60, r=20, t=30, b=50),
))
#: plotly.js config of every figure: no plotly logo, no Chart Studio / "send data to cloud" / "edit" buttons
#: (they would upload the data), no selection tools; the report never talks to a server.
PLOTLY_CONFIG = {
    "displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False, "showLink": False,
    "sendData": False, "responsive": True,
    "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio", "select2d", "lasso2d", "autoScale2d",
                               "toggleSpikelines"],
}
CORAL_SCALE = [[0.0, "#1a7f3c"], [0.33, "#a6d96a"], [0.5, "#fee08b"], [0.75, "#f46d43"], [1.0, "#a50026"]]


def ref_line(fig: go.Figure, axis: str, value: float, *, text: str = "", color: str = RED,
             dash: str = "dash", width: float = 1.5) -> go.Figure:
    """A horizontal (axis="y") or vertical (axis="x") reference line across the plot, with an optional label.

    Written straight into the layout: plotly's add_hline/add_vline cost a deep copy of the figure each."""
    if axis == "y":
        shape = dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=value, y1=value)
        note = dict(xref="paper", x=1, xanchor="right", yref="y", y=value, yanchor="bottom")
    else:
        shape = dict(type="line", yref="paper", y0=0, y1=1, xref="x", x0=value, x1=value)
        note = dict(yref="paper", y=1, yanchor="bottom", xref="x", x=value, xanchor="left")
    shapes = list(fig.layout.shapes) + [dict(shape, line=dict(color=color, dash=dash, width=width))]
    notes = list(fig.layout.annotations)
    if text:
        notes.append(dict(note, text=text, showarrow=False, font=dict(color=color, size=11),
                          bgcolor="rgba(255,255,255,0.85)"))
    fig.update_layout(shapes=shapes, annotations=notes)
    return fig


def _layout(fig: go.Figure, t: Translator, **kw) -> go.Figure:
    fig.update_layout(template=TEMPLATE, separators=t.separators, **kw)
    return fig


def _arr(x) -> list:
    """Floats rounded to 6 significant digits: smaller JSON, no float noise, NaN → None."""
    a = np.asarray(x, dtype=float)
    return [None if not np.isfinite(v) else float(f"{v:.6g}") for v in a]


def _error(mean, low, high, scale: float):
    mean, low, high = (np.asarray(v, dtype=float) for v in (mean, low, high))
    if not np.isfinite(low).any():
        return None
    return dict(type="data", symmetric=False, array=_arr((high - mean) * scale),
                arrayminus=_arr((mean - low) * scale), color=GREY, thickness=1.2, width=4)


def bar_ci(labels, mean, low, high, t: Translator, *, axis_title: str, rate: bool = False,
           target: float | None = None, target_label: str = "", horizontal: bool = False,
           hover_unit: str = "") -> go.Figure:
    """Bars with 95 % error bars (when there is an interval), and an optional dashed target line."""
    scale = 100.0 if rate else 1.0
    labels = [plot_text(v) for v in labels]
    values = _arr(np.asarray(mean, dtype=float) * scale)
    err = _error(mean, low, high, scale)
    suffix = t.pct_suffix if rate else ""
    bar = dict(marker_color=BLUE, hovertemplate="%{" + ("y" if horizontal else "x") + "}: %{"
               + ("x" if horizontal else "y") + ":.1f}" + (suffix or hover_unit) + "<extra></extra>")
    if horizontal:
        fig = go.Figure(go.Bar(y=labels, x=values, orientation="h", error_x=err, **bar))
        fig.update_yaxes(autorange="reversed", type="category")
        fig.update_xaxes(title_text=axis_title, ticksuffix=suffix, rangemode="tozero", showgrid=True,
                         gridcolor="#e6e9ed")
    else:
        fig = go.Figure(go.Bar(x=labels, y=values, error_y=err, **bar))
        fig.update_xaxes(type="category")
        fig.update_yaxes(title_text=axis_title, ticksuffix=suffix, rangemode="tozero")
    if target is not None and np.isfinite(target):
        ref_line(fig, "x" if horizontal else "y", target * scale, text=plot_text(target_label))
    return _layout(fig, t, showlegend=False, bargap=0.25)


def grouped_rates(labels, series: list[tuple[str, pd.DataFrame]], t: Translator, *, axis_title: str) -> go.Figure:
    """Several rates per category side by side (e.g. abandonment and sent-home by hour), with error bars."""
    colors = [ORANGE, RED, BLUE, GREEN]
    fig = go.Figure()
    labels = [plot_text(v) for v in labels]
    for (name, df), color in zip(series, colors):
        fig.add_trace(go.Bar(
            x=labels, y=_arr(df["mean"].to_numpy(float) * 100), name=plot_text(name), marker_color=color,
            error_y=_error(df["mean"], df["ci_low"], df["ci_high"], 100.0),
            hovertemplate="%{x}: %{y:.1f}" + t.pct_suffix + "<extra>" + plot_text(name) + "</extra>"))
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text=axis_title, ticksuffix=t.pct_suffix, rangemode="tozero")
    return _layout(fig, t, barmode="group", bargap=0.2)


def nice_bin_width(p_high: float, max_bins: int = 60) -> float:
    """The smallest of 1, 2, 5, 10, 15, 20, 30, 60 min giving at most ``max_bins`` bins up to ``p_high``."""
    for w in (1, 2, 5, 10, 15, 20, 30, 60, 120):
        if p_high / w <= max_bins:
            return float(w)
    return float(np.ceil(p_high / max_bins))


def wait_histogram(waits: np.ndarray, t: Translator, *, threshold: float) -> tuple[go.Figure, float]:
    """Share of served citizens per wait band, zero waits left out (they would dwarf the rest: the caption
    gives their share); waits above the 99.5th percentile go to the last band."""
    waits = np.asarray(waits, dtype=float)
    n_all = max(len(waits), 1)
    waits = waits[waits > 0]
    high = float(np.quantile(waits, 0.995)) if len(waits) else 1.0
    w = nice_bin_width(max(high, threshold, 1.0))
    nbins = int(np.ceil(max(high, threshold, 1.0) / w))
    edges = np.arange(nbins + 1) * w
    counts, _ = np.histogram(np.clip(waits, 0, edges[-1] - 1e-9), bins=edges)
    share = counts / n_all * 100
    lo = [t.num(a, 0) for a in edges[:-1]]
    hi = [t.num(b, 0) for b in edges[1:]]
    fig = go.Figure(go.Bar(
        x=_arr(edges[:-1] + w / 2), y=_arr(share), width=w * 0.95, marker_color=BLUE,
        customdata=[[a, b] for a, b in zip(lo, hi)],
        hovertemplate="%{customdata[0]}–%{customdata[1]} min: %{y:.1f}" + t.pct_suffix + "<extra></extra>"))
    ref_line(fig, "x", threshold, text=f"{t.num(threshold, 0)} min")
    fig.update_xaxes(title_text=t("waits.axis"), range=[0, float(edges[-1])])
    fig.update_yaxes(title_text="%", ticksuffix=t.pct_suffix, rangemode="tozero")
    return _layout(fig, t, showlegend=False), w


def wait_ecdf(waits: np.ndarray, t: Translator, *, threshold: float) -> go.Figure:
    """The cumulative share of served citizens by wait, from 201 quantiles (small whatever the run size)."""
    q = np.linspace(0, 1, 201)
    x = np.quantile(np.asarray(waits, dtype=float), q)
    p90 = float(np.quantile(waits, 0.9))
    fig = go.Figure(go.Scatter(x=_arr(x), y=_arr(q * 100), mode="lines", line=dict(color=BLUE, width=2),
                               line_shape="hv", hovertemplate="≤ %{x:.1f} min: %{y:.1f}" + t.pct_suffix
                               + "<extra></extra>"))
    fig.add_trace(go.Scatter(x=[float(f"{p90:.6g}")], y=[90], mode="markers", marker=dict(color=RED, size=9),
                             hovertemplate="P90: %{x:.1f} min<extra></extra>"))
    ref_line(fig, "x", threshold)
    ref_line(fig, "y", 90, color=GREY, dash="dot", width=1)
    fig.update_xaxes(title_text=t("waits.axis"), range=[0, max(float(np.quantile(waits, 0.995)),
                                                                           threshold) * 1.05],
                     showgrid=True, gridcolor="#e6e9ed")
    fig.update_yaxes(title_text="%", ticksuffix=t.pct_suffix, range=[0, 101])
    return _layout(fig, t, showlegend=False)


def heatmap(z: pd.DataFrame, t: Translator, *, rate: bool = True, colorbar: str = "") -> go.Figure:
    """Rows × columns of values (e.g. weekdays × hours); NaN cells (closed) stay blank."""
    scale = 100.0 if rate else 1.0
    zz = [_arr(row) for row in z.to_numpy(float) * scale]
    fig = go.Figure(go.Heatmap(
        z=zz, x=[plot_text(c) for c in z.columns], y=[plot_text(i) for i in z.index],
        colorscale="Blues", zmin=0, zmax=100 if rate else None, xgap=2, ygap=2,
        colorbar=dict(title=dict(text=colorbar), ticksuffix=t.pct_suffix if rate else ""),
        hovertemplate="%{y} %{x}: %{z:.0f}" + (t.pct_suffix if rate else "") + "<extra></extra>"))
    fig.update_xaxes(type="category", showgrid=False)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    return _layout(fig, t)


def daily_series(dates: pd.Series, values: pd.Series, rolling: pd.Series, t: Translator,
                 *, reference: float | None = None) -> go.Figure:
    """Visits per open day over the horizon: each day as a dot, a rolling mean as a line."""
    x = [d.strftime("%Y-%m-%d") for d in pd.to_datetime(dates)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=_arr(values), mode="markers", name=t("daily.visits"),
                             marker=dict(color=LIGHT, size=4), hovertemplate="%{x}: %{y:.1f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=_arr(rolling), mode="lines", name=t("daily.rolling"),
                             line=dict(color=BLUE, width=2), hovertemplate="%{x}: %{y:.1f}<extra></extra>"))
    if reference is not None:
        ref_line(fig, "y", reference, color=GREY, dash="dot", width=1)
    fig.update_xaxes(type="date", tickformat="%b %Y", showgrid=False)
    fig.update_yaxes(title_text=t("daily.visits"), rangemode="tozero")
    return _layout(fig, t)


def rollout_timeline(df: pd.DataFrame, t: Translator) -> go.Figure:
    """Openings per date (bars, right axis) and cumulative open sites (step line)."""
    x = [d.strftime("%Y-%m-%d") for d in pd.to_datetime(df["date"])]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=_arr(df["opened"]), name=t("rollout.opened"), marker_color=LIGHT, yaxis="y2",
                         hovertemplate="%{x}: %{y}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=_arr(df["cumulative"]), name=t("rollout.cumulative"), mode="lines",
                             line=dict(color=BLUE, width=2), line_shape="hv",
                             hovertemplate="%{x}: %{y}<extra></extra>"))
    fig.update_xaxes(type="date")
    fig.update_layout(yaxis=dict(title_text=t("rollout.cumulative"), rangemode="tozero"),
                      yaxis2=dict(title_text=t("rollout.opened"), overlaying="y", side="right",
                                  showgrid=False, rangemode="tozero"))
    return _layout(fig, t)

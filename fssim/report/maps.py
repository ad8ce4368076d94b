"""Maps of the report, offline: metropolitan France framed on its own, overseas départements as insets.

Drawn with Scattergeo points and lines only (département outlines from the embedded territory), never a
``Choropleth`` nor a ``locationmode``: plotly.js fetches its world topojson from a CDN for those, which fails
offline and leaves the map blank. No tiles, no base map: the report opens with no network.

A national run with overseas communes used to be framed on all of them at once (metropolitan France about
60 px wide, zoom landing in the Atlantic). Here, as on official French maps, each area gets its own geo
subplot: the main one (metropolitan France, or the area of a départemental run) and one small inset per
overseas département present (Guadeloupe, Martinique, Guyane, La Réunion, Mayotte, Saint-Martin…), in a
column on the left, each labelled, each with its own longitude/latitude range and a minimum zoom (one cannot
zoom out beyond the frame into the ocean).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fssim.report.blocks import plot_text
from fssim.report.figures import BLUE, CORAL_SCALE, _arr, _layout
from fssim.report.i18n import Translator
from fssim.report.names import area_names

METRO = "metro"
#: Metropolitan France with Corsica: longitude and latitude ranges of the national frame.
METRO_BOX = ((-5.5, 10.0), (41.0, 51.5))
#: Overseas départements and collectivities drawn as insets: code → (lon range, lat range).
OVERSEAS_BOXES = {
    "971": ((-61.85, -61.0), (15.83, 16.52)),   # Guadeloupe
    "972": ((-61.25, -60.8), (14.38, 14.89)),   # Martinique
    "973": ((-54.65, -51.6), (2.1, 5.8)),       # Guyane
    "974": ((55.2, 55.85), (-21.4, -20.85)),    # La Réunion
    "975": ((-56.45, -56.1), (46.74, 47.15)),   # Saint-Pierre-et-Miquelon
    "976": ((44.98, 45.32), (-13.02, -12.62)),  # Mayotte
    "977": ((-62.9, -62.78), (17.86, 17.94)),   # Saint-Barthélemy
    "978": ((-63.16, -62.96), (18.04, 18.13)),  # Saint-Martin
}
OUTLINE = dict(color="#8a94a0", width=0.8)
MAIN_X = (0.17, 1.0)      # the main geo's share of the width when there are insets (insets on the left)
INSET_X = (0.0, 0.15)
NO_EXPONENT = dict(exponentformat="none", separatethousands=True)


def area_of(dep: str) -> str:
    """The map area of a département code: an overseas code (971…) or ``metro``."""
    dep = str(dep)
    return dep if dep.startswith("97") else METRO


def padded_box(lon, lat, *, pad: float = 0.08, min_span: float = 1.0) -> tuple[tuple, tuple]:
    """The points' bounding box with a margin (``pad`` of the span, at least ``min_span`` degrees wide: a
    single site is shown with some 80 km of its surroundings, its département's outline in view)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[ok], lat[ok]
    out = []
    for v in (lon, lat):
        lo, hi = float(v.min()), float(v.max())
        span = max(hi - lo, min_span)
        mid = (lo + hi) / 2
        out.append((round(mid - span * (0.5 + pad), 4), round(mid + span * (0.5 + pad), 4)))
    return out[0], out[1]


def area_box(area: str, lon, lat) -> tuple[tuple, tuple]:
    """The frame of an area: a national-scale metropolitan run gets the metropolitan box; a smaller area (a
    département, a région) its points' padded box, kept inside metropolitan France; an overseas area its box."""
    if area != METRO:
        return OVERSEAS_BOXES.get(area) or padded_box(lon, lat)
    (x0, x1), (y0, y1) = padded_box(lon, lat)
    (mx0, mx1), (my0, my1) = METRO_BOX
    box = (max(x0, mx0), min(x1, mx1)), (max(y0, my0), min(y1, my1))
    if (box[0][1] - box[0][0]) > 0.6 * (mx1 - mx0) or (box[1][1] - box[1][0]) > 0.6 * (my1 - my0):
        return METRO_BOX
    return box


def areas(deps: pd.Series) -> list[str]:
    """The areas present, main first: metropolitan France if any point is there, then overseas by code."""
    present = set(deps.astype(str).map(area_of))
    overseas = sorted(a for a in present if a != METRO)
    return ([METRO] if METRO in present else []) + overseas


def geo_ids(area_list: list[str]) -> dict[str, str]:
    """Area → geo subplot id: the main area ``geo``, the insets ``geo2``, ``geo3``…"""
    return {a: "geo" if i == 0 else f"geo{i + 1}" for i, a in enumerate(area_list)}


def frame_geos(fig: go.Figure, deps: pd.Series, lon, lat, t: Translator) -> dict[str, str]:
    """Lay out one geo subplot per area of the points (département codes ``deps``) and return area → geo id.

    Insets are stacked in a column on the left, each labelled with its name; every geo has its own range,
    a Mercator projection, no base map, and cannot be zoomed out beyond its frame."""
    deps = pd.Series(deps, dtype=object).astype(str).reset_index(drop=True)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    order = areas(deps) or [METRO]
    ids = geo_ids(order)
    inset = len(order) > 1
    names = area_names("departement")
    n_insets = len(order) - 1
    notes = list(fig.layout.annotations)
    for i, area in enumerate(order):
        mask = (deps.map(area_of) == area).to_numpy()
        (x0, x1), (y0, y1) = area_box(area, lon[mask], lat[mask]) if mask.any() else METRO_BOX
        geo = dict(visible=False, bgcolor="white", projection=dict(type="mercator", minscale=1, maxscale=60),
                   lonaxis=dict(range=[x0, x1]), lataxis=dict(range=[y0, y1]),
                   center=dict(lon=round((x0 + x1) / 2, 4), lat=round((y0 + y1) / 2, 4)))
        if i == 0:
            geo["domain"] = dict(x=list(MAIN_X) if inset else [0, 1], y=[0, 1])
        else:
            h = 1.0 / n_insets
            top = 1.0 - (i - 1) * h
            geo["domain"] = dict(x=list(INSET_X), y=[round(top - h + 0.035, 4), round(top - 0.01, 4)])
            geo.update(showframe=True, framecolor="#c3c9d0", framewidth=1)
            notes.append(dict(text=plot_text(names.get(area, area)), showarrow=False, xref="paper", yref="paper",
                              x=INSET_X[0], xanchor="left", y=round(top - h + 0.035, 4), yanchor="top",
                              font=dict(size=10, color="#5b6672")))
        fig.update_layout(**{ids[area]: geo})
    fig.update_layout(annotations=notes)
    return ids


def outline_paths(outlines: dict, codes: set[str] | None = None) -> tuple[list, list]:
    """Lon/lat lists with None between rings, for the GeoJSON features whose id is in ``codes``."""
    lons, lats = [], []
    for feat in outlines.get("features", []):
        fid = str(feat.get("id", feat.get("properties", {}).get("code", "")))
        if codes is not None and fid not in codes:
            continue
        geom = feat.get("geometry") or {}
        polys = geom.get("coordinates", [])
        if geom.get("type") == "Polygon":
            polys = [polys]
        elif geom.get("type") != "MultiPolygon":
            continue
        for poly in polys:
            for ring in poly:
                lons.extend(round(float(p[0]), 4) for p in ring)
                lats.extend(round(float(p[1]), 4) for p in ring)
                lons.append(None)
                lats.append(None)
    return lons, lats


def add_outlines(fig: go.Figure, outlines: dict | None, deps: pd.Series, ids: dict[str, str]) -> int:
    """Département outlines as lines, one trace per geo subplot (only the départements with points);
    returns the number of traces added."""
    if not outlines:
        return 0
    deps = pd.Series(deps, dtype=object).astype(str)
    n = 0
    for area, geo in ids.items():
        codes = set(deps[deps.map(area_of) == area])
        lons, lats = outline_paths(outlines, codes)
        if lons:
            fig.add_trace(go.Scattergeo(lon=lons, lat=lats, mode="lines", line=OUTLINE, hoverinfo="skip",
                                        showlegend=False, geo=geo))
            n += 1
    return n


def by_area(points: pd.DataFrame, ids: dict[str, str]):
    """(geo id, the points of that area) for each area with points, in the order of ``ids``."""
    area = points["dep"].astype(str).map(area_of)
    for a, geo in ids.items():
        part = points[(area == a).to_numpy()]
        if len(part):
            yield geo, part


def population_size(pop, largest: float) -> np.ndarray:
    """Marker size of a commune by population (area ∝ population), 3 to 14 px."""
    return 3 + 11 * np.sqrt(np.asarray(pop, float) / max(largest, 1.0))


def dep_label(deps, names: dict[str, str]) -> list[str]:
    return [names.get(str(d), str(d)) for d in deps]


def coverage_traces(fig: go.Figure, points: pd.DataFrame, ids: dict[str, str], t: Translator, *,
                    coloraxis: str = "coloraxis", visible: bool = True) -> list[int]:
    """Communes as dots shaded by travel time (minutes, on ``coloraxis``), one trace per area; their indices."""
    names = area_names("departement")
    largest = float(points["population"].max()) if len(points) else 1.0
    out = []
    for geo, part in by_area(points, ids):
        pop = part["population"].to_numpy(float)
        fig.add_trace(go.Scattergeo(
            lon=_arr(part["lon"].round(4)), lat=_arr(part["lat"].round(4)), mode="markers", geo=geo,
            text=[plot_text(c) for c in part["label"]],
            customdata=[[t.int(p), t.num(m, 0), plot_text(d)] for p, m, d in
                        zip(pop, part["minutes"], dep_label(part["dep"], names))],
            marker=dict(color=_arr(part["minutes"].round(1)), coloraxis=coloraxis,
                        size=_arr(population_size(pop, largest).round(1)), line=dict(width=0), opacity=0.85),
            hovertemplate="%{text} · %{customdata[2]}<br>%{customdata[1]} min · %{customdata[0]} "
                          + t("map.inhabitants") + "<extra></extra>",
            showlegend=False, visible=visible))
        out.append(len(fig.data) - 1)
    return out


def stop_traces(fig: go.Figure, stops: pd.DataFrame, ids: dict[str, str], t: Translator) -> list[int]:
    """Bus stops as dark diamonds with their names (stops: name, commune, dep, lat, lon, buses, every)."""
    out = []
    for geo, part in by_area(stops, ids):
        fig.add_trace(go.Scattergeo(
            lon=_arr(part["lon"].round(5)), lat=_arr(part["lat"].round(5)), mode="markers", geo=geo,
            name=t("map.stops"), text=[plot_text(s) for s in part["label"]],
            customdata=[[plot_text(b), plot_text(e)] for b, e in zip(part["buses"], part["every"])],
            marker=dict(symbol="diamond", size=8, color="#1e2a38", line=dict(color="white", width=1)),
            hovertemplate=t("map.stop") + " · %{text}<br>%{customdata[0]} · %{customdata[1]}<extra></extra>",
            showlegend=False))
        out.append(len(fig.data) - 1)
    return out


def minutes_axis(cmax: float, t: Translator, **colorbar) -> dict:
    return dict(colorscale=CORAL_SCALE, cmin=0, cmax=cmax,
                colorbar=dict(title=dict(text=plot_text(t("map.minutes_bar"))), ticksuffix=" min", **NO_EXPONENT,
                              **colorbar))


def coverage_map(points: pd.DataFrame, outlines: dict | None, t: Translator, *, cmax: float,
                 stops: pd.DataFrame | None = None) -> go.Figure:
    """Communes as dots shaded by travel time over département outlines (points: code, label, dep, lat, lon,
    population, minutes), metropolitan France framed with overseas insets; bus stops on top when given."""
    fig = go.Figure()
    ids = frame_geos(fig, points["dep"], points["lon"], points["lat"], t)
    add_outlines(fig, outlines, points["dep"], ids)
    coverage_traces(fig, points, ids, t)
    if stops is not None and len(stops):
        stop_traces(fig, stops, ids, t)
    fig.update_layout(coloraxis=minutes_axis(cmax, t))
    return _layout(fig, t, margin=dict(l=0, r=0, t=10, b=0), showlegend=False)


# --------------------------------------------------------------------------- site map

#: KPIs the sites can be coloured by (first present is the default), with their colour scale.
SITE_KPIS = (("p90_wait_min", CORAL_SCALE), ("abandonment_rate", CORAL_SCALE),
             ("utilisation", [[0.0, "#deebf7"], [0.5, "#6baed6"], [1.0, "#08306b"]]))
ACCESS_SCALE = [[0.0, "#a50026"], [0.5, "#fee08b"], [0.8, "#a6d96a"], [1.0, "#1a7f3c"]]


def volume_size(volume, largest: float, n_sites: int = 1) -> np.ndarray:
    """Marker size of a site by its volume (area ∝ visits, no volume → the smallest): up to 28 px for a few
    sites, smaller for many (7 px for a national network) so that sites do not hide the communes."""
    v = np.nan_to_num(np.asarray(volume, float), nan=0.0).clip(min=0)
    top = float(np.clip(200 / np.sqrt(max(n_sites, 1)), 7, 28))
    return 3 + (top - 3) * np.sqrt(v / largest) if largest > 0 else np.full(len(v), 3.0)


def kpi_colors(values, kpi: str, t: Translator) -> list:
    """A KPI's values as drawn: rates in percent, NaN → None (drawn grey, never 'nan')."""
    scale = 100.0 if t.kpi_unit(kpi) == "rate" else 1.0
    return _arr(np.asarray(values, float) * scale)


def kpi_axis(values, kpi: str, scale: list, t: Translator) -> dict:
    """The site colour axis of a KPI: 0 to its 95th percentile (rates in %), colour bar titled by the KPI."""
    v = np.asarray(kpi_colors(values, kpi, t), dtype=float)
    v = v[np.isfinite(v)]
    rate = t.kpi_unit(kpi) == "rate"
    top = float(np.quantile(v, 0.95)) if len(v) else 1.0
    # the scale reaches red at the wait threshold (or 5 % for a rate) at least: low values stay green
    floor = 5.0 if rate else t.threshold
    top = 100.0 if kpi == "utilisation" else max(top, floor)
    return dict(colorscale=scale, cmin=0, cmax=round(top, 3), colorbar=dict(
        title=dict(text=plot_text(t.kpi(kpi))), ticksuffix=t.pct_suffix if rate else " min", len=0.48, y=1,
        yanchor="top", **NO_EXPONENT))


def access_traces(fig: go.Figure, points: pd.DataFrame, ids: dict[str, str], t: Translator, *,
                  visible: bool) -> list[int]:
    """Communes shaded by the share of their population served within the targets (``within_target``)."""
    names = area_names("departement")
    largest = float(points["population"].max()) if len(points) else 1.0
    out = []
    for geo, part in by_area(points, ids):
        pop = part["population"].to_numpy(float)
        minutes = part["minutes"] if "minutes" in part else pd.Series(np.nan, index=part.index)
        fig.add_trace(go.Scattergeo(
            lon=_arr(part["lon"].round(4)), lat=_arr(part["lat"].round(4)), mode="markers", geo=geo,
            text=[plot_text(c) for c in part["label"]],
            customdata=[[t.pct(w), t.int(p), t.num(m, 0), plot_text(d)] for w, p, m, d in
                        zip(part["within_target"], pop, minutes, dep_label(part["dep"], names))],
            marker=dict(color=_arr((part["within_target"] * 100).round(1)), coloraxis="coloraxis3",
                        size=_arr(population_size(pop, largest).round(1)), line=dict(width=0), opacity=0.85),
            hovertemplate="%{text} · %{customdata[3]}<br>" + t("map.access_hover")
                          + "<br>%{customdata[2]} min · %{customdata[1]} " + t("map.inhabitants") + "<extra></extra>",
            showlegend=False, visible=visible))
        out.append(len(fig.data) - 1)
    return out


def site_map(sites: pd.DataFrame, t: Translator, *, outlines: dict | None = None, coverage: pd.DataFrame | None = None,
             access: pd.DataFrame | None = None, stops: pd.DataFrame | None = None,
             cmax: float = 45.0) -> go.Figure:
    """France services as markers sized by volume and coloured by a KPI, with buttons to switch the KPI and
    the background layer (travel time per commune, share served within the targets, none).

    ``sites``: id, label, where (commune and département), dep, lat, lon, visits and the KPI columns of
    :data:`SITE_KPIS` present; ``coverage``/``access``: commune points as for :func:`coverage_map` (access
    with ``within_target``, 0..1); ``stops``: bus stops (label, dep, lat, lon, buses, every)."""
    fig = go.Figure()
    frames = [sites[["dep", "lon", "lat"]]] + [d[["dep", "lon", "lat"]] for d in (coverage, access, stops)
                                               if d is not None and len(d)]
    every = pd.concat(frames, ignore_index=True)
    ids = frame_geos(fig, every["dep"], every["lon"], every["lat"], t)
    add_outlines(fig, outlines, every["dep"], ids)
    layers: dict[str, list[int]] = {}
    if coverage is not None and len(coverage):
        layers["minutes"] = coverage_traces(fig, coverage, ids, t)
    if access is not None and len(access):
        layers["access"] = access_traces(fig, access, ids, t, visible=not layers)
    if stops is not None and len(stops):
        stop_traces(fig, stops, ids, t)
    kpis = [(k, s) for k, s in SITE_KPIS if k in sites.columns]
    largest = float(np.nanmax(sites["visits"].to_numpy(float))) if sites["visits"].notna().any() else 0.0
    hover = [[plot_text(w), t.int(v)] + [t.kpi_value(k, x) for (k, _), x in zip(kpis, xs)] for w, v, *xs in
             zip(sites["where"], sites["visits"], *[sites[k] for k, _ in kpis])] if kpis else None
    site_traces = []
    lines = "".join(f"<br>{t.colon(plot_text(t.kpi(k)))}%{{customdata[{i + 2}]}}" for i, (k, _) in enumerate(kpis))
    parts = list(by_area(sites.assign(_row=np.arange(len(sites))), ids))
    first = kpis[0][0] if kpis else None
    for geo, part in parts:
        rows = part["_row"].to_numpy()
        fig.add_trace(go.Scattergeo(
            lon=_arr(part["lon"].round(5)), lat=_arr(part["lat"].round(5)), mode="markers", geo=geo,
            text=[plot_text(s) for s in part["label"]], customdata=[hover[i] for i in rows] if hover else None,
            marker=dict(size=_arr(volume_size(part["visits"], largest, len(sites)).round(1)), sizemode="diameter",
                        color=[np.nan if v is None else v for v in kpi_colors(part[first], first, t)]
                        if first else BLUE,  # NaN: plotly's validator refuses None, its JSON writes null
                        coloraxis="coloraxis2" if first else None, line=dict(color="white", width=1),
                        opacity=0.9),
            hovertemplate="<b>%{text}</b><br>%{customdata[0]}<br>" + t.colon(t("map.visits")) + "%{customdata[1]}"
                          + lines + "<extra></extra>" if hover else "%{text}<extra></extra>",
            showlegend=False))
        site_traces.append(len(fig.data) - 1)
    layout: dict = {"coloraxis": minutes_axis(cmax, t, len=0.48, y=0, yanchor="bottom"),
                    "coloraxis3": dict(colorscale=ACCESS_SCALE, cmin=0, cmax=100, showscale=not layers.get(
                        "minutes"), colorbar=dict(title=dict(text=plot_text(t("map.access_bar"))),
                                                  ticksuffix=t.pct_suffix, len=0.48, y=0, yanchor="bottom",
                                                  **NO_EXPONENT))}
    if first:
        layout["coloraxis2"] = kpi_axis(sites[first], first, kpis[0][1], t)
    menus = []
    if len(kpis) > 1:
        menus.append(dict(type="dropdown", x=0, xanchor="left", y=1.0, yanchor="bottom", showactive=True, buttons=[
            dict(label=plot_text(t("map.colour_by", kpi=t.kpi(k))), method="update",
                 args=[{"marker.color": [kpi_colors(p[k], k, t) for _, p in parts]},
                       {"coloraxis2": kpi_axis(sites[k], k, s, t)}, site_traces]) for k, s in kpis]))
    if layers:
        n = len(fig.data)
        choice = [(name, set(idx)) for name, idx in layers.items()] + [("none", set())]
        layer_idx = set().union(*layers.values())
        menus.append(dict(type="dropdown", x=0.5, xanchor="left", y=1.0, yanchor="bottom", showactive=True, buttons=[
            dict(label=plot_text(t(f"map.layer.{name}")), method="update",
                 args=[{"visible": [(i in on) if i in layer_idx else True for i in range(n)]},
                       {"coloraxis.showscale": name == "minutes", "coloraxis3.showscale": name == "access"}])
            for name, on in choice]))
    layout["coloraxis"]["showscale"] = "minutes" in layers
    return _layout(fig, t, margin=dict(l=0, r=0, t=40 if menus else 10, b=0), showlegend=False,
                   updatemenus=menus, **layout)


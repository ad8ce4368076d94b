"""The report's maps: framed on metropolitan France with overseas insets, a site map whose markers follow the
volumes and whose buttons switch KPI and layer, bus coverage counted as `fssim coverage` counts, no cloud
button, no exponent notation, no 'nan' on screen."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from fssim.errors import InputError
from fssim.geo.territory import load_territory
from fssim.report import extras as report_extras
from fssim.report import write_report
from fssim.report.figures import PLOTLY_CONFIG
from fssim.report.i18n import Translator
from fssim.report.maps import METRO_BOX, OVERSEAS_BOXES, coverage_map, site_map, volume_size
from fssim.run import simulate
from test_report import OUTLINES, script_blocks

FR = Translator("fr")


def shows_nan(text: str) -> bool:
    """'nan' or 'NaN' as a word (not inside a commune's name such as Nanteuil)."""
    return re.search(r"(?<![\w-])nan(?![\w-])", text, re.IGNORECASE) is not None


def commune_points(deps: list[str] | None = None, n: int | None = None, seed: int = 1) -> pd.DataFrame:
    c = load_territory().communes
    if deps is not None:
        c = c[c["dep"].isin(deps)]
    if n is not None and len(c) > n:
        c = c.sample(n, random_state=seed)
    rng = np.random.default_rng(seed)
    return c.assign(minutes=rng.uniform(0, 50, len(c)), label=c["name"]).reset_index(drop=True)


def geos(fig) -> dict:
    layout = fig.to_plotly_json()["layout"]
    return {k: v for k, v in layout.items() if k.startswith("geo")}


def national(overseas: bool) -> pd.DataFrame:
    c = load_territory().communes
    metro = c[~c["dep"].str.startswith("97")].sample(4000, random_state=2)
    parts = [metro] + ([c[c["dep"].str.startswith("97")]] if overseas else [])
    pts = pd.concat(parts, ignore_index=True)
    return pts.assign(minutes=np.linspace(0, 50, len(pts)), label=pts["name"])


def test_a_national_map_frames_metropolitan_france_with_the_overseas_departements_as_insets():
    pts = national(overseas=True)
    fig = coverage_map(pts, load_territory().outlines, FR, cmax=45)
    g = geos(fig)
    main = g["geo"]
    (x0, x1), (y0, y1) = main["lonaxis"]["range"], main["lataxis"]["range"]
    assert -6 <= x0 <= -4.5 and 9.5 <= x1 <= 10.5 and 40.5 <= y0 <= 41.5 and 51 <= y1 <= 52
    assert "fitbounds" not in main and main["projection"]["minscale"] == 1     # no zooming out into the ocean
    present = sorted(set(pts.loc[pts["dep"].str.startswith("97"), "dep"]))
    assert {"971", "972", "973", "974", "976"} <= set(present)
    assert len(g) == 1 + len(present)                                          # one inset per overseas area
    insets = [g[f"geo{i + 2}"] for i in range(len(present))]
    for dep, inset in zip(present, insets):
        assert inset["lonaxis"]["range"] == list(OVERSEAS_BOXES[dep][0])
        assert inset["domain"]["x"][1] <= main["domain"]["x"][0]               # beside the main map, not on it
    labels = [a["text"] for a in fig.layout.annotations]
    assert {"Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte"} <= set(labels)
    # each commune is drawn on the geo of its area, and nowhere else
    for tr in fig.data:
        if tr.mode == "markers":
            lon = np.array(tr.lon, float)
            box = METRO_BOX if tr.geo == "geo" else OVERSEAS_BOXES[present[int(tr.geo[3:]) - 2]]
            assert ((lon >= box[0][0]) & (lon <= box[0][1])).all(), tr.geo
    # the hover names the département
    main_points = next(tr for tr in fig.data if tr.mode == "markers" and tr.geo == "geo")
    assert all(len(cd) == 3 and cd[2] for cd in main_points.customdata)
    assert "Marne" in {cd[2] for cd in main_points.customdata}


def test_without_overseas_points_there_is_no_inset():
    fig = coverage_map(national(overseas=False), load_territory().outlines, FR, cmax=45)
    g = geos(fig)
    assert list(g) == ["geo"] and g["geo"]["domain"]["x"] == [0, 1]
    assert g["geo"]["lonaxis"]["range"] == list(METRO_BOX[0])
    assert not fig.layout.annotations


def test_a_departemental_run_frames_its_departement():
    pts = commune_points(["08"])
    fig = coverage_map(pts, load_territory().outlines, FR, cmax=45)
    g = geos(fig)
    assert list(g) == ["geo"]
    (x0, x1), (y0, y1) = g["geo"]["lonaxis"]["range"], g["geo"]["lataxis"]["range"]
    assert x0 < pts["lon"].min() and x1 > pts["lon"].max() and y0 < pts["lat"].min() and y1 > pts["lat"].max()
    assert x1 - x0 < 2.5 and y1 - y0 < 2.0                                     # the Ardennes, not France
    outline = fig.data[0]
    assert outline.mode == "lines" and min(v for v in outline.lon if v is not None) > 4.0


def test_an_overseas_run_frames_its_own_departement_without_inset():
    g = geos(coverage_map(commune_points(["974"]), load_territory().outlines, FR, cmax=45))
    assert list(g) == ["geo"] and g["geo"]["lonaxis"]["range"] == list(OVERSEAS_BOXES["974"][0])


# --------------------------------------------------------------------------- site map

def sites_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["s1", "s2", "s3", "s4"], "label": ["Maison A", "Maison B", "Maison C", "Maison D"],
        "where": ["Reims, Marne", "Sedan, Ardennes", "Saint-Denis, La Réunion", "Épernay, Marne"],
        "dep": ["51", "08", "974", "51"], "lat": [49.26, 49.70, -20.88, 49.04], "lon": [4.03, 4.94, 55.45, 3.95],
        "visits": [12000.0, 3000.0, 8000.0, np.nan],
        "p90_wait_min": [12.5, 3.0, 25.0, np.nan], "abandonment_rate": [0.02, 0.0, 0.08, np.nan],
        "utilisation": [0.7, 0.4, 0.9, np.nan]})


def test_site_markers_grow_with_volume_and_hover_names_the_site_and_its_commune():
    sizes = volume_size([0, 10, 100, 1000, 5000, np.nan], 5000)
    assert np.all(np.diff(sizes[:5]) > 0) and sizes[5] == sizes[0]
    s = sites_frame()
    fig = site_map(s, FR, outlines=OUTLINES)
    markers = [tr for tr in fig.data if tr.mode == "markers"]
    main = next(tr for tr in markers if tr.geo == "geo")
    inset = next(tr for tr in markers if tr.geo == "geo2")                    # La Réunion as an inset
    assert list(inset.text) == ["Maison C"]
    by_name = dict(zip(main.text, main.marker.size))
    assert by_name["Maison A"] > by_name["Maison B"] > by_name["Maison D"]    # 12,000 > 3,000 > none
    hover = dict(zip(main.text, main.customdata))
    assert hover["Maison A"][0] == "Reims, Marne" and "s1" not in json.dumps(list(main.customdata))
    assert hover["Maison A"][1] == "12\u202f000" and hover["Maison D"][2:] == ["—", "—", "—"]
    assert "Attente P90" in main.hovertemplate and not shows_nan(fig.to_json())


def test_buttons_switch_the_site_colour_between_kpis_and_the_background_layers():
    s = sites_frame()
    cov = commune_points(["08", "51"], n=200)
    acc = cov.assign(within_target=np.linspace(0, 1, len(cov)))
    fig = site_map(s, FR, outlines=OUTLINES, coverage=cov, access=acc)
    kpi_menu, layer_menu = fig.layout.updatemenus
    labels = [b.label for b in kpi_menu.buttons]
    assert labels == ["Sites : Attente P90", "Sites : Taux d'abandon", "Sites : Taux d'occupation des agents"]
    abandon = kpi_menu.buttons[1].args
    main_idx = abandon[2][0]
    assert fig.data[main_idx].geo == "geo" and abandon[0]["marker.color"][0] == [2.0, 0.0, None]  # in percent
    assert abandon[1]["coloraxis2"]["colorbar"]["title"]["text"] == "Taux d'abandon"
    assert [b.label for b in layer_menu.buttons] == ["Fond : temps de trajet", "Fond : accès dans les objectifs",
                                                     "Fond : aucun"]
    minutes = [i for i, tr in enumerate(fig.data) if tr.marker.coloraxis == "coloraxis"]
    access = [i for i, tr in enumerate(fig.data) if tr.marker.coloraxis == "coloraxis3"]
    sites = [i for i, tr in enumerate(fig.data) if tr.marker.coloraxis == "coloraxis2"]
    assert minutes and access and sites
    assert all(fig.data[i].visible is not False for i in minutes) and all(fig.data[i].visible is False for i in access)
    for button, on in zip(layer_menu.buttons, (minutes, access, [])):
        visible = button.args[0]["visible"]
        assert [i for i in minutes + access if visible[i]] == on
        assert all(visible[i] for i in sites)                                  # sites stay whatever the layer
    assert layer_menu.buttons[1].args[1] == {"coloraxis.showscale": False, "coloraxis3.showscale": True}


def test_no_exponent_notation_on_axes_and_colour_bars():
    from fssim.report.figures import TEMPLATE
    assert TEMPLATE.layout.xaxis.exponentformat == "none" and TEMPLATE.layout.yaxis.exponentformat == "none"
    fig = site_map(sites_frame(), FR, coverage=commune_points(["08"], n=50))
    for ax in ("coloraxis", "coloraxis2"):
        assert fig.layout[ax].colorbar.exponentformat == "none"


# --------------------------------------------------------------------------- in a report

def located_config() -> dict:
    return {"name": "located", "horizon": {"start": "2024-03-04", "days": 14}, "seed": 5, "replications": 2,
            "demand": {"visits_per_open_day": 20},
            "sites": [{"id": "a", "name": "France services de Reims", "commune": "51454", "lat": 49.2577,
                       "lon": 4.0317, "agents": 2},
                      {"id": "b", "name": "France services de Sedan", "commune": "08409", "lat": 49.7019,
                       "lon": 4.9403, "agents": 1}]}


@pytest.fixture(scope="module")
def located_run(tmp_path_factory):
    d = simulate(located_config()).save(tmp_path_factory.mktemp("maps") / "located")
    cov = commune_points(["08", "51"], n=300, seed=4)[["code", "name", "dep", "lat", "lon", "population", "minutes"]]
    cov.to_parquet(d / "coverage.parquet")
    cov.assign(within_target=np.linspace(0, 1, len(cov))).to_parquet(d / "access.parquet")
    return d


def test_the_report_draws_the_site_map_after_the_kpis_and_the_plotly_config_has_no_cloud_button(located_run,
                                                                                                 monkeypatch):
    monkeypatch.setattr(report_extras, "load_outlines", lambda: OUTLINES)
    html = write_report(located_run).read_text(encoding="utf-8")
    assert html.index('id="kpis"') < html.index('id="map"') < html.index('id="waits"')
    blocks = script_blocks(html)
    config = json.loads(blocks["fssim-plotly-config"])
    assert config == PLOTLY_CONFIG
    assert config["displaylogo"] is False and config["showSendToCloud"] is False
    assert config["showEditInChartStudio"] is False and "sendDataToCloud" in config["modeBarButtonsToRemove"]
    fig = json.loads(blocks["fig-site-map-data"])
    sites = [tr for tr in fig["data"] if tr.get("marker", {}).get("coloraxis") == "coloraxis2"]
    assert sorted(sites[0]["text"]) == ["France services de Reims", "France services de Sedan"]
    assert {cd[0] for cd in sites[0]["customdata"]} == {"Reims, Marne", "Sedan, Ardennes"}
    assert "fig-coverage-map-data" not in blocks                               # the communes are drawn once
    assert not shows_nan(blocks["fig-site-map-data"])


def test_access_shares_outside_zero_one_are_named(located_run, tmp_path):
    d = tmp_path / "bad"
    shutil.copytree(located_run, d)
    acc = pd.read_parquet(d / "access.parquet")
    acc.loc[3, "within_target"] = 37.0
    acc.to_parquet(d / "access.parquet")
    with pytest.raises(InputError, match="access.parquet.*within_target|within_target.*0 and 1"):
        write_report(d)
    acc.drop(columns=["within_target"]).to_parquet(d / "access.parquet")
    with pytest.raises(InputError, match="access.parquet needs"):
        write_report(d)


# --------------------------------------------------------------------------- buses

def test_the_coverage_of_a_run_with_buses_counts_the_stops_as_fssim_coverage_does():
    from fssim.config import Bus
    from fssim.geo.bus_coverage import coverage_with_buses
    from fssim.geo.travel import RoadModel
    from fssim.scenario import bus_access_table

    communes = load_territory().communes
    communes = communes[communes["dep"] == "08"].reset_index(drop=True)
    sites = pd.DataFrame({"site_id": ["cm"], "commune": ["08105"], "lat": [49.7621], "lon": [4.7190]})
    far = communes.assign(d=(communes["lat"] - 49.76) ** 2 + (communes["lon"] - 4.72) ** 2).nlargest(3, "d")
    bus = Bus(id="bus-1", base="08105", agents=2, stops=[
        {"commune": c, "lat": la, "lon": lo, "weekday": "mon", "start": "09:00", "end": "12:00", "every": "weekly"}
        for c, la, lo in zip(far["code"], far["lat"], far["lon"])])
    table = bus_access_table(communes, sites, [bus], (10, 20, 30), RoadModel(), None, None)
    ref = coverage_with_buses(communes, sites, [bus], thresholds=(10, 20, 30))
    total = table["population"].sum()
    for t in (10, 20, 30):
        assert table.loc[table["minutes"] <= t, "population"].sum() / total == pytest.approx(ref.share_within[t])
        assert table.loc[table[f"within_{t}"], "population"].sum() == ref.population_within[t]
    fixed_only = table.loc[table["site_minutes"] <= 30, "population"].sum()
    assert ref.population_within[30] > fixed_only                              # the stops add people
    assert (table["minutes"] == np.minimum(table["site_minutes"], table["stop_minutes"])).all()

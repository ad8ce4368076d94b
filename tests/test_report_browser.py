"""The report in a real browser (headless Chromium through selenium): every figure draws, no JavaScript
error, nothing fetched from the network, names from the config shown as text.

Needs the Debian packages ``chromium`` and ``chromium-driver`` and PyPI ``selenium``; without them the
tests fail (they are never skipped). selenium is pointed at /usr/bin/chromedriver and /usr/bin/chromium,
so selenium-manager never downloads anything.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fssim.report import extras as report_extras
from fssim.report import write_report
from fssim.run import simulate
from browser import chromium
from test_report import EVIL, OUTLINES, nasty_config, write_extras

@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    drv = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """A French report with every optional section (map, rollout, experiments) and an English one."""
    d = simulate(nasty_config()).save(tmp_path_factory.mktemp("browser") / "nasty")
    write_extras(d)
    saved = report_extras.load_outlines
    report_extras.load_outlines = lambda: OUTLINES
    try:
        fr = write_report(d, d / "report.html")
        en = write_report(d, d / "report-en.html", lang="en")
    finally:
        report_extras.load_outlines = saved
    return {"fr": fr, "en": en}


def open_report(driver, path: Path, timeout: float = 60.0) -> dict:
    """Load the report and wait until every figure div has been drawn by plotly; returns counts."""
    driver.get(path.as_uri())
    script = """return {
        divs: document.querySelectorAll('[data-fssim-plot]').length,
        plots: document.querySelectorAll('.js-plotly-plot').length,
        drawn: Array.from(document.querySelectorAll('.js-plotly-plot'))
                    .filter(d => d.querySelector(':scope .main-svg')).length,
        undrawn: Array.from(document.querySelectorAll('[data-fssim-plot]'))
                    .filter(d => !d.querySelector('.main-svg')).map(d => d.id)};"""
    end = time.monotonic() + timeout
    while True:
        state = driver.execute_script(script)
        if state["divs"] and state["drawn"] == state["divs"] or time.monotonic() > end:
            return state
        time.sleep(0.25)


def severe_logs(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def french_page(driver, reports):
    """The French report loaded once; its drawing state."""
    state = open_report(driver, reports["fr"])
    return state, severe_logs(driver)


def test_every_figure_draws_without_errors_or_network(driver, french_page, tmp_path):
    state, errors = french_page
    assert state["divs"] >= 12 and not state["undrawn"], state
    assert state["plots"] == state["drawn"] == state["divs"]
    assert errors == []
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in fetched if not u.startswith(("file:", "data:", "blob:"))] == []
    # the map is a geo subplot drawn with the outlines, without any base-map download
    assert driver.execute_script("return document.querySelectorAll('#fig-coverage-map .scattergeo').length") == 2
    assert driver.execute_script("return typeof window.PlotlyGeoAssets === 'undefined' || "
                                 "Object.keys(window.PlotlyGeoAssets.topojson || {}).length === 0")
    driver.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "report-fr.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 50_000


def test_names_from_the_config_are_text_not_code(driver, french_page):
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text                                  # alert(1) never ran
    text = driver.execute_script("return document.body.innerText")
    assert EVIL in text                                              # the site name, shown as written
    doc = json.loads(driver.execute_script("return document.getElementById('fssim-config').textContent"))
    assert doc["config"]["sites"][0]["name"] == EVIL
    labels = driver.execute_script(
        "return Array.from(document.querySelectorAll('#fig-exp-p90_wait_min .ytick text')).map(e => e.textContent)")
    assert "<b>x</b>" in labels                                      # plotly shows the tags, not bold text


def test_english_report_draws_too(driver, reports):
    state = open_report(driver, reports["en"])
    assert state["divs"] >= 12 and state["drawn"] == state["divs"], state
    assert severe_logs(driver) == []
    assert driver.execute_script("return document.documentElement.lang") == "en"
    assert "Contents" in driver.execute_script("return document.querySelector('nav.toc h2').textContent")


# --------------------------------------------------------------------------- maps

@pytest.fixture(scope="module")
def national_report(tmp_path_factory):
    """A national-ish report: sites in Reims, Sedan and Saint-Denis (La Réunion), communes of three
    départements (one overseas), an access layer; the embedded outlines."""
    import numpy as np
    import pandas as pd

    from fssim.geo.territory import load_territory

    c = load_territory().communes.set_index("code")
    sites = [{"id": f"s{i}", "name": f"France services {c.at[code, 'name']}", "commune": code,
              "lat": float(c.at[code, "lat"]), "lon": float(c.at[code, "lon"]), "agents": 2}
             for i, code in enumerate(("51454", "08409", "97411"))]
    cfg = {"name": "national-ish", "horizon": {"start": "2024-03-04", "days": 14}, "seed": 3, "replications": 2,
           "demand": {"visits_per_open_day": 20}, "sites": sites}
    d = simulate(cfg).save(tmp_path_factory.mktemp("browser-maps") / "national")
    com = c.reset_index()
    com = com[com["dep"].isin(["08", "51", "974"])]
    cov = com[["code", "name", "dep", "lat", "lon", "population"]].assign(
        minutes=np.linspace(0, 50, len(com)))
    cov.to_parquet(d / "coverage.parquet")
    cov.assign(within_target=np.linspace(1, 0, len(com))).to_parquet(d / "access.parquet")
    return write_report(d, d / "report.html")


def test_the_site_map_draws_france_with_an_overseas_inset_offline_and_without_cloud_buttons(driver, national_report):
    state = open_report(driver, national_report)
    assert state["divs"] and state["drawn"] == state["divs"], state
    assert severe_logs(driver) == []
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in fetched if not u.startswith(("file:", "data:", "blob:"))] == []
    geos = driver.execute_script(
        "return Array.from(document.querySelectorAll('#fig-site-map .geolayer > g')).map(g => g.getAttribute('class'))")
    assert len(geos) == 2, geos                                      # metropolitan France and La Réunion
    full = driver.execute_script("""var gd = document.getElementById('fig-site-map');
        return {lon: gd._fullLayout.geo.lonaxis.range, inset: gd._fullLayout.geo2.lonaxis.range,
                menus: document.querySelectorAll('#fig-site-map .updatemenu-header-group').length}""")
    assert full["lon"][0] > 3 and full["lon"][1] < 6                 # framed on the Ardennes and the Marne
    assert full["inset"][0] > 55 and full["inset"][1] < 56 and full["menus"] == 2
    titles = driver.execute_script("return Array.from(document.querySelectorAll('.modebar-btn'))"
                                   ".map(b => (b.getAttribute('data-title') || '') + ' ' + b.className)")
    assert titles and not [x for x in titles if any(w in x.lower() for w in ("cloud", "chart studio", "logo",
                                                                            "edit in", "plotly"))], titles
    # switching the sites' colour to the abandonment rate redraws them, still offline
    driver.execute_script("""var gd = document.getElementById('fig-site-map');
        var b = gd.layout.updatemenus[0].buttons[1]; Plotly.update(gd, b.args[0], b.args[1], b.args[2]);""")
    title = driver.execute_script("return document.getElementById('fig-site-map')._fullLayout.coloraxis2"
                                  ".colorbar.title.text")
    assert title == "Taux d'abandon"
    text = driver.execute_script("return document.getElementById('fig-site-map-figure').innerText")
    assert "NaN" not in text and "nan" not in text.split()

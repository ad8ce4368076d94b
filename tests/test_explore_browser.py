"""The explorer in a real browser (headless Chromium through selenium, as tests/test_report_browser.py): move a
lever, press Run, see the KPI cards change; bad input shown in the page; the saved YAML reproduces the run;
no request leaves the machine; the server stops cleanly. One server and one browser for the whole module.
"""
from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlparse

import pandas as pd
import pytest
import yaml

import fssim
from fssim.explore import start
from browser import chromium

LOCAL = ("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The explorer of configs/one-site.yaml shortened to 8 weeks and 2 replications."""
    from conftest import REPO
    data = yaml.safe_load((REPO / "configs" / "one-site.yaml").read_text(encoding="utf-8"))
    data["horizon"]["days"], data["replications"] = 56, 2
    d = tmp_path_factory.mktemp("explore")
    (d / "one-site.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    srv = start(d / "one-site.yaml", out=d / "out", port=0, lang="en")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    drv = chromium(tmp_path_factory.mktemp("chromium-profile"), logs=("browser", "performance"))
    yield drv
    drv.quit()


def wait_for(driver, script: str, timeout: float = 60.0):
    """Poll a JavaScript expression until it is truthy; its value."""
    end = time.monotonic() + timeout
    while True:
        value = driver.execute_script("try { return " + script + " } catch (e) { return null }")
        if value or time.monotonic() > end:
            return value
        time.sleep(0.2)


def shown_digest(driver):
    return driver.execute_script("var e = document.getElementById('progress-text'); "
                                 "return e && e.getAttribute('data-digest')")


def set_lever(driver, lever: str, value) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, lever)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(str(value))


def press(driver, button: str) -> None:
    from selenium.webdriver.common.by import By
    driver.find_element(By.ID, button).click()


@pytest.fixture(scope="module")
def page(server, driver):
    """The page loaded, with the baseline's results drawn."""
    driver.get(server.url)
    base = server.explorer.base_job.digest
    assert wait_for(driver, f"document.querySelector('#progress-text[data-digest=\"{base}\"]') && "
                            "document.getElementById('kpi-p90_wait_min-value').textContent"), "baseline never shown"
    return driver


def text(driver, eid: str) -> str:
    return driver.execute_script(f"return document.getElementById('{eid}').textContent")


def test_a_lever_and_run_change_the_kpi_cards(server, page):
    base = server.explorer.base_job
    before = text(page, "kpi-p90_wait_min-value")
    assert wait_for(page, "document.querySelectorAll('#fig-p90-hour .main-svg').length") and \
        wait_for(page, "document.querySelectorAll('#fig-map .main-svg').length")
    page.save_screenshot("/tmp/explore-baseline.png")
    set_lever(page, "lever-agents", 3)
    press(page, "run-button")
    assert wait_for(page, f"(function(){{var e=document.getElementById('progress-text'); return e && "
                          f"e.getAttribute('data-digest') && e.getAttribute('data-digest') != '{base.digest}' && "
                          f"document.getElementById('kpi-p90_wait_min-delta')}})()"), text(page, "progress")
    after = text(page, "kpi-p90_wait_min-value")
    job = server.explorer.runs.job(shown_digest(page))
    assert job.config.sites[0].agents == 3 and job.config.seed == base.config.seed
    # a third agent shortens the waits of the same citizens: the card changes and the paired difference is < 0
    assert after != before
    assert job.result.kpi("p90_wait_min") < base.result.kpi("p90_wait_min")
    assert text(page, "kpi-p90_wait_min-delta").split(":")[1].strip().startswith("−")
    assert "agents: 3" in text(page, "config-diff") and "agents: 2" in text(page, "config-diff")
    assert wait_for(page, "document.querySelectorAll('#fig-day .main-svg').length")
    page.execute_script("window.scrollTo(0, 0)")
    page.save_screenshot("/tmp/explore-whatif.png")


def test_bad_input_is_shown_in_the_page(page):
    set_lever(page, "lever-agents", -1)
    press(page, "run-button")
    msg = wait_for(page, "document.getElementById('lever-error').textContent")
    assert "sites[0].agents" in msg and "cannot be negative" in msg and "Traceback" not in msg
    set_lever(page, "lever-agents", 3)
    set_lever(page, "lever-saturday", "25:00-12:00")
    press(page, "run-button")
    assert wait_for(page, "document.getElementById('lever-error').textContent.includes('hours.sat')")
    assert "25:00" in text(page, "lever-error")
    page.save_screenshot("/tmp/explore-error.png")
    set_lever(page, "lever-saturday", "")


def test_saved_scenario_reproduces_the_run(server, page):
    digest = shown_digest(page)
    press(page, "save-scenario")
    path = wait_for(page, "document.getElementById('saved-path') && "
                          "document.getElementById('saved-path').getAttribute('data-path')")
    assert path, text(page, "save-message")
    job = server.explorer.runs.job(digest)
    again = fssim.simulate(path)
    assert again.config.digest() == digest
    pd.testing.assert_frame_equal(again.summary, job.result.summary)


def test_no_request_leaves_the_machine(page):
    urls = []
    for entry in page.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    assert urls, "no request recorded"
    # chrome:// pages are the browser's own new-tab page, before the explorer is opened: nothing is fetched
    away = [u for u in urls if not u.startswith(("data:", "blob:", "chrome:", "chrome-untrusted:"))
            and urlparse(u).hostname not in LOCAL]
    assert away == []
    assert [e for e in page.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_network_page_draws_its_map_and_a_day_at_a_chosen_site(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from test_explore import network_config

    srv = start(network_config(), out=tmp_path / "out", port=0, lang="en")
    try:
        driver.get(srv.url)
        assert wait_for(driver, "document.querySelectorAll('#fig-map .main-svg').length && "
                                "document.querySelectorAll('#fig-day .main-svg').length"), text(driver, "progress")
        first = text(driver, "day-lead")
        driver.find_element(By.ID, "day-site").click()
        options = wait_for(driver, "document.querySelectorAll('.dash-dropdown-option').length") or 0
        assert options == 4                                      # the network's sites, busiest first
        driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")[-1].click()
        assert wait_for(driver, f"document.getElementById('day-lead').textContent != {json.dumps(first)}"), first
        driver.save_screenshot("/tmp/explore-network-test.png")
    finally:
        srv.stop()


def test_the_server_stops_cleanly(server):
    host, port = urlparse(server.url).hostname, urlparse(server.url).port
    server.stop()
    assert not server._thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=2).close()

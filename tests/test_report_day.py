"""A day at a site: queue and busy agents from the visits log, the animation's frames, the section in the report
(automatic for one site, on request otherwise) and the errors naming the valid sites and days."""
from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from conftest import REPO
from fssim.cli import app
from fssim.errors import InputError
from fssim.report import write_report
from fssim.report.day import agents_busy, day_figure, day_log, day_window, frame_instants, queue_length
from fssim.report.i18n import Translator
from fssim.run import simulate
from test_report import nasty_config, script_blocks

DAY = dt.date(2024, 3, 5)


def at(hhmm: str) -> pd.Timestamp:
    return pd.Timestamp(f"{DAY.isoformat()} {hhmm}")


def hand_made_visits() -> pd.DataFrame:
    """Six citizens of one morning, as visits.parquet has them."""
    nat = pd.NaT
    rows = [  # arrival, start, end, time in queue, outcome, agent
        ("09:00", "09:00", "09:20", 0.0, "served", 0),      # A: no wait
        ("09:05", "09:10", "09:30", 5.0, "served", 1),      # B
        ("09:06", None, None, 10.0, "gave_up", -1),         # C: leaves at 9:16
        ("09:08", "09:20", "09:40", 12.0, "served", 0),     # D
        ("09:15", None, None, 0.0, "no_show", -1),          # E: never came
        ("11:50", None, None, 10.0, "sent_home", -1),       # F: sent home at 12:00
    ]
    return pd.DataFrame({
        "arrival": [at(a) for a, *_ in rows],
        "service_start": [at(s) if s else nat for _, s, *_ in rows],
        "service_end": [at(e) if e else nat for _, _, e, *_ in rows],
        "time_in_queue_min": [q for *_, q, _, _ in rows],
        "outcome": pd.Categorical([o for *_, o, _ in rows]),
        "agent": [g for *_, g in rows],
    })


def minutes(hhmm: str) -> float:
    h, m = hhmm.split(":")
    return 60 * int(h) + int(m)


def test_queue_and_busy_agents_equal_a_hand_count():
    log = day_log(hand_made_visits(), DAY)
    assert len(log) == 5                                  # the no-show never came
    # instant → (citizens waiting, agents serving), counted by hand from the table above
    hand = {"09:00": (0, 1), "09:07": (2, 1), "09:10": (2, 2), "09:15": (2, 2), "09:16": (1, 2),
            "09:20": (0, 2), "09:35": (0, 1), "09:45": (0, 0), "11:55": (1, 0), "12:00": (0, 0)}
    instants = [minutes(k) for k in hand]
    assert queue_length(log, instants).tolist() == [q for q, _ in hand.values()]
    assert agents_busy(log, instants).tolist() == [b for _, b in hand.values()]


def test_frames_step_through_the_day():
    log = day_log(hand_made_visits(), DAY)
    t = Translator("fr")
    duty = [(540, 720, 2), (840, 1005, 2)]                # 9:00-12:00 / 14:00-16:45
    fig = day_figure(log, duty, t)
    assert day_window(log, duty) == (540, 1005)
    assert len(fig.frames) == (1010 - 540) // 10 + 1      # every 10 min from 9:00 to 16:50
    slider = fig.layout.sliders[0]
    assert len(slider.steps) == len(fig.frames) and slider.steps[1].label == "9 h 10"
    f = {fr.name: fr for fr in fig.frames}["f1"]          # 9:10: C and D wait, A and B are served
    assert list(f.data[4].y) == [2, 2] and list(f.data[2].x) == [550.0, 550.0]
    assert [y for y in f.data[0].y if y is not None] == [2, 2, 3, 3]   # rows of C and D (arrival order)
    # a half-day (a bus stop) steps by 5 minutes
    morning = day_log(hand_made_visits().iloc[:5], DAY)
    short = day_figure(morning, [(540, 720, 2)], t)
    assert len(short.frames) == (720 - 540) // 5 + 1
    assert len(json.dumps(short.to_plotly_json()["frames"], default=str)) < 40_000


def one_site(tmp_path, days: int = 21):
    cfg = yaml.safe_load((REPO / "configs" / "one-site.yaml").read_text())
    cfg["horizon"]["days"] = days
    cfg["replications"] = 2
    return simulate(cfg).save(tmp_path / "one-site")


def test_the_report_of_a_one_site_run_shows_its_busiest_day(tmp_path):
    run = one_site(tmp_path)
    html = write_report(run).read_text(encoding="utf-8")
    assert '<section class="report-section" id="day">' in html
    daily = pd.read_parquet(run / "daily.parquet")
    first = daily[daily["replication"] == 0].sort_values(["visits", "date"], ascending=[False, True])
    busiest = pd.Timestamp(first["date"].iloc[0])
    assert Translator("fr").date(busiest) in html and "la plus chargée de la première réplication" in html
    fig = json.loads(script_blocks(html)["fig-day-data"])
    assert len(fig["frames"]) >= 40 and fig["layout"]["sliders"][0]["steps"]
    # the arrival markers are that day's visits (no-shows aside)
    visits = pd.read_parquet(run / "visits.parquet")
    that_day = visits[(visits["replication"] == 0) & (visits["arrival"].dt.normalize() == busiest)
                      & (visits["outcome"].astype(str) != "no_show")]
    assert len(fig["data"][4]["x"]) == len(that_day) == int(first["visits"].iloc[0])
    assert len(script_blocks(html)["fig-day-data"]) < 150_000


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory):
    return simulate(nasty_config()).save(tmp_path_factory.mktemp("two") / "nasty")


def test_a_network_run_shows_a_day_only_on_request(two_sites, tmp_path):
    plain = write_report(two_sites, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert 'id="day"' not in plain
    html = write_report(two_sites, tmp_path / "day.html", day_site="b", day="2024-03-12").read_text(encoding="utf-8")
    assert '<section class="report-section" id="day">' in html and "12 mars 2024" in html
    assert "journée demandée" in html and "agents en poste en pointillés" in html


@pytest.mark.parametrize("site, day, message", [
    ("zzz", None, r"no site 'zzz' in this run; its sites \(busiest first\): [ab], [ab]"),
    (None, "2024-03-12", "this run has 2 sites: choose one with --day-site"),
    ("b", "2025-01-07", r"outside the run's horizon \(2024-03-04 to 2024-03-31\)"),
    ("b", "2024-03-10", r"not open on 2024-03-10 \(sun\).*nearest: 2024-03-08 or 2024-03-11"),
    ("b", "12/03/2024", "not a date; write YYYY-MM-DD"),
])
def test_bad_site_or_day_names_the_valid_ones(two_sites, tmp_path, site, day, message):
    with pytest.raises(InputError, match=message):
        write_report(two_sites, tmp_path / "r.html", day_site=site, day=day)
    assert not (tmp_path / "r.html").exists()


def test_cli_day_options(two_sites, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["report", str(two_sites), "--out", str(tmp_path / "x.html"), "--day-site", "nope"])
    assert bad.exit_code == 2 and "no site 'nope'" in bad.output and "Traceback" not in bad.output
    ok = runner.invoke(app, ["report", str(two_sites), "--out", str(tmp_path / "y.html"), "--day-site", "a"])
    assert ok.exit_code == 0, ok.output
    html = (tmp_path / "y.html").read_text(encoding="utf-8")
    assert re.search(r"Site .*\(a\), \w+ \d+ mars 2024", html)


def test_the_animation_plays_in_a_browser(driver, tmp_path):
    """The report's script registers the frames: stepping to a frame moves the cursor (no JavaScript error)."""
    from test_report_browser import open_report, severe_logs

    path = write_report(one_site(tmp_path, days=7), tmp_path / "r.html")
    state = open_report(driver, path)
    assert not state["undrawn"], state
    frames = driver.execute_script("return document.getElementById('fig-day')._transitionData._frames.length")
    fig = json.loads(script_blocks(path.read_text(encoding="utf-8"))["fig-day-data"])
    assert frames == len(fig["frames"])
    driver.execute_script("Plotly.animate('fig-day', ['f6'], {mode: 'immediate', frame: {duration: 0, redraw: false},"
                          " transition: {duration: 0}})")
    x = driver.execute_script("return document.getElementById('fig-day').data[7].x")
    assert x == fig["frames"][6]["data"][2]["x"]
    assert severe_logs(driver) == []


from test_report_browser import driver  # noqa: E402,F401  (the headless Chromium fixture)

"""HTML reports: self-contained, escaped, bilingual, reproducible, with targets judged on intervals."""
from __future__ import annotations

import json
import re
import shutil
import time
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import yaml
from plotly.offline import get_plotlyjs

from conftest import REPO
from fssim.config import KPIS, Target
from fssim.errors import InputError
from fssim.report import SECTIONS, evaluate_targets, read_embedded, rerun, write_report
from fssim.report import extras as report_extras
from fssim.report.blocks import Paragraph, Section, plot_text
from fssim.report.i18n import KPI_NAMES, LABELS, NNBSP, Translator
from fssim.report.sections import busy_by_weekday_hour, staffed_by_weekday_hour
from fssim.report.stress import stress_items
from fssim.report.rundata import load_run_dir
from fssim.run import simulate

EVIL = "<script>alert(1)</script>"


def nasty_config(**overrides) -> dict:
    """Two sites over six weeks; names and description carry HTML and script-closing text."""
    cfg = {
        "name": "nasty",
        "description": f"Test </script><!-- {EVIL} & co",
        "horizon": {"start": "2024-03-04", "days": 28},
        "seed": 11,
        "replications": 3,  # with 2 the t interval (t = 12.7) often crosses the impossible target
        "demand": {"visits_per_open_day": 25},
        "targets": [
            {"kpi": "p90_wait_min", "max": 10000.0, "label": "easy"},
            {"kpi": "utilisation", "min": 0.99, "label": f"{EVIL} impossible"},
            {"kpi": "abandonment_rate", "max": 0.5, "scope": "site"},
        ],
        "sites": [
            {"id": "a", "name": EVIL, "agents": 2, "appointments": True},
            {"id": "b", "name": "Site B", "agents": 1},
        ],
    }
    cfg.update(overrides)
    return cfg


def script_blocks(html: str) -> dict[str, str]:
    """id → text of every <script type="application/json"> element."""
    out = {}

    class P(HTMLParser):
        cur = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "script" and a.get("type") == "application/json":
                self.cur = a["id"]
                out[self.cur] = ""

        def handle_endtag(self, tag):
            self.cur = None

        def handle_data(self, data):
            if self.cur:
                out[self.cur] += data

    P().feed(html)
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return simulate(nasty_config()).save(tmp_path_factory.mktemp("run") / "nasty")


@pytest.fixture(scope="module")
def report_fr(run_dir):
    path = write_report(run_dir)
    return path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report_en(run_dir, tmp_path_factory):
    path = write_report(run_dir, tmp_path_factory.mktemp("en") / "r.html", lang="en")
    return path, path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the file


def test_report_is_one_self_contained_file(report_fr, run_dir):
    path, html = report_fr
    assert path == run_dir / "report.html"
    js = get_plotlyjs()
    assert html.count(js[:200]) == 1                       # plotly.js embedded once
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?:", html)
    blocks = script_blocks(html)
    divs = re.findall(r'<div class="plot" id="([^"]+)" data-fssim-plot', html)
    assert len(divs) >= 8 and len(set(divs)) == len(divs)
    for d in divs:                                          # every figure has its data, fixed ids
        fig = json.loads(blocks[f"{d}-data"])
        assert fig["data"] and "uid" not in json.dumps(fig)
    assert "fig-waits-hist" in divs and "fig-util-heatmap" in divs and "fig-p90-site" in divs


def test_user_strings_are_escaped_in_text_and_json(report_fr):
    _, html = report_fr
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html          # shown as text
    for name, text in script_blocks(html).items():
        assert "</" not in text and "<!--" not in text, name
    doc = read_embedded_text(html)
    assert doc["config"]["sites"][0]["name"] == EVIL                  # unchanged once parsed
    assert doc["config"]["description"].startswith("Test </script><!--")
    assert plot_text(EVIL) == "&lt;script&gt;alert(1)&lt;/script&gt;"  # plotly reads tags in labels


def read_embedded_text(html: str) -> dict:
    return json.loads(script_blocks(html)["fssim-config"])


def test_french_by_default_and_english_on_request(report_fr, report_en, run_dir):
    _, fr = report_fr
    _, en = report_en
    assert '<html lang="fr">' in fr and '<html lang="en">' in en
    fr, en = unescape(fr), unescape(en)
    for word in ("Attente P90", "Taux d'abandon", "Taux d'occupation des agents", "Sommaire"):
        assert word in fr and word not in en
    for word in ("P90 wait", "Abandonment rate", "Agent utilisation", "Contents"):
        assert word in en
    visits = pd.read_parquet(run_dir / "summary.parquet").query("scope == 'network' and kpi == 'visits'")["mean"].item()
    assert visits >= 1000                                     # so the thousands separator shows
    fr_text = f"{visits:,.0f}".replace(",", NNBSP)
    assert f">{fr_text}<" in fr and f">{visits:,.0f}<" in en


def test_translator_formats_numbers():
    fr, en = Translator("fr"), Translator("en")
    assert fr.num(1234.56) == f"1{NNBSP}234,6" and en.num(1234.56) == "1,234.6"
    assert fr.pct(0.045) == f"4,5{NNBSP}%" and en.pct(0.045) == "4.5%"
    assert fr.num(-0.01) == "0,0" and fr.num(float("nan")) == "—"
    assert fr.kpi_value("p90_wait_min", 15.0, compact=True) == f"15{NNBSP}min"
    assert fr.kpi("share_wait_over_threshold") == "Part attendant plus de 15 min"
    assert fr.typography("a : b ; « c »") == f"a\u00a0: b{NNBSP}; «\u00a0c\u00a0»"
    assert en.typography("the 95 % CI") == "the 95% CI"
    assert set(LABELS["fr"]) == set(LABELS["en"]) and all(LABELS["fr"].values()) and all(LABELS["en"].values())
    assert set(KPIS) <= set(KPI_NAMES)
    with pytest.raises(InputError, match="unknown report language 'de'"):
        Translator("de")


# --------------------------------------------------------------------------- targets


def _summary(rows):
    return pd.DataFrame(rows, columns=["scope", "key", "kpi", "mean", "n", "ci_low", "ci_high"])


def test_evaluate_targets_judges_the_whole_interval():
    s = _summary([
        ("network", "", "p90_wait_min", 12.0, 5, 11.0, 13.0),
        ("network", "", "utilisation", 0.6, 5, 0.55, 0.65),
        ("site", "a", "abandonment_rate", 0.02, 5, 0.01, 0.03),
        ("site", "b", "abandonment_rate", 0.07, 5, 0.06, 0.08),
        ("network", "", "no_show_rate", np.nan, 0, np.nan, np.nan),
    ])
    targets = [Target(kpi="p90_wait_min", max=15), Target(kpi="p90_wait_min", max=10),
               Target(kpi="p90_wait_min", max=12.5), Target(kpi="utilisation", min=0.5, max=0.7),
               Target(kpi="utilisation", min=0.62), Target(kpi="abandonment_rate", max=0.05, scope="site"),
               {"kpi": "no_show_rate", "max": 0.1}]
    ev = evaluate_targets(s, targets)
    assert list(ev["status"]) == ["pass", "fail", "uncertain", "pass", "uncertain", "pass", "fail", "missing"]
    assert list(ev["key"])[5:7] == ["a", "b"]
    one = evaluate_targets(_summary([("network", "", "p90_wait_min", 12.0, 1, np.nan, np.nan)]),
                           [Target(kpi="p90_wait_min", max=15), Target(kpi="p90_wait_min", max=11)])
    assert list(one["status"]) == ["no_interval", "no_interval"]
    assert list(one["mean_meets"]) == [True, False]
    with pytest.raises(InputError, match="targets\\[0\\].*unknown KPI"):
        evaluate_targets(s, [{"kpi": "nope", "max": 1}])
    with pytest.raises(InputError, match="ci_low"):
        evaluate_targets(s.drop(columns="ci_low"), targets)


def test_report_shows_pass_and_fail_badges(report_fr, run_dir):
    _, html = report_fr
    ev = evaluate_targets(pd.read_parquet(run_dir / "summary.parquet"), load_run_dir(run_dir).config.targets)
    assert ev.loc[0, "status"] == "pass" and ev.loc[1, "status"] == "fail"
    assert html.count('class="badge badge-pass"') >= 1 and html.count('class="badge badge-fail"') >= 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt; impossible" in html      # config label, escaped
    npass = int((ev.loc[ev["target"] == 2, "status"] == "pass").sum())     # site-scope target summarised
    assert f"{npass} site(s) sur 2 atteignent l'objectif" in unescape(html)


def test_one_replication_without_visits_degrades_gracefully(tmp_path):
    cfg = nasty_config(replications=1, outputs={"visits": False})
    run = simulate(cfg).save(tmp_path / "r1")
    assert not (run / "visits.parquet").exists()
    html = write_report(run).read_text(encoding="utf-8")
    text = unescape(html)
    t = Translator("fr")
    assert t.typography(t("waits.no_visits")) in text and t.typography(t("util.no_visits")) in text
    assert "fig-waits-hist" not in html and "fig-util-heatmap" not in html and "fig-p90-hour" in html
    assert "badge badge-no_interval" in html
    assert t.typography(t("doc.no_ci")) in text
    stress = dict((k, v) for k, _, v in stress_items(load_run_dir(run), t))
    assert any("aucun intervalle" in line for line in stress["4.3"])


def test_hourly_utilisation_adds_up_to_the_daily_table(run_dir):
    run = load_run_dir(run_dir)
    staffed = staffed_by_weekday_hour(run.config, run.sites)      # from the calendar
    busy = busy_by_weekday_hour(run)                              # from the visits
    daily = run.daily
    weekday = pd.to_datetime(daily["date"]).dt.day_of_week
    first = daily["replication"] == 0
    per_day = daily[first].groupby(weekday[first])["staffed_min"].sum().reindex(range(7), fill_value=0)
    np.testing.assert_allclose(staffed.sum(axis=1), per_day.to_numpy())
    # the heat map counts every minute in service; the daily table splits it into busy on duty and overtime
    np.testing.assert_allclose(busy.sum(), daily["busy_min"].sum() + daily["overtime_min"].sum(), rtol=1e-6)
    assert (staffed[:, :8] == 0).all() and (staffed[5:] == 0).all()  # closed before 8:00 and at weekends


# --------------------------------------------------------------------------- reproducibility


def test_two_identical_runs_give_identical_reports(tmp_path, run_dir, report_fr):
    other = simulate(nasty_config()).save(tmp_path / "nasty")
    a, b = (json.loads((d / "manifest.json").read_text()) for d in (run_dir, other))
    assert {k for k in a if a[k] != b[k]} <= {"created", "timings_s"}
    assert a["created"] in report_fr[1]                      # the run's date is shown...
    for d in (run_dir, other):                               # ...and is the only thing that may differ
        m = json.loads((d / "manifest.json").read_text())
        m["created"], m["timings_s"] = "MASKED", {"simulation": 0.0, "total": 0.0}
        (d / "manifest.json").write_text(json.dumps(m))
    try:
        ha = write_report(run_dir, tmp_path / "a" / "report.html").read_bytes()
        hb = write_report(other, tmp_path / "b" / "report.html").read_bytes()
    finally:
        (run_dir / "manifest.json").write_text(json.dumps(a, indent=2, ensure_ascii=False))
    assert ha == hb


def test_rerun_reproduces_the_summary(report_fr, run_dir, tmp_path):
    path, _ = report_fr
    result = rerun(path, tmp_path / "again")
    original = pd.read_parquet(run_dir / "summary.parquet")
    pd.testing.assert_frame_equal(result.summary, original)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again" / "summary.parquet"), original)
    m = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert m["rerun_of"]["config_sha256"] == m["config_sha256"] == read_embedded(path)["manifest"]["config_sha256"]


def test_rerun_refuses_an_edited_or_foreign_file(report_fr, tmp_path):
    path, html = report_fr
    edited = tmp_path / "edited.html"
    edited.write_text(html.replace('"seed": 11', '"seed": 12', 1), encoding="utf-8")
    with pytest.raises(InputError, match="config_sha256"):
        rerun(edited, tmp_path / "x")
    foreign = tmp_path / "page.html"
    foreign.write_text("<html><body><script>var a = 1;</script></body></html>", encoding="utf-8")
    with pytest.raises(InputError, match="not an fssim report"):
        rerun(foreign, tmp_path / "x")
    with pytest.raises(InputError, match="file not found"):
        rerun(tmp_path / "missing.html", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_bad_run_directories(tmp_path, run_dir):
    with pytest.raises(InputError, match="not a directory"):
        write_report(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="missing config.yaml, manifest.json, summary.parquet, daily.parquet"):
        write_report(tmp_path / "empty")
    with pytest.raises(InputError, match="unknown report language 'es'"):
        write_report(run_dir, tmp_path / "r.html", lang="es")
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="manifest.json: not valid JSON"):
        write_report(broken)


# --------------------------------------------------------------------------- optional sections


OUTLINES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "id": "08", "properties": {"code": "08", "name": "Ardennes"},
     "geometry": {"type": "MultiPolygon", "coordinates": [[[[4.0, 49.3], [5.2, 49.3], [5.2, 50.1], [4.0, 50.1],
                                                              [4.0, 49.3]]]]}},
    {"type": "Feature", "id": "51", "properties": {"code": "51", "name": "Marne"},
     "geometry": {"type": "Polygon", "coordinates": [[[3.4, 48.5], [5.0, 48.5], [5.0, 49.3], [3.4, 49.3],
                                                       [3.4, 48.5]]]}},
    {"type": "Feature", "id": "75", "properties": {"code": "75", "name": "Paris"},
     "geometry": {"type": "Polygon", "coordinates": [[[2.2, 48.8], [2.4, 48.8], [2.4, 48.9], [2.2, 48.8]]]}},
]}


def write_extras(d):
    rng = np.random.default_rng(3)
    pd.DataFrame({"code": ["08105", "08409", "51454", "51108"], "name": ["Charleville", "Sedan", "Reims", EVIL],
                  "lat": [49.76, 49.70, 49.26, 48.95], "lon": [4.72, 4.94, 4.03, 4.36],
                  "population": [46000, 16000, 180000, 500], "minutes": [3.0, 12.5, 8.0, 41.0]}
                 ).to_parquet(d / "coverage.parquet")
    pd.DataFrame({"date": pd.to_datetime(["2020-01-01", "2020-01-01", "2021-06-01", "2022-01-01"]),
                  "site_id": ["a", "b", "c", "d"]}).to_parquet(d / "rollout.parquet")
    rows = []
    for sc in ["base", "+1 agent", "<b>x</b>"]:
        for k in ("p90_wait_min", "abandonment_rate", "utilisation"):
            m = float(rng.uniform(0.1, 20))
            rows.append({"scenario": sc, "kpi": k, "mean": m, "ci_low": m * 0.9, "ci_high": m * 1.1,
                         "scope": "network"})
    pd.DataFrame(rows).to_parquet(d / "experiment.parquet")


def test_optional_sections_appear_with_their_tables(tmp_path, run_dir, report_fr, monkeypatch):
    _, base = report_fr
    for sid in ("coverage", "rollout", "experiment"):
        assert f'id="{sid}"' not in base
    d = tmp_path / "full"
    shutil.copytree(run_dir, d)
    write_extras(d)
    m = json.loads((d / "manifest.json").read_text())
    m["data_sources"] = [{"name": "ANCT", "path": "france-services-2024-08.csv", "sha256": "ab" * 32}]
    (d / "manifest.json").write_text(json.dumps(m))
    monkeypatch.setattr(report_extras, "load_outlines", lambda: OUTLINES)
    html = write_report(d).read_text(encoding="utf-8")
    for sid in ("coverage", "rollout", "experiment"):
        assert f'<section class="report-section" id="{sid}">' in html and f'href="#{sid}"' in html
    blocks = script_blocks(html)
    geo = json.loads(blocks["fig-coverage-map-data"])
    outline, communes = geo["data"]
    assert geo["layout"]["geo"]["visible"] is False and "fitbounds" not in geo["layout"]["geo"]
    (x0, x1), (y0, y1) = geo["layout"]["geo"]["lonaxis"]["range"], geo["layout"]["geo"]["lataxis"]["range"]
    assert 3.5 < x0 < 4.03 and 4.94 < x1 < 5.5 and 48.5 < y0 < 48.95 and 49.76 < y1 < 50.3  # framed on its communes
    assert 4.0 in outline["lon"] and 2.2 not in outline["lon"]          # only départements with communes
    assert communes["marker"]["color"] == [3.0, 12.5, 41.0, 8.0]         # communes sorted by code
    assert communes["text"][2] == "&lt;script&gt;alert(1)&lt;/script&gt; (51108)"  # plotly shows it as text
    ro = json.loads(blocks["fig-rollout-data"])
    assert ro["data"][1]["y"] == [2, 3, 4]                               # cumulative openings
    ex = json.loads(blocks["fig-exp-p90_wait_min-data"])
    assert ex["data"][0]["y"] == ["base", "+1 agent", "&lt;b&gt;x&lt;/b&gt;"]
    assert "ab" * 32 in html                                             # STRESS 3.1: data source checksum
    # a table lacking a column is named
    pd.DataFrame({"code": ["08105"], "lat": [49.7]}).to_parquet(d / "coverage.parquet")
    with pytest.raises(InputError, match="coverage.parquet.*minutes"):
        write_report(d)


def test_adding_a_section_is_one_function(tmp_path, run_dir, monkeypatch):
    def section_hello(run, t):
        return Section("hello", "Bonjour " + run.config.name, [Paragraph(EVIL)])

    monkeypatch.setattr("fssim.report.build.SECTIONS", SECTIONS[:3] + [section_hello])  # experiment (none), 1, 2
    html = write_report(run_dir, tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<section class="report-section" id="hello">' in html and "Bonjour nasty" in html
    assert 'href="#hello"><span class="num-label">3</span>' in html
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in html


def test_stress_checklist_is_filled_from_the_run(report_fr, tmp_path):
    _, html = report_fr
    for item in ("1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "2.4", "2.5.1", "2.5.2", "2.5.3", "2.5.4", "2.5.5",
                 "3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "5.1", "5.2", "5.3", "5.4", "6.1"):
        assert f"<td>{item}</td>" in html
    assert "aucune période de chauffe n'est donc nécessaire" in unescape(html)
    queue = {"name": "q", "horizon": {"start": "2023-01-02", "days": 4, "warmup_days": 1}, "seed": 1,
             "holidays": {"closed": False}, "demarches": [{"name": "any", "share": 1.0,
                                                           "service": {"dist": "exponential", "mean": 10}}],
             "demand": {"rate_per_hour": 5, "mix_shifts": []}, "sites": [{"id": "q", "always_open": True, "agents": 1}]}
    run = load_run_dir(simulate(queue).save(tmp_path / "q"))
    items = {k: v for k, _, v in stress_items(run, Translator("en"))}
    assert "warm-up of 1 day(s)" in items["4.1"][0] and "q" in items["4.1"][0]
    assert "Not applicable" in items["3.2"][0] and "4 days" in items["4.2"][0]


# --------------------------------------------------------------------------- size and speed


def test_one_site_report_is_small_and_fast(tmp_path):
    run = simulate(REPO / "configs" / "one-site.yaml").save(tmp_path / "one-site")
    t0 = time.perf_counter()
    path = write_report(run)
    seconds = time.perf_counter() - t0
    size = path.stat().st_size
    assert seconds < 10, f"report took {seconds:.1f} s"
    assert size < 6_000_000, f"report is {size / 1e6:.1f} MB"
    assert size - len(get_plotlyjs().encode()) < 600_000                 # figures hold aggregates, not visits
    assert yaml.safe_load((run / "config.yaml").read_text())["replications"] == 5


def test_report_of_an_experiment_directory(tmp_path):
    """`fssim report EXPERIMENT_DIR`: the baseline scenario as the run, every scenario compared."""
    import yaml as _yaml

    from fssim.experiment import run_experiment
    from conftest import small_network

    base = small_network(replications=2, horizon={"start": "2024-04-01", "days": 21})
    (tmp_path / "base.yaml").write_text(_yaml.safe_dump(base))
    (tmp_path / "exp.yaml").write_text(_yaml.safe_dump({
        "name": "tiny", "base": "base.yaml", "factors": {"sites[0].agents": [1, 3]},
        "baseline": {"agents": 1}, "replications": 2}))
    res = run_experiment(tmp_path / "exp.yaml", tmp_path / "out", workers=0)
    html = write_report(res.path, tmp_path / "exp.html").read_text(encoding="utf-8")
    names = sorted(set(res.summary["scenario"]))
    assert len(names) == 2 and all(n in html for n in names)
    assert 'fig-exp-p90_wait_min' in html

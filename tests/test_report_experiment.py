"""The report of an experiment answers it: verdicts per scenario, costs, the cheapest scenario meeting every
target, and paired differences against the baseline (common random numbers)."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from html import unescape

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from fssim.config import Target, config_from_dict
from fssim.errors import InputError
from fssim.experiment import load_experiment, run_experiment
from fssim.experiment.costs import CostSpec, open_share, resources
from fssim.report import load_run_dir, write_report
from fssim.report.experiment import cheapest_meeting, every_target, paired_table, scenario_costs, scenario_verdicts
from fssim.report.i18n import Translator


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """2 scenarios × 3 replications of the one-site config over three weeks, agent cost given."""
    d = tmp_path_factory.mktemp("exp")
    (d / "exp.yaml").write_text(yaml.safe_dump({
        "name": "deux-ou-trois", "description": "Two or three agents?", "base": str(REPO / "configs" / "one-site.yaml"),
        "overrides": {"horizon.days": 21, "demand.visits_per_open_day": 20,
                      "targets": [{"kpi": "p90_wait_min", "max": 60.0}, {"kpi": "abandonment_rate", "max": 0.3}]},
        "factors": {"sites[0].agents": [2, 3]}, "baseline": {"agents": 2}, "replications": 3,
        "costs": {"agent": 45000}}))
    res = run_experiment(d / "exp.yaml", d / "out", workers=0)
    return res, write_report(res.path, d / "report.html").read_text(encoding="utf-8")


def test_paired_difference_is_the_mean_of_per_replication_differences(tiny):
    res, _ = tiny
    reps = res.replications
    wide = reps.pivot_table(index=["kpi", "replication"], columns="scenario", values="value")
    diffs = paired_table(load_run_dir(res.path), "agents=2")
    assert set(diffs["scenario"]) == {"agents=3"}
    narrower = 0
    for kpi in ("mean_wait_min", "p90_wait_min", "abandonment_rate", "utilisation"):
        w = wide.loc[kpi]
        per_rep = (w["agents=3"] - w["agents=2"]).to_numpy()
        row = diffs[diffs["kpi"] == kpi].iloc[0]
        assert row["mean"] == pytest.approx(per_rep.mean(), rel=1e-12, abs=1e-12)
        half = row["ci_high"] - row["mean"]
        assert half == pytest.approx(4.302652729911275 * per_rep.std(ddof=1) / np.sqrt(3), rel=1e-9)  # t(2)
        if np.corrcoef(w["agents=3"], w["agents=2"])[0, 1] > 0:
            assert half < row["unpaired_half_width"], kpi
            narrower += 1
    assert narrower >= 2        # the common random numbers make the scenarios move together


def test_the_report_is_titled_after_the_experiment_and_answers_it_first(tiny):
    res, html = tiny
    assert "<h1>deux-ou-trois</h1>" in html and "<title>Rapport d&#39;expérience — deux-ou-trois</title>" in html
    first = re.search(r'<section class="report-section" id="([^"]+)">\s*<h2><span class="num-label">1</span>', html)
    assert first and first.group(1) == "experiment"
    text = unescape(re.sub(r"<[^>]+>", " ", html)).replace("\u00a0", " ")   # French no-break spaces
    assert "Expérience « deux-ou-trois »" in text and "Two or three agents?" in text
    # costs at the experiment's unit costs: agents × 45 000 + 1 site × 50 000
    t = Translator("fr")
    for agents in (2, 3):
        assert t.int(agents * 45000 + 50000) + " €" in text
    manifest = res.manifest
    costs = scenario_costs(manifest, CostSpec(agent=45000))
    assert costs.set_index("scenario")["cost"].to_dict() == {"agents=2": 140000.0, "agents=3": 185000.0}
    # the verdict table's answer matches the verdicts
    run = load_run_dir(res.path)
    verdicts = scenario_verdicts(res.summary, None, run.config.targets)
    overall = every_target(verdicts, ["agents=2", "agents=3"])
    table = pd.DataFrame({"scenario": overall.index, "status": overall.to_numpy(),
                          "cost": costs["cost"].to_numpy()})
    best = cheapest_meeting(table)
    assert overall.to_dict() == {"agents=2": "pass", "agents=3": "pass"} and best == "agents=2"   # loose targets
    assert ("Le scénario le moins coûteux qui atteint tous les objectifs : agents=2, 140\u202f000 € par an. "
            "Atteignent tous les objectifs : agents=2, agents=3.") in text
    assert "agents=2 (référence) ★ le moins coûteux" in text
    # then the paired differences, then the KPIs by scenario
    assert text.index("Objectifs et coût par scénario") < text.index("Écarts avec la référence") \
        < text.index("Chaque indicateur par scénario")
    assert 'id="fig-diff-p90_wait_min"' in html and 'id="fig-exp-p90_wait_min"' in html


def test_cheapest_scenario_meeting_the_targets_on_a_hand_made_table():
    table = pd.DataFrame({"scenario": ["A", "B", "C", "D", "E"],
                          "status": ["pass", "fail", "pass", "uncertain", "pass"],
                          "cost": [300.0, 100.0, 200.0, 150.0, np.nan]})
    assert cheapest_meeting(table) == "C"                      # B and D are cheaper but do not meet them all
    assert cheapest_meeting(table.assign(cost=[200.0, 100.0, 200.0, 150.0, 1.0])) == "E"
    assert cheapest_meeting(table.assign(cost=[200.0, 100.0, 200.0, 150.0, np.nan])) == "A"   # tie: first listed
    assert cheapest_meeting(table.assign(status="fail")) is None


def test_a_scenario_meets_every_target_only_when_each_interval_does():
    summary = pd.DataFrame({
        "scenario": ["X", "X", "Y", "Y", "Z", "Z"], "kpi": ["p90_wait_min", "abandonment_rate"] * 3,
        "mean": [12, 0.02, 15, 0.02, 18, 0.01], "n": 5,
        "ci_low": [10, 0.01, 12, 0.01, 16, 0.0], "ci_high": [14, 0.03, 18, 0.03, 20, 0.02]})
    sites = pd.DataFrame({"scenario": ["X", "X", "Y", "Y", "Z", "Z"], "site_id": ["s1", "s2"] * 3,
                          "kpi": "abandonment_rate", "mean": [0.02, 0.09, 0.02, 0.03, 0.01, 0.01], "n": 5,
                          "ci_low": [0.01, 0.08, 0.01, 0.02, 0.0, 0.0], "ci_high": [0.03, 0.10, 0.03, 0.04, 0.02, 0.02]})
    targets = [Target(kpi="p90_wait_min", max=15), Target(kpi="abandonment_rate", max=0.05, scope="site")]
    v = scenario_verdicts(summary, sites, targets)
    got = v.set_index(["scenario", "target"])["status"].to_dict()
    assert got == {("X", 0): "pass", ("X", 1): "fail", ("Y", 0): "uncertain", ("Y", 1): "pass",
                   ("Z", 0): "fail", ("Z", 1): "pass"}
    assert v.set_index(["scenario", "target"]).loc[("X", 1), "sites_pass"] == 1
    assert every_target(v, ["X", "Y", "Z"]).to_dict() == {"X": "fail", "Y": "uncertain", "Z": "fail"}
    only_network = scenario_verdicts(summary, None, targets[:1])
    assert every_target(only_network, ["X", "Y", "Z"]).to_dict() == {"X": "pass", "Y": "uncertain", "Z": "fail"}


def test_resources_count_what_is_open_over_the_horizon():
    cfg = config_from_dict({
        "name": "r", "horizon": {"start": "2024-01-01", "days": 100},
        "sites": [{"id": "a", "agents": {"mon": [5, 3], "tue": [5, 3], "wed": [5, 3], "thu": [5, 3], "fri": [5, 3]},
                   "hours": {d: "09:00-12:00 / 13:00-16:00" for d in ("mon", "tue", "wed", "thu", "fri")}},
                  {"id": "b", "agents": 2, "opens_on": "2024-02-20"}]})
    assert open_share(dt.date(2024, 2, 20), None, cfg) == 0.5
    assert open_share(None, dt.date(2024, 1, 1), cfg) == 0.0          # withdrawn on the first day
    assert resources(cfg.sites, [], cfg) == {"agents": 4 + 0.5 * 2, "sites": 1.5, "buses": 0.0}


@pytest.mark.parametrize("costs, message", [
    ({"agent": -1}, "costs.agent"),
    ({"agnet": 1}, "costs.agnet: unknown key; this block has agent, site, bus, currency"),
])
def test_bad_costs_block_is_named(tmp_path, costs, message):
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump({
        "base": str(REPO / "configs" / "one-site.yaml"), "factors": {"sites[0].agents": [2, 3]}, "costs": costs}))
    with pytest.raises(InputError, match=re.escape(message)):
        load_experiment(tmp_path / "exp.yaml")


def test_default_costs_are_said_to_be_estimates(tiny, tmp_path):
    res, _ = tiny
    exp = load_experiment(REPO / "experiments" / "bus-or-site.yaml")
    assert exp.spec.costs == CostSpec() and CostSpec().bus == 32500.0
    m = json.loads((res.path / "experiment.json").read_text())
    m["definition"].pop("costs")
    d = tmp_path / "old"
    shutil.copytree(res.path, d)
    (d / "experiment.json").write_text(json.dumps(m))
    text = unescape(write_report(d, tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "valeurs par défaut, estimations [E]" in text and "agents × 40\u202f000 €" in text

"""Experiment definitions (validation, wildcards, designs, baselines) and the KPI partials of work units."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fssim.config import KPIS, config_from_dict
from fssim.metrics import kpis as registry
from fssim.demand.arrivals import DemandModel
from fssim.errors import InputError
from fssim.experiment import load_experiment, run_experiment
from fssim.scenario import shard_key, shards_of
from fssim.experiment.partials import BINS_PER_MIN, histogram_quantiles, unit_partials
from fssim.experiment.paths import set_setting
from fssim.experiment.runner import replication_tables
from fssim.metrics.tables import kpis, sessions_table, visits_table
from fssim.engine.simulation import simulate_sites

from conftest import small_network

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return p


@pytest.fixture
def base(tmp_path):
    net = small_network()
    net["sites"][0]["commune"] = "08105"
    net["sites"][1]["commune"] = "97105"
    return write(tmp_path, "base.yaml", net)


# --------------------------------------------------------------------------- paths with wildcards


def test_wildcards_set_every_item_and_every_key():
    d = {"sites": [{"agents": 1}, {"agents": {"mon": 2}}], "network": {"agents": {"dense": 4, "peu_dense": 2}}}
    assert set_setting(d, "sites[*].agents", 3) == 2
    assert [s["agents"] for s in d["sites"]] == [3, 3]
    assert set_setting(d, "network.agents.*", 5) == 2
    assert d["network"]["agents"] == {"dense": 5, "peu_dense": 5}
    assert set_setting(d, "sites[1].hours.sat", "09:00-12:00") == 1
    assert d["sites"][1]["hours"] == {"sat": "09:00-12:00"}
    set_setting(d, "sites[+]", {"id": "new"})
    assert d["sites"][-1] == {"id": "new"} and len(d["sites"]) == 3
    # values are copied, not shared between the places they are set
    set_setting(d, "sites[*].demand", {"multiplier": 2})
    d["sites"][0]["demand"]["multiplier"] = 9
    assert d["sites"][1]["demand"]["multiplier"] == 2


@pytest.mark.parametrize("path, message", [
    ("sites[*].agents", "matches nothing"),
    ("network[*].x", "not a list"),
    ("sites[3].agents", "no item 3"),
    ("sites[+].agents", "can only end a path"),
])
def test_wildcard_errors_name_the_path(path, message):
    d = {"sites": [], "network": {"agents": {}}}
    with pytest.raises(InputError, match=message) as e:
        set_setting(d, path, 1)
    assert e.value.field == path


# --------------------------------------------------------------------------- definitions


def test_full_factorial_names_levels_baseline_and_common_seed(tmp_path, base):
    exp_file = write(tmp_path, "exp.yaml", {
        "base": "base.yaml", "seed": 99, "overrides": {"demand.visits_per_open_day": 20},
        "factors": {"sites[*].agents": [2, 3], "behaviour.appointment_share": [0.2, 0.6]},
        "baseline": {"agents": 3, "appointment_share": 0.2}, "replications": 3})
    exp = load_experiment(exp_file)
    names = [s.name for s in exp.scenarios]
    assert names == ["agents=2 appointment_share=0.2", "agents=2 appointment_share=0.6",
                     "agents=3 appointment_share=0.2", "agents=3 appointment_share=0.6"]
    assert exp.baseline == "agents=3 appointment_share=0.2"
    assert exp.factor_columns == ["agents", "appointment_share"]
    for s in exp.scenarios:
        cfg = s.config
        assert cfg.seed == 99                                     # common random numbers
        assert cfg.demand.visits_per_open_day == 20               # overrides apply to every scenario
        assert {x.agents for x in cfg.sites} == {s.levels["agents"]}
        assert cfg.behaviour.appointment_share == s.levels["appointment_share"]
    assert exp.fixed_replications == 3 and exp.rule is None


def test_list_design_and_appending_a_site(tmp_path, base):
    exp = load_experiment(write(tmp_path, "exp.yaml", {
        "base": "base.yaml", "design": "list", "baseline": "as-is",
        "scenarios": [{"name": "as-is"},
                      {"name": "one more site", "set": {"sites[+]": {"id": "c", "commune": "14118", "agents": 2}}},
                      {"name": "three agents", "set": {"sites[*].agents": 3}}]}))
    assert [len(s.config.sites) for s in exp.scenarios] == [2, 3, 2]
    # factor columns: the value each set path takes in each scenario (a list where sites differ)
    assert exp.scenarios[2].levels["agents"] == 3
    assert exp.scenarios[0].levels["agents"][0] == 2 and len(exp.scenarios[0].levels["agents"]) == 2
    assert exp.fixed_replications == 2  # the base config's
    # or columns given explicitly, and a baseline found by them
    exp = load_experiment(write(tmp_path, "exp2.yaml", {
        "base": "base.yaml", "design": "list", "baseline": {"extra_sites": 0},
        "scenarios": [{"name": "more", "levels": {"extra_sites": 1}, "set": {"sites[+]": {"id": "c"}}},
                      {"name": "as-is", "levels": {"extra_sites": 0}}]}))
    assert exp.factor_columns == ["extra_sites"] and exp.baseline == "as-is"


@pytest.mark.parametrize("data, field, message", [
    ({"base": "base.yaml", "factors": {"sites[*].agents": [2]}, "colour": "red"}, "colour", "unknown key"),
    ({"base": "base.yaml", "factors": {"seed": [1, 2]}}, "factors", "cannot vary between scenarios"),
    ({"base": "base.yaml"}, "factors", "needs at least one factor"),
    ({"base": "base.yaml", "design": "list", "scenarios": [{"name": "a"}, {"name": "a"}]}, "scenarios",
     "duplicate names"),
    ({"base": "base.yaml", "factors": {"sites[*].agents": [2, 3]}, "baseline": "agents=9"}, "baseline",
     "no scenario named"),
    ({"base": "missing.yaml", "factors": {"sites[*].agents": [2]}}, "base", "not found"),
    ({"base": "base.yaml", "factors": {"sites[*].agents": [2]},
      "replications": {"min": 3, "kpis": ["p99_wait"]}}, "replications", "unknown KPI"),
    ({"base": "base.yaml", "factors": {"sites[*].agents": [2]}, "replications": {"min": 3, "kpi": ["served"]}},
     "replications.kpi", "this block has min, max, kpis"),
    ({"base": "base.yaml", "factors": {"sites[*].agents": 3}}, "factors.sites[*].agents", "a list of levels"),
])
def test_bad_definitions_name_file_and_field(tmp_path, base, data, field, message):
    path = write(tmp_path, "bad.yaml", data)
    with pytest.raises(InputError, match=message) as e:
        load_experiment(path)
    text = str(e.value)
    assert str(path) in text and field in text


def test_a_level_the_config_rejects_names_the_scenario_and_the_setting(tmp_path, base):
    path = write(tmp_path, "bad.yaml", {"base": "base.yaml", "factors": {"sites[*].agents": [2, 0]}})
    with pytest.raises(InputError) as e:
        load_experiment(path)
    text = str(e.value)
    assert str(path) in text and "agents=0" in text and "at least 1 agent" in text


@pytest.mark.parametrize("path", sorted((REPO / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_experiment_validates(path):
    exp = load_experiment(path)
    assert len(exp.scenarios) >= 2
    assert exp.baseline in [s.name for s in exp.scenarios]
    assert len({s.config.digest() for s in exp.scenarios}) == len(exp.scenarios)  # scenarios really differ
    assert len({s.config.seed for s in exp.scenarios}) == 1


def test_staffing_levels_example_sets_every_density_class():
    exp = load_experiment(REPO / "experiments" / "staffing-levels.yaml")
    for s in exp.scenarios:
        assert set(s.config.network.agents.model_dump().values()) == {s.levels["agents"]}


# --------------------------------------------------------------------------- partials = fssim.metrics.tables


def test_partials_give_the_same_kpis_as_the_visits_table():
    cfg = config_from_dict({**small_network(), "horizon": {"start": "2024-04-01", "days": 35, "warmup_days": 3}})
    model = DemandModel(cfg)
    runs = [(r, simulate_sites(cfg, cfg.sites, r, model)) for r in range(2)]
    visits, sessions = visits_table(cfg, runs), sessions_table(cfg, runs)
    thr = cfg.outputs.wait_threshold_min
    ref = kpis(visits, sessions, None, threshold=thr, warmup_days=3, origin=cfg.horizon.start).set_index("replication")
    ref_site = kpis(visits, sessions, "site", threshold=thr, warmup_days=3, origin=cfg.horizon.start)
    for r, plans in runs:
        # one unit per site: the network figures must not depend on how sites are split
        parts = [(p.site.id, unit_partials(cfg, [p])) for p in plans]
        net, per_site = replication_tables(parts)
        for k in [k for k in KPIS if k in ref.columns]:  # all but those needing where citizens live
            want = ref.loc[r, k]
            if k in ("median_wait_min", "p90_wait_min"):  # from the one-second histogram
                assert abs(net[k] - want) <= 1 / BINS_PER_MIN, k
            else:
                assert net[k] == pytest.approx(want, rel=1e-12, abs=1e-9), k
        site_ref = ref_site[ref_site["replication"] == r].set_index("site_id")
        for k in [k for k in KPIS if k in ref.columns]:  # per site, quantiles are exact
            np.testing.assert_allclose(per_site.loc[site_ref.index, k].to_numpy(float),
                                       site_ref[k].to_numpy(float), rtol=1e-12, atol=1e-9, err_msg=k)
        assert net["visits"] > 0 and net["served"] < net["visits"]


def test_histogram_quantiles_follow_numpy_on_the_waits():
    rng = np.random.default_rng(3)
    waits = np.r_[np.zeros(400), rng.exponential(7.0, 1600)]
    bins = np.where(waits <= 0, -1, np.floor(waits * BINS_PER_MIN)).astype(np.int64)  # -1: no wait at all
    b, c = np.unique(bins, return_counts=True)
    qs = (0.1, 0.5, 0.9, 0.99)
    got = histogram_quantiles(b, c, qs)
    assert got[0] == 0.0  # inside the mass of zero waits: exactly 0
    for g, q in zip(got, qs):
        assert abs(g - np.quantile(waits, q)) <= 1 / BINS_PER_MIN
    # the estimate moves with the data within a second, instead of sticking to the bin
    shifted = histogram_quantiles(*np.unique(np.floor((waits + 0.004) * BINS_PER_MIN).astype(np.int64),
                                             return_counts=True), qs)
    assert shifted[2] != got[2]


def test_shards_by_departement_overseas_on_three_characters():
    cfg = config_from_dict({**small_network(), "sites": [
        {"id": "a", "commune": "08105"}, {"id": "b", "commune": "97105"}, {"id": "c", "commune": "2A004"},
        {"id": "d", "commune": "08409"}, {"id": "e"}]})
    assert [shard_key(s) for s in cfg.sites] == ["08", "971", "2A", "08", "_"]
    shards = shards_of(cfg.sites)
    assert list(shards) == ["08", "2A", "971", "_"]
    assert [s.id for s in shards["08"]] == ["a", "d"]
    assert list(shards_of(cfg.sites, max_sites=1)) == ["08.0", "08.1", "2A", "971", "_"]


def test_a_departement_with_a_fallback_site_is_still_cut_the_bus_beside_its_site():
    bus = {"id": "bus", "agents": 1, "fallback_site": "b", "stops": [
        {"commune": "08003", "lat": 49.8, "lon": 4.6, "weekday": "tue", "start": "09:00", "end": "12:00"}]}
    cfg = config_from_dict({**small_network(), "sites": [
        {"id": "a", "commune": "08105"}, {"id": "b", "commune": "08409"}, {"id": "c", "commune": "08362"}],
        "buses": [bus]})
    shards = shards_of([*cfg.sites, *cfg.buses], max_sites=2)
    assert {k: [e.id for e in v] for k, v in shards.items()} == {"08.0": ["a"], "08.1": ["b", "bus"], "08.2": ["c"]}


def test_results_directory_tables(tmp_path, base):
    exp = load_experiment(write(tmp_path, "exp.yaml", {
        "base": "base.yaml", "factors": {"sites[*].agents": [2, 3]}, "replications": 3}))
    res = run_experiment(exp, tmp_path / "out", workers=0)
    out = tmp_path / "out"
    summary = pd.read_parquet(out / "experiment.parquet")
    assert list(summary.columns) == ["scenario", "agents", "kpi", "mean", "std", "n", "half_width", "ci_low",
                                     "ci_high"]
    local = set(registry.optional_kpis("geography"))  # the access indicator needs a run's geography
    local |= set(registry.optional_kpis("resources"))  # and the stations' and visio's KPIs a site with them
    assert set(summary["kpi"]) == set(KPIS) - local and set(summary["n"]) == {3}
    reps = pd.read_parquet(out / "replications.parquet")
    assert len(reps) == 2 * 3 * len(set(KPIS) - local)
    # the summary is the replications' mean and Student-t interval
    v = reps[(reps["scenario"] == "agents=3") & (reps["kpi"] == "mean_wait_min")]["value"]
    row = res.kpi("agents=3", "mean_wait_min")
    assert row["mean"] == pytest.approx(v.mean()) and row["ci_low"] < v.mean() < row["ci_high"]
    diffs = pd.read_parquet(out / "differences.parquet")
    assert set(diffs["scenario"]) == {"agents=3"} and set(diffs["baseline"]) == {"agents=2"}
    d = diffs.set_index("kpi").loc["mean_wait_min"]
    assert d["mean"] < 0 and d["significant"]  # one more agent everywhere: shorter waits
    sites = pd.read_parquet(out / "sites.parquet")
    assert set(sites["site_id"]) == {"a", "b"}
    manifest = res.manifest
    assert manifest["replications"] == 3 and manifest["units"]["computed"] == 2 * 3 * 2
    assert (out / "scenarios").is_dir() and len(list((out / "scenarios").glob("*.yaml"))) == 2


def test_network_scenarios_differing_only_in_agents_share_their_geography(tmp_path):
    """staffing-levels builds the national network once; each level only sets the sites' agents, and the
    result is the same as building that scenario from scratch."""
    from fssim.experiment.runner import build_scenarios
    from fssim.scenario import build_scenario

    exp = load_experiment(write(tmp_path, "exp.yaml", {
        "base": str(REPO / "configs" / "france-services-2024.yaml"),
        "overrides": {"territory.departements": ["09"]}, "factors": {"network.agents.*": [2, 4]}}))
    built = build_scenarios(exp)
    assert {s.agents for s in built["agents=4"].sites} == {4}
    direct = build_scenario(exp.scenario("agents=4").config)
    assert [s.model_dump() for s in built["agents=4"].sites] == [s.model_dump() for s in direct.sites]

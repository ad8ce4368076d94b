"""Scenarios on the real map: the ANCT network of a département on the embedded territory, rollout, coverage."""
import datetime as dt
import json
import os

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from fssim.cli import app
from fssim.config import config_from_dict, load_config
from fssim.run import simulate
from fssim.scenario import build_scenario, network_coverage

from conftest import REPO, SHARED_DATA


def ardennes(**kw):
    cfg = {
        "name": "ardennes", "horizon": {"start": "2020-01-06", "days": 364}, "seed": 3, "replications": 1,
        "data_dir": str(SHARED_DATA),
        "territory": {"departements": ["08"]},
        "network": {"source": "anct", "snapshot": "2024-08", "rollout": "labelling"},
        "catchment": {"model": "population", "annual_visits": 9_000_000},
        "outputs": {"visits": True},
    }
    cfg.update(kw)
    return config_from_dict(cfg)


@pytest.fixture(scope="module")
def ardennes_2020():
    return build_scenario(ardennes())


def test_anct_network_of_a_departement(ardennes_2020):
    sc = ardennes_2020
    net = sc.network
    assert len(net) > 10 and set(net["dep"]) == {"08"}
    assert set(net["format"]) <= {"fixe", "fixe_antenne", "multisites"}
    # every site of the list in these formats is either in the network or in the problems table
    from fssim.sources.anct import load_anct
    raw = load_anct("2024-08", SHARED_DATA).sites
    raw = raw[(raw["dep"] == "08") & raw["format"].isin(["fixe", "fixe_antenne", "multisites"])]
    listed = set(net["site_id"]) | set(sc.problems.loc[sc.problems["problem"] == "no_coordinates", "site_id"])
    assert set(raw["site_id"]) <= listed


def test_rollout_follows_labelling_dates(ardennes_2020):
    roll = ardennes_2020.rollout
    assert roll["date"].is_monotonic_increasing
    assert roll["sites"].is_monotonic_increasing and roll["sites"].iloc[-1] > roll["sites"].iloc[0]
    for t in (10, 20, 30):
        assert roll[f"share_within_{t}"].is_monotonic_increasing
    assert (roll["share_within_10"] <= roll["share_within_20"]).all()
    # sites open on a date = sites labelled on or before it
    opens = pd.to_datetime(ardennes_2020.network["opens_on"])
    for d, n in zip(roll["date"], roll["sites"]):
        assert n == int((opens.isna() | (opens <= d)).sum())


def test_site_volumes_follow_catchments_at_the_national_rate(ardennes_2020):
    sc = ardennes_2020
    from fssim.geo.territory import load_territory
    france = load_territory().communes["population"].sum()
    local = sc.coverage["population"].sum()
    # annual_visits is France's volume at zero minutes from a site: the territory gets its population's
    # share of it, halved every 30 minutes of travel (the coverage minutes, up to the access time inside a
    # commune hosting a site)
    total = sc.network["visits_per_year"].sum()
    decayed = (sc.coverage["population"] * 0.5 ** (sc.coverage["minutes"] / 30)).sum()
    assert total < 9_000_000 * local / france
    assert total == pytest.approx(9_000_000 * decayed / france, rel=0.05)
    # a site opening later takes demand from its neighbours: the volumes change between phases
    site = sc.sites[0]
    assert site.demand.schedule and site.demand.ramp_up


def test_simulated_volumes_match_the_catchment_schedule():
    cfg = ardennes(horizon={"start": "2023-01-02", "days": 364}, replications=2)
    res = simulate(cfg)
    net = res.tables["network"]
    first = res.visits[res.visits["kind"].isin(["walk_in", "booked"])]
    per_rep = first.groupby("replication").size()
    expected = net["visits_per_year"].sum() * 364 / 365
    assert abs(per_rep.mean() - expected) / expected < 0.03
    assert {"network", "rollout", "coverage"} <= set(res.tables)


def test_coverage_cli_json_line(tmp_path):
    cfg = ardennes()
    p = tmp_path / "ardennes.yaml"
    p.write_text(cfg.to_yaml())
    res = CliRunner().invoke(app, ["coverage", str(p), "--date", "2021-06-30", "--json"])
    assert res.exit_code == 0, res.output
    line = json.loads(res.output.strip().splitlines()[-1])
    for key in ("sites", "population_total", "share_within_min", "cantons_total", "cantons_with_site"):
        assert key in line
    assert set(line["share_within_min"]) == {"10", "20", "30"}
    assert 0 < line["share_within_min"]["10"] <= line["share_within_min"]["30"] <= 1
    cov = network_coverage(cfg, dt.date(2021, 6, 30))
    assert line["sites"] == len(cov.sites)
    res = CliRunner().invoke(app, ["coverage", str(p), "--date", "30/06/2021"])
    assert res.exit_code == 2 and "YYYY-MM-DD" in res.output


def test_unknown_departement_is_a_clear_error():
    from fssim.errors import InputError
    with pytest.raises(InputError, match="unknown département"):
        build_scenario(ardennes(territory={"departements": ["99"]}))


@pytest.mark.parametrize("name", ["one-site", "busy-urban-site", "france-services-2024", "national-1800",
                                  "pilot-2019", "bus-rotation"])
def test_example_configs_validate(name):
    path = REPO / "configs" / f"{name}.yaml"
    cfg = load_config(path)
    assert cfg.name.startswith(name)


def test_bus_scenario_gives_stops_their_catchment_demand(tmp_path):
    cfg = load_config(REPO / "configs" / "bus-rotation.yaml", overrides={"replications": 1, "horizon.days": 91,
                                                                         "data_dir": str(SHARED_DATA)})
    sc = build_scenario(cfg)
    assert len(sc.buses) == 2 and all(b.generated for b in sc.buses)
    vols = [st.visits_per_year for b in sc.buses for st in b.stops]
    assert all(v is not None and v >= 0 for v in vols) and sum(vols) > 0
    # calibrated demand: an hour of a bus at a stop brings about what an hour of a fixed site does (the model is
    # per opening hour, × the density factor of the commune and the ramp-up of the site)
    from fssim.demand.catchment import weekly_hours
    from fssim.scenario import stop_points
    points = stop_points(sc.buses)
    bus_per_hour = sum(vols) / (points["hours_per_week"].sum() * 52.18)
    fixed = sc.network[sc.network["visits_per_year"] > 0]
    site_per_hour = fixed["visits_per_year"].sum() / (fixed["hours_json"].map(
        lambda h: weekly_hours(__import__("json").loads(h))).sum() * 52.18)
    assert 0.2 < bus_per_hour / site_per_hour < 3
    res = simulate(cfg)
    stops = res.visits.loc[res.visits["stop"] != "", "stop"]
    assert stops.nunique() > 10
    assert "stops" in res.tables and res.tables["stops"]["generated"].all()


def test_coverage_with_buses_json_line():
    p = REPO / "configs" / "bus-rotation.yaml"
    res = CliRunner().invoke(app, ["coverage", str(p), "--json"], env={"FSSIM_DATA_DIR": str(SHARED_DATA)})
    assert res.exit_code == 0, res.output
    line = json.loads(res.output.strip().splitlines()[-1])
    assert line["buses"] == 2 and "population_only_bus_within_min" in line and "cantons_only_bus" in line


def test_volume_staffing_rule_meets_erlang_c_at_the_peak():
    from fssim.engine.queueing import erlang_c_wait_exceeds

    dens = build_scenario(ardennes())
    vol_cfg = ardennes(network={"source": "anct", "snapshot": "2024-08",
                                "staffing": {"rule": "volume", "max_wait_share": 0.02, "peak_factor": 2.0}})
    vol = build_scenario(vol_cfg)
    a = {s.id: s.agents for s in dens.sites}
    b = {s.id: s.agents for s in vol.sites}
    assert set(a) == set(b) and all(b[k] >= a[k] for k in a) and sum(b.values()) > sum(a.values())
    s_mean = sum(d.share * d.service.expected for d in vol_cfg.demarches)
    net = vol.network.set_index("site_id")
    for site in vol.sites:
        hours = site.weekly_hours()
        lam = net.loc[site.id, "visits_per_year"] / (hours * 52.18) / 60 * 2.0
        if site.agents < 12:
            assert lam * s_mean < site.agents
            assert erlang_c_wait_exceeds(site.agents, lam, s_mean, 15.0) <= 0.02


def test_bench_workloads_shipped_with_the_package_are_the_repository_configs():
    from fssim.experiment.bench import WORKLOADS

    for name in ("national-1800.yaml", "france-services-2024.yaml"):
        assert (WORKLOADS / name).read_text(encoding="utf-8") == (REPO / "configs" / name).read_text(encoding="utf-8")


def test_bench_national_workload_from_an_installed_package(tmp_path):
    """A plain `pip install .` puts fssim in site-packages with no configs/ beside it: the workload still loads."""
    import shutil
    import subprocess
    import sys

    site = tmp_path / "site-packages"
    shutil.copytree(REPO / "fssim", site / "fssim", ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = (
        "import os, sys\n"
        "from fssim.experiment.bench import national_workload\n"
        "cfg, what = national_workload(0.5)\n"
        "assert cfg.name == 'national-1800' and cfg.network.placement.n_sites == 1800, what\n"
        "assert 'shipped with fssim' in what, what\n"
        f"os.environ['FSSIM_DATA_DIR'] = {str(SHARED_DATA)!r}\n"
        "cfg, what = national_workload(1.0, departements=['08'])\n"
        "assert cfg.name == 'france-services-2024' and cfg.territory.departements == ['08'], what\n"
        "print('ok')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("FSSIM_DATA_DIR", "PYTHONPATH")}
    done = subprocess.run([sys.executable, "-c", script], cwd=work, env={**env, "PYTHONPATH": str(site)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_bench_national_command_on_one_departement(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a checkout: no configs/ here
    monkeypatch.delenv("FSSIM_DATA_DIR", raising=False)
    monkeypatch.setattr("fssim.experiment.bench._has_anct_data", lambda: False)
    res = CliRunner().invoke(app, ["bench", "national", "--departements", "08", "--scale", "0.05", "--workers", "0",
                                   "--json"])
    assert res.exit_code == 0, res.output
    line = json.loads(res.output.strip().splitlines()[-1])
    from fssim.geo.territory import load_territory
    com = load_territory().communes
    share = com.loc[com["dep"] == "08", "population"].sum() / com["population"].sum()
    assert line["sites"] == round(1800 * share) and line["visits"] > 0
    assert "national-1800.yaml" in line["workload"] and "08" in line["workload"]
    # an explicit config, and an unknown département
    cfg = tmp_path / "small.yaml"
    cfg.write_text(ardennes(horizon={"start": "2024-01-01", "days": 28}).to_yaml())
    res = CliRunner().invoke(app, ["bench", "national", "--config", str(cfg), "--workers", "0", "--json"])
    assert res.exit_code == 0, res.output
    assert str(cfg) in json.loads(res.output.strip().splitlines()[-1])["workload"]
    res = CliRunner().invoke(app, ["bench", "national", "--departements", "99", "--workers", "0"])
    assert res.exit_code == 2 and "unknown département" in res.output

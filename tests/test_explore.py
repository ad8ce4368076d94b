"""The explorer without a browser: levers → config settings (the experiments' path machinery), the errors of
bad input (the config loading's own), the run manager (cache by digest, newer requests supersede older ones,
common random numbers against the baseline) and the files it writes (never over a user's file)."""
from __future__ import annotations

import pytest

from fssim.config import config_from_dict, load_config
from fssim.errors import InputError
from fssim.experiment.paths import get_setting, set_setting
from fssim.explore import levers as L
from fssim.explore.runs import RunManager

from conftest import REPO


@pytest.fixture(scope="module")
def one_site():
    cfg = load_config(REPO / "configs" / "one-site.yaml")
    data = cfg.model_dump(mode="json")
    data["horizon"]["days"], data["replications"] = 28, 2
    return config_from_dict(data)


def network_config():
    return config_from_dict({
        "name": "reseau-48", "horizon": {"start": "2024-03-04", "days": 14}, "seed": 48, "replications": 1,
        "territory": {"departements": ["48"]},
        "network": {"source": "placement", "placement": {"n_sites": 4, "max_minutes": 30}}})


def test_untouched_levers_are_the_baseline(one_site):
    base = L.baseline_levers(one_site)
    assert base["agents"] == 2 and base["saturday"] == "" and base["replications"] == 2
    cfg, changes = L.apply(one_site, base)
    assert changes == [] and cfg.digest() == one_site.digest()


def test_each_lever_is_settings_of_config_paths(one_site):
    cfg, changes = L.apply(one_site, {"agents": 3, "saturday": "09:00-12:00", "half_day": "wed",
                                      "half_day_action": "remove", "appointment_share": 0.4, "slot_minutes": 20,
                                      "no_show": 0.05, "demand_multiplier": 1.5, "replications": 1,
                                      "horizon_days": 14})
    paths = dict(changes)
    assert paths["sites[0].agents"] == 3 and paths["sites[0].hours.sat"] == "09:00-12:00"
    assert paths["sites[0].hours.wed"] == "09:00-12:00" and paths["sites[0].appointments"] is True
    assert paths["behaviour.appointment_share"] == 0.4 and paths["sites[0].demand.multiplier"] == 1.5
    # the same settings applied by the experiments' machinery give the same scenario
    data = one_site.model_dump(mode="json")
    for path, value in changes:
        set_setting(data, path, value)
    assert config_from_dict(data).digest() == cfg.digest()
    site = cfg.sites[0]
    assert site.schedule["sat"] == [(540, 720, 3)] and site.schedule["wed"] == [(540, 720, 3)]
    assert cfg.behaviour.slot_minutes == 20 and cfg.horizon.days == 14 and cfg.replications == 1
    assert site.weekly_hours() == pytest.approx(one_site.sites[0].weekly_hours() + 3 - 2.75)


def test_half_day_added_and_mix_renormalised(one_site):
    cfg, _ = L.apply(one_site, {"saturday": "14:00-16:00", "half_day": "sat", "half_day_action": "add"})
    assert [a for a, _, _ in cfg.sites[0].schedule["sat"]] == [540, 840]  # the morning it lacked
    name = one_site.demarches[-1].name
    cfg, changes = L.apply(one_site, {"mix_demarche": name, "mix_share": 0.3})
    shares = {d.name: d.share for d in cfg.demarches}
    assert shares[name] == 0.3 and sum(shares.values()) == pytest.approx(1, abs=1e-9)
    others = [d for d in one_site.demarches if d.name != name]
    ratio = shares[others[1].name] / shares[others[2].name]
    assert ratio == pytest.approx(others[1].share / others[2].share, rel=1e-6)   # the rest keep their proportions
    assert len(changes) == len(one_site.demarches)


@pytest.mark.parametrize("levers, field, words", [
    ({"agents": -1}, "sites[0].agents", "cannot be negative"),
    ({"agents": 0}, "sites[0].agents", "at least 1 agent"),
    ({"saturday": "25:00-12:00"}, "sites[0].hours.sat", "not a valid time"),
    ({"saturday": "12:00-09:00"}, "sites[0].hours.sat", "ends before it starts"),
    ({"no_show": 1.5}, "behaviour.no_show", "1.5"),
    ({"half_day": "mon", "half_day_action": "add"}, "sites[0].hours.mon", "already open"),
    ({"demand_multiplier": 0}, "demand_multiplier", "above 0"),
    ({"mix_share": 2}, "mix_share", "between 0 and 1"),
    ({"replications": "x"}, "replications", "not a number"),
])
def test_bad_levers_give_the_config_error(one_site, levers, field, words):
    with pytest.raises(InputError) as err:
        L.apply(one_site, levers)
    assert field in str(err.value) and words in str(err.value)


def test_network_levers_act_on_the_network_rules():
    cfg = network_config()
    assert L.scope(cfg) == "network"
    new, changes = L.apply(cfg, {"agents": 1, "demand_multiplier": 2, "saturday": "09:00-12:00"})
    assert dict(changes)["catchment.multiplier"] == 2 and new.network.hours["sat"] == "09:00-12:00"
    assert get_setting(new.model_dump(mode="json"), "network.agents.*") == \
        [a + 1 for a in get_setting(cfg.model_dump(mode="json"), "network.agents.*")]


def test_run_manager_caches_and_pairs_with_the_baseline(one_site, tmp_path):
    runs = RunManager(tmp_path)
    base = runs.wait(runs.submit(one_site, supersedes=False).digest)
    assert base.status == "done" and (base.run_dir / "summary.parquet").exists()
    assert runs.submit(one_site) is base                                   # same digest: from the cache
    more, _ = L.apply(one_site, {"demand_multiplier": 1.5})
    job = runs.wait(runs.submit(more).digest)
    from fssim.explore.views import differences
    d = differences(base, job)
    # the same citizens and more of them (demand drawn by inversion): more arrivals in every replication
    assert d.loc["arrivals", "ci_low"] > 0 and d.loc["arrivals", "n"] == 2
    b = base.per_rep[base.per_rep["kpi"] == "arrivals"]["value"].sum() / 2
    assert b == pytest.approx(base.result.kpi("arrivals"))


def test_a_newer_request_supersedes_an_older_one(one_site, tmp_path, monkeypatch):
    import threading
    import time

    import fssim.explore.runs as runs_module

    started, go = threading.Event(), threading.Event()
    real = runs_module.simulate

    def held(config, *, progress, workers):  # the older run is held after its first step until the newer is asked
        progress(0, 0, "building the network")
        started.set()
        go.wait(30)
        return real(config, progress=progress, workers=workers)

    monkeypatch.setattr(runs_module, "simulate", held)
    runs = RunManager(tmp_path)
    long, _ = L.apply(one_site, {"horizon_days": 365, "replications": 5})
    old = runs.submit(long)
    assert started.wait(30)
    short, _ = L.apply(one_site, {"horizon_days": 7})
    job = runs.submit(short)
    go.set()
    new = runs.wait(job.digest)
    assert new.status == "done"
    while old.status in ("queued", "running"):
        time.sleep(0.05)
    assert old.status == "superseded" and old.result is None
    assert runs.job(old.digest) is None                     # asked again, it would start afresh


def test_saved_files_never_replace_a_users_file(one_site, tmp_path):
    from fssim.explore.app import Explorer

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not written by fssim"):
        Explorer(one_site, tmp_path / "mine")
    ex = Explorer(one_site, tmp_path / "explore")
    path = ex.save_scenario(one_site)
    assert ex.save_scenario(one_site) == path                # the same scenario again: the same file
    path.write_text("# edited by hand\n")
    with pytest.raises(InputError, match="not written by fssim"):
        ex.save_scenario(one_site)
    assert load_config(ex.save_scenario(L.apply(one_site, {"agents": 3})[0])).digest() == \
        L.apply(one_site, {"agents": 3})[0].digest()
    ex.runs.wait(ex.base_job.digest)


def test_buses_lever_switches_the_configs_buses_off():
    cfg = load_config(REPO / "configs" / "bus-rotation.yaml")
    assert cfg.buses and L.baseline_levers(cfg)["buses"] is True
    off, changes = L.apply(cfg, {"buses": False})
    assert off.buses == [] and ("buses", []) in changes
    assert L.apply(cfg, {"buses": True})[0].digest() == cfg.digest()


def test_network_results_show_a_day_at_any_site(tmp_path):
    from fssim.explore.app import Explorer

    ex = Explorer(network_config(), tmp_path / "explore", lang="en")
    base = ex.runs.wait(ex.base_job.digest)
    assert base.status == "done", base.error
    cards, table, figures = ex.views_of(base)
    ids = [getattr(f, "id", None) for f in figures] + [getattr(f.children[-1], "id", None) for f in figures]
    assert "fig-map" in ids and "day-block" in ids
    day = next(f for f in figures if getattr(f, "id", None) == "day-block")
    sites = [o["value"] for o in day.children[1].children.options]
    assert len(sites) == 4 and day.children[1].children.value == sites[0]      # busiest first
    other = ex.day_of(base.digest, sites[-1])
    assert f"({sites[-1]})" in other.children[-1].children[0].children           # the lead names the site

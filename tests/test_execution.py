"""Execution: identical results whatever the backend and the number of workers; resuming after kill -9;
never reusing a unit written for another definition; sequential replications."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fssim.experiment import load_experiment, run_experiment
from fssim.experiment.store import UnitStore

REPO = Path(__file__).resolve().parents[1]
TABLES = ("experiment", "differences", "replications", "sites")


def base_config(visits_per_open_day=25):
    """Five sites in four départements (four shards: 08, 14, 2A, 971), two weeks, every feature on."""
    hours = {d: "09:00-12:00 / 14:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    return {
        "name": "exec", "horizon": {"start": "2024-03-04", "days": 14}, "seed": 5, "replications": 2,
        "demand": {"visits_per_open_day": visits_per_open_day},
        "sites": [{"id": "ard", "commune": "08105", "agents": 2, "appointments": True},
                  {"id": "cal", "commune": "14118", "agents": 2, "hours": hours},
                  {"id": "cal2", "commune": "14366", "agents": 3},
                  {"id": "gua", "commune": "97105", "agents": 2},
                  {"id": "cor", "commune": "2A004", "agents": 2}],
    }


def make(tmp_path, replications=3, **base_kw):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base_config(**base_kw)), encoding="utf-8")
    exp = {"name": "exec", "base": "base.yaml", "factors": {"sites[*].agents": [2, 3]}, "replications": replications}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp), encoding="utf-8")
    return path


def tables(out):
    return {t: pd.read_parquet(Path(out) / f"{t}.parquet") for t in TABLES}


def assert_same(a, b):
    for t in TABLES:
        pd.testing.assert_frame_equal(a[t], b[t], check_exact=True, obj=t)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    path = make(tmp)
    run_experiment(path, tmp / "out", workers=0)
    return path, tables(tmp / "out")


@pytest.mark.parametrize("workers", [1, 2])
def test_local_processes_give_identical_results(reference, tmp_path, workers):
    path, ref = reference
    res = run_experiment(path, tmp_path / "out", workers=workers)
    assert res.manifest["execution"]["backend"] == "processes"
    assert len(res.manifest["execution"]["peak_rss_mb_per_worker"]) <= workers
    assert_same(tables(tmp_path / "out"), ref)


def test_dask_cluster_gives_identical_results(reference, tmp_path):
    import distributed

    path, ref = reference
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
        res = run_experiment(path, tmp_path / "out", scheduler=c)
    assert res.manifest["execution"]["backend"] == "dask" and res.manifest["execution"]["workers"] == 2
    assert_same(tables(tmp_path / "out"), ref)


def test_a_run_on_a_dask_cluster_gives_identical_results():
    """`fssim run --scheduler`: the units of simulate() on a Dask cluster, the same tables as in this process."""
    import distributed
    from fssim.config import config_from_dict
    from fssim.run import simulate

    from conftest import small_network

    cfg = config_from_dict(small_network())
    ref = simulate(cfg, shard_size=1)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
        res = simulate(cfg, shard_size=1, scheduler=c)
    assert res.manifest["execution"]["backend"] == "dask"
    for name in ("visits", "sessions", "summary"):
        pd.testing.assert_frame_equal(getattr(res, name), getattr(ref, name))


def test_resume_after_kill_9(reference, tmp_path):
    path, ref = reference
    out = tmp_path / "out"
    # a run slowed down after each unit (2 scenarios × 3 replications × 4 shards = 24 units), killed with
    # SIGKILL once some units are on disk
    script = textwrap.dedent(f"""
        import time
        from fssim.experiment import run_experiment
        run_experiment({str(path)!r}, {str(out)!r}, workers=0, progress=lambda d, t, l: time.sleep(0.15))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    units = out / "units"
    deadline = time.time() + 60
    while time.time() < deadline:
        n = len(list(units.rglob("r*.npz"))) if units.exists() else 0
        if n >= 6 or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = len(list(units.rglob("r*.npz")))
    assert 6 <= saved < 24
    assert not (out / "experiment.parquet").exists()
    res = run_experiment(path, out, workers=0)
    assert res.manifest["units"]["reused"] == saved
    assert res.manifest["units"]["computed"] == 24 - saved
    assert not list(units.rglob(".tmp-*"))
    assert_same(tables(out), ref)


def test_units_of_another_definition_are_never_reused(tmp_path):
    path = make(tmp_path, replications=2)
    run_experiment(path, tmp_path / "out", workers=0)
    again = run_experiment(path, tmp_path / "out", workers=0)
    assert again.manifest["units"] == {"total": 16, "computed": 0, "reused": 16}
    # same names and paths, another demand: every unit is recomputed
    path = make(tmp_path, replications=2, visits_per_open_day=40)
    changed = run_experiment(path, tmp_path / "out", workers=0)
    assert changed.manifest["units"]["reused"] == 0
    fresh = tmp_path / "fresh"
    run_experiment(path, fresh, workers=0)
    assert_same(tables(tmp_path / "out"), tables(fresh))
    # a unit file holding another key is ignored and rewritten
    exp = load_experiment(path)
    store = UnitStore(tmp_path / "out")
    victim = sorted(store.root.rglob("r*.npz"))[0]
    other = sorted(store.root.rglob("r*.npz"))[1]
    victim.write_bytes(other.read_bytes())
    res = run_experiment(exp, tmp_path / "out", workers=0)
    assert res.manifest["units"]["computed"] == 1
    assert_same(tables(tmp_path / "out"), tables(fresh))


def test_sequential_replications_stop_when_precise_enough(tmp_path):
    path = make(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["replications"] = {"min": 2, "max": 7, "kpis": ["mean_wait_min", "served"], "relative_half_width": 0.04}
    path.write_text(yaml.safe_dump(data))
    res = run_experiment(path, tmp_path / "out", workers=0)
    n = res.manifest["replications"]
    hist = res.manifest["sequential"]
    assert hist[0]["replications"] == 2 and not hist[0]["precise"]
    assert [h["replications"] for h in hist] == sorted({h["replications"] for h in hist})
    s = res.summary[res.summary["kpi"].isin(["mean_wait_min", "served"])]
    precise = (s["half_width"] <= 0.04 * s["mean"].abs()).all()
    assert (precise and hist[-1]["precise"]) or n == 7
    assert set(res.summary["n"]) == {n}
    # a loose target stops at the first batch
    data["replications"]["relative_half_width"] = 5.0
    path.write_text(yaml.safe_dump(data))
    loose = run_experiment(path, tmp_path / "loose", workers=0)
    assert loose.manifest["replications"] == 2
    manifest = json.loads((tmp_path / "loose" / "experiment.json").read_text())
    assert manifest["definition"]["replications"]["relative_half_width"] == 5.0


def test_bench_national_reports_its_figures_on_a_small_network():
    from fssim.config import config_from_dict
    from fssim.experiment.bench import bench_national

    cfg = config_from_dict(base_config())
    res = bench_national(workers=0, config=cfg)
    assert {"visits", "wall_s", "visits_per_s", "peak_rss_mb", "workers"} <= set(res)
    assert res["visits"] > 1000 and res["shards"] == 4 and res["sites"] == 5
    assert res["visits_per_s"] > 0 and res["peak_rss_mb"] > 0 and res["worker_cpu_s"] > 0
    json.dumps(res)

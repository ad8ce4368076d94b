"""``fssim bench national``: one replication of the national year on N workers.

The workload is ``configs/france-services-2024.yaml`` (the real network, ≈ 10 million visits) when the data
directory holds the ANCT list, else ``configs/national-1800.yaml`` with its demand scaled to about 10 million
visits; when the embedded territory is not available either, a synthetic network of 2,600 sites in 101
départements at the network's mean volume (14 visits per open day, ≈ 10 million visits). The workload used
is always named in the result. Figures are printed, never asserted in tests.

The two configs ship with the package (``fssim/experiment/workloads/``, copies of ``configs/`` kept equal by a
test), so the benchmark runs from a plain ``pip install``; in a checkout, ``configs/<name>`` of the current
directory is used when present, and ``--config`` names any other file. ``--departements`` restricts the
workload to some départements (placed sites pro rata of population) for a quick run.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fssim.config import Config, config_from_dict, load_config, set_path
from fssim.errors import InputError
from fssim.experiment.execute import Executor, Job, site_weight
from fssim.scenario import shards_of
from fssim.experiment.partials import QUANTILE_KPIS, SUMS, histogram_quantiles, kpis_from_sums, merge_histograms

WORKLOADS = Path(__file__).resolve().parent / "workloads"


def synthetic_national(n_sites: int = 2600, scale: float = 1.0, seed: int = 2024) -> Config:
    """2,600 sites over the 101 départements, default hours and démarches, 14 visits per open day on
    average (varying ×0.4–×2.5 between sites), 2–4 agents by volume: ≈ 10 million visits in a year."""
    deps = [f"{i:02d}" for i in range(1, 96) if i != 20] + ["2A", "2B", "971", "972", "973", "974", "976"]
    rng = np.random.default_rng(seed)
    mult = np.exp(rng.normal(0, 0.45, n_sites))
    mult = mult / mult.mean()
    sites = []
    for i in range(n_sites):
        dep = deps[i % len(deps)]
        m = float(mult[i])
        sites.append({"id": f"s{i:04d}", "commune": f"{dep}{i // len(deps):03d}"[:5], "agents": 2 if m < 1.2 else
                      3 if m < 2.0 else 4, "appointments": bool(i % 3 == 0),
                      "demand": {"multiplier": round(m * scale, 4)}})
    return config_from_dict({"name": "synthetic-national-2600", "horizon": {"start": "2024-01-01", "days": 366},
                             "seed": seed, "demand": {"visits_per_open_day": 14.0}, "sites": sites,
                             "outputs": {"visits": False}})


def workload_path(name: str) -> Path:
    """``configs/<name>`` of the current directory (a checkout) when present, else the packaged copy."""
    here = Path.cwd() / "configs" / name
    return here if here.is_file() else WORKLOADS / name


def _named(path: Path) -> str:
    return f"{path.name} (shipped with fssim)" if path.parent == WORKLOADS else f"configs/{path.name}"


def _has_anct_data() -> bool:
    from fssim.sources.datadir import resolve_data_dir

    try:
        data_dir = resolve_data_dir(None)
    except InputError:
        return False
    return data_dir is not None and Path(data_dir, "france-services-2024-08.csv").exists()


def restrict(config: Config, departements: list[str]) -> Config:
    """The workload on some départements only: a placed network keeps its sites pro rata of population."""
    from fssim.geo.territory import load_territory

    updates = {"territory.departements": list(departements), "territory.regions": None}
    net = config.network
    if net is not None and net.source == "placement":
        communes = load_territory().communes
        known = set(communes["dep"])
        bad = [d for d in departements if d not in known]
        if bad:
            raise InputError(f"unknown département codes {bad}; use INSEE codes such as '08', '2A', '971'",
                             field="--departements")
        share = communes.loc[communes["dep"].isin(departements), "population"].sum() / communes["population"].sum()
        updates["network.placement.n_sites"] = max(1, round(net.placement.n_sites * share))
    data = config.model_dump(mode="json")
    for key, value in updates.items():
        set_path(data, key, value)
    return config_from_dict(data, base=config.base_dir)


def national_workload(scale: float = 1.0, config: str | Path | None = None,
                      departements: list[str] | None = None) -> tuple[Config, str]:
    """(config, description) of the national benchmark, demand multiplied by ``scale``: ``config`` when
    given, else the real network when the ANCT list is in the data directory, else national-1800; restricted
    to ``departements`` when given."""
    try:
        import fssim.geo.territory  # noqa: F401
        have_territory = True
    except ImportError:
        have_territory = False
    demand = f"demand × {scale:g}" if scale != 1 else "demand as configured"
    if config is not None:
        path = Path(config)
        cfg = load_config(path, {"catchment.multiplier": load_config(path).catchment.multiplier * scale})
        what = f"{path} ({demand})"
    elif not have_territory:
        return synthetic_national(scale=scale), \
            f"synthetic network of 2,600 sites, 14 visits per open day × {scale:g} (fssim.geo.territory not available)"
    elif _has_anct_data():
        path = workload_path("france-services-2024.yaml")
        cfg = load_config(path, {"catchment.multiplier": scale})
        what = f"{_named(path)}: ANCT list of August 2024, calibrated demand ({demand})"
    else:
        path = workload_path("national-1800.yaml")
        cfg = load_config(path, {"catchment.multiplier": scale})
        what = f"{_named(path)}, calibrated demand ({demand}; no ANCT data directory)"
    if departements:
        cfg = restrict(cfg, departements)
        what += f", départements {', '.join(departements)} only (demand pro rata of population)"
    return cfg, what


def bench_national(workers: int = 2, scale: float = 1.0, config: Config | None = None,
                   max_shard_sites: int | None = 150, *, config_path: str | Path | None = None,
                   departements: list[str] | None = None) -> dict:
    """Simulate one replication of the national year on ``workers`` local processes; returns the figures.

    ``wall_s`` covers simulation and KPI partials of every shard with the workers already started;
    ``build_s`` (scenario: placement, catchments) and ``startup_s`` (spawning workers) are given apart.
    ``worker_cpu_s`` (CPU time of the units) and ``load_average`` tell a busy machine from a slow model:
    on a dedicated machine ``wall_s`` ≈ ``worker_cpu_s / workers``.
    """
    from fssim.scenario import build_scenario

    if config is None:
        config, what = national_workload(scale, config_path, departements)
    else:
        what = config.name
    t0 = time.perf_counter()
    scenario = build_scenario(config)
    build_s = time.perf_counter() - t0
    shards = shards_of(scenario.entities(), max_shard_sites)
    order = sorted(shards, key=lambda k: -sum(site_weight(s) for s in shards[k]))
    results = {}
    with Executor(workers=workers) as ex:
        t1 = time.perf_counter()
        if ex.kind == "processes":  # start every worker before timing (imports take seconds)
            list(ex._pool.map(_noop, range(ex.n_workers * 2)))
        startup_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        ex.run([Job(config, shards[k], 0, tag=k) for k in order], lambda j, p: results.__setitem__(j.tag, p))
        parts = [results[k] for k in sorted(results)]
        sums = np.sum([p.values[:, :len(SUMS)].sum(axis=0) for p in parts], axis=0)
        _, hb, hc = merge_histograms(np.zeros(sum(len(p.hist_bin) for p in parts), np.int64),
                                     np.concatenate([p.hist_bin for p in parts]),
                                     np.concatenate([p.hist_count for p in parts]))
        quantiles = dict(zip(QUANTILE_KPIS, histogram_quantiles(hb, hc)))
        wall = time.perf_counter() - t2
    net = kpis_from_sums(pd.DataFrame([dict(zip(SUMS, sums))]), quantiles).iloc[0]
    visits = sum(int(p.info["visits"]) for p in parts)
    rss = {}
    for p in parts:
        rss[p.info["pid"]] = max(rss.get(p.info["pid"], 0.0), p.info["peak_rss_mb"])
    sim_s = sum(p.info["simulate_s"] for p in parts)
    part_s = sum(p.info["partials_s"] for p in parts)
    cpu_s = sum(p.info["simulate_cpu_s"] + p.info["partials_cpu_s"] for p in parts)
    return {"visits": visits, "wall_s": round(wall, 2), "visits_per_s": round(visits / wall, 1),
            "peak_rss_mb": round(max(rss.values()), 1), "workers": workers, "sites": len(scenario.entities()),
            "shards": len(shards), "build_s": round(build_s, 2), "startup_s": round(startup_s, 2),
            "worker_simulate_s": round(sim_s, 2), "worker_partials_s": round(part_s, 2),
            "worker_cpu_s": round(cpu_s, 2), "visits_per_cpu_s": round(visits / cpu_s, 1),
            "load_average": round(os.getloadavg()[0], 2),
            "mean_wait_min": round(float(net["mean_wait_min"]), 3),
            "p90_wait_min": round(float(net["p90_wait_min"]), 3),
            "workload": what}


def bench_staffing(workers: int = 2, replications: int = 2, target: str = "p90_wait_min<=15", *,
                   config_path: str | Path | None = None, departements: list[str] | None = None,
                   max_rounds: int = 30) -> dict:
    """National staffing by simulation (:class:`fssim.experiment.staffing.StaffingProblem`) on the national
    workload: wall time, rounds and site evaluations; ``wall_s`` includes building the scenario."""
    from fssim.experiment.staffing import StaffingProblem

    config, what = national_workload(1.0, config_path, departements)
    t0 = time.perf_counter()
    problem = StaffingProblem(config, target=[target], replications=replications, workers=workers,
                              max_rounds=max_rounds).solve()
    wall = time.perf_counter() - t0
    tot, rounds = problem.totals, problem.rounds
    evaluations = int(len(rounds))  # (site, round) pairs simulated, each with every replication
    return {"wall_s": round(wall, 2), "workers": workers, "replications": replications, "target": target,
            "sites": tot["sites"], "rounds": tot["rounds"], "site_evaluations": evaluations,
            "site_replications_per_s": round(evaluations * replications / wall, 1),
            "agents_before": tot["agents_before"], "agents_after": tot["agents_after"],
            "sites_meeting_before": tot["sites_meeting_before"], "sites_infeasible": tot["sites_infeasible"],
            "load_average": round(os.getloadavg()[0], 2), "workload": what}


def _noop(_):
    return None


def main(argv=None):  # pragma: no cover - manual use: python -m fssim.experiment.bench [workers] [scale]
    import sys

    argv = sys.argv[1:] if argv is None else argv
    workers = int(argv[0]) if argv else 2
    scale = float(argv[1]) if len(argv) > 1 else 1.0
    print(json.dumps(bench_national(workers, scale)))


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["bench_national", "national_workload", "synthetic_national"]

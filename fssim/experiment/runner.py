"""Run an experiment: build each scenario once, run its work units, summarise, write the results directory.

Outputs (``<out>/``):

* ``experiment.parquet`` — per scenario and KPI: factor columns, mean, std, n, half_width, ci_low, ci_high
  (network KPIs, Student-t across replications);
* ``differences.parquet`` — per scenario and KPI, the difference with the baseline estimated replication by
  replication (common random numbers), with its interval, the relative difference and the unpaired
  half-width for comparison;
* ``replications.parquet`` — per scenario, replication and KPI, the network value;
* ``sites.parquet`` — per scenario, site and KPI, the mean and interval across replications;
* ``experiment.json`` — definition (with its unit ``costs``), seed, replications (and the sequential history),
  each scenario's resources (agents, sites, buses over the horizon), versions, backend, timings, units computed
  and reused; ``scenarios/*.yaml`` — each scenario's resolved config;
* ``units/`` — the finished work units (resume after an interruption).
"""
from __future__ import annotations

from fssim.files import write_json, write_parquet

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from fssim.metrics import kpis as registry
from fssim.config import Config, Site
from fssim.errors import InputError
from fssim.provenance import build_manifest
from fssim.scenario import Scenario, build_scenario
from fssim.experiment.costs import resources
from fssim.experiment.design import Experiment, load_experiment
from fssim.experiment.execute import Executor, Job, site_weight
from fssim.scenario import shards_of
from fssim.experiment.partials import FIELDS, QUANTILE_KPIS, SUMS, histogram_quantiles, kpis_from_sums, merge_histograms
from fssim.experiment.stats import paired_differences, precise_enough, replications_needed, summarise
from fssim.experiment.store import UnitStore, sites_digest, slug, unit_key

Progress = Callable[[int, int, str], None]


@dataclass
class ExperimentResult:
    experiment: Experiment
    summary: pd.DataFrame           # experiment.parquet
    differences: pd.DataFrame       # differences.parquet
    replications: pd.DataFrame      # replications.parquet
    sites: pd.DataFrame             # sites.parquet
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    def kpi(self, scenario: str, kpi: str) -> pd.Series:
        s = self.summary
        row = s[(s["scenario"] == scenario) & (s["kpi"] == kpi)]
        if row.empty:
            raise KeyError(f"no KPI {kpi!r} for scenario {scenario!r}")
        return row.iloc[0]


# --------------------------------------------------------------------------- scenarios


def _without_agents(config: Config) -> str:
    d = config.model_dump(mode="json")
    if d.get("network"):
        d["network"].pop("agents", None)
    d.pop("name", None)
    return json.dumps(d, sort_keys=True, default=str)


def build_scenarios(exp: Experiment) -> dict[str, Scenario]:
    """Build every scenario once. Network scenarios that differ only in ``network.agents`` share their
    geography and catchments (built once); only the sites' agents are set again."""
    built: dict[str, Scenario] = {}
    by_geo: dict[str, Scenario] = {}
    for s in exp.scenarios:
        cfg = s.config
        if cfg.network is None:
            built[s.name] = build_scenario(cfg)
            continue
        key = _without_agents(cfg)
        if key in by_geo and by_geo[key].network is not None and "density_class" in by_geo[key].network:
            built[s.name] = _restaff(by_geo[key], cfg)
        else:
            sc = build_scenario(cfg)
            by_geo[key] = sc
            built[s.name] = sc
    return built


def _restaff(sc: Scenario, cfg: Config) -> Scenario:
    dens = dict(zip(sc.network["site_id"].astype(str), sc.network["density_class"]))
    sites = []
    for site in sc.sites:
        d = site.model_dump()
        d["agents"] = cfg.network.agents.of(dens.get(site.id))
        sites.append(Site.model_validate(d))
    return dataclasses.replace(sc, config=cfg, sites=sites)


# --------------------------------------------------------------------------- combining units


def replication_tables(parts: list):
    """Network KPIs (one row) and per-site KPIs of one replication from its units, in shard-key order."""
    frames = [p.frame() for _, p in parts]
    sites = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["site_id", "slot", *FIELDS])
    tot = sites[list(SUMS)].sum(axis=0).to_frame().T
    g = np.concatenate([np.zeros(len(p.hist_bin), np.int64) for _, p in parts]) if parts else np.zeros(0, np.int64)
    b = np.concatenate([p.hist_bin for _, p in parts]) if parts else np.zeros(0, np.int64)
    c = np.concatenate([p.hist_count for _, p in parts]) if parts else np.zeros(0, np.int64)
    _, hb, hc = merge_histograms(g, b, c)
    network = kpis_from_sums(tot, dict(zip(QUANTILE_KPIS, histogram_quantiles(hb, hc))))
    per_site = kpis_from_sums(sites.set_index("site_id"))
    return network.iloc[0], per_site


def _long(df: pd.DataFrame, id_cols: list[str]) -> pd.DataFrame:
    """KPIs in long form; the resources' KPIs (stations, visio) only when some scenario has the resource."""
    names = [k for k in registry.names() if k in df.columns or k not in registry.optional_kpis("geography")]
    names = [k for k in names if k not in registry.optional_kpis("resources") or df[k].notna().any()]
    return df.melt(id_vars=id_cols, value_vars=names, var_name="kpi", value_name="value")


# --------------------------------------------------------------------------- the run


def run_experiment(experiment: Experiment | str | Path, out: str | Path | None = None, *,
                   workers: int | None = None, scheduler=None, progress: Progress | None = None,
                   max_shard_sites: int | None = 150) -> ExperimentResult:
    """Run an experiment into a results directory (resumable) and return its tables.

    ``workers``: local processes (default: the number of CPUs; 0 runs in this process). ``scheduler``: a
    Dask scheduler address, Client or cluster (then ``workers`` is ignored). ``progress(done, total, label)``
    is called as units finish. Rerunning into the same ``out`` reuses every finished unit whose key matches.
    """
    t0 = time.perf_counter()
    exp = load_experiment(experiment) if isinstance(experiment, (str, Path)) else experiment
    out = Path(out) if out is not None else Path("runs") / exp.name
    out.mkdir(parents=True, exist_ok=True)
    store = UnitStore(out)
    store.clean_temporary()
    scenarios = build_scenarios(exp)
    t_build = time.perf_counter() - t0
    # shards, their digests and the order to run them (largest first)
    plan = []
    for s in exp.scenarios:
        sc = scenarios[s.name]
        digest = s.config.digest()
        for key, sites in shards_of(sc.entities(), max_shard_sites).items():
            plan.append((s.name, key, sites, digest, sites_digest(sites), sum(site_weight(x) for x in sites)))
    plan.sort(key=lambda r: -r[5])
    n_shards = {s.name: sum(1 for r in plan if r[0] == s.name) for s in exp.scenarios}
    empty = [n for n, k in n_shards.items() if k == 0]
    if empty:
        raise InputError(f"scenario {empty[0]!r} has no site to simulate", file=str(exp.path or ""))

    units: dict[tuple[str, int, str], object] = {}
    counts = {"computed": 0, "reused": 0}
    worker_stats: dict[int, float] = {}
    visits = [0]
    history = []
    t_sim0 = time.perf_counter()
    with Executor(workers=workers, scheduler=scheduler) as ex:
        done_reps = 0
        target = exp.rule.min if exp.rule else exp.fixed_replications
        while True:
            reps = range(done_reps, target)
            jobs, total = [], len(plan) * target
            done = len(plan) * done_reps
            for r in reps:
                for name, key, sites, cdig, sdig, _ in plan:
                    ukey = unit_key(cdig, sdig, r)
                    path = store.path(name, r, key)
                    got = store.load(path, ukey)
                    if got is not None:
                        units[(name, r, key)] = got
                        counts["reused"] += 1
                        done += 1
                    else:
                        jobs.append(Job(exp.scenario(name).config, sites, r, tag=(name, r, key, path, ukey)))
            label = f"{exp.name}: replications {done_reps + 1}–{target}" + (
                f" (at most {exp.rule.max})" if exp.rule else "")
            if progress:
                progress(done, total, label)

            def on_result(job: Job, p, _label=label, _total=total):
                nonlocal done
                name, r, key, path, ukey = job.tag
                store.save(path, ukey, p)
                units[(name, r, key)] = p
                counts["computed"] += 1
                visits[0] += int(p.info.get("visits", 0))
                pid = p.info.get("pid")
                if pid is not None:
                    worker_stats[pid] = max(worker_stats.get(pid, 0.0), float(p.info.get("peak_rss_mb", 0)))
                done += 1
                if progress:
                    progress(done, _total, _label)

            ex.run(jobs, on_result)
            done_reps = target
            if exp.rule is None:
                break
            per_rep = _per_replication(exp, units, plan, done_reps)[0]
            summ = summarise(per_rep[per_rep["kpi"].isin(exp.rule.kpis)], ["scenario", "kpi"],
                             confidence=exp.spec.confidence)
            ok = [precise_enough(m, h, exp.rule.relative_half_width, exp.rule.absolute_half_width)
                  for m, h in zip(summ["mean"], summ["half_width"])]
            need = max([replications_needed(done_reps, m, h, exp.rule.relative_half_width,
                                            exp.rule.absolute_half_width)
                        for m, h, good in zip(summ["mean"], summ["half_width"], ok) if not good] or [done_reps])
            history.append({"replications": done_reps, "precise": bool(all(ok)),
                            "worst_relative_half_width": float(
                                (summ["half_width"] / summ["mean"].abs()).replace(np.inf, np.nan).max())})
            if all(ok) or done_reps >= exp.rule.max:
                break
            target = min(exp.rule.max, max(done_reps + 1, need))
        executor_info = ex.describe()
    t_sim = time.perf_counter() - t_sim0
    per_rep, site_rep = _per_replication(exp, units, plan, done_reps)
    conf = exp.spec.confidence
    summary = summarise(per_rep, ["scenario", "kpi"], confidence=conf)
    summary = _with_levels(exp, summary)
    diffs = _with_levels(exp, paired_differences(per_rep, exp.baseline, conf))
    site_summary = summarise(site_rep, ["scenario", "site_id", "kpi"], confidence=conf)
    t_all = time.perf_counter() - t0
    manifest = build_manifest("fssim_experiment", {
        "name": exp.name,
        "file": str(exp.path) if exp.path else None,
        "definition": exp.spec.model_dump(mode="json"),
        "definition_sha256": exp.digest(),
        "base": str(exp.base_path),
        "baseline": exp.baseline,
        "seed": exp.seed,
        "replications": done_reps,
        "sequential": history or None,
        "confidence": conf,
        "scenarios": [{"name": s.name, "settings": s.settings, "config_sha256": s.config.digest(),
                       "sites": len(scenarios[s.name].sites), "buses": len(scenarios[s.name].buses),
                       "shards": n_shards[s.name],
                       "resources": resources(scenarios[s.name].sites, scenarios[s.name].buses, s.config),
                       "config": f"scenarios/{slug(s.name)}.yaml"} for s in exp.scenarios],
        "units": {"total": len(plan) * done_reps, **counts},
        "visits_simulated": visits[0],
        "execution": {**executor_info,
                      "peak_rss_mb_per_worker": {str(k): v for k, v in sorted(worker_stats.items())}},
    }, timings={"build": t_build, "simulation": t_sim, "total": t_all})
    result = ExperimentResult(exp, summary, diffs, per_rep, site_summary, manifest, out)
    write_results(result, out)
    return result


def _per_replication(exp: Experiment, units: dict, plan: list, n_reps: int):
    """Long tables of network KPIs (scenario, replication, kpi, value) and per-site KPIs."""
    rows, site_frames = [], []
    keys = {}
    for name, key, *_ in plan:
        keys.setdefault(name, []).append(key)
    for s in exp.scenarios:
        shard_keys = sorted(keys[s.name])
        for r in range(n_reps):
            parts = [(k, units[(s.name, r, k)]) for k in shard_keys]
            net, per_site = replication_tables(parts)
            rows.append({"scenario": s.name, "replication": r, **net.to_dict()})
            ps = per_site.reset_index()
            ps.insert(0, "scenario", s.name)
            ps.insert(1, "replication", r)
            site_frames.append(ps)
    per_rep = _long(pd.DataFrame(rows), ["scenario", "replication"])
    per_rep["value"] = per_rep["value"].astype(float)
    sites = _long(pd.concat(site_frames, ignore_index=True), ["scenario", "replication", "site_id"])
    sites["value"] = sites["value"].astype(float)
    return per_rep, sites


def _with_levels(exp: Experiment, df: pd.DataFrame) -> pd.DataFrame:
    """Insert the factor columns after 'scenario' (JSON text for levels that are mappings or lists)."""
    df = df.copy()
    for i, col in enumerate(exp.factor_columns):
        vals = {s.name: s.levels.get(col) for s in exp.scenarios}
        if any(isinstance(v, (dict, list)) for v in vals.values()):
            vals = {k: json.dumps(v, sort_keys=True, ensure_ascii=False) for k, v in vals.items()}
        name = col if col not in df.columns else f"factor_{col}"
        df.insert(1 + i, name, df["scenario"].map(vals))
    return df


def write_results(result: ExperimentResult, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(out / "experiment.parquet", result.summary)
    write_parquet(out / "differences.parquet", result.differences)
    write_parquet(out / "replications.parquet", result.replications)
    write_parquet(out / "sites.parquet", result.sites)
    (out / "scenarios").mkdir(exist_ok=True)
    for s in result.experiment.scenarios:
        (out / "scenarios" / f"{slug(s.name)}.yaml").write_text(s.config.to_yaml(), encoding="utf-8")
    write_json(out / "experiment.json", result.manifest)


def load_experiment_results(path: str | Path) -> ExperimentResult:
    """Read a results directory written by :func:`run_experiment`."""
    path = Path(path)
    need = ["experiment.parquet", "differences.parquet", "replications.parquet", "experiment.json"]
    missing = [n for n in need if not (path / n).exists()]
    if missing:
        raise InputError(f"not a complete experiment results directory (missing {', '.join(missing)}); "
                         "give a folder written by `fssim experiment`", file=str(path))
    manifest = json.loads((path / "experiment.json").read_text(encoding="utf-8"))
    exp = load_experiment(manifest["file"]) if manifest.get("file") and Path(manifest["file"]).exists() else None
    sites = pd.read_parquet(path / "sites.parquet") if (path / "sites.parquet").exists() else pd.DataFrame()
    return ExperimentResult(exp, pd.read_parquet(path / "experiment.parquet"),
                            pd.read_parquet(path / "differences.parquet"),
                            pd.read_parquet(path / "replications.parquet"), sites, manifest, path)

"""Run a scenario: config → simulation (replications, shards) → tables → run directory.

``simulate`` is the Python entry point (the CLI's ``fssim run`` is a thin layer over it); it returns a
:class:`RunResult` whose tables are plain DataFrames. ``RunResult.save`` writes the run directory:
``visits.parquet``, ``daily.parquet``, ``summary.parquet``, ``config.yaml`` (fully resolved) and
``manifest.json`` (config hash, seed, versions, timings); ``load_run`` reads it back.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import pandas as pd
import yaml

from .config import Config, config_from_dict, load_config
from .demand import DemandModel
from .errors import InputError
from .metrics import daily_table, sessions_table, summary_table, visits_table
from .scenario import build_scenario
from .simulation import simulate_sites

Progress = Callable[[int, int, str], None]


@dataclass
class RunResult:
    config: Config
    visits: pd.DataFrame
    daily: pd.DataFrame
    summary: pd.DataFrame
    sessions: pd.DataFrame
    manifest: dict = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # network, rollout, coverage… when built

    def kpi(self, name: str, scope: str = "network", key: str = "") -> float:
        """Mean across replications of one KPI, e.g. ``result.kpi("p90_wait_min")``."""
        s = self.summary
        row = s[(s["scope"] == scope) & (s["key"] == key) & (s["kpi"] == name)]
        if row.empty:
            raise KeyError(f"no KPI {name!r} for {scope} {key!r}")
        return float(row["mean"].iloc[0])

    def network(self) -> pd.DataFrame:
        """Network KPIs with their confidence intervals, one row per KPI."""
        s = self.summary
        return s[s["scope"] == "network"].drop(columns=["scope", "key"]).set_index("kpi")

    def save(self, out: str | Path) -> Path:
        """Write the run directory atomically (a partial directory is never left under the final name)."""
        out = Path(out)
        tmp = out.with_name(out.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        if self.config.outputs.visits:
            self.visits.to_parquet(tmp / "visits.parquet", index=False)
        self.daily.to_parquet(tmp / "daily.parquet", index=False)
        self.summary.to_parquet(tmp / "summary.parquet", index=False)
        for name, table in self.tables.items():
            table.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "config.yaml").write_text(self.config.to_yaml(), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        return out


def package_versions() -> dict[str, str]:
    names = ["fssim", "simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "plotly"]
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def machine_facts() -> dict:
    """Hardware the run used (STRESS-DES 5.4): processor, logical CPUs, memory."""
    facts = {"processor": platform.machine(), "cpus": os.cpu_count()}
    try:
        facts["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return facts


def simulate(config: Config | str | Path | dict, *, seed: int | None = None, replications: int | None = None,
             shard_size: int = 200, progress: Progress | None = None) -> RunResult:
    """Simulate a scenario and return its tables.

    ``config`` is a :class:`Config`, a YAML path or a mapping; ``seed`` and ``replications`` override the
    config's. Sites are simulated in shards of ``shard_size`` sites (results do not depend on it).
    """
    if isinstance(config, (str, Path)):
        config = load_config(config)
    elif isinstance(config, dict):
        config = config_from_dict(config)
    updates = {}
    if seed is not None:
        updates["seed"] = seed
    if replications is not None:
        if replications < 1:
            raise InputError("replications must be at least 1", field="replications")
        updates["replications"] = replications
    if updates:
        config = config_from_dict({**config.model_dump(mode="json"), **updates}, base=config.base_dir)
    t0 = time.perf_counter()
    scenario = build_scenario(config)
    t_build = time.perf_counter() - t0
    model = DemandModel(config)
    sites = scenario.entities()
    shards = scenario.shards(shard_size)
    total = config.replications * len(shards)
    thr = config.outputs.wait_threshold_min
    parts: dict[str, list[pd.DataFrame]] = {"visits": [], "sessions": [], "daily": []}
    deferred, done = 0, 0
    for rep in range(config.replications):
        for shard in shards:
            # tables are made shard by shard, so that the simulation's Python lists never pile up
            plans = simulate_sites(config, shard, rep, model)
            deferred += sum(p.log.deferred for p in plans)
            v = visits_table(config, [(rep, plans)])
            ses = sessions_table(config, [(rep, plans)])
            del plans
            parts["visits"].append(v)
            parts["sessions"].append(ses)
            parts["daily"].append(daily_table(v, ses, thr))
            done += 1
            if progress:
                progress(done, total, f"replication {rep + 1}/{config.replications}")
    t_sim = time.perf_counter() - t0 - t_build
    visits = _concat(parts.pop("visits"), ("site_id", "stop"))
    sessions = _concat(parts.pop("sessions"), ())
    daily = _concat(parts.pop("daily"), ())
    phases = scenario.phase_starts()
    summary = summary_table(visits, sessions, threshold=thr, warmup_days=config.horizon.warmup_days,
                            origin=config.horizon.start, phase_starts=phases)
    t_all = time.perf_counter() - t0
    manifest = {
        "fssim_run": 1,
        "scenario": config.name,
        "config_sha256": config.digest(),
        "seed": config.seed,
        "replications": config.replications,
        "horizon": {"start": config.horizon.start.isoformat(), "days": config.horizon.days},
        "sites": len(sites),
        "visits": int(len(visits)),
        "visits_deferred_beyond_horizon": int(deferred),
        "timings_s": {"build": round(t_build, 3), "simulation": round(t_sim, 3), "total": round(t_all, 3)},
        "data_sources": scenario.data_sources,
        "versions": package_versions(),
        "platform": platform.platform(),
        "machine": machine_facts(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("fssim") else None,
    }
    return RunResult(config, visits, daily, summary, sessions, manifest, scenario.tables())


def _concat(frames: list[pd.DataFrame], categorical: tuple[str, ...]) -> pd.DataFrame:
    """Concatenate shard tables, keeping the given columns categorical across shards."""
    frames = [f for f in frames if len(f)] or frames[:1]
    if not frames:
        return pd.DataFrame()
    for c in categorical:
        cats = pd.api.types.union_categoricals([f[c] for f in frames], sort_categories=True).categories
        for f in frames:
            f[c] = f[c].cat.set_categories(cats)
    return pd.concat(frames, ignore_index=True)


def load_run(path: str | Path) -> RunResult:
    """Read a run directory written by :meth:`RunResult.save`."""
    path = Path(path)
    need = ["daily.parquet", "summary.parquet", "config.yaml", "manifest.json"]
    missing = [n for n in need if not (path / n).exists()]
    if missing:
        raise InputError(f"not a complete fssim run directory (missing {', '.join(missing)}); "
                         "give a folder written by `fssim run`", file=str(path))
    config = config_from_dict(yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")),
                              source=str(path / "config.yaml"))
    visits = pd.read_parquet(path / "visits.parquet") if (path / "visits.parquet").exists() else pd.DataFrame()
    core = {"visits", "daily", "summary"}
    tables = {p.stem: pd.read_parquet(p) for p in sorted(path.glob("*.parquet")) if p.stem not in core}
    return RunResult(config, visits, pd.read_parquet(path / "daily.parquet"), pd.read_parquet(path / "summary.parquet"),
                     pd.DataFrame(), json.loads((path / "manifest.json").read_text(encoding="utf-8")), tables)

"""Run a scenario: config → simulation (replications, shards) → tables → run directory.

``simulate`` is the Python entry point (the CLI's ``fssim run`` is a thin layer over it); it returns a
:class:`RunResult` whose tables are plain DataFrames. ``RunResult.save`` writes the run directory:
``visits.parquet``, ``daily.parquet``, ``summary.parquet``, ``config.yaml`` (fully resolved) and
``manifest.json`` (config hash, seed, versions, timings); ``load_run`` reads it back.
"""
from __future__ import annotations

import contextvars
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import yaml

from fssim.config import Config, config_from_dict, load_config
from fssim.demand.arrivals import DemandModel
from fssim.errors import InputError
from fssim.provenance import build_manifest
from fssim.metrics.geography import access_by_commune
from fssim.metrics.tables import daily_table, sessions_table, summary_table, visits_table
from fssim.scenario import build_scenario
from fssim.engine.simulation import simulate_sites

Progress = Callable[[int, int, str], None]
#: with ``workers=None``, a run expected to simulate at least this many visits uses one worker per CPU
AUTO_WORKERS_VISITS = 200_000


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

    def save(self, out: str | Path, *, force: bool = False) -> Path:
        """Write the run directory atomically (a partial directory is never left under the final name).

        ``out`` must be new, empty or an fssim output folder; ``force`` replaces any folder (see check_output)."""
        out = Path(out)
        check_output(out, force=force)
        with _writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a run directory is an ordinary folder
        try:
            with _writing(out):
                self._write(tmp)
                _replace_dir(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return out

    def _write(self, tmp: Path) -> None:
        if self.config.outputs.visits:
            self.visits.to_parquet(tmp / "visits.parquet", index=False)
        self.daily.to_parquet(tmp / "daily.parquet", index=False)
        self.summary.to_parquet(tmp / "summary.parquet", index=False)
        for name, table in self.tables.items():
            table.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "config.yaml").write_text(self.config.to_yaml(), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2, ensure_ascii=False), encoding="utf-8")


# --------------------------------------------------------------------------- output folders
#
# One rule for every command that writes: never delete or overwrite what fssim did not write. A target is
# accepted when it does not exist, is an empty folder, or is an fssim output (a folder holding a marker below,
# a file carrying fssim's generator tag); anything else needs ``force``, and then the caller says what it replaces.

#: file in a folder → key its JSON must have for the folder to be fssim's
FSSIM_MARKERS = {"manifest.json": "fssim_run", "experiment.json": "definition", "staffing.json": "config_sha256",
                 "checksums.json": None, ".fssim-output": "fssim_output"}
#: text a file written by fssim starts with (HTML reports carry it in their head)
FSSIM_FILE_TAG = '<meta name="generator" content="fssim'
#: the same mark in the JSON files fssim writes (e.g. a calibration file)
FSSIM_JSON_TAG = '"generator": "fssim'
_ALLOWED: contextvars.ContextVar[frozenset] = contextvars.ContextVar("fssim_allowed_outputs", default=frozenset())


def is_fssim_output(path: Path) -> bool:
    """Was this folder (or file) written by fssim?"""
    if path.is_file():
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                head = f.read(4096)
                return FSSIM_FILE_TAG in head or FSSIM_JSON_TAG in head
        except OSError:
            return False
    for name, key in FSSIM_MARKERS.items():
        try:
            data = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and (key is None or key in data):
            return True
    return False


def check_output(path: str | Path, *, force: bool = False, kind: str = "folder") -> str | None:
    """Refuse (InputError) to write into ``path`` unless it is new, empty, written by fssim, or ``force``.

    ``kind`` is "folder" or "file". Returns None, or (with ``force``) a sentence saying what will be replaced.
    Also refuses a target that is the wrong kind (a file for a folder…) or in a folder fssim cannot write in.
    """
    path = Path(path)
    force = force or path.resolve() in _ALLOWED.get()
    want_dir = kind == "folder"
    if path.exists():
        if want_dir and not path.is_dir():
            raise InputError("this is a file, not a folder; give the path of a new or empty folder (or a run "
                             "directory fssim wrote)", file=str(path))
        if not want_dir and path.is_dir():
            raise InputError("this is a folder; give a file name, e.g. report.html", file=str(path))
    parent = next((p for p in ([path] if want_dir else []) + list(path.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        raise InputError(f"{parent} is a file, so nothing can be written under it; choose another place",
                         file=str(path))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"no permission to write in {parent}; choose a folder you can write in", file=str(path))
    if not path.exists() or is_fssim_output(path) or (want_dir and not any(path.iterdir())):
        return None
    foreign = sorted(p.name for p in path.iterdir()) if want_dir else [path.name]
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    if not force:
        holds, fix = (f" (it holds {shown})", "choose a new folder, empty it") if want_dir else ("", "choose "
                                                                                               "another file name")
        raise InputError(f"the {kind} exists and was not written by fssim{holds}; fssim never replaces what it "
                         f"did not write: {fix}, or add --force to replace it", file=str(path))
    n = f"{len(foreign)} {'entry' if len(foreign) == 1 else 'entries'}"
    return f"--force: replacing {path}, which was not written by fssim ({n}: {shown})"


@contextmanager
def allow_replacing(*paths: str | Path | None):
    """Within this block, ``check_output`` accepts these paths as if ``force`` were given (the CLI's --force,
    for commands whose writing happens deep inside another function)."""
    token = _ALLOWED.set(_ALLOWED.get() | {Path(p).resolve() for p in paths if p is not None})
    try:
        yield
    finally:
        _ALLOWED.reset(token)


def claim_output_dir(path: str | Path, *, force: bool = False, kind: str = "output") -> str | None:
    """``check_output`` then create the folder and mark it as fssim's (for commands that write into it in
    place, such as resumable experiments); returns check_output's sentence."""
    path = Path(path)
    note = check_output(path, force=force)
    with _writing(path):
        path.mkdir(parents=True, exist_ok=True)
        marker = path / ".fssim-output"
        if not marker.exists():
            marker.write_text(json.dumps({"fssim_output": 1, "kind": kind}) + "\n", encoding="utf-8")
    return note


@contextmanager
def _writing(path: Path):
    """OSError while writing ``path`` → InputError naming it (disk full, permissions…)."""
    try:
        yield
    except OSError as e:
        raise InputError(f"cannot write here ({e.strerror or e}); choose another folder or free some space",
                         file=str(path)) from None


def _replace_dir(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` under the name ``out``; an old ``out`` is kept aside until then."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def simulate(config: Config | str | Path | dict, *, seed: int | None = None, replications: int | None = None,
             shard_size: int = 200, progress: Progress | None = None, workers: int | None = 0,
             scheduler=None) -> RunResult:
    """Simulate a scenario and return its tables.

    ``config`` is a :class:`Config`, a YAML path or a mapping; ``seed`` and ``replications`` override the
    config's. Sites are simulated in shards (:func:`fssim.scenario.shards_of`, at most ``shard_size`` sites)
    and replications, each (replication, shard) a work unit; ``workers`` runs them on local processes (the
    experiments' executor, :class:`fssim.experiment.execute.Executor`; 0 or 1: in this process; None: one
    per CPU for a run expected to have :data:`AUTO_WORKERS_VISITS` visits or more, else in this process).
    ``scheduler``: a Dask scheduler (address or client) to run the units on instead (multi-machine).
    Results do not depend on the shard size, the number of workers nor where they run.
    ``progress(done, total, label)`` is told each phase ("building the network", "simulating", "computing
    the KPI tables"; ``total`` 0 when a phase has no counter) and each unit done.
    """
    if isinstance(config, (str, Path)):
        config = load_config(config)
    elif isinstance(config, dict):
        config = config_from_dict(config)
    if workers is not None and workers < 0:
        raise InputError(f"workers {workers} is negative; give 0 (this process) or more", field="workers")
    with naming_config(config):
        return _simulate(config, seed, replications, shard_size, progress, workers, scheduler)


@contextmanager
def naming_config(config: Config):
    """An InputError raised without a file while working on ``config`` (territory, stops, data_dir, snapshot…)
    gets the config's file name, so that every message says which scenario is wrong."""
    try:
        yield
    except InputError as e:
        if e.file or not config.source:
            raise
        raise with_file(e, config.source) from None


def with_file(e: InputError, file: str) -> InputError:
    """The same error, naming ``file``."""
    named = InputError(str(e), file=file)
    named.field = e.field
    return named


def shard_tables(config: Config, shard: list, replication: int, model: DemandModel | None = None):
    """One work unit: a shard's sites simulated for one replication, as (visits, sessions, daily, deferred).
    Tables are made unit by unit, so that the simulation's Python lists never pile up; runs in a worker."""
    plans = simulate_sites(config, shard, replication, model or DemandModel(config))
    deferred = sum(p.log.deferred for p in plans)
    v = visits_table(config, [(replication, plans)])
    ses = sessions_table(config, [(replication, plans)])
    del plans
    return v, ses, daily_table(v, ses, config.outputs.wait_threshold_min), deferred


def _simulate(config: Config, seed, replications, shard_size, progress, workers, scheduler=None) -> RunResult:
    from fssim.experiment.execute import Executor, site_weight, strip_sites

    notes = list(config.notes)
    updates = {}
    if seed is not None:
        updates["seed"] = seed
    if replications is not None:
        if replications < 1:
            raise InputError("replications must be at least 1", field="replications")
        updates["replications"] = replications
    if updates:
        source = config.source
        config = config_from_dict({**config.model_dump(mode="json"), **updates}, base=config.base_dir,
                                  source=source or "<config>")
    tell = progress or (lambda done, total, label: None)
    t0 = time.perf_counter()
    tell(0, 0, "building the network")
    scenario = build_scenario(config)
    t_build = time.perf_counter() - t0
    sites = scenario.entities()
    shards = scenario.shards(shard_size)
    units = [(rep, shard) for rep in range(config.replications) for shard in shards]
    total = len(units)
    if workers is None:  # auto: worker processes only where they gain more than their start-up (a few seconds)
        expected = sum(site_weight(e) for e in sites) * config.horizon.days / 365 * config.replications
        workers = (os.cpu_count() or 1) if expected >= AUTO_WORKERS_VISITS else 0
    n = min(workers, total) if scheduler is None else total
    executor = Executor(workers=n if n > 1 else 0, scheduler=scheduler)
    results: dict[int, tuple] = {}
    label = "simulating" + (" on the Dask cluster" if scheduler is not None else
                            f" on {n} workers" if n > 1 else "")
    tell(0, total, label)

    # on workers, the biggest shards start first (longest job first); in this process, in unit order
    order = list(range(total)) if n <= 1 else sorted(range(total), key=lambda i: -sum(map(site_weight, units[i][1])))

    def on_result(j: int, tables: tuple) -> None:
        results[order[j]] = tables
        if progress:
            rep = units[order[j]][0] if n <= 1 else None
            progress(len(results), total, label if rep is None else
                     f"simulating, replication {rep + 1}/{config.replications}")

    with executor as ex:
        if ex.kind == "inline":
            model = DemandModel(config)
            calls = [(config, units[i][1], units[i][0], model) for i in order]
        else:  # the config travels without its site list: each unit carries its own sites
            light = strip_sites(config)
            calls = [(light, units[i][1], units[i][0]) for i in order]
        ex.map(shard_tables, calls, on_result)
        execution = ex.describe()
    ordered = [results[i] for i in range(total)]  # unit order, whatever the order they finished in
    parts = {"visits": [r[0] for r in ordered], "sessions": [r[1] for r in ordered],
             "daily": [r[2] for r in ordered]}
    deferred = sum(r[3] for r in ordered)
    results.clear()
    del ordered
    thr = config.outputs.wait_threshold_min
    t_sim = time.perf_counter() - t0 - t_build
    tell(0, 0, "computing the KPI tables")
    visits = _concat(parts.pop("visits"), ("site_id", "stop", "commune"))
    sessions = _concat(parts.pop("sessions"), ())
    daily = _concat(parts.pop("daily"), ())
    phases = scenario.phase_starts()
    geography = scenario.geography()
    summary = summary_table(visits, sessions, threshold=thr, warmup_days=config.horizon.warmup_days,
                            origin=config.horizon.start, phase_starts=phases, geography=geography)
    t_all = time.perf_counter() - t0
    manifest = build_manifest("fssim_run", {
        "scenario": config.name,
        "config_sha256": config.digest(),
        "seed": config.seed,
        "replications": config.replications,
        "horizon": {"start": config.horizon.start.isoformat(), "days": config.horizon.days},
        "sites": len(sites),
        "visits": int(len(visits)),
        "visits_deferred_beyond_horizon": int(deferred),
        "execution": execution,
        "data_sources": scenario.data_sources,
    }, timings={"build": t_build, "simulation": t_sim, "total": t_all})
    if notes:
        manifest["notes"] = notes
    tables = scenario.tables()
    if geography is not None:
        tables["access"] = access_by_commune(visits, geography, thr)
    return RunResult(config, visits, daily, summary, sessions, manifest, tables)


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
    """Read a run directory written by :meth:`RunResult.save`.

    >>> import tempfile, fssim
    >>> run = fssim.simulate({"name": "aller-retour", "horizon": {"start": "2024-03-04", "days": 7},
    ...                       "sites": [{"id": "a", "agents": 1}], "demand": {"visits_per_open_day": 8}})
    >>> folder = run.save(tempfile.mkdtemp() + "/run")
    >>> back = load_run(folder)
    >>> back.summary.equals(run.summary), back.manifest["config_sha256"] == run.config.digest()
    (True, True)
    """
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

"""Work units and where they run: in this process, local worker processes, or a Dask cluster.

A national replication splits into independent shards, one per département (sites interact only through
demand assignment, decided by :func:`fssim.scenario.build_scenario` before any simulation, and every
site's random streams are its own). A work unit is (scenario, replication, shard); its result is the
shard's KPI partials (:mod:`fssim.experiment.partials`), a few kilobytes, never its visits. The parent
builds each scenario once and ships the config (without its site list) and the shard's sites, both
picklable pydantic objects. Results are keyed and sorted before being combined, so they are identical
whatever the backend, the number of workers or the order units finish in. ``Executor.map`` runs any
module-level function the same way: ``fssim run --workers N`` ships its (replication, shard) units with it.
"""
from __future__ import annotations

import os
import resource
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Callable

from fssim.config import Config, Site
from fssim.experiment.partials import UnitPartials, unit_partials


def site_weight(entity) -> float:
    """A rough size of a site's demand, to start big shards first (longest-job-first balancing)."""
    d = getattr(entity, "demand", None)
    if d is None:  # a bus: its stops' volumes when given
        return sum(s.visits_per_year or 0.0 for s in getattr(entity, "stops", [])) or 1000.0
    if d.schedule:
        return max(p.visits_per_year for p in d.schedule) or 1.0
    if d.visits_per_year:
        return d.visits_per_year
    if d.visits_per_open_day:
        return d.visits_per_open_day * 250
    return 3000.0 * d.multiplier


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class Job:
    """One work unit to run: a config (site list stripped), the shard's sites, a replication, options."""

    config: Config
    sites: list[Site]
    replication: int
    slots: bool = False
    groups: dict[str, str] | None = None
    tag: Any = None           # the caller's key, returned with the result


def strip_sites(config: Config) -> Config:
    """The config without its listed sites (they travel with each shard); no re-validation needed."""
    return config.model_copy(update={"sites": []}) if config.sites else config


def run_job(config: Config, sites: list[Site], replication: int, slots: bool = False,
            groups: dict[str, str] | None = None) -> UnitPartials:
    """Simulate one shard for one replication and reduce it to KPI partials (runs in a worker)."""
    from fssim.demand.arrivals import DemandModel
    from fssim.engine.simulation import simulate_sites

    t0, c0 = time.perf_counter(), time.process_time()
    plans = simulate_sites(config, sites, replication, DemandModel(config))
    t1, c1 = time.perf_counter(), time.process_time()
    p = unit_partials(config, plans, slots=slots, groups=groups)
    del plans
    p.info.update(simulate_s=round(t1 - t0, 4), partials_s=round(time.perf_counter() - t1, 4),
                  simulate_cpu_s=round(c1 - c0, 4), partials_cpu_s=round(time.process_time() - c1, 4),
                  pid=os.getpid(), peak_rss_mb=round(peak_rss_mb(), 1))
    return p


def _call(job: Job) -> UnitPartials:
    return run_job(job.config, job.sites, job.replication, job.slots, job.groups)


@dataclass
class Executor:
    """Runs jobs and calls ``on_result(job, partials)`` as each finishes (in completion order).

    ``workers=0``: in this process, one after the other. ``workers=N`` (default: the number of CPUs): N
    local processes (started clean from a fork server, or spawned: see :func:`_context`). ``scheduler``: a Dask scheduler address
    (``tcp://host:8786``), a ``distributed.Client`` or a ``LocalCluster``.
    """

    workers: int | None = None
    scheduler: Any = None
    _pool: Any = field(default=None, repr=False)
    _client: Any = field(default=None, repr=False)
    _own_client: bool = field(default=False, repr=False)

    @property
    def kind(self) -> str:
        if self.scheduler is not None:
            return "dask"
        return "inline" if self.workers == 0 else "processes"

    def describe(self) -> dict:
        d = {"backend": self.kind}
        if self.kind == "processes":
            d["workers"] = self.n_workers
        elif self.kind == "dask":
            d["scheduler"] = str(self._client.scheduler.address if self._client is not None else self.scheduler)
            d["workers"] = self.n_workers
        else:
            d["workers"] = 1
        return d

    @property
    def n_workers(self) -> int:
        if self.kind == "dask" and self._client is not None:
            return len(self._client.scheduler_info().get("workers", {})) or 1
        return self.workers if self.workers else (os.cpu_count() or 1)

    def __enter__(self):
        if self.kind == "processes":
            self._pool = ProcessPoolExecutor(max_workers=self.n_workers, mp_context=_context())
        elif self.kind == "dask":
            self._client, self._own_client = _dask_client(self.scheduler)
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(wait=exc[0] is None, cancel_futures=True)
            self._pool = None
        if self._client is not None and self._own_client:
            self._client.close()
        self._client = None
        return False

    def run(self, jobs: list[Job], on_result: Callable[[Job, UnitPartials], None]) -> None:
        if not jobs:
            return
        if self.kind == "inline":
            for j in jobs:
                on_result(j, _call(j))
        elif self.kind == "processes":
            self._run_pool(jobs, on_result)
        else:
            self._run_dask(jobs, on_result)

    def map(self, fn: Callable, calls: list[tuple], on_result: Callable[[int, Any], None]) -> None:
        """``fn(*args)`` for each ``args`` of ``calls`` on this executor's backend; ``on_result(i, result)`` as
        each finishes, in completion order (the caller keys results by ``i``, so that what it builds does not
        depend on that order). ``fn`` is a module-level function, its arguments picklable."""
        if self.kind == "inline":
            for i, args in enumerate(calls):
                on_result(i, fn(*args))
            return
        if self.kind == "processes":
            pending = {self._pool.submit(fn, *args): i for i, args in enumerate(calls)}
        else:
            pending = {self._client.submit(fn, *args, pure=False): i for i, args in enumerate(calls)}
        try:
            if self.kind == "processes":
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        on_result(pending.pop(f), f.result())
            else:
                from distributed import as_completed

                for f in as_completed(list(pending)):
                    on_result(pending.pop(f), f.result())
                    f.release()
        except BaseException:
            for f in pending:
                f.cancel()
            raise

    def _run_pool(self, jobs, on_result):
        pending = {}
        for j in jobs:
            j.config = strip_sites(j.config)
            pending[self._pool.submit(run_job, j.config, j.sites, j.replication, j.slots, j.groups)] = j
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    j = pending.pop(f)
                    on_result(j, f.result())
        except BaseException:
            for f in pending:
                f.cancel()
            raise

    def _run_dask(self, jobs, on_result):
        from distributed import as_completed

        client = self._client
        scattered: dict[int, Any] = {}
        futures = {}
        for j in jobs:
            key = id(j.config)
            if key not in scattered:  # one copy of each config per worker, not one per unit
                scattered[key] = client.scatter(strip_sites(j.config), broadcast=True, hash=False)
            f = client.submit(run_job, scattered[key], j.sites, j.replication, j.slots, j.groups, pure=False)
            futures[f] = j
        try:
            for f in as_completed(list(futures)):
                j = futures.pop(f)
                on_result(j, f.result())
                f.release()
        except BaseException:
            client.cancel(list(futures))
            raise
        finally:
            for s in scattered.values():
                s.release()


def _context():
    """Worker processes start clean (never a fork of this process, which may hold threads and big tables):
    'forkserver' where the platform has it, the model preloaded once in the server so that each worker
    starts in milliseconds; 'spawn' elsewhere (Windows, macOS defaults). Both are spawn-safe."""
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = get_context("forkserver")
        ctx.set_forkserver_preload(["fssim.experiment.execute"])
        return ctx
    return get_context("spawn")


def _dask_client(scheduler):
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is a declared dependency
        from fssim.errors import InputError
        raise InputError("running on a Dask cluster needs dask[distributed]: pip install 'dask[distributed]'",
                         field="--scheduler") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    if hasattr(scheduler, "scheduler_address"):  # a LocalCluster or another cluster object
        return Client(scheduler), True
    try:
        return Client(str(scheduler), timeout="20s"), True
    except (OSError, TimeoutError) as e:
        from fssim.errors import InputError
        raise InputError(f"cannot reach the Dask scheduler at {scheduler!r} ({e}); start one with "
                         "`dask scheduler` and workers with `dask worker ADDRESS`", field="--scheduler") from None

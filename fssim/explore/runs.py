"""The explorer's run manager: one what-if at a time in a background thread, earlier results kept.

A request is a validated :class:`fssim.config.Config`; its identity is ``Config.digest()``, so asking again for
a scenario already run (the baseline after moving a lever back) answers from the cache at once. The newest
request supersedes the older ones: a run still going is told at its next progress step (a shard done) and stops
there. Every finished run is written as an ordinary run directory (``<out>/runs/<digest[:12]>``, the
``fssim run`` layout) so that the report's figures and ``write_report`` read it as they read any run.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fssim.config import Config
from fssim.errors import InputError
from fssim.metrics.tables import kpis as kpis_per_replication
from fssim.run import RunResult, simulate

#: finished runs kept in memory (a one-site year is a few MB; older ones are still on disk)
CACHE_SIZE = 24


class Superseded(Exception):
    """A newer request came in: this run stops at its next step."""


@dataclass
class Job:
    digest: str
    config: Config
    status: str = "queued"        # queued, running, done, error, superseded
    done: int = 0
    total: int = 0
    phase: str = ""
    error: str = ""
    started: float = field(default_factory=time.perf_counter)
    keep: bool = False            # never superseded (the baseline)
    seconds: float = 0.0
    result: RunResult | None = None
    run_dir: Path | None = None
    per_rep: pd.DataFrame | None = None

    def progress_text(self) -> str:
        counter = f" {self.done}/{self.total}" if self.total else ""
        return f"{self.phase}{counter}" if self.phase else self.status


def per_replication(result: RunResult) -> pd.DataFrame:
    """Network KPIs per replication, long (replication, kpi, value): what paired differences need."""
    cfg = result.config
    wide = kpis_per_replication(result.visits, result.sessions, None, threshold=cfg.outputs.wait_threshold_min,
                                warmup_days=cfg.horizon.warmup_days, origin=cfg.horizon.start)
    long = wide.melt(id_vars=["replication"], var_name="kpi", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long


class RunManager:
    """Runs scenarios in the background, newest first; ``job(digest)`` tells where each one is."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._latest: str | None = None
        self._lock = threading.Lock()

    def submit(self, config: Config, *, supersedes: bool = True) -> Job:
        """Start ``config`` (or return its cached or running job); it supersedes any older request unless
        ``supersedes`` is false (the baseline, which every what-if is compared with)."""
        digest = config.digest()
        with self._lock:
            if supersedes:
                self._latest = digest
            job = self._jobs.get(digest)
            if job is not None and job.status in ("done", "running", "queued"):
                return job
            job = Job(digest, config, keep=not supersedes)
            self._jobs[digest] = job
            self._order = [d for d in self._order if d != digest] + [digest]
            self._trim()
        threading.Thread(target=self._run, args=(job,), name=f"fssim-explore-{digest[:8]}", daemon=True).start()
        return job

    def job(self, digest: str | None) -> Job | None:
        return self._jobs.get(digest) if digest else None

    def wait(self, digest: str, timeout: float = 600.0) -> Job:
        """Block until the job is no longer running (for scripts and tests)."""
        end = time.monotonic() + timeout
        while (job := self._jobs[digest]).status in ("queued", "running"):
            if time.monotonic() > end:
                raise TimeoutError(f"run {digest[:12]} still {job.status} after {timeout:.0f} s")
            time.sleep(0.05)
        return job

    def _trim(self) -> None:
        done = [d for d in self._order if self._jobs[d].status in ("done", "error", "superseded")]
        for d in done[:max(0, len(self._order) - CACHE_SIZE)]:
            self._order.remove(d)
            del self._jobs[d]

    def _run(self, job: Job) -> None:
        def progress(done: int, total: int, label: str) -> None:
            if not job.keep and self._latest != job.digest:
                raise Superseded()
            job.done, job.total, job.phase = done, total, label

        job.status, job.started = "running", time.perf_counter()
        try:
            result = simulate(job.config, progress=progress, workers=0)
            job.phase = "writing the run"
            run_dir = result.save(self.out / "runs" / job.digest[:12])
            job.per_rep = per_replication(result)
            job.result, job.run_dir = result, run_dir
            job.status = "done"
        except Superseded:
            job.status = "superseded"
        except InputError as e:
            job.status, job.error = "error", str(e)
        except Exception as e:  # shown in the page rather than lost in a thread
            job.status, job.error = "error", f"{type(e).__name__}: {e}"
        finally:
            job.seconds = time.perf_counter() - job.started
            if job.status == "superseded":  # let a later request for the same scenario start afresh
                with self._lock:
                    if self._jobs.get(job.digest) is job:
                        del self._jobs[job.digest]
                        self._order = [d for d in self._order if d != job.digest]

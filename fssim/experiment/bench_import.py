"""``fssim bench import``: how long ``import fssim`` and ``fssim --help`` take in a fresh process.

A start-up that loads pandas, SimPy, SciPy and plotly costs seconds on every command, help included; the
package loads its public names on first use (``fssim/__init__.py``) and the CLI imports the heavy modules
inside its commands. This benchmark times N fresh subprocesses of each (the median wall time) and names the
slowest imports (``python -X importtime``, by cumulative time), so a heavy import that creeps back in is seen.
Figures are printed, never asserted in tests (``tests/test_import.py`` checks which modules are loaded).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from fssim.errors import InputError

IMPORT = [sys.executable, "-c", "import fssim"]


def help_command() -> list[str]:
    """``fssim --help`` as installed next to this Python (not through a shim such as pyenv's), else the CLI
    module run by this Python."""
    script = Path(sys.executable).with_name("fssim")
    if script.is_file():
        return [sys.executable, str(script), "--help"]
    return [sys.executable, "-m", "fssim.cli", "--help"]


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise InputError(f"`{' '.join(argv[1:])}` exited with {done.returncode}: {done.stderr.strip()[-300:]}; "
                         "check the installation (pip install -e .)")
    return done


def wall_seconds(argv: list[str], runs: int = 5) -> float:
    """Median wall time of ``runs`` fresh subprocesses running ``argv``."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        _run(argv)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def slowest_imports(argv: list[str], n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` imports of ``argv`` with the largest cumulative time (module, milliseconds), from one run
    under ``python -X importtime``."""
    stderr = _run([argv[0], "-X", "importtime", *argv[1:]]).stderr
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, module = line.split("|", 2)
        if cumulative.strip().isdigit():
            rows.append((module.strip(), round(int(cumulative) / 1000, 1)))
    return sorted(rows, key=lambda r: -r[1])[:n]


def bench_import(runs: int = 5) -> dict:
    """Median wall seconds of ``python -c "import fssim"`` and of ``fssim --help`` over ``runs`` fresh
    subprocesses each, and the five slowest imports of each."""
    help_argv = help_command()
    return {"import_s": round(wall_seconds(IMPORT, runs), 3), "help_s": round(wall_seconds(help_argv, runs), 3),
            "runs": runs, "python_s": round(wall_seconds([sys.executable, "-c", "pass"], runs), 3),
            "slowest_import": slowest_imports(IMPORT), "slowest_help": slowest_imports(help_argv),
            "help_command": " ".join(Path(a).name if i < 2 else a for i, a in enumerate(help_argv)),
            "load_average": round(os.getloadavg()[0], 2)}


__all__ = ["bench_import", "slowest_imports", "wall_seconds"]

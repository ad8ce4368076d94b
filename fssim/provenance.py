"""Provenance of fssim's outputs: the one manifest builder for runs and experiments.

Every manifest (a run's ``manifest.json``, an experiment's ``experiment.json``) starts with its marker
(``{"fssim_run": 1}``…, which also tells fssim that it wrote the folder), then what the output is, then the
same provenance block: timings, package versions, platform and hardware (STRESS-DES 5.4), creation time and
the command line.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from importlib import metadata

PACKAGES = ("fssim", "simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "plotly")


def package_versions() -> dict[str, str]:
    """Python's and the main packages' versions ('not installed' for a missing one)."""
    out = {"python": platform.python_version()}
    for n in PACKAGES:
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


def build_manifest(marker: str, body: dict, *, timings: dict[str, float]) -> dict:
    """``{marker: 1, **body}`` followed by the provenance block (timings in seconds, rounded to the ms)."""
    return {
        marker: 1,
        **body,
        "timings_s": {k: round(float(v), 3) for k, v in timings.items()},
        "versions": package_versions(),
        "platform": platform.platform(),
        "machine": machine_facts(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("fssim") else None,
    }


__all__ = ["build_manifest", "package_versions", "machine_facts"]

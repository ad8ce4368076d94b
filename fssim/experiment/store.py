"""Finished work units on disk, so an interrupted experiment resumes where it stopped.

Each unit (scenario, replication, shard) is one ``.npz`` file under ``<results>/units/<scenario>/``,
written to a temporary file in the same folder, flushed to disk and renamed over the final name
(``os.replace`` is atomic), so a file under its final name is always complete, even after ``kill -9``.
Each file carries the unit's key: a hash of everything its result depends on (the scenario's resolved
config with its seed, the shard's sites, the replication, the unit options, fssim's model code). A file
whose key differs (another definition, another config, changed code) is never reused: it is recomputed
and overwritten. A staffing search (:class:`fssim.experiment.staffing.StaffingProblem` with ``store_dir``)
keeps its units here too, one folder per round, its candidate agents in the shard's sites and its search in
the unit options.
"""
from __future__ import annotations

from fssim.files import TMP_PREFIX, atomic_path

import hashlib
import json
import re
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from fssim.experiment.partials import UnitPartials

FORMAT = 1


ROOTS = ("fssim.engine.simulation", "fssim.experiment.partials")
"""The modules a unit's result is computed by; :func:`code_hash` follows their imports."""


def model_modules(roots=ROOTS) -> list[Path]:
    """Source files of ``roots`` and of every fssim module they import, directly or not (read with ast, so the
    list follows the code instead of being kept by hand)."""
    import ast
    import importlib.util

    seen: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # ``from fssim.x import name``: a name, not a module
            spec = None
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        path = Path(spec.origin)
        seen[name] = path
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("fssim"):
                todo.append(node.module)
                todo.extend(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                todo.extend(a.name for a in node.names if a.name.startswith("fssim"))
    return [seen[n] for n in sorted(seen)]


@lru_cache(maxsize=1)
def code_hash() -> str:
    """Hash of the source of the modules a unit's result depends on (the engine, the partials and what they
    import), so that cached units are recomputed when any of them changes."""
    h = hashlib.sha256()
    for path in model_modules():
        h.update(path.read_bytes())
    return h.hexdigest()


def sites_digest(sites) -> str:
    blob = json.dumps([s.model_dump(mode="json") for s in sites], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def unit_key(config_digest: str, sites_hash: str, replication: int, options: dict | None = None) -> str:
    blob = json.dumps({"format": FORMAT, "code": code_hash(), "config": config_digest, "sites": sites_hash,
                       "replication": int(replication), "options": options or {}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def slug(name: str) -> str:
    """A folder name for a scenario: readable, safe, and unique through a short hash of the name."""
    text = re.sub(r"[^A-Za-z0-9._=-]+", "_", name).strip("_")[:60] or "scenario"
    return f"{text}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class UnitStore:
    """The ``units/`` folder of a results directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root) / "units"

    def path(self, scenario: str, replication: int, shard: str) -> Path:
        return self.root / slug(scenario) / f"r{replication:04d}-{shard}.npz"

    def load(self, path: Path, key: str) -> UnitPartials | None:
        """The unit at ``path`` if it exists and was written for ``key``; None otherwise."""
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) != key:
                    return None
                info = json.loads(str(z["info"]))
                return UnitPartials(z["site_id"], z["slot"], z["values"], [str(g) for g in z["groups"]],
                                    z["hist_group"], z["hist_bin"], z["hist_count"], info)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return None  # unreadable: recompute

    def save(self, path: Path, key: str, p: UnitPartials) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), site_id=p.site_id.astype(str), slot=p.slot.astype(str), values=p.values,
                     groups=np.array(p.groups, dtype=str), hist_group=p.hist_group, hist_bin=p.hist_bin,
                     hist_count=p.hist_count, info=np.array(json.dumps(p.info)))

    def clean_temporary(self) -> int:
        """Remove temporary files left by an interrupted run; returns how many."""
        n = 0
        if self.root.exists():
            for p in self.root.rglob(f"{TMP_PREFIX}*"):
                p.unlink(missing_ok=True)
                n += 1
        return n

"""Writing files so that a file under its final name is always complete.

Every file fssim writes goes through :func:`atomic_path`: the content is written to a hidden temporary file
beside the target (same folder, so the rename stays on one file system), flushed to disk, then renamed into
place with ``os.replace`` (atomic); on any error the temporary file is removed and the target is untouched.
Whether fssim may replace an existing target (a user's file) is decided before, by the caller
(fssim.run.check_output).
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TMP_PREFIX = ".tmp-"
"""Temporary files are ``.tmp-<pid>-<name>``: hidden, and found again by :func:`temporary_files`."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """``with atomic_path(target) as tmp: write tmp`` — the target appears complete, or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{os.getpid()}-{path.name}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data) -> Path:
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_parquet(path: str | Path, df) -> Path:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def temporary_files(folder: str | Path) -> list[Path]:
    """Temporary files left under ``folder`` by an interrupted write (to clean up)."""
    return sorted(Path(folder).rglob(f"{TMP_PREFIX}*"))

"""Where the reference data (ANCT site lists…) live: one rule, used by the loaders, the CLI and tests.

Order: an explicit path (the config's ``data_dir``, relative to the config file's folder) >
the ``FSSIM_DATA_DIR`` environment variable > ``../shared/data`` from the current directory >
``../shared/data`` beside the repository > none. The data are never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import fssim
from fssim.errors import InputError

ENV_VAR = "FSSIM_DATA_DIR"


def _repo_data_dir() -> Path:
    return Path(fssim.__file__).resolve().parents[1].parent / "shared" / "data"


def _existing_dir(path: Path, setting: str, fix: str) -> Path:
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise InputError(f"data folder {path} {what}; {fix}", field=setting)
    return path.resolve()


def resolve_data_dir(configured: str | Path | None = None, *, base: Path | None = None) -> Path | None:
    """The data folder to use, or None when none is configured and the default places are absent.

    ``configured`` is the config's ``data_dir``; a relative one is taken from ``base`` (the config
    file's folder), else from the current directory. A configured or ``FSSIM_DATA_DIR`` folder that
    does not exist is an :class:`InputError`, not a silent fallback.
    """
    if configured is not None and str(configured).strip():
        path = Path(configured).expanduser()
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        return _existing_dir(
            path, "data_dir", "fix data_dir in the config (relative paths start at the config file's folder)"
        )
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _existing_dir(Path(env).expanduser(), ENV_VAR, f"set {ENV_VAR} to the folder holding the ANCT lists, or unset it")
    for candidate in (Path.cwd().parent / "shared" / "data", _repo_data_dir()):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def require_data_file(name: str, data_dir: str | Path | None) -> Path:
    """Path of ``name`` in the data folder, or an :class:`InputError` saying how to point at it."""
    if data_dir is None:
        raise InputError(
            f"no data folder found for {name}: set {ENV_VAR} or data_dir in the config to the folder "
            f"holding it (for example ../shared/data), or run `fssim data fetch`",
            file=name,
        )
    path = Path(data_dir) / name
    if not path.is_file():
        raise InputError(
            f"{name} is not in the data folder {data_dir}; set {ENV_VAR} or data_dir in the config "
            f"to the folder that holds it",
            file=str(path),
        )
    return path

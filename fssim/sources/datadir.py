"""Where the reference data (ANCT site lists…) live, and how their CSV files are read.

Order: an explicit path (the config's ``data_dir``, relative to the config file's folder) >
the ``FSSIM_DATA_DIR`` environment variable > ``../shared/data`` from the current directory >
``../shared/data`` beside the repository > none. The data are never copied into the repository.

:func:`read_csv_text` is the one CSV reader of the data loaders (ANCT lists, travel matrices): UTF-8,
comma-separated, one header row; an empty file, a binary file, another encoding, another separator, a
repeated column or a ragged line is an :class:`InputError` naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path

import pandas as pd

import fssim
from fssim.errors import InputError

ENV_VAR = "FSSIM_DATA_DIR"
EXPECTED_FILES = "france-services-YYYY-MM.csv (e.g. france-services-2024-08.csv, see the data README)"
FETCH_HINT = ("`fssim data fetch --cache FOLDER` downloads the current list as FOLDER/france-services-latest.csv "
              "(snapshot: latest)")


def _repo_data_dir() -> Path:
    return Path(fssim.__file__).resolve().parents[1].parent / "shared" / "data"


def _existing_dir(path: Path, setting: str, fix: str) -> Path:
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise InputError(f"data folder {path} (set by {setting}) {what}; it should hold {EXPECTED_FILES}; "
                         f"{fix}, or {FETCH_HINT}", field=setting)
    return path.resolve()


def data_dir_setting(folder: str | Path) -> str:
    """Which setting most likely chose ``folder``: FSSIM_DATA_DIR, the default place, else the config's data_dir."""
    folder = Path(folder).expanduser().resolve()
    env = os.environ.get(ENV_VAR, "").strip()
    if env and Path(env).expanduser().resolve() == folder:
        return ENV_VAR
    for candidate in (Path.cwd().parent / "shared" / "data", _repo_data_dir()):
        if candidate.resolve() == folder:
            return "the default place ../shared/data"
    return "data_dir in the config"


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
            f"no data folder found for {name}: neither data_dir in the config nor {ENV_VAR} is set and "
            f"../shared/data does not exist; set {ENV_VAR} or data_dir in the config to the folder "
            f"holding {EXPECTED_FILES}, or {FETCH_HINT}",
            file=name,
        )
    path = Path(data_dir) / name
    if not path.is_file():
        raise InputError(
            f"{name} is not in the data folder {data_dir} (set by {data_dir_setting(data_dir)}); "
            f"set {ENV_VAR} or data_dir in the config to the folder that holds it, or {FETCH_HINT}",
            file=str(path),
        )
    return path


# ---------------------------------------------------------------- reading CSV files

_BINARY_MAGIC = {b"PAR1": "a Parquet file", b"PK\x03\x04": "a zip or Excel (.xlsx) file",
                 b"\xd0\xcf\x11\xe0": "an Excel (.xls) file", b"%PDF": "a PDF file"}


def _raw_bytes(path: Path) -> bytes:
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError) as error:
        raise InputError(f"cannot read the file ({error})", file=str(path)) from None


def _decode(raw: bytes, path: Path, fix: str) -> str:
    try:
        return raw.decode("utf-8-sig")  # a BOM (Excel's "CSV UTF-8") is not part of the first column name
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        byte = raw[error.start:error.start + 1].hex()
        raise InputError(f"not UTF-8 text (byte 0x{byte} on line {line}: probably Latin-1 / Windows-1252, as "
                         f"written by Excel's plain \"CSV\"); fssim expects UTF-8: save it as \"CSV UTF-8\" or "
                         f"convert it (iconv -f latin1 -t utf-8); {fix}", file=str(path)) from None


def _header(text: str, path: Path, fix: str) -> list[str]:
    first = text.split("\n", 1)[0].rstrip("\r")
    for sep, name in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
        if first.count(sep) > first.count(","):
            raise InputError(f"wrong separator: this file uses {name} — fssim expects ',' (save it as "
                             f"comma-separated CSV); {fix}", file=str(path))
    names = [c.strip() for c in next(csv.reader([first]))]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InputError(f"column {name!r} appears twice in the header (columns {seen[name] + 1} and "
                             f"{i + 1}); keep one of them", file=str(path), field=name)
        seen[name] = i
    blank = [i + 1 for i, name in enumerate(names) if not name]
    if blank and len(names) > 1:
        raise InputError(f"column {blank[0]} of the header has no name (an index column or a trailing ','?); "
                         f"name it or remove it", file=str(path))
    return names


def _check_field_counts(text: str, n: int, path: Path) -> None:
    """Every line has as many fields as the header (pandas would shift a longer one onto an index column, or
    pad a shorter one with blanks, without a word)."""
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    for row in reader:
        if row and len(row) != n:
            raise InputError(f"not a readable CSV: line {reader.line_num} has {len(row)} fields, the header has "
                             f"{n}; a value containing ',' must be quoted (\"12,5\" or use 12.5)", file=str(path))


def read_csv_text(path: str | Path, *, what: str, fix: str, dtype=str) -> pd.DataFrame:
    """A UTF-8, comma-separated CSV with one header row as a DataFrame of text, or an InputError.

    ``what`` names the kind of file ("an ANCT list"), ``fix`` says what a good file looks like; both end up
    in the messages. Column names and values are stripped; blanks stay "" (never NaN).
    """
    path = Path(path)
    raw = _raw_bytes(path)
    if not raw.strip():
        raise InputError(f"the file is empty; expected {what}: {fix}", file=str(path))
    for magic, kind in _BINARY_MAGIC.items():
        if raw.startswith(magic):
            raise InputError(f"this is {kind}, not a CSV text file; expected {what}: {fix}", file=str(path))
    if b"\x00" in raw[:65536]:
        raise InputError(f"binary content (NUL bytes), not a CSV text file (UTF-16?); expected {what}: {fix}",
                         file=str(path))
    text = _decode(raw, path, fix)
    names = _header(text, path, fix)
    _check_field_counts(text, len(names), path)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=dtype, keep_default_na=False, names=names, header=0,
                            index_col=False)
    except pd.errors.ParserError as error:
        detail = str(error).strip().replace("\n", " ")
        raise InputError(f"not a readable CSV ({detail}); a value containing ',' must be quoted. Expected "
                         f"{what}: {fix}", file=str(path)) from None
    return frame.apply(lambda col: col.str.strip() if col.dtype == object else col)

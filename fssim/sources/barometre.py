"""Load the Baromètre des résultats series on France services: monthly actes (IND-323) and labels.

Two files of the data folder (see its README):

- ``barometre-ind323-actes-france-services.csv``: actes handled in one month, nationally, by région and
  by département (the DITP source ``data/ind-323.csv`` or a subset of it);
- ``barometre-labellisations-france-services-departements.csv``: cumulative labelled France services
  by département and month since January 2020 (the Etalab indicator ``nb-labellisations-france-services``;
  a file holding several indicators, such as the Etalab sector file, is filtered on it).

Every data row is kept; findings (unknown département, unpadded code, a cumulative count that falls…)
go to a ``problems`` table. Structural faults (missing column, unreadable date or number, a zone and
month given twice) are :class:`~fssim.errors.InputError` naming the file, the line and the column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fssim.sources.fetch import file_sha256
from fssim.sources.datadir import read_csv_text, require_data_file, resolve_data_dir
from fssim.errors import InputError

ACTES_FILE = "barometre-ind323-actes-france-services.csv"
LABELS_FILE = "barometre-labellisations-france-services-departements.csv"
ACTES_INDICATOR = "IND-323"
LABELS_INDICATOR = "nb-labellisations-france-services"

ACTES_COLUMNS = ("indic_id", "enforce_zone_id", "metric_enforce_date", "maille", "indic_vi", "indic_va", "indic_vc")
LABELS_COLUMNS = ("id_indicateur", "code_departement", "libelle_departement", "date", "valeur")
PROBLEM_COLUMNS = ["source_row", "field", "problem", "value", "detail"]
LEVELS = {"NAT": "national", "REG": "region", "DEPT": "departement"}

_DEP_CODE = re.compile(r"^(?:\d{2}|2[AB]|97\d)$")
_ZONE = {"NAT": re.compile(r"^FRANCE$"), "REG": re.compile(r"^R(\w+)$"), "DEPT": re.compile(r"^D(\w+)$")}


class _Problems:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, line: int, field: str, problem: str, value: object = "", detail: str = "") -> None:
        self.rows.append({"source_row": int(line), "field": field, "problem": problem,
                          "value": "" if value is None else str(value), "detail": detail})

    def frame(self) -> pd.DataFrame:
        out = pd.DataFrame(self.rows, columns=PROBLEM_COLUMNS)
        return out.sort_values(["source_row", "field"], kind="stable").reset_index(drop=True)


@dataclass
class ActesSeries:
    """Monthly actes of IND-323.

    ``actes``: level (national, region, departement), zone (``FRANCE``, région or département code),
    dep (département code, "" above), month (first day, datetime), actes (float), source_row.
    ``targets``: the same keys with target (actes a month aimed at). ``problems``: source_row, field,
    problem, value, detail.
    """

    actes: pd.DataFrame
    targets: pd.DataFrame
    problems: pd.DataFrame
    source: str
    sha256: str

    @property
    def national(self) -> pd.DataFrame:
        """month, actes: the national series."""
        rows = self.actes[self.actes["level"] == "national"]
        return rows[["month", "actes"]].reset_index(drop=True)

    @property
    def departements(self) -> pd.DataFrame:
        """dep, month, actes: the département rows."""
        rows = self.actes[self.actes["level"] == "departement"]
        return rows[["dep", "month", "actes"]].reset_index(drop=True)


@dataclass
class LabelSeries:
    """Labelled France services by département and month.

    ``labels``: dep, name, month (first day of the month, datetime), labels (cumulative at the end
    of the month), new (labelled during the month; the first month counts from zero), source_row.
    """

    labels: pd.DataFrame
    problems: pd.DataFrame
    source: str
    sha256: str

    def national(self) -> pd.DataFrame:
        """month, labels: the national cumulative count."""
        return self.labels.groupby("month", as_index=False)["labels"].sum()


# ---------------------------------------------------------------- shared checks

def _locate(path: str | Path | None, name: str, data_dir: str | Path | None) -> Path:
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise InputError(f"no such file; give the path of {name} or leave it out to use the data folder",
                             file=str(file))
        return file
    return require_data_file(name, resolve_data_dir(data_dir))


def _require(frame: pd.DataFrame, columns: tuple[str, ...], path: Path, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; {what} has columns {', '.join(columns)}",
                         file=str(path), field=missing[0])


def _dates(raw: pd.Series, path: Path, column: str, lines: np.ndarray) -> pd.Series:
    dates = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise InputError(f"line {lines[i]}: {raw.iat[i]!r} is not a date; write YYYY-MM-DD",
                         file=str(path), field=column)
    return dates


def _numbers(raw: pd.Series, path: Path, column: str, lines: np.ndarray) -> np.ndarray:
    """Floats (NaN where blank); a non-number or a negative count is an InputError."""
    values = pd.to_numeric(raw.str.replace(",", ".", regex=False).replace("", np.nan), errors="coerce")
    bad = (values.isna() & (raw != "")).to_numpy() | (values < 0).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise InputError(f"line {lines[i]}: {raw.iat[i]!r} is not a count (a number ≥ 0, decimal point)",
                         file=str(path), field=column)
    return values.to_numpy(dtype=float)


def _dep_code(raw: str, line: int, field: str, known: set[str] | None, problems: _Problems) -> str:
    code = raw.strip().upper()
    if code.isdigit() and len(code) == 1:
        problems.add(line, field, "unpadded_code", raw, "leading zero restored")
        code = code.zfill(2)
    if not _DEP_CODE.match(code):
        problems.add(line, field, "malformed_departement", raw, "not a département code (01…95, 2A, 2B, 97x)")
    elif known is not None and code not in known:
        problems.add(line, field, "unknown_departement", raw, "département absent from the territory")
    return code


def _known_deps() -> set[str]:
    from fssim.geo.territory import load_territory

    return set(load_territory().departements["code"])


def _no_duplicates(keys: pd.DataFrame, path: Path, field: str, lines: np.ndarray) -> None:
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        first = keys[dup].iloc[0]
        where = lines[(keys == first).all(axis=1).to_numpy()]
        raise InputError(f"{' '.join(map(str, first.tolist()))} given twice, on lines {', '.join(map(str, where))}; "
                         f"keep one row per zone and month", file=str(path), field=field)


# ---------------------------------------------------------------- IND-323 actes

def _zones(frame: pd.DataFrame, path: Path, lines: np.ndarray, known: set[str] | None,
           problems: _Problems) -> tuple[list[str], list[str], list[str]]:
    levels, zones, deps = [], [], []
    for i, (zone, maille) in enumerate(zip(frame["enforce_zone_id"].tolist(), frame["maille"].tolist())):
        if maille not in LEVELS:
            raise InputError(f"line {lines[i]}: maille {maille!r} is not one of {', '.join(LEVELS)}",
                             file=str(path), field="maille")
        match = _ZONE[maille].match(zone)
        if match is None:
            raise InputError(f"line {lines[i]}: zone {zone!r} does not fit maille {maille} "
                             f"(FRANCE, R + région code, D + département code)", file=str(path),
                             field="enforce_zone_id")
        dep = _dep_code(match.group(1), int(lines[i]), "enforce_zone_id", known, problems) if maille == "DEPT" else ""
        levels.append(LEVELS[maille])
        zones.append(dep or (match.group(1) if maille == "REG" else zone))
        deps.append(dep)
    return levels, zones, deps


def _read(path: Path, what: str, fix: str) -> pd.DataFrame:
    """The file's rows as text (the shared CSV reader's checks), and a clear error when it has none."""
    frame = read_csv_text(path, what=what, fix=fix)
    if frame.empty:
        raise InputError(f"the file has a header but no row; expected {what}: {fix}", file=str(path))
    return frame


def load_actes(path: str | Path | None = None, data_dir: str | Path | None = None,
               *, check_territory: bool = True) -> ActesSeries:
    """Load IND-323 (monthly actes): ``path``, or :data:`ACTES_FILE` in the data folder.

    A row's value is ``indic_va`` (current value), or ``indic_vi`` (initial value) when that is blank;
    rows with only ``indic_vc`` are the targets.
    """
    path = _locate(path, ACTES_FILE, data_dir)
    frame = _read(path, "the Baromètre IND-323 file", "the file data/ind-323.csv of the Baromètre")
    _require(frame, ACTES_COLUMNS, path, "the Baromètre IND-323 file")
    lines = np.arange(len(frame)) + 2
    other = frame["indic_id"] != ACTES_INDICATOR
    if other.any():
        i = int(other.to_numpy().argmax())
        raise InputError(f"line {lines[i]}: indicator {frame['indic_id'].iat[i]!r}, expected {ACTES_INDICATOR} "
                         f"(monthly actes); give the file data/ind-323.csv of the Baromètre", file=str(path),
                         field="indic_id")
    problems = _Problems()
    levels, zones, deps = _zones(frame, path, lines, _known_deps() if check_territory else None, problems)
    months = _dates(frame["metric_enforce_date"], path, "metric_enforce_date", lines)
    for i in np.flatnonzero((months.dt.day != 1).to_numpy()):
        problems.add(lines[i], "metric_enforce_date", "not_first_of_month", frame["metric_enforce_date"].iat[i],
                     "a monthly value dated inside the month: taken as that month")
    months = months.dt.to_period("M").dt.to_timestamp()
    vi = _numbers(frame["indic_vi"], path, "indic_vi", lines)
    va = _numbers(frame["indic_va"], path, "indic_va", lines)
    vc = _numbers(frame["indic_vc"], path, "indic_vc", lines)
    for i in np.flatnonzero(np.isfinite(vi) & np.isfinite(va) & (vi != va)):
        problems.add(lines[i], "indic_vi,indic_va", "two_values", f"{vi[i]:g} / {va[i]:g}",
                     "initial and current values differ: the current value is used")
    value = np.where(np.isfinite(va), va, vi)
    table = pd.DataFrame({"level": levels, "zone": zones, "dep": deps, "month": months.to_numpy(),
                          "actes": value, "target": vc, "source_row": lines})
    _no_duplicates(table.loc[np.isfinite(value), ["level", "zone", "month"]].astype(str), path, "metric_enforce_date",
                   lines[np.isfinite(value)])
    empty = ~np.isfinite(value) & ~np.isfinite(vc)
    for i in np.flatnonzero(empty):
        problems.add(lines[i], "indic_va", "no_value", "", "neither a value nor a target: kept as NaN")
    actes = table[~np.isfinite(vc) | np.isfinite(value)].drop(columns="target").reset_index(drop=True)
    targets = table[np.isfinite(vc)].drop(columns="actes").reset_index(drop=True)
    return ActesSeries(actes=actes, targets=targets, problems=problems.frame(), source=str(path),
                       sha256=file_sha256(path))


# ---------------------------------------------------------------- labels by département

def load_labels(path: str | Path | None = None, data_dir: str | Path | None = None,
                *, check_territory: bool = True) -> LabelSeries:
    """Load the cumulative labels by département and month: ``path``, or :data:`LABELS_FILE`."""
    path = _locate(path, LABELS_FILE, data_dir)
    frame = _read(path, "the Baromètre labels file", "the Baromètre file of France services labels by "
                  "département")
    _require(frame, LABELS_COLUMNS, path, "the Baromètre labels file")
    lines = np.arange(len(frame)) + 2
    problems = _Problems()
    mine = (frame["id_indicateur"] == LABELS_INDICATOR).to_numpy()
    if not mine.any():
        raise InputError(f"no row of indicator {LABELS_INDICATOR}; give the Baromètre file of France services "
                         f"labels by département", file=str(path), field="id_indicateur")
    for name, count in frame.loc[~mine, "id_indicateur"].value_counts(sort=False).items():
        first = int(lines[(frame["id_indicateur"] == name).to_numpy()].min())
        problems.add(first, "id_indicateur", "other_indicator", name, f"{count} rows of another indicator left out")
    frame, lines = frame[mine].reset_index(drop=True), lines[mine]
    known = _known_deps() if check_territory else None
    deps = [_dep_code(c, int(n), "code_departement", known, problems)
            for c, n in zip(frame["code_departement"].tolist(), lines)]
    ends = _dates(frame["date"], path, "date", lines)
    for i in np.flatnonzero(~ends.dt.is_month_end.to_numpy()):
        problems.add(lines[i], "date", "not_month_end", frame["date"].iat[i],
                     "a cumulative count dated inside the month: taken as that month's")
    values = _numbers(frame["valeur"], path, "valeur", lines)
    blank = ~np.isfinite(values)
    for i in np.flatnonzero(blank):
        problems.add(lines[i], "valeur", "no_value", "", "no count: kept as NaN")
    table = pd.DataFrame({"dep": deps, "name": frame["libelle_departement"].to_numpy(),
                          "month": ends.dt.to_period("M").dt.to_timestamp().to_numpy(), "labels": values,
                          "source_row": lines})
    _no_duplicates(table[["dep", "month"]].astype(str), path, "date", lines)
    table = table.sort_values(["dep", "month"], kind="stable").reset_index(drop=True)
    previous = table.groupby("dep")["labels"].shift(1).fillna(0.0)
    table.insert(4, "new", table["labels"] - previous)
    for row in table[table["new"] < 0].itertuples(index=False):
        problems.add(row.source_row, "valeur", "decreasing_cumulative", f"{row.labels:g}",
                     f"cumulative count falls by {-row.new:g} in {row.dep} (a label withdrawn or a correction)")
    return LabelSeries(labels=table, problems=problems.frame(), source=str(path), sha256=file_sha256(path))

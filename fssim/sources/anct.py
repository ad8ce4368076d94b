"""Load an ANCT list of France services sites (2024 list or 2020 snapshots) into a checked SiteList.

Every row of the file becomes one site (none silently dropped); data-quality findings go to
``SiteList.problems`` instead. Structural faults (missing column, duplicate ``id_fs``, unreadable
coordinate) are :class:`~fssim.errors.InputError` naming the file, the line and the column.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pandas as pd

from fssim.sources.datadir import read_csv_text, require_data_file, resolve_data_dir
from fssim.errors import InputError
from fssim.sources.hours import (DAY_COLUMNS, DAYS, HoursParseError, OverlapError, open_days, parse_day, reads_as_closed,
                         weekly_hours)

FORMATS = ("fixe", "fixe_antenne", "multisites", "bus", "itinerante")
ROLES = ("principal", "antenne")
MOBILE_FORMATS = frozenset({"bus", "itinerante"})

FORMAT_2024 = {
    "Fixe": "fixe",
    "Fixe_antenne(s)": "fixe_antenne",
    "Multisites": "multisites",
    "Bus_équivalent": "bus",
    "Itinérante": "itinerante",
}
ROLE_2024 = {"Principal": "principal", "Antenne": "antenne"}

COMMON_COLUMNS = ("id_fs", "insee_dep", "lib_fs", "insee_com", "code_postal", "lib_com", "latitude", "longitude",
                  *DAY_COLUMNS.values())
REQUIRED_2024 = (*COMMON_COLUMNS, "type_fs", "format_fs")
REQUIRED_2020 = (*COMMON_COLUMNS, "itinerance")

PROBLEM_COLUMNS = ["site_id", "source_row", "field", "problem", "value", "detail"]
DUPLICATE_DISTANCE_M = 50.0
TOKEN_SIMILARITY = 0.8

_COMMUNE_CODE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
_SNAPSHOT = re.compile(r"^(?:\d{4}-\d{2}|latest)$")  # "latest": written by `fssim data fetch`


@dataclass
class SiteList:
    """Sites of one ANCT list, the problems found in it, and where it came from.

    ``sites`` columns: site_id, name, dep, commune, postcode, commune_name, address, lat, lon,
    hours (weekly calendar, see :mod:`fssim.sources.hours`), weekly_hours, open_days, has_hours,
    appointments, role, format, mobile, group, labelled_on, source_row (line in the CSV; the
    header is line 1). ``problems`` columns: site_id, source_row, field, problem (a short code),
    value (the raw value), detail.
    """

    sites: pd.DataFrame
    problems: pd.DataFrame
    source: str
    sha256: str
    generation: str = "2024"

    def summary(self) -> pd.DataFrame:
        """Site counts by format (rows) and role (columns), with totals."""
        table = pd.crosstab(
            pd.Categorical(self.sites["format"], categories=FORMATS),
            pd.Categorical(self.sites["role"], categories=ROLES),
            dropna=False,
        )
        table.index = pd.Index(list(FORMATS), name="format")
        table.columns = pd.Index(list(ROLES), name="role")
        table["total"] = table.sum(axis=1)
        table.loc["total"] = table.sum(axis=0)
        return table.astype(int)

    def rollout(self) -> pd.DataFrame:
        """Sites by labelling date: date, opened that day, cumulative count (undated sites left out)."""
        dated = self.sites["labelled_on"].dropna()
        opened = dated.value_counts().sort_index()
        return pd.DataFrame(
            {"date": opened.index, "opened": opened.to_numpy(), "cumulative": opened.cumsum().to_numpy()}
        ).reset_index(drop=True)

    def open_at(self, date: str | pd.Timestamp) -> int:
        """Number of listed sites labelled on or before ``date``."""
        return int((self.sites["labelled_on"] <= pd.Timestamp(date)).sum())


# ---------------------------------------------------------------- locating and reading the file

def available_snapshots(data_dir: str | Path | None = None) -> list[str]:
    """Snapshot names (``"2024-08"``, ``"2020-10"``…) present in the data folder."""
    folder = resolve_data_dir(data_dir)
    if folder is None:
        return []
    return sorted(p.stem.removeprefix("france-services-") for p in folder.glob("france-services-*.csv"))


def _locate(path_or_snapshot: str | Path, data_dir: str | Path | None) -> Path:
    text = str(path_or_snapshot)
    if isinstance(path_or_snapshot, Path) or not _SNAPSHOT.match(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise InputError(
                "no such file; give a snapshot name such as 2024-08 or the path of a CSV of the ANCT schema",
                file=text,
            )
        return path
    folder = resolve_data_dir(data_dir)
    name = f"france-services-{text}.csv"
    try:
        return require_data_file(name, folder)
    except InputError as error:
        known = available_snapshots(folder) if folder else []
        hint = f" (snapshots there: {', '.join(known)})" if known else ""
        raise InputError(f"{error}{hint}") from None


ANCT_FIX = ("the ANCT list of France services sites, UTF-8, comma-separated, one header row "
            "(id_fs,insee_dep,lib_fs,…,h_lundi,…,type_fs,format_fs…) as published on data.gouv.fr")


def _read_csv(path: Path) -> pd.DataFrame:
    frame = read_csv_text(path, what="an ANCT list", fix=ANCT_FIX)
    if frame.empty:
        raise InputError(f"the file has a header but no site row; expected {ANCT_FIX}", file=str(path))
    return frame


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _generation(frame: pd.DataFrame, path: Path) -> str:
    if "type_fs" in frame.columns:
        required, generation = REQUIRED_2024, "2024"
    elif "itinerance" in frame.columns or "categorie" in frame.columns:
        required, generation = REQUIRED_2020, "2020"
    else:
        required, generation = REQUIRED_2024, "2024"
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = list(frame.columns)
        seen = ", ".join(found[:8]) + (", …" if len(found) > 8 else "")
        lead = ("this is not an ANCT list (none of its columns is)" if len(missing) == len(required)
                else f"missing column(s) {', '.join(missing)}")
        raise InputError(
            f"{lead}; the header has {len(found)} column(s): {seen}; expected the ANCT list schema "
            f"({', '.join(required)})", file=str(path), field=missing[0],
        )
    return generation


# ---------------------------------------------------------------- row-level parsing

class _Problems:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, site_id: str, line: int, field: str, problem: str, value: object = "", detail: str = "") -> None:
        self.rows.append({"site_id": site_id, "source_row": line, "field": field, "problem": problem,
                          "value": "" if value is None else str(value), "detail": detail})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=PROBLEM_COLUMNS)


def _check_ids(frame: pd.DataFrame, path: Path, lines: np.ndarray) -> pd.Series:
    ids = frame["id_fs"]
    blank = ids == ""
    if blank.any():
        line = int(lines[blank.to_numpy().argmax()])
        raise InputError(f"line {line}: id_fs is blank; every site needs its ANCT identifier",
                         file=str(path), field="id_fs")
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        where = [int(n) for n in lines[(ids == first).to_numpy()]]
        raise InputError(
            f"duplicate id_fs {first} on lines {', '.join(map(str, where))}; each site must be listed once "
            f"(remove or renumber the repeated row)", file=str(path), field="id_fs",
        )
    return ids


def _coordinate(frame: pd.DataFrame, column: str, limit: float, path: Path, lines: np.ndarray,
                problems: _Problems) -> np.ndarray:
    values = np.full(len(frame), np.nan)
    ids = frame["id_fs"].tolist()
    for i, raw in enumerate(frame[column].tolist()):
        if raw == "":
            problems.add(ids[i], int(lines[i]), column, "missing_coordinates", raw,
                         "no coordinate: the site is kept with NaN")
            continue
        try:
            value = float(raw.replace(",", "."))
        except ValueError:
            raise InputError(f"line {lines[i]}: {column} {raw!r} is not a number (decimal degrees, WGS 84)",
                             file=str(path), field=column) from None
        if not math.isfinite(value) or abs(value) > limit:
            raise InputError(f"line {lines[i]}: {column} {raw!r} is outside ±{limit:g} degrees",
                             file=str(path), field=column)
        values[i] = value
    return values


def _codes(frame: pd.DataFrame, lines: np.ndarray, problems: _Problems) -> tuple[list, list, list]:
    """Zero-padded dep / commune / postcode codes, with problems for missing or odd commune codes."""
    deps, communes, postcodes = [], [], []
    for i, (site, dep, com, cp) in enumerate(zip(frame["id_fs"].tolist(), frame["insee_dep"].tolist(),
                                                 frame["insee_com"].tolist(), frame["code_postal"].tolist())):
        line = int(lines[i])
        if dep.isdigit() and len(dep) == 1:
            problems.add(site, line, "insee_dep", "unpadded_code", dep, "leading zero restored")
            dep = dep.zfill(2)
        if cp.isdigit() and len(cp) == 4:
            problems.add(site, line, "code_postal", "unpadded_code", cp, "leading zero restored")
            cp = cp.zfill(5)
        if com.isdigit() and len(com) == 4 and dep.isdigit() and len(dep) == 2 and dep.startswith("0"):
            problems.add(site, line, "insee_com", "unpadded_code", com, "leading zero restored")
            com = com.zfill(5)
        if com == "":
            problems.add(site, line, "insee_com", "missing_insee_com", com, "no INSEE commune code")
        elif not _COMMUNE_CODE.match(com):
            problems.add(site, line, "insee_com", "malformed_insee_com", com,
                         "not a 5-character INSEE code (truncated?)")
        elif dep and not com.startswith(dep if len(dep) == 3 else dep[:2]):
            problems.add(site, line, "insee_com", "commune_outside_departement", com,
                         f"commune {com} is not in département {dep}")
        deps.append(dep)
        communes.append(com)
        postcodes.append(cp)
    return deps, communes, postcodes


def _read_day(text: str) -> tuple[list, str | None, str]:
    """(intervals, problem code or None, detail) of one cell; never raises, never drops text silently."""
    try:
        intervals = parse_day(text)
    except OverlapError as error:
        try:
            return parse_day(text, merge_overlaps=True), "overlapping_hours", f"{error}; merged"
        except HoursParseError as other:  # overlap in one schedule, another fault in the next
            return [], "malformed_hours", f"{other}; day left closed"
    except HoursParseError as error:
        return [], "malformed_hours", f"{error}; day left closed"
    if not intervals and not reads_as_closed(text):
        return [], "unread_hours", "no opening time found in this text; day left closed"
    return intervals, None, ""


def _hours(frame: pd.DataFrame, lines: np.ndarray, problems: _Problems) -> list[dict]:
    calendars = []
    ids = frame["id_fs"].tolist()
    texts = {day: frame[column].tolist() for day, column in DAY_COLUMNS.items()}
    for i in range(len(frame)):
        site, line = ids[i], int(lines[i])
        calendar = {day: [] for day in DAYS}
        for day, column in DAY_COLUMNS.items():
            text = texts[day][i]
            calendar[day], problem, detail = _read_day(text)
            if problem:
                problems.add(site, line, column, problem, text, detail)
        calendars.append(calendar)
    return calendars


def _labelled_on(frame: pd.DataFrame, lines: np.ndarray, problems: _Problems) -> pd.Series:
    if "labelled_on" in frame.columns:
        raw = frame["labelled_on"]
        dates = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
    elif "labellisation_fs" in frame.columns:
        raw = frame["labellisation_fs"]
        full = raw.str.extract(r"(\d{1,2})/(\d{1,2})/(\d{4})")
        month = raw.str.extract(r"(?<!\d/)(?<!\d)(\d{1,2})/(\d{4})\b")
        text = np.where(full[2].notna(), full[2] + "-" + full[1].str.zfill(2) + "-" + full[0].str.zfill(2),
                        np.where(month[1].notna(), month[1] + "-" + month[0].str.zfill(2) + "-01", ""))
        dates = pd.to_datetime(pd.Series(text, index=frame.index), format="%Y-%m-%d", errors="coerce")
    else:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for i in np.flatnonzero(dates.isna().to_numpy() & (raw != "").to_numpy()):
        problems.add(frame["id_fs"].iat[i], int(lines[i]), raw.name, "bad_labelling_date", raw.iat[i],
                     "labelling date not understood: left undated")
    return dates.dt.normalize()


def _roles_formats(frame: pd.DataFrame, generation: str, path: Path, lines: np.ndarray) -> tuple[list, list]:
    if generation == "2024":
        roles, formats = [], []
        for i, (kind, fmt) in enumerate(zip(frame["type_fs"].tolist(), frame["format_fs"].tolist())):
            if kind not in ROLE_2024:
                raise InputError(f"line {lines[i]}: type_fs {kind!r} is not one of {', '.join(ROLE_2024)}",
                                 file=str(path), field="type_fs")
            if fmt not in FORMAT_2024:
                raise InputError(f"line {lines[i]}: format_fs {fmt!r} is not one of {', '.join(FORMAT_2024)}",
                                 file=str(path), field="format_fs")
            roles.append(ROLE_2024[kind])
            formats.append(FORMAT_2024[fmt])
        return roles, formats
    categorie = frame.get("categorie", pd.Series("", index=frame.index)).str.lower()
    format_fs = frame.get("format_fs", pd.Series("", index=frame.index)).str.lower()
    mobile = (frame["itinerance"].str.lower() == "oui") | categorie.str.contains("itin")
    antenne = categorie.str.startswith("antenne") | (format_fs == "antenne")
    return (["antenne" if a else "principal" for a in antenne],
            ["itinerante" if m else "fixe" for m in mobile])


# ---------------------------------------------------------------- cross-row checks

def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


_NAME_NOISE = re.compile(r"\b(?:france services?|espace|maison|de|du|des|la|le|les|d|l|et|a|au|aux)\b")


def _name_key(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    plain = _NAME_NOISE.sub(" ", re.sub(r"[^a-z0-9]+", " ", plain))
    return " ".join(plain.split())


def _similar_names(a: str, b: str) -> bool:
    """Same name up to accents, punctuation, filler words and typos: no word of one is missing from
    the other ("Mortain Bocage" ~ "Mortain-Bocage", but "Bus … Grenoble - QPV" !~ "Bus … Grenoble - ZR")."""
    if a.replace(" ", "") == b.replace(" ", ""):
        return True
    words_a, words_b = set(a.split()), set(b.split())

    def matched(word: str, others: set[str]) -> bool:
        return any(SequenceMatcher(None, word, other).ratio() >= TOKEN_SIMILARITY for other in others)

    return all(matched(w, words_b) for w in words_a - words_b) and all(matched(w, words_a) for w in words_b - words_a)


def _likely_duplicates(sites: pd.DataFrame, problems: _Problems) -> None:
    """Same commune, within DUPLICATE_DISTANCE_M and similar names: the same place listed twice."""
    ids, rows = sites["site_id"].tolist(), sites["source_row"].tolist()
    lat, lon = sites["lat"].tolist(), sites["lon"].tolist()
    keys = [_name_key(name) for name in sites["name"].tolist()]
    by_commune: dict[str, list[int]] = {}
    for i, commune in enumerate(sites["commune"].tolist()):
        if not math.isnan(lat[i]):
            by_commune.setdefault(commune, []).append(i)
    for members in by_commune.values():
        for pos, a in enumerate(members):
            for b in members[pos + 1:]:
                dist = _distance_m(lat[a], lon[a], lat[b], lon[b])
                if dist > DUPLICATE_DISTANCE_M or not _similar_names(keys[a], keys[b]):
                    continue
                for this, other in ((a, b), (b, a)):
                    problems.add(ids[this], int(rows[this]), "site", "likely_duplicate", ids[other],
                                 f"same place as site {ids[other]} ({dist:.0f} m apart, similar names)")


def _shared_coordinates(sites: pd.DataFrame, problems: _Problems) -> None:
    ids, rows = sites["site_id"].tolist(), sites["source_row"].tolist()
    points: dict[tuple[float, float], list[int]] = {}
    for i, point in enumerate(zip(sites["lat"].tolist(), sites["lon"].tolist())):
        if not math.isnan(point[0]):
            points.setdefault(point, []).append(i)
    for (lat, lon), members in points.items():
        if len(members) < 2:
            continue
        listed = ", ".join(ids[i] for i in members)
        for i in members:
            problems.add(ids[i], int(rows[i]), "latitude,longitude", "shared_coordinates", f"{lat}, {lon}",
                         f"{len(members)} sites at this exact point: {listed}")


# ---------------------------------------------------------------- entry point

def load_anct(path_or_snapshot: str | Path = "2024-08", data_dir: str | Path | None = None) -> SiteList:
    """Load an ANCT list: a snapshot name (``"2024-08"``, ``"2020-10"``…) found in the data folder
    (see :func:`fssim.sources.datadir.resolve_data_dir`), or the path of a CSV of the same schema."""
    path = _locate(path_or_snapshot, data_dir)
    frame = _read_csv(path)
    generation = _generation(frame, path)
    lines = np.arange(len(frame)) + 2  # header is line 1
    problems = _Problems()
    ids = _check_ids(frame, path, lines)
    lat = _coordinate(frame, "latitude", 90.0, path, lines, problems)
    lon = _coordinate(frame, "longitude", 180.0, path, lines, problems)
    both_zero = (lat == 0) & (lon == 0)
    for i in np.flatnonzero(both_zero):
        problems.add(ids.iat[i], int(lines[i]), "latitude,longitude", "missing_coordinates", "0, 0",
                     "coordinates 0,0 stand for none: kept as NaN")
    lat[both_zero] = np.nan
    lon[both_zero] = np.nan
    deps, communes, postcodes = _codes(frame, lines, problems)
    roles, formats = _roles_formats(frame, generation, path, lines)
    calendars = _hours(frame, lines, problems)
    if "prise_rdv" in frame.columns:
        appointments = frame["prise_rdv"].str.lower().eq("oui")
    else:  # 2020 lists: no column; sites that mention appointments in their hours
        text = frame[list(DAY_COLUMNS.values())].agg(" ".join, axis=1).str.lower()
        appointments = text.str.contains(r"\brdv\b|rendez", regex=True)
    group = frame["groupe_fs"] if "groupe_fs" in frame.columns else pd.Series("", index=frame.index)
    sites = pd.DataFrame({
        "site_id": ids.to_numpy(),
        "name": frame["lib_fs"].to_numpy(),
        "dep": deps,
        "commune": communes,
        "postcode": postcodes,
        "commune_name": frame["lib_com"].to_numpy(),
        "address": frame["adresse"].to_numpy() if "adresse" in frame.columns else "",
        "lat": lat,
        "lon": lon,
        "hours": calendars,
        "weekly_hours": [weekly_hours(c) for c in calendars],
        "open_days": [open_days(c) for c in calendars],
        "appointments": appointments.to_numpy(dtype=bool),
        "role": roles,
        "format": formats,
        "mobile": [f in MOBILE_FORMATS for f in formats],
        "group": group.to_numpy(),
        "labelled_on": _labelled_on(frame, lines, problems).to_numpy(),
        "source_row": lines,
    })
    sites["has_hours"] = sites["open_days"] > 0
    for row in sites.loc[~sites["has_hours"], ["site_id", "source_row"]].itertuples(index=False):
        problems.add(row.site_id, int(row.source_row), "hours", "no_hours", "",
                     "no opening hours on any day")
    _likely_duplicates(sites, problems)
    _shared_coordinates(sites, problems)
    sites = sites[[
        "site_id", "name", "dep", "commune", "postcode", "commune_name", "address", "lat", "lon", "hours",
        "weekly_hours", "open_days", "has_hours", "appointments", "role", "format", "mobile", "group",
        "labelled_on", "source_row",
    ]]
    problem_frame = problems.frame().sort_values(["source_row", "field"], kind="stable").reset_index(drop=True)
    return SiteList(sites=sites, problems=problem_frame, source=str(path), sha256=_sha256(path),
                    generation=generation)

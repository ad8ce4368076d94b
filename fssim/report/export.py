"""A run's KPI tables for analysts: an Excel workbook or CSV files, one table per level.

``export_run(run_dir, format="xlsx")`` (``fssim.export``, ``fssim export``) reads a run directory's
``summary.parquet`` and writes, for every scope it holds (network, region, departement, canton, site, then
stop, demarche, month, weekday, hour, phase, then any other, in that order), one row per key and, for every
KPI of the registry, three columns: mean and the low and high ends of the 95 % interval across replications.
Headers are the registry's labels in the chosen language with their unit; codes get their names beside them
(site names from the run, communes, cantons, départements and régions from the embedded territory).

- xlsx: one sheet per level, numbers stored as numbers (rates as fractions shown as %), frozen header row
  and key columns, widths fitted to the headers; an ``about`` sheet at the end says what the run was. The
  workbook's creator property is ``fssim`` and its keywords :data:`MARK`: that is how a later export knows it
  may replace the file.
- csv: one ``<level>.csv`` per level in a folder, UTF-8 with a byte-order mark (Excel then reads accents).
  French (``lang="fr"``): ``;`` between fields and a decimal comma, as French Excel expects; English: ``,``
  and a decimal point. Numbers are never rounded nor grouped by thousands (machine-readable), rates are
  fractions (0.045, not 4.5 %), an undefined value is an empty field. ``columns.csv`` maps each header to
  its KPI name, statistic and unit; ``.fssim-output`` marks the folder as fssim's.

Existing targets: replaced only when fssim wrote them (a previous export), else refused unless ``force``.
"""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fssim.errors import InputError
from fssim.files import atomic_path
from fssim.metrics import kpis as registry
from fssim.report.i18n import Translator, check_lang
from fssim.report.names import area_names, demarche_label
from fssim.report.rundata import RunData, load_run_dir

FORMATS = ("xlsx", "csv")
#: levels in the order of the workbook's sheets; scopes of a summary not listed here come after, by name
LEVELS = ("network", "region", "departement", "canton", "site", "stop", "demarche", "channel", "month", "weekday",
          "hour", "phase")
#: keywords of a workbook fssim wrote (and the marker's kind for a CSV folder)
MARK = "fssim-export"
STATS = ("mean", "ci_low", "ci_high")

# words of the export, (French, English)
WORDS = {
    "network": ("Réseau", "Network"), "region": ("Région", "Region"), "departement": ("Département", "Département"),
    "canton": ("Canton", "Canton"), "site": ("Site", "Site"), "stop": ("Arrêt de bus", "Bus stop"),
    "demarche": ("Démarche", "Démarche"), "month": ("Mois", "Month"), "weekday": ("Jour", "Weekday"),
    "hour": ("Heure", "Hour"), "phase": ("Phase", "Phase"), "channel": ("Canal", "Channel"),
    "name": ("Nom", "Name"), "commune": ("Commune", "Commune"), "commune_name": ("Nom de la commune", "Commune name"),
    "dep": ("Département", "Département"), "whole": ("Ensemble du réseau", "Whole network"),
    "low": ("IC 95 % bas", "95 % CI low"), "high": ("IC 95 % haut", "95 % CI high"),
    "rows": ("lignes", "rows"), "about": ("À propos", "About"),
    "header": ("En-tête", "Header"), "kpi": ("Indicateur", "KPI"), "stat": ("Statistique", "Statistic"),
    "unit": ("Unité", "Unit"), "level": ("Niveau", "Level"),
}
UNITS = {  # registry unit → (French, English) as shown in headers; rates: xlsx shows %, CSV holds fractions
    "count": ("nombre", "count"), "days": ("jours", "days"), "minutes": ("min", "min"),
    "agent_minutes": ("min d'agent", "agent-min"), "rate": ("%", "%"), "decimal": ("", ""),
}
CSV_RATE = ("part 0-1", "share 0-1")
EXCEL_FORMATS = {"count": "#,##0", "days": "#,##0", "minutes": "0.0", "agent_minutes": "#,##0", "rate": "0.0%",
                 "decimal": "0.00"}


@dataclass
class LevelTable:
    """One level's table: ``frame`` (text key and name columns, then KPI columns), and for each column its
    KPI name, statistic and unit ('' for key and name columns)."""

    level: str
    frame: pd.DataFrame
    kpi: list[str]
    stat: list[str]
    unit: list[str]

    @property
    def n_keys(self) -> int:
        return sum(1 for k in self.kpi if not k)


def _w(key: str, lang: str) -> str:
    return WORDS[key][0 if lang == "fr" else 1]


def levels_of(summary: pd.DataFrame) -> list[str]:
    """The scopes of a summary in sheet order (:data:`LEVELS`, then the others by name)."""
    present = list(dict.fromkeys(summary["scope"].astype(str)))
    return [s for s in LEVELS if s in present] + sorted(s for s in present if s not in LEVELS)


def _kpis_of(summary: pd.DataFrame) -> list[str]:
    """The summary's KPIs, registry order first, then any other in the summary's order."""
    present = list(dict.fromkeys(summary["kpi"].astype(str)))
    known = [k for k in registry.names() if k in present]
    return known + [k for k in present if k not in known]


def _ordered_keys(level: str, keys: list[str]) -> list[str]:
    """Keys in a reading order: months and hours by number, weekdays Monday first, others as the run wrote them."""
    from fssim.clock import WEEKDAYS

    if level in ("month", "hour") and all(k.lstrip("-").isdigit() for k in keys):
        return sorted(keys, key=int)
    if level == "weekday":
        return sorted(keys, key=lambda k: WEEKDAYS.index(k) if k in WEEKDAYS else len(WEEKDAYS))
    return keys


def _names(run: RunData, level: str, keys: list[str], t: Translator) -> dict[str, list]:
    """Columns shown beside the key (header → values), from the run's sites and the embedded territory."""
    lang = t.lang
    if level == "network":
        return {_w("name", lang): [_w("whole", lang)] * len(keys)}
    if level in ("month", "weekday"):
        label = (lambda k: t.month(int(k))) if level == "month" else t.weekday
        return {_w("name", lang): [label(k) if (k.isdigit() and 1 <= int(k) <= 12) or level == "weekday" else ""
                                   for k in keys]}
    if level == "site":
        sites = {s.id: s for s in run.sites}
        communes = area_names("commune")
        names = [getattr(sites.get(k), "name", None) or "" for k in keys]
        codes = [getattr(sites.get(k), "commune", None) or "" for k in keys]
        return {_w("name", lang): names, _w("commune", lang): codes,
                _w("commune_name", lang): [communes.get(c, "") for c in codes]}
    if level in ("region", "departement", "canton"):
        lookup = area_names(level)
        return {_w("name", lang): [lookup.get(k, "") for k in keys]}
    if level == "demarche":
        return {_w("name", lang): [demarche_label(k, lang, run.config.demarches) for k in keys]}
    return {}


def _unit_text(unit: str, lang: str, fmt: str) -> str:
    if unit == "rate" and fmt == "csv":
        return CSV_RATE[0 if lang == "fr" else 1]
    return UNITS.get(unit, ("", ""))[0 if lang == "fr" else 1]


def level_table(run: RunData, level: str, *, lang: str = "fr", fmt: str = "xlsx") -> LevelTable:
    """The table of one level of the run's summary: one row per key, mean and 95 % interval of every KPI."""
    t = Translator(check_lang(lang), threshold=run.threshold)
    s = run.summary[run.summary["scope"].astype(str) == level].copy()
    s["key"] = s["key"].astype(str)
    s["kpi"] = s["kpi"].astype(str)
    keys = _ordered_keys(level, list(dict.fromkeys(s["key"])))
    wide = s.drop_duplicates(["key", "kpi"]).set_index(["key", "kpi"])[list(STATS)].unstack("kpi").reindex(keys)
    cols: dict[str, list] = {_w(level, lang): keys if level != "network" else [""] * len(keys)}
    cols.update(_names(run, level, keys, t))
    kpi, stat, unit = [""] * len(cols), [""] * len(cols), [""] * len(cols)
    for name in _kpis_of(s):
        k = registry.find(name)
        u = k.unit if k else "decimal"
        head = t.kpi(name)
        text = _unit_text(u, lang, fmt)
        head = f"{head} ({text})" if text else head
        for st, suffix in zip(STATS, ("", f" – {_w('low', lang)}", f" – {_w('high', lang)}")):
            values = wide[(st, name)].to_numpy(float) if (st, name) in wide.columns else np.full(len(keys), np.nan)
            cols[head + suffix] = values
            kpi.append(name)
            stat.append(st)
            unit.append(u)
    return LevelTable(level, pd.DataFrame(cols), kpi, stat, unit)


def tables(run: RunData, *, lang: str = "fr", fmt: str = "xlsx") -> list[LevelTable]:
    """Every level's table, in sheet order."""
    return [level_table(run, level, lang=lang, fmt=fmt) for level in levels_of(run.summary)]


# --------------------------------------------------------------------------- CSV

def csv_text(table: LevelTable, lang: str = "fr") -> str:
    """One level as CSV text (without the byte-order mark): ``;`` and decimal comma in French."""
    sep, dec = (";", ",") if lang == "fr" else (",", ".")
    return table.frame.to_csv(index=False, sep=sep, decimal=dec, float_format="%.12g", lineterminator="\n")


def _columns_csv(tabs: list[LevelTable], lang: str) -> str:
    rows = []
    for tab in tabs:
        for head, k, st, u in zip(tab.frame.columns, tab.kpi, tab.stat, tab.unit):
            rows.append({_w("level", lang): tab.level, _w("header", lang): head, _w("kpi", lang): k,
                         _w("stat", lang): st, _w("unit", lang): u})
    sep = ";" if lang == "fr" else ","
    return pd.DataFrame(rows).to_csv(index=False, sep=sep, lineterminator="\n")


def _write_csv_dir(run: RunData, out: Path, lang: str) -> Path:
    tabs = tables(run, lang=lang, fmt="csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        for tab in tabs:
            (tmp / f"{tab.level}.csv").write_text("\ufeff" + csv_text(tab, lang), encoding="utf-8")
        (tmp / "columns.csv").write_text("\ufeff" + _columns_csv(tabs, lang), encoding="utf-8")
        marker = {"fssim_output": 1, "kind": MARK, "run": str(run.path), "lang": lang,
                  "files": [f"{t.level}.csv" for t in tabs] + ["columns.csv"]}
        (tmp / ".fssim-output").write_text(json.dumps(marker, ensure_ascii=False) + "\n", encoding="utf-8")
        from fssim.run import _replace_dir

        _replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- xlsx

def _cell(v):
    """A cell value: floats stay numbers, NaN becomes an empty cell."""
    if isinstance(v, (float, np.floating)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def _key_cell(level: str, key: str):
    """Month and hour keys as numbers (they sort), other keys as text (INSEE codes keep their zeros)."""
    return int(key) if level in ("month", "hour") and key.isdigit() else key


def _sheet(wb, tab: LevelTable, lang: str) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(tab.level)
    heads = list(tab.frame.columns)
    ws.append(heads)
    for row in tab.frame.itertuples(index=False):
        values = [_cell(v) for v in row]
        values[0] = _key_cell(tab.level, values[0]) if isinstance(values[0], str) else values[0]
        ws.append(values)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDE6F0")
    for c in ws[1]:
        c.font, c.fill = bold, fill
        c.alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[1].height = 48
    n = len(tab.frame)
    for j, (head, u) in enumerate(zip(heads, tab.unit), start=1):
        letter = get_column_letter(j)
        if u:
            fmt = EXCEL_FORMATS.get(u, "General")
            for (c,) in ws.iter_rows(min_row=2, max_row=n + 1, min_col=j, max_col=j):
                c.number_format = fmt
            width = min(max(12, len(head) / 2.2), 24)
        else:
            longest = max([len(str(v)) for v in tab.frame.iloc[:, j - 1]] + [len(head), 6])
            width = min(longest + 2, 48)
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = ws.cell(row=2, column=tab.n_keys + 1)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(heads))}{n + 1}"


def _about(wb, run: RunData, tabs: list[LevelTable], lang: str) -> None:
    ws = wb.create_sheet("about")
    man = run.manifest
    rows = [("scenario", man.get("scenario", run.config.name)), ("config_sha256", man.get("config_sha256")),
            ("seed", man.get("seed")), ("replications", man.get("replications", run.config.replications)),
            ("created", man.get("created")), ("run directory", str(run.path)),
            ("interval", "Student-t 95 %, across replications"), ("language", lang)]
    rows += [(f"sheet {t.level}", f"{len(t.frame)} {_w('rows', lang)}") for t in tabs]
    for r in rows:
        ws.append([str(x) if x is not None else "" for x in r])
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 70


def workbook_bytes(run: RunData, *, lang: str = "fr") -> bytes:
    """The workbook of a run as bytes."""
    from openpyxl import Workbook

    from fssim import __version__

    tabs = tables(run, lang=lang, fmt="xlsx")
    wb = Workbook()
    wb.remove(wb.active)
    for tab in tabs:
        _sheet(wb, tab, lang)
    _about(wb, run, tabs, lang)
    wb.properties.creator = "fssim"
    wb.properties.keywords = MARK
    wb.properties.title = f"{run.config.name}: KPI tables"
    wb.properties.description = f"fssim {__version__}, run {run.manifest.get('config_sha256', '')}"
    # a fixed date: the same run gives the same workbook (the run's own date is in the about sheet)
    import datetime as dt
    stamp = dt.datetime(2000, 1, 1)
    wb.properties.created = wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def is_fssim_workbook(path: Path) -> bool:
    """Was this .xlsx written by fssim's export? (its core properties: creator fssim, keywords :data:`MARK`)"""
    try:
        with zipfile.ZipFile(path) as z:
            core = z.read("docProps/core.xml").decode("utf-8", errors="replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    return "<dc:creator>fssim</dc:creator>" in core and f">{MARK}<" in core


# --------------------------------------------------------------------------- entry point

def default_out(run_dir: Path, fmt: str) -> Path:
    return run_dir / ("export.xlsx" if fmt == "xlsx" else "export-csv")


def is_export_dir(path: Path) -> bool:
    """Is this folder a CSV export fssim wrote (its ``.fssim-output`` marker has kind :data:`MARK`)?"""
    try:
        marker = json.loads((path / ".fssim-output").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("kind") == MARK


def check_target(out: Path, fmt: str, *, force: bool = False, run_dir: Path | None = None) -> str | None:
    """Refuse a target that is not a previous export (unless ``force``; then the sentence saying what is
    replaced). Another fssim output (a run directory, a report…) is not an export: it is refused too, and the
    run directory being exported (or a folder holding it) even with ``force``."""
    from fssim.run import check_output

    out = Path(out)
    if fmt == "xlsx":
        if out.suffix.lower() != ".xlsx":
            raise InputError("an Excel workbook's name ends in .xlsx; give e.g. --out export.xlsx", file=str(out))
        if out.is_file() and is_fssim_workbook(out):
            return None
        return check_output(out, force=force, kind="file")
    if run_dir is not None:
        here, run = out.resolve(), Path(run_dir).resolve()
        if here == run or here in run.parents:
            raise InputError("this is the run directory being exported (or holds it); give a new folder, e.g. "
                             f"{Path(run_dir) / 'export-csv'}", file=str(out))
    if out.is_dir() and any(out.iterdir()) and not is_export_dir(out):
        shown = ", ".join(sorted(p.name for p in out.iterdir())[:5])
        if not force:
            raise InputError(f"the folder exists and is not an fssim export (it holds {shown}); fssim never "
                             "replaces what it did not write: choose a new folder, or add --force to replace it",
                             file=str(out))
        return check_output(out, force=True) or f"--force: replacing {out}, which is not an fssim export ({shown})"
    return check_output(out, force=force, kind="folder")


def export_run(run_dir: str | Path, format: str = "xlsx", out: str | Path | None = None, *, lang: str = "fr",
               force: bool = False) -> Path:
    """Write a run's KPI tables as an Excel workbook (``format="xlsx"``) or CSV files (``"csv"``); returns the
    path written (default ``RUN_DIR/export.xlsx`` or ``RUN_DIR/export-csv/``)."""
    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}; choose xlsx or csv", field="format")
    check_lang(lang)
    run = load_run_dir(run_dir)
    target = Path(out) if out is not None else default_out(Path(run_dir), format)
    check_target(target, format, force=force, run_dir=Path(run_dir))
    if format == "csv":
        return _write_csv_dir(run, target, lang)
    data = workbook_bytes(run, lang=lang)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def download_links(run: RunData, *, lang: str = "fr") -> list[tuple[str, str, str]]:
    """(label, file name, data: URI) of each level's CSV, for the report to offer them for download."""
    name = run.config.name
    out = []
    for tab in tables(run, lang=lang, fmt="csv"):
        data = base64.b64encode(("\ufeff" + csv_text(tab, lang)).encode("utf-8")).decode("ascii")
        label = f"{_w(tab.level, lang) if tab.level in WORDS else tab.level} ({len(tab.frame)} {_w('rows', lang)})"
        out.append((label, f"{name}-{tab.level}.csv", f"data:text/csv;charset=utf-8;base64,{data}"))
    return out

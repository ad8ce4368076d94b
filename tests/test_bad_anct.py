"""Bad ANCT lists and data folders: clear errors naming the file, the line or column and the fix; unreadable
opening hours in the problems table, never dropped, never a traceback. Files are derived from the real header."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fssim.sources.anct import load_anct
from fssim.sources.datadir import resolve_data_dir
from fssim.errors import InputError

DATA_DIR = Path(os.environ.get("FSSIM_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
LIST_2024 = DATA_DIR / "france-services-2024-08.csv"


@pytest.fixture(scope="module")
def lines():
    return LIST_2024.read_text(encoding="utf-8").splitlines()[:4]


def write(tmp_path, rows, name="list.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\n".join(rows) + "\n").encode(encoding))
    return path


def with_field(lines, row, column, value):
    """Line ``row`` of the list with ``column`` set to ``value`` (the real file has no quoted commas)."""
    fields = lines[row].split(",")
    fields[lines[0].split(",").index(column)] = value
    return ",".join(fields)


def load_error(path) -> str:
    with pytest.raises(InputError) as info:
        load_anct(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    return message


# ------------------------------------------------------------------ opening hours


def test_overlap_then_another_fault_is_a_problem_not_a_traceback(tmp_path, lines):
    text = "09:00 - 12:00 / 09:00 - 12:00 // 14:00"  # an overlap, and a time without its end
    loaded = load_anct(write(tmp_path, [lines[0], with_field(lines, 1, "h_mardi", text), lines[2]]))
    bad = loaded.problems[loaded.problems["field"] == "h_mardi"]
    assert bad[["site_id", "source_row", "problem", "value"]].values.tolist() == [["1", 2, "malformed_hours", text]]
    assert loaded.sites.iloc[0]["hours"]["tue"] == []


def test_text_without_any_time_is_reported_not_dropped(tmp_path, lines):
    rows = [lines[0], with_field(lines, 1, "h_jeudi", "matin seulement"), with_field(lines, 2, "h_jeudi", "Sur RDV")]
    loaded = load_anct(write(tmp_path, rows))
    unread = loaded.problems[loaded.problems["problem"] == "unread_hours"]
    assert unread[["site_id", "source_row", "field", "value"]].values.tolist() == [
        ["1", 2, "h_jeudi", "matin seulement"]]  # "Sur RDV" means no fixed hours: not a problem


# ------------------------------------------------------------------ the file itself


def test_a_column_present_twice(tmp_path, lines):
    rows = [line + "," + line.split(",")[lines[0].split(",").index("h_lundi")] for line in lines[:3]]
    message = load_error(write(tmp_path, rows))
    assert "h_lundi: column 'h_lundi' appears twice" in message


def test_wrong_separator(tmp_path, lines):
    message = load_error(write(tmp_path, [line.replace(",", ";") for line in lines[:3]]))
    assert "wrong separator: this file uses ';' — fssim expects ','" in message


def test_latin1_file_names_the_line_and_the_fix(tmp_path, lines):
    rows = [lines[0], lines[1], with_field(lines, 2, "lib_fs", "France services de Bâgé")]
    message = load_error(write(tmp_path, rows, encoding="latin-1"))
    first = next(i + 1 for i, row in enumerate(rows) if not row.isascii())
    assert "not UTF-8 text" in message and f"on line {first}:" in message and "CSV UTF-8" in message


def test_empty_file_and_header_only(tmp_path, lines):
    assert "the file is empty" in load_error(write(tmp_path, [""]))
    assert "header but no site row" in load_error(write(tmp_path, [lines[0]], name="header.csv"))


def test_not_a_csv_at_all(tmp_path, lines):
    xlsx = tmp_path / "list.xlsx.csv"
    xlsx.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    assert "zip or Excel (.xlsx) file, not a CSV" in load_error(xlsx)
    html = write(tmp_path, ["<!DOCTYPE html>", "<html><body>Not found</body></html>"], name="page.csv")
    assert "this is not an ANCT list" in load_error(html)


def test_missing_required_column_lists_the_header(tmp_path, lines):
    drop = lines[0].split(",").index("format_fs")
    rows = [",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in lines[:3]]
    message = load_error(write(tmp_path, rows))
    assert "format_fs: missing column(s) format_fs; the header has 21 column(s): id_fs" in message


def test_a_line_with_an_extra_field_is_not_shifted(tmp_path, lines):
    """pandas would take the first column as an index and shift every value of that line."""
    rows = [lines[0], lines[1] + ",extra", lines[2]]
    assert "line 2 has 23 fields, the header has 22" in load_error(write(tmp_path, rows))


def test_excel_utf8_bom_is_read(tmp_path, lines):
    loaded = load_anct(write(tmp_path, lines, encoding="utf-8-sig"))
    assert loaded.sites["site_id"].tolist() == ["1", "2", "3"]


# ------------------------------------------------------------------ data folder


def test_data_dir_that_is_a_file(tmp_path, monkeypatch):
    afile = tmp_path / "data.txt"
    afile.write_text("x")
    monkeypatch.setenv("FSSIM_DATA_DIR", str(afile))
    with pytest.raises(InputError) as info:
        resolve_data_dir()
    message = str(info.value)
    assert message.startswith("FSSIM_DATA_DIR: ") and str(afile) in message and "is a file, not a folder" in message
    assert "france-services-YYYY-MM.csv" in message and "fssim data fetch" in message
    with pytest.raises(InputError, match=r"data_dir: data folder .*missing \(set by data_dir\) does not exist.*"
                                         r"fssim data fetch"):
        resolve_data_dir("missing", base=tmp_path)


def test_data_dir_without_the_snapshot(tmp_path, monkeypatch):
    (tmp_path / "france-services-2020-10.csv").write_text("id_fs\n")
    monkeypatch.setenv("FSSIM_DATA_DIR", str(tmp_path))
    with pytest.raises(InputError) as info:
        load_anct("2024-08")
    message = str(info.value)
    assert "france-services-2024-08.csv is not in the data folder" in message
    assert "set by FSSIM_DATA_DIR" in message and "fssim data fetch" in message and "2020-10" in message


def test_latest_snapshot_written_by_fetch(tmp_path, lines):
    write(tmp_path, lines, name="france-services-latest.csv")
    assert len(load_anct("latest", data_dir=tmp_path).sites) == 3

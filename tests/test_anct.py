"""ANCT site lists (fssim.sources.anct) and the data folder rule (fssim.sources.datadir)."""

import os
from pathlib import Path

import pandas as pd
import pytest

import fssim.sources.datadir as datadir
from fssim.sources.anct import load_anct
from fssim.errors import InputError

DATA_DIR = Path(os.environ.get("FSSIM_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
LIST_2024 = DATA_DIR / "france-services-2024-08.csv"


def hm(h, m=0):
    return h * 60 + m


@pytest.fixture(scope="module")
def sites_2024():
    return load_anct("2024-08", data_dir=DATA_DIR)


def site(site_list, site_id):
    rows = site_list.sites[site_list.sites["site_id"] == site_id]
    assert len(rows) == 1
    return rows.iloc[0]


# ---------------------------------------------------------------- 2024 list

def test_every_row_kept_and_counts_match_readme(sites_2024):
    assert len(sites_2024.sites) == 2845
    assert sites_2024.sites["site_id"].is_unique
    assert sites_2024.sites["source_row"].tolist() == list(range(2, 2847))
    summary = sites_2024.summary()
    expected = {  # README table: format_fs x type_fs
        "fixe": (2395, 5, 2400),
        "multisites": (161, 13, 174),
        "bus": (134, 0, 134),
        "fixe_antenne": (2, 106, 108),
        "itinerante": (29, 0, 29),
        "total": (2721, 124, 2845),
    }
    for fmt, (principal, antenne, total) in expected.items():
        assert tuple(summary.loc[fmt, ["principal", "antenne", "total"]]) == (principal, antenne, total)
    assert sites_2024.sites["mobile"].sum() == 134 + 29
    assert sites_2024.source.endswith("france-services-2024-08.csv")
    assert sites_2024.sha256 == "be53291e3eeb224707ab5ade8f308cba5c94b2f1d63fdaee12f43d52697b78c7"


def test_codes_are_zero_padded_text(sites_2024):
    first = site(sites_2024, "1")
    assert (first["dep"], first["commune"], first["postcode"]) == ("01", "01033", "01200")
    assert sites_2024.sites["commune"].str.len().eq(5).all()
    assert sites_2024.sites["commune"].nunique() == 2619  # README: distinct communes
    assert sites_2024.sites["dep"].nunique() == 102


def test_hand_checked_hours_2024(sites_2024):
    # id 1, line 2: Mon 13:30-17:00; Tue-Thu 09:00-12:00/13:30-17:00; Fri 09:00-12:00/13:30-16:00
    one = site(sites_2024, "1")
    assert one["hours"]["mon"] == [(hm(13, 30), hm(17))]
    assert one["hours"]["wed"] == [(hm(9), hm(12)), (hm(13, 30), hm(17))]
    assert one["hours"]["fri"] == [(hm(9), hm(12)), (hm(13, 30), hm(16))]
    assert one["hours"]["sat"] == [] and one["hours"]["sun"] == []
    assert one["weekly_hours"] == pytest.approx(28.5) and one["open_days"] == 5
    assert not one["appointments"]  # prise_rdv "Non"
    # id 29, line 30: Wed "00:00 - 00:00 / 09:00 - 12:00" (empty slot of the form)
    saint_agreve = site(sites_2024, "29")
    assert saint_agreve["hours"]["wed"] == [(hm(9), hm(12))]
    assert saint_agreve["hours"]["tue"] == [(hm(8, 30), hm(12, 30)), (hm(13, 30), hm(16, 30))]
    assert saint_agreve["weekly_hours"] == pytest.approx(30.0)
    # id 114, line 102: Tue "09:00 - 12:00 / 09:00 - 16:30 / 14:00 - 16:30" -> merged and reported
    ile_de_re = site(sites_2024, "114")
    assert ile_de_re["hours"]["tue"] == [(hm(9), hm(16, 30))]
    assert ile_de_re["hours"]["sat"] == [(hm(9), hm(12))]
    overlaps = sites_2024.problems.query("site_id == '114' and problem == 'overlapping_hours'")
    assert overlaps["field"].tolist() == ["h_mardi"] and overlaps["source_row"].tolist() == [102]
    # id 371, line 348: Thu "00:00 - 00:00 / 09:00 - 19:00"
    assert site(sites_2024, "371")["hours"]["thu"] == [(hm(9), hm(19))]


def test_weekly_hours_distribution(sites_2024):
    with_hours = sites_2024.sites.loc[sites_2024.sites["has_hours"], "weekly_hours"]
    assert len(with_hours) == 2845 - 48
    assert abs(with_hours.median() - 29.0) <= 0.5  # facts file: median 29.0
    assert 0.90 <= (with_hours >= 24).mean() <= 0.95  # facts file: 92.7 % at >= 24 h
    assert 0.30 <= sites_2024.sites["appointments"].mean() <= 0.40  # 992 "Oui" of 2845


def test_problems_2024(sites_2024):
    problems = sites_2024.problems
    assert list(problems.columns[:5]) == ["site_id", "source_row", "field", "problem", "value"]
    no_hours = problems[problems["problem"] == "no_hours"]
    assert len(no_hours) == 48 and no_hours["site_id"].is_unique
    assert set(no_hours["site_id"]) == set(sites_2024.sites.loc[~sites_2024.sites["has_hours"], "site_id"])
    without = sites_2024.sites[~sites_2024.sites["has_hours"]]
    assert without["format"].value_counts().to_dict() == {
        "fixe": 21, "bus": 10, "fixe_antenne": 8, "multisites": 7, "itinerante": 2}  # README
    duplicates = problems[problems["problem"] == "likely_duplicate"]
    pairs = {frozenset((a, b)) for a, b in zip(duplicates["site_id"], duplicates["value"])}
    assert pairs == {frozenset({"2287", "3240"}), frozenset({"671", "1865"})}
    shared = problems[problems["problem"] == "shared_coordinates"]
    assert len(shared) == 29 and shared["detail"].nunique() == 14  # README: 14 groups, 29 rows
    outside = problems[problems["problem"] == "commune_outside_departement"]
    assert outside["site_id"].tolist() == ["1820"] and outside["value"].tolist() == ["76540"]
    assert not problems["problem"].isin(["missing_coordinates", "missing_insee_com", "malformed_insee_com"]).any()


def test_rollout(sites_2024):
    rollout = sites_2024.rollout()
    assert list(rollout.columns) == ["date", "opened", "cumulative"]
    assert rollout["cumulative"].is_monotonic_increasing and rollout["date"].is_monotonic_increasing
    assert rollout["cumulative"].iloc[-1] == 2845
    at_end_2020 = rollout.loc[rollout["date"] <= "2020-12-31", "cumulative"].iloc[-1]
    assert at_end_2020 == 938 == sites_2024.open_at("2020-12-31")  # README: 2020: 938
    assert sites_2024.open_at("2021-12-31") - sites_2024.open_at("2020-12-31") == 914  # README: 2021: 914
    assert rollout.loc[rollout["date"] == pd.Timestamp("2020-01-01"), "opened"].item() == 516
    assert rollout["date"].max() == pd.Timestamp("2024-05-23")


# ---------------------------------------------------------------- 2020 snapshots

@pytest.mark.parametrize(
    "snapshot, rows, antennes",
    [("2020-01", 486, 0), ("2020-02", 534, 0), ("2020-03", 580, 47), ("2020-06", 580, 47),
     ("2020-09", 591, 58), ("2020-10", 908, 52)],
)
def test_2020_snapshots_load(snapshot, rows, antennes):
    snap = load_anct(snapshot, data_dir=DATA_DIR)
    assert snap.generation == "2020" and len(snap.sites) == rows
    assert (snap.sites["role"] == "antenne").sum() == antennes  # README: 58 antennes (09), 52 (10)
    assert set(snap.sites["format"]) <= {"fixe", "itinerante"}
    assert snap.sites["lat"].notna().all()


def test_2020_hand_checked_and_problems():
    jan = load_anct("2020-01", data_dir=DATA_DIR)
    # id 1: "9h - 12h / 13h30 – 17h" Monday to Friday, Saturday blank
    valserhone = site(jan, "1")
    for day in ("mon", "tue", "wed", "thu", "fri"):
        assert valserhone["hours"][day] == [(hm(9), hm(12)), (hm(13, 30), hm(17))]
    assert valserhone["hours"]["sat"] == [] and valserhone["weekly_hours"] == pytest.approx(32.5)
    # id 3: "9h30 – 12h15 / 13h45 – 16h30", Wednesday "-", itinerance "Oui"
    guise = site(jan, "3")
    assert guise["hours"]["mon"] == [(hm(9, 30), hm(12, 15)), (hm(13, 45), hm(16, 30))]
    assert guise["hours"]["wed"] == [] and guise["open_days"] == 4
    assert guise["format"] == "itinerante" and guise["mobile"]
    assert pd.isna(valserhone["labelled_on"])  # not given in 2020-01
    assert not site(jan, "2")["has_hours"]

    oct_ = load_anct("2020-10", data_dir=DATA_DIR)
    # id 138: "Sept. - Juin : 9:00 - 12:00 / 14:00 - 17:30 // Été : …" -> the school-year hours
    assert site(oct_, "138")["hours"]["tue"] == [(hm(9), hm(12)), (hm(14), hm(17, 30))]
    # id 255: "9:00 - 12:00 // Sur RDV : 8:30 - 9:00 / 12:00 - 12:30 / 13:30 - 17:30"
    assert site(oct_, "255")["hours"]["mon"] == [(hm(8, 30), hm(12, 30)), (hm(13, 30), hm(17, 30))]
    truncated = oct_.problems[oct_.problems["problem"] == "malformed_insee_com"]
    assert set(truncated["site_id"]) == {"811", "812"} and set(truncated["value"]) == {"2B14", "2B10"}
    assert oct_.open_at("2020-10-12") == 908

    sep = load_anct("2020-09", data_dir=DATA_DIR)
    missing = sep.problems[sep.problems["problem"] == "missing_insee_com"]
    assert sorted(missing["site_id"], key=int) == [str(i) for i in range(684, 694)]


# ---------------------------------------------------------------- bad input

def _write(tmp_path, lines, name="list.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def head_lines():
    return LIST_2024.read_text(encoding="utf-8").splitlines()[:6]


def test_path_to_a_csv_of_the_same_schema(tmp_path, head_lines):
    small = load_anct(_write(tmp_path, head_lines))
    assert len(small.sites) == 5 and small.source.endswith("list.csv")
    assert small.sites["site_id"].tolist() == ["1", "2", "3", "4", "5"]


def test_missing_column(tmp_path, head_lines):
    header = head_lines[0].split(",")
    drop = header.index("latitude")
    rows = [",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in head_lines[:3]]
    path = _write(tmp_path, rows)
    with pytest.raises(InputError, match="latitude") as info:
        load_anct(path)
    assert str(path) in str(info.value)


def test_duplicate_id(tmp_path, head_lines):
    path = _write(tmp_path, head_lines[:3] + [head_lines[1]])
    with pytest.raises(InputError, match=r"duplicate id_fs 1 on lines 2, 4") as info:
        load_anct(path)
    assert str(path) in str(info.value)


def test_unparseable_latitude(tmp_path, head_lines):
    fields = head_lines[2].split(",")
    fields[head_lines[0].split(",").index("latitude")] = "north"
    path = _write(tmp_path, [head_lines[0], head_lines[1], ",".join(fields)])
    with pytest.raises(InputError, match=r"line 3: latitude 'north'") as info:
        load_anct(path)
    assert str(path) in str(info.value)


def test_malformed_hours_and_missing_coordinates_are_problems(tmp_path, head_lines):
    header = head_lines[0].split(",")
    fields = head_lines[1].split(",")
    fields[header.index("h_lundi")] = "12:00 - 09:00"
    other = head_lines[2].split(",")
    other[header.index("latitude")] = ""
    loaded = load_anct(_write(tmp_path, [head_lines[0], ",".join(fields), ",".join(other)]))
    assert len(loaded.sites) == 2
    first = site(loaded, "1")
    assert first["hours"]["mon"] == [] and first["hours"]["tue"] == [(hm(9), hm(12)), (hm(13, 30), hm(17))]
    bad = loaded.problems[loaded.problems["problem"] == "malformed_hours"]
    assert bad[["site_id", "source_row", "field", "value"]].values.tolist() == [["1", 2, "h_lundi", "12:00 - 09:00"]]
    assert pd.isna(site(loaded, "2")["lat"])
    missing = loaded.problems[loaded.problems["problem"] == "missing_coordinates"]
    assert missing[["site_id", "source_row", "field"]].values.tolist() == [["2", 3, "latitude"]]


def test_labelling_date_read_from_the_published_text_when_no_iso_column(tmp_path, head_lines):
    """The list as downloaded from data.gouv.fr has labellisation_fs but no labelled_on column."""
    drop = head_lines[0].split(",").index("labelled_on")
    rows = [",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in head_lines[:4]]
    loaded = load_anct(_write(tmp_path, rows))
    # lines 2-4 read "Espace labellisé 01/01/2020", "… 01/02/2020", "… 01/01/2020"
    assert loaded.sites["labelled_on"].tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-02-01"),
                                                   pd.Timestamp("2020-01-01")]


def test_unknown_format_value(tmp_path, head_lines):
    path = _write(tmp_path, [head_lines[0], head_lines[1].replace(",Fixe,", ",Kiosque,")])
    with pytest.raises(InputError, match=r"line 2: format_fs 'Kiosque'"):
        load_anct(path)


def test_unknown_snapshot_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="2024-08"):  # lists the snapshots that exist
        load_anct("2019-01", data_dir=DATA_DIR)
    with pytest.raises(InputError, match="no such file"):
        load_anct(tmp_path / "nothing.csv")


# ---------------------------------------------------------------- data folder

def test_data_dir_order(tmp_path, monkeypatch):
    configured = tmp_path / "cfg" / "mydata"
    configured.mkdir(parents=True)
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    monkeypatch.setenv("FSSIM_DATA_DIR", str(env_dir))
    assert datadir.resolve_data_dir("mydata", base=tmp_path / "cfg") == configured.resolve()
    assert datadir.resolve_data_dir(configured) == configured.resolve()
    assert datadir.resolve_data_dir(None) == env_dir.resolve()
    monkeypatch.delenv("FSSIM_DATA_DIR")
    work = tmp_path / "a" / "repo"
    work.mkdir(parents=True)
    (tmp_path / "a" / "shared" / "data").mkdir(parents=True)
    monkeypatch.chdir(work)
    assert datadir.resolve_data_dir() == (tmp_path / "a" / "shared" / "data").resolve()
    monkeypatch.chdir(tmp_path)  # no ../shared/data here: the one beside the repository
    repo_default = datadir._repo_data_dir()
    assert datadir.resolve_data_dir() == (repo_default.resolve() if repo_default.is_dir() else None)


def test_data_dir_errors(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="data_dir"):
        datadir.resolve_data_dir("missing", base=tmp_path)
    monkeypatch.setenv("FSSIM_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(InputError, match="FSSIM_DATA_DIR"):
        datadir.resolve_data_dir()
    with pytest.raises(InputError, match="set FSSIM_DATA_DIR or data_dir in the config"):
        datadir.require_data_file("france-services-2024-08.csv", None)
    with pytest.raises(InputError, match="not in the data folder"):
        datadir.require_data_file("france-services-2024-08.csv", tmp_path)
    assert datadir.require_data_file(LIST_2024.name, DATA_DIR) == DATA_DIR / LIST_2024.name

"""Opening-hours text -> weekly calendar (fssim.sources.hours)."""

import os
from pathlib import Path

import pandas as pd
import pytest

from fssim.sources.hours import (
    DAY_COLUMNS,
    DAYS,
    HoursParseError,
    OverlapError,
    empty_week,
    format_day,
    open_days,
    parse_day,
    weekly_hours,
)

DATA_DIR = Path(os.environ.get("FSSIM_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def hm(h, m=0):
    return h * 60 + m


@pytest.mark.parametrize(
    "text, expected",
    [
        ("09:00 - 12:00", [(hm(9), hm(12))]),
        ("09:00 - 12:00 / 13:30 - 17:00", [(hm(9), hm(12)), (hm(13, 30), hm(17))]),
        ("08:45 - 10:15 / 10:30 - 11:30 / 13:30 - 14:30", [(hm(8, 45), hm(10, 15)), (hm(10, 30), hm(11, 30)),
                                                           (hm(13, 30), hm(14, 30))]),
        ("13:30 - 24:00", [(hm(13, 30), hm(24))]),
    ],
)
def test_2024_format(text, expected):
    assert parse_day(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("9:00 - 12:00 / 14:00 - 17:00", [(hm(9), hm(12)), (hm(14), hm(17))]),
        ("9h-12h", [(hm(9), hm(12))]),
        ("9h - 12h / 13h30 – 17h", [(hm(9), hm(12)), (hm(13, 30), hm(17))]),
        ("9 h 12 h / 14 h 17 h", [(hm(9), hm(12)), (hm(14), hm(17))]),
        ("9h -11h 30 / 14 h – 16 h 45", [(hm(9), hm(11, 30)), (hm(14), hm(16, 45))]),
        ("8H30-12H00/13H30-17H00", [(hm(8, 30), hm(12)), (hm(13, 30), hm(17))]),
        ("9h00 – 12h00 – 13h30 – 16h30", [(hm(9), hm(12)), (hm(13, 30), hm(16, 30))]),
        ("9h12h/14h-17h", [(hm(9), hm(12)), (hm(14), hm(17))]),
        ("de 8h30 à 12h et de 13h30 à 17h30", [(hm(8, 30), hm(12)), (hm(13, 30), hm(17, 30))]),
        ("9-12/13-17", [(hm(9), hm(12)), (hm(13), hm(17))]),
        ("9-12H 14-18H", [(hm(9), hm(12)), (hm(14), hm(18))]),
        ("8 :30-12/13 :30-17", [(hm(8, 30), hm(12)), (hm(13, 30), hm(17))]),
        ("09:00 - 12:30 / 14:00 - 17:", [(hm(9), hm(12, 30)), (hm(14), hm(17))]),
        ("10:00 -12: 14:00 - 18:00", [(hm(10), hm(12)), (hm(14), hm(18))]),
        ("9: 12:30 / 13:30 18:30", [(hm(9), hm(12, 30)), (hm(13, 30), hm(18, 30))]),
        ("14:00:16:00", [(hm(14), hm(16))]),
        ("08:30 12:30 / 13:15 17:30", [(hm(8, 30), hm(12, 30)), (hm(13, 15), hm(17, 30))]),
        ("9:00 - 12:30 / Sur RDV : après-midi", [(hm(9), hm(12, 30))]),
        ("8:30 - 12:00 / Sur RDV : 13:30 - 16:30", [(hm(8, 30), hm(12)), (hm(13, 30), hm(16, 30))]),
        ("8:30 - 12:00 / 1 lundi par mois : 12:30 - 17:00", [(hm(8, 30), hm(12)), (hm(12, 30), hm(17))]),
        ("2ème et 4ème samedis du mois : 9:00 - 12:00", [(hm(9), hm(12))]),
        ("9h-12h30 – 1 samedi sur 2", [(hm(9), hm(12, 30))]),
        ("9:00 - 12:00 (semaines impaires) / 14:00 - 18:00", [(hm(9), hm(12)), (hm(14), hm(18))]),
        # seasonal / alternate weeks: the regular (first) schedule only
        ("Sept. - Juin : 9:00 - 12:00 / 14:00 - 17:30 // Été : 10:00 - 12:30 / 13:30 - 18:00",
         [(hm(9), hm(12)), (hm(14), hm(17, 30))]),
        ("Juin à septembre :14h-17h30         Eté : 10h-12h30/13h30-18h", [(hm(14), hm(17, 30))]),
        ("Semaines paires : 10:00 - 12:00 //  Semaines impaires : fermé", [(hm(10), hm(12))]),
        # additional appointment slots: union, touching slots joined
        ("9:00 - 12:00 // Sur RDV : 8:30 - 9:00 / 12:00 - 12:30 / 13:30 - 17:30",
         [(hm(8, 30), hm(12, 30)), (hm(13, 30), hm(17, 30))]),
        ("9h - 12h / 13h30 – 17h + Permanence à Châtillon sur Marne : 9h30 – 12h",
         [(hm(9), hm(12)), (hm(13, 30), hm(17))]),
    ],
)
def test_2020_free_text(text, expected):
    assert parse_day(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "-", "Horaires non communiqués", "Sur RDV", "Selon planning bus", "Espace fermé ce jour",
     None, float("nan"), "00:00 - 00:00"],
)
def test_closed_or_not_given(text):
    assert parse_day(text) == []


def test_empty_slot_of_the_2024_form_is_ignored():
    assert parse_day("00:00 - 00:00 / 09:00 - 12:00") == [(hm(9), hm(12))]


@pytest.mark.parametrize(
    "text",
    [
        "12:00 - 09:00",               # reversed
        "09:00 - 09:00",               # empty
        "14:00 - 25:00",               # past 24:00
        "9:75 - 12:00",                # minutes
        "09:00 - 12:00 / 14:00",       # no end
        "8:00 - 12:00 / 13:30 16:00 -30",
        "10:30-12:30 / 113:30 - 18:30",
        "8h30-11h-45 et 13h30-17h15",
    ],
)
def test_malformed_text_raises(text):
    with pytest.raises(HoursParseError):
        parse_day(text)


def test_overlap_raises_unless_merged():
    text = "09:00 - 12:00 / 09:00 - 16:30 / 14:00 - 16:30"
    with pytest.raises(OverlapError) as info:
        parse_day(text)
    assert isinstance(info.value, HoursParseError) and isinstance(info.value, ValueError)
    assert parse_day(text, merge_overlaps=True) == [(hm(9), hm(16, 30))]
    assert parse_day("09:00 - 12:00 / 09:00 - 12:00", merge_overlaps=True) == [(hm(9), hm(12))]


def test_format_day_round_trip():
    intervals = [(hm(8, 30), hm(12)), (hm(13, 30), hm(17, 15))]
    assert format_day(intervals) == "08:30 - 12:00 / 13:30 - 17:15"
    assert parse_day(format_day(intervals)) == intervals
    assert format_day([]) == ""


def test_weekly_hours_and_open_days():
    week = empty_week()
    assert list(week) == list(DAYS) and weekly_hours(week) == 0 and open_days(week) == 0
    for day in ("mon", "tue", "wed", "thu", "fri"):
        week[day] = parse_day("09:00 - 12:00 / 14:00 - 16:45")
    week["sat"] = parse_day("9h-12h")
    assert weekly_hours(week) == pytest.approx(5 * 5.75 + 3)
    assert open_days(week) == 6


def test_every_value_of_the_real_files_is_read_or_rejected_cleanly():
    """No real value crashes the parser; only a handful of 2020 texts are unreadable."""
    values_2020, values_2024 = set(), set()
    for path in sorted(DATA_DIR.glob("france-services-*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        target = values_2024 if "2024" in path.name else values_2020
        for column in DAY_COLUMNS.values():
            target.update(frame[column])
    assert len(values_2020) > 500 and len(values_2024) > 500
    rejected = []
    for text in values_2020:
        try:
            parse_day(text, merge_overlaps=True)
        except HoursParseError:
            rejected.append(text)
    assert len(rejected) <= 12, rejected
    for text in values_2024:  # the 2024 list is regular: all read once overlaps are merged
        parse_day(text, merge_overlaps=True)


def test_texts_without_times_in_the_real_files_all_mean_closed():
    """The loaders report any other text without a time (fssim.sources.hours.reads_as_closed): none in the real lists."""
    from fssim.sources.hours import reads_as_closed

    unread = set()
    for path in sorted(DATA_DIR.glob("france-services-*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in DAY_COLUMNS.values():
            for text in set(frame[column]):
                try:
                    empty = parse_day(text, merge_overlaps=True) == []
                except HoursParseError:
                    continue
                if empty and not reads_as_closed(text):
                    unread.add(text)
    assert unread == set()
    assert not reads_as_closed("matin") and not reads_as_closed("voir le site internet")
    assert reads_as_closed("Sur RDV") and reads_as_closed("00:00 - 00:00") and reads_as_closed("")

"""The clock vocabulary of fssim: weekdays, minutes in a day, and "HH:MM" text.

Times of day are minutes after midnight (9:00 → 540); a day has :data:`DAY` minutes; weekdays are the keys
``"mon" … "sun"`` of every timetable. One definition each, used by the config, the sources, the engine, the
metrics and the report.
"""
from __future__ import annotations

import re
from typing import Literal

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKDAYS: tuple[str, ...] = WEEKDAYS[:5]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY = 1440.0
"""Minutes in a day."""

_TIME = re.compile(r"^\s*(\d{1,2})[:h](\d{2})\s*$")


def parse_clock(text: str) -> int:
    """'09:30' → 570 minutes after midnight; '24:00' allowed as the end of a day."""
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a time of day: write HH:MM, e.g. 09:00")
    h, mi = int(m.group(1)), int(m.group(2))
    if mi >= 60 or h > 24 or (h == 24 and mi):
        raise ValueError(f"{text!r} is not a valid time of day (00:00 to 24:00)")
    return 60 * h + mi


def clock(minutes: float) -> str:
    """570 → '09:30' (rounded to the minute)."""
    m = int(round(minutes))
    return f"{m // 60:02d}:{m % 60:02d}"


def interval_text(start: float, end: float) -> str:
    """(540, 720) → '09:00-12:00'."""
    return f"{clock(start)}-{clock(end)}"

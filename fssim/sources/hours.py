"""Opening-hours text of the ANCT lists -> weekly calendar.

The weekly calendar used across fssim is ``dict[str, list[tuple[int, int]]]`` keyed by
``"mon" … "sun"``; each value is a sorted list of non-overlapping ``(start, end)`` intervals in
minutes after midnight (9:00-12:00 -> ``(540, 720)``). A closed day is an empty list.

Variants met in the real files (``h_lundi`` … ``h_samedi``) and how they are read:

2024 list (regular):
  ``09:00 - 12:00``, ``09:00 - 12:00 / 13:30 - 17:00`` (one to five intervals joined by `` / ``);
  blank = closed or not given.

2020 lists (free text typed by the sites):
  * closed / unknown, read as no hours: blank, ``-``, ``Horaires non communiqués``,
    ``Sur RDV`` without times, ``Selon planning bus``, ``Espace fermé ce jour``, ``Si besoin``.
  * colon times with loose spacing: ``9:00 - 12:00 /  14:00 - 16:00``, ``9:00-12:00``,
    ``12 :30``, ``13 : 00``, ``14:00 -18:00``, ``9:00 - 12:00 13:30 - 16:00`` (no separator),
    ``14:00:16:00``, ``8:30 : 12:00``, ``09:00 / 12:30`` (slash between the two ends).
  * "h" times: ``9h-12h``, ``9h00 – 12h00``, ``9 h 30 - 13 h``, ``8H30-12H``, ``11h 30``,
    ``9h12h/14h-17h`` (dash missing), ``9h00 à 12h00 et de 14h à 17h`` (``à``, ``et``, ``de``),
    ``8h30 - 12h00 - 13h30 - 17h00`` (a dash between intervals).
  * bare hours next to a dash or ``à``: ``9-12/13-17``, ``9-16H``, ``8 :30-12/13:30-17``,
    ``9 à 12h``.
  * truncated minutes: ``17:``, ``12: 13:00``, ``14: - 16:30`` -> read as ``17:00`` etc.
  * dash variants ``-``, ``–`` (en dash), ``—``; upper/lower case; non-breaking spaces.
  * labels before times, dropped: ``Sur RDV :``, ``Sans RDV :``, ``Accueil sans RDV``,
    ``Itinérance :``, ``Autonomie postes informatiques :``, ``Par téléphone :``,
    ``Hors vacances scolaires :``, ``Pendant les vacances scolaires :``, ``1er samedi du mois :``,
    ``2ème et 4ème samedis du mois :``, ``1 lundi par mois :``, ``1 samedi sur 2``;
    notes in brackets ``(sur RDV)``, ``(Accueil libre)``, ``(semaines impaires)``.
    Appointment-only hours count as open hours (agents are on site).
  * several schedules in one cell, separated by ``//``, ``;``, ``+`` or an ``Été :`` label:
    when one of them is qualified by a season or a week/month pattern (``Sept. - Juin :`` …
    ``// Été :``, ``Juin à septembre : … Été :``, ``Semaines paires : … // Semaines impaires :``,
    ``1er mercredi du mois : … // 3ème mercredi du mois :``) only the first one is kept;
    otherwise (``… // Sur RDV : …``, ``+ Permanence à … : …``, ``; ouverture de certains
    services …``) they are merged (union).

2024 list quirks: ``00:00 - 00:00`` is an empty slot of the entry form and is ignored
(``00:00 - 00:00 / 09:00 - 12:00`` -> 9:00-12:00); 79 cells repeat or overlap a slot
(``09:00 - 12:00 / 09:00 - 12:00``, ``09:00 - 12:00 / 09:00 - 16:30 / 14:00 - 16:30``): they raise
:class:`OverlapError` unless ``merge_overlaps=True`` (union).

Malformed text raises :class:`HoursParseError`: an odd number of times, a reversed or empty
interval (``12:00 - 09:00``), overlapping intervals within one schedule (:class:`OverlapError`),
a time past 24:00 or minutes >= 60 (``8:00 - 12:00 / 13:30 16:00 -30``, ``113:30``, ``11h-45``).
"""

from __future__ import annotations

from fssim.clock import WEEKDAYS, clock

import functools
import math
import re

DAYS: tuple[str, ...] = WEEKDAYS
DAY_COLUMNS: dict[str, str] = {
    "mon": "h_lundi",
    "tue": "h_mardi",
    "wed": "h_mercredi",
    "thu": "h_jeudi",
    "fri": "h_vendredi",
    "sat": "h_samedi",
}

Interval = tuple[int, int]
Calendar = dict[str, list[Interval]]


class HoursParseError(ValueError):
    """Opening-hours text that cannot be read as a list of time intervals."""


class OverlapError(HoursParseError):
    """Intervals of one schedule overlap (often the same slot typed twice); see ``merge_overlaps``."""


_STRICT = re.compile(r"^\d{1,2}:\d{2} - \d{1,2}:\d{2}(?: / \d{1,2}:\d{2} - \d{1,2}:\d{2})*$")

# A time: "9:00", "9h00", "12 :30" (compact); "11h 30", "13 : 00" (spaced minutes: a multiple of
# 5 not followed by another h/: so that "9 h 12 h" and "12H 14-18H" are hours); "9h" (hour only);
# "17:" (truncated); "9" (bare).
_TIME = re.compile(
    r"(?<!\d)(?:"
    r"(?P<h1>\d{1,2})\s*[h:](?P<m1>\d{2})(?![h\d])"
    r"|(?P<h2>\d{1,2})\s*[h:]\s+(?P<m2>[0-5][05])(?!\d|\s*[h:])"
    r"|(?P<h3>\d{1,2})\s*h"
    r"|(?P<h4>\d{1,2}):(?!\d)"
    r"|(?P<h5>\d{1,2})(?!\d)"
    r")"
)
# Numbers that are not times: ordinals and frequencies ("1er samedi", "2ème et 4ème", "1 lundi").
_NOT_TIME = re.compile(
    r"(?<![\d:h])\d{1,2}\s*(?:er|ère|re|ème|eme|e)\b"
    r"|(?<![\d:h])\d{1,2}\s+(?=(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|semaine|mois|fois)s?\b)"
)
_SECTION_SPLIT = re.compile(r"//|;|\+|(?=\b(?:été|eté)\s*:)")
_CALENDAR_QUALIFIER = re.compile(
    r"\b(?:été|eté|sept|septembre|juin|vacances|semaines? (?:paire|impaire)s?|du mois|de chaque mois)\b"
)
_NO_HOURS = re.compile(r"^\s*(?:-+|horaires non communiqu[ée]s)?\s*$", re.IGNORECASE)
# Texts that mean "closed" or "no fixed hours" in the real lists (see the module docstring); any other text
# without a time is unreadable and the loaders report it.
_CLOSED_TEXT = re.compile(
    r"^(?:-+|horaires non communiqu[ée]s|sur (?:rdv|rendez-vous)|selon planning(?: du)? bus|"
    r"(?:espace )?ferm[ée]e?(?: ce jour)?|si besoin)?$"
)
_EMPTY_SLOT = re.compile(r"0?0[:h]00\s*-\s*0?0[:h]00")


def _normalise(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("\u202f", " ")
    for dash in ("\u2013", "\u2014", "\u2212", "\u2010", "\u2011"):
        text = text.replace(dash, "-")
    return text.lower()


def _minutes(hour: int, minute: int, raw: str) -> int:
    if minute >= 60:
        raise HoursParseError(f"minutes {minute} >= 60 in {raw!r}")
    value = hour * 60 + minute
    if value > 24 * 60:
        raise HoursParseError(f"time {hour}:{minute:02d} is past 24:00 in {raw!r}")
    return value


def _times(section: str, raw: str) -> list[int]:
    """All times of one schedule, in reading order."""
    section = _NOT_TIME.sub(" ", section)
    found = []
    for match in _TIME.finditer(section):
        groups = match.groupdict()
        if groups["h5"] is not None:
            # a bare number is an hour only next to a range sign: "9-12", "8:30-12", "9 à 12h"
            before = section[: match.start()].rstrip()
            after = section[match.end():].lstrip()
            if not (before.endswith(("-", "à")) or after.startswith(("-", "à"))):
                continue
        hour = next(int(groups[k]) for k in ("h1", "h2", "h3", "h4", "h5") if groups[k] is not None)
        minute = groups["m1"] or groups["m2"] or "0"
        found.append(_minutes(hour, int(minute), raw))
    return found


def _intervals(times: list[int], raw: str, merge_overlaps: bool) -> list[Interval]:
    if len(times) % 2:
        raise HoursParseError(f"odd number of times ({len(times)}) in {raw!r}: an interval has no end")
    pairs = [(times[i], times[i + 1]) for i in range(0, len(times), 2)]
    pairs = [p for p in pairs if p != (0, 0)]  # "00:00 - 00:00": the 2024 form's empty slot
    for start, end in pairs:
        if end <= start:
            raise HoursParseError(f"interval {clock(start)}-{clock(end)} ends before it starts in {raw!r}")
    pairs.sort()
    if not merge_overlaps:
        for (s1, e1), (s2, e2) in zip(pairs, pairs[1:]):
            if s2 < e1:
                raise OverlapError(
                    f"intervals {clock(s1)}-{clock(e1)} and {clock(s2)}-{clock(e2)} overlap in {raw!r}"
                )
    return _merge(pairs)


def _merge(pairs: list[Interval]) -> list[Interval]:
    """Sorted union of intervals; touching intervals are joined."""
    merged: list[Interval] = []
    for start, end in sorted(pairs):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def parse_day(text: str | None, *, merge_overlaps: bool = False) -> list[Interval]:
    """Intervals of one day's opening-hours text (both file generations; see module docstring).

    Returns ``[]`` for a closed day or hours not given; raises :class:`HoursParseError` for text
    that contains times but cannot be read consistently. Overlapping intervals raise
    :class:`OverlapError` unless ``merge_overlaps`` is true, in which case their union is returned.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    return list(_parse_cached(str(text), merge_overlaps))


@functools.lru_cache(maxsize=8192)
def _parse_cached(raw: str, merge_overlaps: bool) -> tuple[Interval, ...]:
    """parse_day on text (the lists repeat the same few hundred strings); a tuple, so never mutated."""
    return tuple(_parse(raw, merge_overlaps))


def _parse(raw: str, merge_overlaps: bool) -> list[Interval]:
    stripped = raw.strip()
    if _NO_HOURS.match(stripped):
        return []
    if _STRICT.match(stripped):
        times = [int(h) * 60 + int(m) for h, m in re.findall(r"(\d{1,2}):(\d{2})", stripped)]
        for t in times:
            if t > 24 * 60:
                raise HoursParseError(f"time {clock(t)} is past 24:00 in {raw!r}")
        if any(int(m) >= 60 for m in re.findall(r":(\d{2})", stripped)):
            raise HoursParseError(f"minutes >= 60 in {raw!r}")
        return _intervals(times, raw, merge_overlaps)
    sections = [s for s in _SECTION_SPLIT.split(_normalise(stripped)) if s.strip()]
    if len(sections) > 1 and any(_CALENDAR_QUALIFIER.search(s) for s in sections):
        sections = sections[:1]  # seasonal / alternate-week schedules: keep the regular one
    pairs: list[Interval] = []
    for section in sections:
        pairs.extend(_intervals(_times(section, raw), raw, merge_overlaps))
    return _merge(pairs)


def reads_as_closed(text: str | None) -> bool:
    """True when text without any opening time means "closed / not given" (blank, ``-``, ``Sur RDV``,
    ``Horaires non communiqués``, ``Selon planning bus``, ``Espace fermé ce jour``, ``Si besoin``, the 2024
    form's ``00:00 - 00:00``); False for any other text, e.g. ``matin`` or ``voir site web``."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return True
    plain = _EMPTY_SLOT.sub(" ", _normalise(str(text)))
    plain = " ".join(re.sub(r"[/;:.]+", " ", plain).split())
    return bool(_CLOSED_TEXT.match(plain))




def format_day(intervals: list[Interval]) -> str:
    """Intervals back to the 2024 text form: ``09:00 - 12:00 / 13:30 - 17:00`` ('' when closed)."""
    return " / ".join(f"{clock(s)} - {clock(e)}" for s, e in intervals)


def empty_week() -> Calendar:
    """A calendar closed every day."""
    return {day: [] for day in DAYS}


def weekly_hours(calendar: Calendar) -> float:
    """Open hours per week of a calendar."""
    return sum(end - start for day in calendar.values() for start, end in day) / 60.0


def open_days(calendar: Calendar) -> int:
    """Number of days of the week with at least one opening interval."""
    return sum(1 for day in calendar.values() if day)

"""Shared pieces of the schema: the strict base model, clock and opening-hours text, commune codes, France's bounds."""
from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from fssim.clock import Weekday, clock, parse_clock  # noqa: F401 (re-exported: the schema's clock vocabulary)
from fssim.limits import MAX_HORIZON_DAYS, MAX_HORIZON_YEARS, MAX_REPLICATIONS  # noqa: F401 (re-exported)

Share = Annotated[float, Field(ge=0, le=1)]


#: INSEE commune code: 2 digits of département (2A/2B in Corsica) + 3 digits; overseas 97x + 2 digits.
_COMMUNE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def parse_day_hours(value: str | list[str] | None) -> list[tuple[int, int]]:
    """'09:00-12:00 / 14:00-17:00' (or a list of 'HH:MM-HH:MM') → sorted minute intervals.

    Raises ValueError for reversed or overlapping intervals.
    """
    if value is None:
        return []
    parts = value if isinstance(value, list) else [p for p in value.split("/")]
    out = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        if p.count("-") != 1:
            raise ValueError(f"{p!r} is not an interval: write HH:MM-HH:MM, several joined by ' / '")
        a, b = (parse_clock(x) for x in p.split("-"))
        if b <= a:
            raise ValueError(f"interval {p!r} ends before it starts: write the earlier time first")
        out.append((a, b))
    out.sort()
    for (a1, b1), (a2, b2) in zip(out, out[1:]):
        if a2 < b1:
            raise ValueError(
                f"intervals {clock(a1)}-{clock(b1)} and {clock(a2)}-{clock(b2)} overlap: merge or separate them"
            )
    return out


# --------------------------------------------------------------------------- démarches


def commune_code(v):
    """Validate an INSEE commune code; a 5-digit YAML number is taken as its text (75056 → '75056')."""
    if isinstance(v, bool):
        raise ValueError("an INSEE commune code is text, e.g. '08105'")
    if isinstance(v, int):
        if not 10000 <= v <= 99999:
            raise ValueError(f"{v} is not an INSEE commune code (5 characters); write it in quotes so that a "
                             "leading 0 is kept, e.g. commune: \"08105\"")
        v = str(v)
    if isinstance(v, str):
        v = v.strip().upper()
        if not _COMMUNE.match(v):
            raise ValueError(f"{v!r} is not an INSEE commune code: 5 characters, the département then 3 digits "
                             "('08105', '2A004' in Corsica, '97411' overseas); in YAML, quote it: \"08105\"")
    return v


#: (name, lat min, lat max, lon min, lon max) of the parts of France, with a margin of about 20 km.
FRANCE_BOXES = (
    ("metropolitan France and Corsica", 41.2, 51.3, -5.3, 9.8),
    ("Guadeloupe", 15.7, 16.7, -61.9, -60.8), ("Saint-Martin and Saint-Barthélemy", 17.7, 18.3, -63.3, -62.6),
    ("Martinique", 14.2, 15.0, -61.4, -60.7), ("Guyane", 2.0, 5.9, -54.8, -51.4),
    ("La Réunion", -21.5, -20.7, 55.1, 56.0), ("Mayotte", -13.2, -12.5, 44.9, 45.4),
    ("Saint-Pierre-et-Miquelon", 46.6, 47.3, -56.6, -56.0), ("Nouvelle-Calédonie", -23.0, -19.4, 163.4, 168.3),
    ("Polynésie française", -28.1, -7.7, -155.0, -134.2), ("Wallis-et-Futuna", -14.5, -13.0, -178.4, -176.0),
)


#: A site or stop further than this from its commune's town hall is an error unless flagged far_from_commune.
MAX_KM_FROM_COMMUNE = 25.0


def in_france(lat: float, lon: float) -> bool:
    return any(a <= lat <= b and c <= lon <= d for _, a, b, c, d in FRANCE_BOXES)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))

"""Where arrivals fall within a demand unit (a site's open day, a bus's stop visit): the arrival profile.

A site's day shares its demand over its opening intervals by hour of day (the network's hour weights, or flat
under a rate per hour); a bus's stop visit is front-loaded (more citizens when it arrives) or follows the hours.
Days with the same hours share their pieces. :class:`Profile` holds every unit flat, as the compiled counter reads it.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from fssim.config import Bus, Site
from fssim.engine.calendar import DAY, Session, session_arrays, session_list


@dataclass
class Profile:
    """Where arrivals fall within each demand *unit*: piecewise-constant density over open minutes.

    A unit is an open day for a site (its sessions share the day's demand by hour of day) and one visit
    of the bus to a stop for a bus (each stop has its own demand). Stored flat: unit ``units[r]`` (sorted) has
    the pieces ``ptr[r]:ptr[r + 1]`` of ``starts`` (minutes from the horizon start), ``lengths`` and ``cum``
    (cumulative normalised weight, 1 at each unit's last piece).
    """

    units: np.ndarray
    ptr: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    cum: np.ndarray

    def __post_init__(self):
        self._row = dict(zip(self.units.tolist(), range(len(self.units))))

    def __contains__(self, unit: int) -> bool:
        return unit in self._row

    def rows(self, units) -> np.ndarray:
        """Row of each unit in the flat arrays."""
        return np.searchsorted(self.units, units)

    def time_in(self, unit: int, u: float) -> float:
        """Inverse CDF: the arrival time in ``unit`` for a uniform ``u`` (scalar path, for returns)."""
        r = self._row[unit]
        first = int(self.ptr[r])
        cum = self.cum[first:self.ptr[r + 1]].tolist()
        j = min(bisect_right(cum, u), len(cum) - 1)
        lo = cum[j - 1] if j else 0.0
        frac = (u - lo) / (cum[j] - lo) if cum[j] > lo else 0.5
        return float(self.starts[first + j] + frac * self.lengths[first + j])

    @classmethod
    def of_units(cls, units, pieces: list[tuple], which, base) -> "Profile":
        """The profile of ``units`` whose unit ``i`` has the pieces ``pieces[which[i]]`` (starts, lengths, cum)
        shifted by ``base[i]`` minutes: days with the same hours share their pieces."""
        units, which = np.asarray(units, dtype=np.int64), np.asarray(which, dtype=np.int64)
        size = np.array([len(c) for _, _, c in pieces], dtype=np.int64)
        at = np.zeros(len(pieces) + 1, dtype=np.int64)
        np.cumsum(size, out=at[1:])
        lens = size[which] if len(which) else np.zeros(0, np.int64)
        ptr = np.zeros(len(units) + 1, dtype=np.int64)
        np.cumsum(lens, out=ptr[1:])
        idx = np.repeat(at[which] - ptr[:-1], lens) + np.arange(ptr[-1])
        cat = (lambda k: np.concatenate([p[k] for p in pieces]).astype(float) if pieces else np.zeros(0))
        starts = cat(0)[idx] + np.repeat(np.asarray(base, dtype=float), lens)
        return cls(units, ptr, starts, cat(1)[idx], cat(2)[idx])


def _front_loaded(sessions: list[Session], a: float, k: int = 6):
    """k equal pieces of each stop window with weights falling linearly: density (1 + a) - 2a x.
    (starts, lengths, cum), each sessions × k; the edges as ``np.linspace`` computes them, session by session."""
    start = np.array([s.start for s in sessions], dtype=float)
    end = np.array([s.end for s in sessions], dtype=float)
    edges = np.arange(k + 1, dtype=float)[None, :] * ((end - start) / k)[:, None] + start[:, None]
    edges[:, -1] = end
    mid = (np.arange(k) + 0.5) / k
    w = (1 + a) - 2 * a * mid
    cum = np.cumsum(w) / w.sum()
    cum[-1] = 1.0
    return edges[:, :-1], edges[:, 1:] - edges[:, :-1], np.broadcast_to(cum, (len(sessions), k))


def _pieces(session_list: list[Session], hour_weight: np.ndarray, flat: bool):
    """Split a day's sessions at clock hours; weight each piece by its hour and length."""
    starts, lengths, weights = [], [], []
    for s in session_list:
        t = s.start
        while t < s.end - 1e-9:
            nxt = min(s.end, (np.floor(t / 60.0) + 1) * 60.0)
            h = int((t % DAY) // 60)
            starts.append(t)
            lengths.append(nxt - t)
            weights.append((nxt - t) * (1.0 if flat else hour_weight[h]))
            t = nxt
    w = np.asarray(weights)
    if w.sum() <= 0:  # open only at hours with no weight: spread uniformly
        w = np.asarray(lengths, dtype=float)
    cum = np.cumsum(w) / w.sum()
    cum[-1] = 1.0
    return np.asarray(starts), np.asarray(lengths), cum


def profile_of(model, entity, sessions: list[Session]) -> Profile:
    """The arrival profile of a site (per open day, by hour of day) or a bus (per stop visit)."""
    if not isinstance(entity, Bus):
        return day_profile(model, entity, sessions)
    units = np.arange(len(sessions))
    if entity.arrival_profile == "hours":
        pieces = [_pieces([s], model.hour_weight, False) for s in sessions]
        return Profile.of_units(units, pieces, units, np.zeros(len(units)))
    starts, lengths, cum = _front_loaded(sessions, entity.front_load)
    k = starts.shape[1]
    return Profile(units, np.arange(len(units) + 1) * k, starts.ravel(), lengths.ravel(), cum.ravel())


def day_profile(model, site: Site, sessions: list[Session]) -> Profile:
    flat = (site.demand.rate_per_hour or model.config.demand.rate_per_hour) is not None and not (
        site.demand.visits_per_open_day or site.demand.visits_per_year)
    if site.always_open:
        by_day: dict[int, list] = {}  # day → its opening intervals, in minutes from the day's midnight
        for s in session_list(sessions):
            for d in range(int(s.start // DAY), int(np.ceil(s.end / DAY))):
                base = d * DAY
                by_day.setdefault(d, []).append((max(s.start, base) - base, min(s.end, (d + 1) * DAY) - base))
        days = sorted(by_day)
        index: dict[tuple, int] = {}
        which = [index.setdefault(tuple(by_day[d]), len(index)) for d in days]
        keys = list(index)
    elif not len(sessions):
        days, keys, which = [], [], []
    else:  # days with the same hours share their pieces: one row of opening intervals per day, made unique
        cal = session_arrays(sessions)
        days, first, count = np.unique(cal.day, return_index=True, return_counts=True)
        rank = np.arange(len(cal.day)) - np.repeat(first, count)
        width = int(count.max())
        rows = np.full((len(days), 2 * width), -1.0)  # −1: no such session that day
        at = np.repeat(np.arange(len(days)), count)
        base = cal.day * DAY
        rows[at, 2 * rank], rows[at, 2 * rank + 1] = cal.start - base, cal.end - base
        unique, which = np.unique(rows, axis=0, return_inverse=True)
        keys = [tuple((a, b) for a, b in zip(r[0::2], r[1::2]) if a >= 0) for r in unique.tolist()]
        which = which.ravel()
    pieces = [_pieces([Session(0, a, b, ((a, b, 0),)) for a, b in key], model.hour_weight, flat) for key in keys]
    days = np.array(days, dtype=np.int64)
    return Profile.of_units(days, pieces, which, days * DAY)

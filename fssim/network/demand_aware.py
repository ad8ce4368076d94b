"""Demand-aware placement: relieve overloaded sites, so that a populous commune gets the sites its demand needs.

With a `SiteCapacity`, the covering order of fssim.network.placement is walked site by site, and before each of
its sites is added, every placed site whose expected volume exceeds the capacity of one site (the visits a
year `max_agents` agents serve within the wait target) is relieved first, most overloaded first, by a site
in its own commune (a commune hosting k sites splits its demand equally between them) or in one of the
communes sending it the most demand, whichever takes more off it. Expected volumes follow the catchment rule
of the simulation (fssim.demand.catchment, nearest site): rate per inhabitant × population, halved every
`decay_half_minutes` of travel. Each step depends only on the steps before it, so the n + 1 sites still
contain the n sites, and a populous commune receives as many sites as its demand needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fssim.errors import InputError
from fssim.geo.travel import RoadModel, TravelMatrix, chord_to_km, unit_vectors
from fssim.network.covering import CoverState

RELIEF_CANDIDATES = 8
"""A demand-aware placement tries a site in this many of an overloaded site's largest feeder communes."""


@dataclass(frozen=True)
class SiteCapacity:
    """What one site can take, and the demand that reaches it (the catchment rule of the simulation).

    visits_per_site: first visits a year one site serves within the wait target (fssim.scenario.site_capacity).
    rate_per_inhabitant: first visits a year per inhabitant at zero minutes (catchment.annual_visits over
    France's population). decay_half_minutes: demand halves every so many minutes of travel (None: no decay).
    """

    visits_per_site: float
    rate_per_inhabitant: float
    decay_half_minutes: float | None = 30.0

    def __post_init__(self):
        if not self.visits_per_site > 0:
            raise InputError(f"site capacity must be > 0 visits a year, got {self.visits_per_site!r}",
                             field="capacity")
        if not self.rate_per_inhabitant >= 0:
            raise InputError(f"demand rate must be ≥ 0, got {self.rate_per_inhabitant!r}", field="capacity")

    def decay(self, minutes) -> np.ndarray:
        m = np.asarray(minutes, float)
        return np.ones_like(m) if self.decay_half_minutes is None else np.power(0.5, m / self.decay_half_minutes)


class SiteLoads:
    """Expected first visits a year of placed sites under the catchment rule, updated site by site.

    A commune hosting sites sends them all its demand (at the access time), split equally; any other commune
    sends its demand, decayed by travel time, to its nearest site (the first placed on a tie).
    """

    def __init__(self, communes: pd.DataFrame, pop: np.ndarray, cap: SiteCapacity, model):
        self.model, self.cap = model, cap
        self.lat, self.lon = communes["lat"].to_numpy(float), communes["lon"].to_numpy(float)
        self.dens = communes["density_class"].to_numpy()
        self.demand = pop * cap.rate_per_inhabitant
        access = float(getattr(model, "access_minutes", 0.0))
        self.hosted_demand = self.demand * float(cap.decay(access))
        n = len(pop)
        self.best_t, self.best_s = np.full(n, np.inf), np.full(n, -1, np.int64)
        self.hosts = np.zeros(n, np.int64)
        self.site_row: list[int] = []  # commune row of each site (-1: in no known commune)
        if isinstance(model, RoadModel):
            self._u, self._speed = np.ascontiguousarray(unit_vectors(self.lat, self.lon)), model.speeds(self.dens)

    def minutes_to(self, lat: float, lon: float) -> np.ndarray:
        if isinstance(self.model, RoadModel):
            from fssim.geo.chords import chords_from
            chord = chords_from(self._u, unit_vectors(np.array([lat]), np.array([lon]))[0])
            return self.model.minutes_from_km(chord_to_km(chord), self._speed)
        return np.asarray(self.model.minutes(self.lat, self.lon, self.dens, np.array([lat]), np.array([lon])),
                          float).reshape(-1)

    def add(self, row: int, lat: float, lon: float) -> None:
        t = self.minutes_to(lat, lon)
        nearer = t < self.best_t
        self.best_t[nearer], self.best_s[nearer] = t[nearer], len(self.site_row)
        self.site_row.append(row)
        if row >= 0:
            self.hosts[row] += 1

    def feeders(self) -> np.ndarray:
        """Communes sending demand to their nearest site (they host none)."""
        return (self.hosts == 0) & (self.best_s >= 0)

    def volumes(self) -> np.ndarray:
        v = np.zeros(len(self.site_row))
        f = self.feeders()
        if f.any():
            v += np.bincount(self.best_s[f], weights=(self.demand * self.cap.decay(self.best_t))[f],
                             minlength=len(self.site_row))
        rows = np.array(self.site_row, np.int64)
        inside = rows >= 0
        v[inside] += self.hosted_demand[rows[inside]] / self.hosts[rows[inside]]
        return v


class DemandRelief:
    """The relief walk of a demand-aware PlacementProblem (its `capacity`, `columns`, `communes`, `w`, `_free`,
    `_row`, `_codes`, `_csc`, `model`, `n_sites`; it records through the problem's `_record`)."""

    def _relieve(self, base: pd.DataFrame) -> None:
        """Walk the covering order `base`, relieving every overloaded site before the next one is added."""
        if isinstance(self.model, TravelMatrix):
            self.warnings.append("site capacity ignored with a travel matrix: the covering order is kept")
            return
        cap = self.capacity.visits_per_site
        cols = self.columns
        free_col = pd.Series(np.flatnonzero(self._free), index=pd.Index(cols["commune"].to_numpy()[self._free],
                                                                          dtype=object))
        free_col = free_col[~free_col.index.duplicated()]
        col_of_row = free_col.reindex(self._codes).fillna(-1).to_numpy(np.int64)  # free column of each commune
        loads = SiteLoads(self.communes, self.w, self.capacity, self.model)
        seq: list[tuple[int, bool]] = []  # (column, added to relieve a site)
        stuck: set[int] = set()

        def add(j: int, relief: bool) -> None:
            r = self._row.get(cols["commune"].iloc[j], -1)
            loads.add(int(r) if r == r else -1, float(cols["lat"].iloc[j]), float(cols["lon"].iloc[j]))
            seq.append((j, relief))

        base_cols = [int(j) for j in self._ordered_columns(base)]
        n_fixed = int(base["existing"].sum())
        for j in base_cols[:n_fixed]:
            add(j, False)
        k = n_fixed
        while len(seq) < self.n_sites:
            v = loads.volumes()
            over = [s for s in np.argsort(-v, kind="stable") if v[s] > cap * (1 + 1e-9) and s not in stuck]
            if over:
                j = self._relief_column(int(over[0]), loads, v, col_of_row)
                if j < 0:
                    stuck.add(int(over[0]))
                else:
                    add(j, True)
                continue
            hosted = {j for j, _ in seq}
            while k < len(base_cols) and base_cols[k] in hosted:
                k += 1
            if k >= len(base_cols):
                break
            add(base_cols[k], False)
            k += 1
        if stuck:
            self.warnings.append(f"{len(stuck)} site(s) stay above the site capacity: no candidate commune can "
                                 f"relieve them")
        self._finish_relieved(seq, loads.volumes())

    def _ordered_columns(self, base: pd.DataFrame) -> np.ndarray:
        """Columns of the selected sites in placement order."""
        pos = pd.Series(np.arange(len(self.columns)), index=pd.Index(self.columns["id"].to_numpy(), dtype=object))
        pos = pos[~pos.index.duplicated()]
        return pos.reindex(base.sort_values("order")["site_id"].to_numpy()).to_numpy(np.int64)

    def _relief_column(self, s: int, loads: SiteLoads, v: np.ndarray, col_of_row: np.ndarray) -> int:
        """The free column whose site takes most demand off site `s`: one more site in its commune (its hosted
        share shrinks from D/k to D/(k+1)), or a site in one of its largest feeder communes (which then keeps
        its own demand and draws the communes nearer to it)."""
        r = loads.site_row[s]
        own_gain = -1.0
        if r >= 0 and col_of_row[r] >= 0:
            k = loads.hosts[r]
            own_gain = loads.hosted_demand[r] / k - loads.hosted_demand[r] / (k + 1)
        mine = loads.feeders() & (loads.best_s == s)
        f = np.flatnonzero(mine & (col_of_row >= 0))
        feed_gain, feed = -1.0, -1
        if len(f):  # the largest feeders: what a site there would take off s (itself and the communes nearer it)
            d = loads.demand * loads.cap.decay(loads.best_t)
            for i in f[np.argsort(-d[f], kind="stable")[:RELIEF_CANDIDATES]]:
                nearer = mine & (loads.minutes_to(loads.lat[i], loads.lon[i]) < loads.best_t)
                nearer[i] = True  # a commune hosting a site sends it all its demand
                g = float(d[nearer].sum())
                if g > feed_gain:
                    feed_gain, feed = g, int(i)
        if own_gain <= 0 and feed_gain <= 0:
            return -1
        return int(col_of_row[r]) if own_gain >= feed_gain else int(col_of_row[feed])

    def _finish_relieved(self, seq: list[tuple[int, bool]], volumes: np.ndarray) -> None:
        """The selection of the relieved order: marginal coverage (0 for a commune's further sites), expected
        first visits a year of every site, coverage totals."""
        st = CoverState(self._csc, self.w)
        marginal = []
        for j, _ in seq:
            marginal.append(st.add(j) if j not in st.selected else 0.0)
        self._record(np.array([j for j, _ in seq], dtype=np.int64), marginal, st.cnt)
        self.selected["relief"] = np.array([b for _, b in seq], bool)
        self.selected["expected_visits"] = volumes
        self.site_capacity = self.capacity.visits_per_site
        self.warnings = [w for w in self.warnings if not w.startswith("only ")]
        if len(seq) < self.n_sites:
            self.warnings.append(f"only {len(seq)} of {self.n_sites} site(s) placed: the others would cover no "
                                 f"one more and no site is above its capacity")


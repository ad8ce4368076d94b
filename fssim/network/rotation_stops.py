"""Where the designed buses go: their bases and their stops (steps 1–2 of fssim.network.rotation).

Bases: given, or chosen greedily among the fixed sites (a bus is run by a France services structure and
leaves from it): the site from which a bus could reach the most people not yet within `max_minutes` of a
fixed site; only when no site reaches anyone more is a commune used as a base. Stops: a greedy maximal
covering (Church & ReVelle 1974) among the candidate communes that some base with room can reach in time,
then a balanced assignment (scipy's `linear_sum_assignment`) giving every bus its quota with the least
driving from its base.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from fssim.geo.travel import travel_times, unit_vectors
from fssim.network.covering import coverage_matrix


class StopSelection:
    """Bases, reach and the covering choice of stops, for RotationDesign (which holds the communes' arrays
    `_codes`, `_names`, `_lat`, `_lon`, `_dens`, `_pop`, the candidates `_cand`, their coverage `_a`/`_at`,
    the weights `_w` (people beyond the fixed sites), `_count`, `_used`, `_reach`, `capacity`, `n_buses`)."""

    def _point(self, row: int, kind: str) -> dict:
        return {"code": self._codes[row], "name": str(self._names[row]), "lat": float(self._lat[row]),
                "lon": float(self._lon[row]), "density": self._dens[row], "kind": kind}

    def _reach_sparse(self, points: list[dict]) -> sparse.csr_matrix:
        """(points, candidates) True when a crew based at the point can make the candidate a morning stop
        (drive out before the first window) or an afternoon one (drive back after the last)."""
        if not points or len(self._cand) == 0:
            return sparse.csr_matrix((len(points), len(self._cand)), dtype=bool)
        pts = pd.DataFrame({"code": [p["code"] for p in points], "lat": [p["lat"] for p in points],
                            "lon": [p["lon"] for p in points], "density_class": [p["density"] for p in points]})
        cand = pd.DataFrame({"code": self._codes[self._cand], "lat": self._lat[self._cand],
                             "lon": self._lon[self._cand], "density_class": self._dens[self._cand]})
        out = coverage_matrix(pts, cand["lat"], cand["lon"], self._reach[0], self.model)  # point → candidate
        back = coverage_matrix(cand, pts["lat"], pts["lon"], self._reach[1], self.model).T  # candidate → point
        return ((out.astype(np.int8) + back.astype(np.int8)) > 0).tocsr()

    def _reach_matrix(self, points: list[dict]) -> np.ndarray:
        return self._reach_sparse(points).toarray()

    def _choose_bases(self) -> list[dict]:
        """Greedy over bases: each round takes the fixed site (else candidate commune) whose bus would bring
        the most people within max_minutes — estimated as the sum of the `capacity` largest marginal gains
        among the candidates it can reach — then plays that bus's greedy to update who is covered."""
        options = []
        fx = self.fixed_sites
        if len(fx):
            near = cKDTree(unit_vectors(self._lat, self._lon)).query(
                unit_vectors(fx["lat"].to_numpy(float), fx["lon"].to_numpy(float)))[1]
            for k, r in enumerate(np.atleast_1d(near)):
                code = fx["commune"].iloc[k]
                code = code if code in self._row.index else self._codes[r]
                options.append({"code": code, "name": str(self._names[self._row[code]]),
                                "lat": float(fx["lat"].iloc[k]), "lon": float(fx["lon"].iloc[k]),
                                "density": self._dens[self._row[code]], "kind": f"fixed site {fx['site_id'].iloc[k]}"})
        chosen: list[dict] = []
        uncovered = self._w > 0
        taken = np.zeros(len(self._cand), bool)
        for pool in (options, [self._point(int(r), "candidate commune") for r in self._cand]):
            if not pool:
                continue
            reach = self._reach_sparse(pool)  # options × candidates
            while len(chosen) < self.n_buses:
                gain = np.asarray(self._at @ (self._w * uncovered)).ravel()
                gain[taken] = 0
                est = np.zeros(len(pool))
                for k in range(len(pool)):
                    g = gain[reach.indices[reach.indptr[k]:reach.indptr[k + 1]]]
                    est[k] = np.sort(g)[::-1][:self.capacity].sum()
                k = int(np.argmax(est))
                if est[k] <= 0:
                    break
                chosen.append(pool[k])
                cols = reach.indices[reach.indptr[k]:reach.indptr[k + 1]]
                for _ in range(self.capacity):  # play this bus's greedy
                    g = np.asarray(self._at[cols] @ (self._w * uncovered)).ravel()
                    g[taken[cols]] = 0
                    if len(cols) == 0 or g.max() <= 0:
                        break
                    j = cols[int(np.argmax(g))]
                    taken[j] = True
                    uncovered[self._a.indices[self._a.indptr[j]:self._a.indptr[j + 1]]] = False
            if len(chosen) == self.n_buses:
                break
        if len(chosen) < self.n_buses:
            pool = options or [self._point(int(r), "candidate commune") for r in self._cand] or \
                [self._point(int(np.argmax(self._pop)), "commune")]
            n_reach = np.asarray(self._reach_sparse(pool).sum(axis=1)).ravel() if len(self._cand) else \
                np.zeros(len(pool))
            order = np.argsort(-n_reach, kind="stable")
            for k in order[:self.n_buses - len(chosen)]:
                chosen.append({**pool[int(k)], "kind": pool[int(k)]["kind"] + " (nobody left to bring)"})
            while len(chosen) < self.n_buses:
                chosen.append(chosen[-1])
            self.warnings.append("some bus(es) would bring nobody more within reach: based where the most "
                                 "candidates can be reached")
        return chosen

    def _gains(self) -> np.ndarray:
        return np.asarray(self._at @ (self._w * (self._count == 0))).ravel()

    def _ranked(self, allowed: np.ndarray) -> np.ndarray:
        """Allowed candidates, best first: marginal gain, then people reached, then population."""
        idx = np.flatnonzero(allowed)
        gain = self._gains()[idx]
        return idx[np.lexsort((self._cand[idx], -self._pop[self._cand[idx]], -self._reach_pop[idx], -gain))]

    def _take(self, j: int) -> None:
        self._used[j] = True
        self._count[self._a.indices[self._a.indptr[j]:self._a.indptr[j + 1]]] += 1

    def _release(self, j: int) -> None:
        self._used[j] = False
        self._count[self._a.indices[self._a.indptr[j]:self._a.indptr[j + 1]]] -= 1

    def _out_minutes(self, base: dict, cols) -> np.ndarray:
        rows = self._cand[np.asarray(cols, np.int64)]
        return np.asarray(self.model.minutes([base["lat"]], [base["lon"]], [base["density"]],
                                             self._lat[rows], self._lon[rows])).ravel()

    def _greedy(self, bases: list[dict], reach: np.ndarray) -> tuple[list[int], list[int]]:
        """Capacitated greedy covering: best stop that a base with room can reach, given to the nearest such."""
        room = np.full(self.n_buses, self.capacity)
        chosen, labels = [], []
        while room.any():
            ranked = self._ranked(reach[room > 0].any(axis=0) & ~self._used)
            if len(ranked) == 0:
                break
            j = int(ranked[0])
            ok = np.flatnonzero((room > 0) & reach[:, j])
            t = [self._out_minutes(bases[b], [j])[0] for b in ok]
            b = int(ok[int(np.argmin(t))])
            self._take(j)
            chosen.append(j)
            labels.append(b)
            room[b] -= 1
        if room.any():
            self.warnings.append(f"only {len(chosen)} candidate stop(s) within reach for {self.n_buses} bus(es) of "
                                 f"{self.capacity} stops: some are visited more often or slots stay empty")
        return chosen, labels

    def _balance(self, bases, reach, chosen, labels) -> list[int]:
        """Balanced assignment of the chosen stops to buses (≤ capacity each, only where reachable), least
        total driving from the bases; the greedy's assignment is feasible, so this one is too."""
        if not chosen:
            return labels
        cost = np.stack([self._out_minutes(base, chosen) for base in bases], axis=1)  # stops × buses
        cost = np.where(reach[:, chosen].T, cost, cost + 1e6)
        copies = np.repeat(np.arange(self.n_buses), self.capacity)
        r, c = linear_sum_assignment(cost[:, copies])
        out = np.array(labels)
        out[r] = copies[c]
        return out.tolist()

    def _catchment(self, stops: list[int]) -> dict[int, float]:
        """People beyond reach of fixed sites whose nearest chosen stop (within max_minutes) is each stop."""
        out = {j: 0.0 for j in stops}
        if not stops:
            return out
        rows = np.flatnonzero(self._w > 0)
        cols = self._cand[np.array(stops)]
        pts = pd.DataFrame({"site_id": np.arange(len(stops)), "lat": self._lat[cols], "lon": self._lon[cols]})
        near = travel_times(self.communes.iloc[rows], pts, self.model)
        ok = near.nearest_minutes <= self.max_minutes
        for r, k in zip(rows[ok], near.nearest_site[ok]):
            out[stops[int(k)]] += self._w[r]
        return out

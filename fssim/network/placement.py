"""Where to put n sites so that the most people live within T minutes of one (maximal covering location).

`PlacementProblem` (PySAL spopt style: built from data, `.solve()`, results as attributes) places sites
among candidate communes:
- coverage sets are sparse: candidate j covers commune i when road minutes(i→j) ≤ max_minutes, found by a
  KD-tree radius search bounded by the fastest speed (a scipy.sparse matrix, communes × candidates);
- "greedy": lazy greedy (CELF, Leskovec et al. 2007) on marginal population gains, then rounds of
  improving 1-swaps (remove one site, add another); with a budget, the better of the cost-benefit
  (gain/cost) and the plain greedy, both within the budget; optionally (`perturb_rounds`) an iterated
  local search: drop 10 % of the sites at random, refill, swap, keep when better;
- "milp": the exact maximal covering location problem (Church & ReVelle 1974) with scipy.optimize.milp,
  for small instances ("auto" picks it below `MILP_MAX_NONZEROS` coverage pairs);
- "nested": the greedy order alone (no swaps, no budget ratio, cantons served in order of population), so
  that the n + 1 sites placed contain the n sites placed, in the same order: a network that grows by one
  site keeps every other site (and its citizens). "greedy", "milp" and "auto" are free placements.
Existing sites are kept and count toward n_sites (they use no budget); `one_per_canton` first gives every
canton a site, then fills the rest.

Demand-aware placement (`capacity`, a `SiteCapacity`): the covering order above is walked site by site, and
before each of its sites is added, every placed site whose expected volume exceeds the capacity of one site
(the visits a year `max_agents` agents serve within the wait target) is relieved first, most overloaded
first, by a site in its own commune (a commune hosting k sites splits its demand equally between them) or
in one of the communes sending it the most demand, whichever takes more off it. Expected volumes follow the catchment rule of the simulation
(fssim.demand.catchment, nearest site): rate per inhabitant × population, halved every `decay_half_minutes` of
travel. Each step depends only on the steps before it, so the n + 1 sites still contain the n sites, and a
populous commune receives as many sites as its demand needs.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree

from fssim.geo.coverage import check_communes, coverage, locate_sites
from fssim.errors import InputError
from fssim.geo.travel import (RoadModel, TravelMatrix, check_points, chord_to_km, codes_of, km_to_chord,
                          unit_vectors)

RELIEF_CANDIDATES = 8
"""A demand-aware placement tries a site in this many of an overloaded site's largest feeder communes."""

MILP_MAX_NONZEROS = 100_000
"""`method="auto"` solves exactly when the coverage matrix has fewer nonzeros than this."""


def coverage_matrix(communes: pd.DataFrame, lat, lon, max_minutes: float, model=None,
                    ids=None) -> sparse.csr_matrix:
    """Boolean CSR matrix (communes × points): True when minutes(commune → point) ≤ max_minutes.

    With a RoadModel the pairs come from a KD-tree search on unit vectors whose radius bounds the time
    (minutes ≤ T ⇒ km ≤ (T − access) × max speed / 60 / detour); with a TravelMatrix, from its rows
    (`ids` name the points as its destinations); with another model, by blocks of communes.
    """
    model = RoadModel() if model is None else model
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    n, m = len(communes), len(lat)
    if n == 0 or m == 0:
        return sparse.csr_matrix((n, m), dtype=bool)
    if isinstance(model, TravelMatrix):
        if ids is None:
            raise InputError("a travel matrix needs the ids of the destinations", field="destination")
        t = model.table[model.table["minutes"] <= max_minutes]
        row_of = pd.Series(np.arange(n), index=pd.Index(codes_of(communes["code"]), dtype=object))
        row_of = row_of[~row_of.index.duplicated()]
        col_of = pd.Series(np.arange(m), index=pd.Index(codes_of(ids), dtype=object))
        col_of = col_of[~col_of.index.duplicated()]
        t = t[t["origin"].isin(row_of.index) & t["destination"].isin(col_of.index)]
        r = row_of.reindex(t["origin"]).to_numpy()
        c = col_of.reindex(t["destination"]).to_numpy()
        return sparse.csr_matrix((np.ones(len(r), bool), (r, c)), shape=(n, m))
    olat, olon = communes["lat"].to_numpy(float), communes["lon"].to_numpy(float)
    dens = communes["density_class"].to_numpy()
    if isinstance(model, RoadModel):
        speed = model.speeds(dens)
        km_max = model.km_within(max_minutes, speed)
        radius = float(km_to_chord(km_max.max())) * (1 + 1e-9) + 1e-12
        tree_o, tree_d = cKDTree(unit_vectors(olat, olon)), cKDTree(unit_vectors(lat, lon))
        pairs = tree_o.sparse_distance_matrix(tree_d, radius, output_type="ndarray")
        i, j = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        km = chord_to_km(pairs["v"])  # the "ndarray" output keeps zero distances (same point)
        ok = model.minutes_from_km(km, speed[i]) <= max_minutes
        a = sparse.csr_matrix((np.ones(int(ok.sum()), bool), (i[ok], j[ok])), shape=(n, m))
        a.sum_duplicates()
        a.data[:] = True
        return a
    blocks = []
    chunk = max(1, 2_000_000 // m)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        t = np.asarray(model.minutes(olat[a:b], olon[a:b], dens[a:b], lat, lon), dtype=float)
        blocks.append(sparse.csr_matrix(t <= max_minutes))
    return sparse.vstack(blocks, format="csr").astype(bool)


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


class _Loads:
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
            self._u, self._speed = unit_vectors(self.lat, self.lon), model.speeds(self.dens)

    def minutes_to(self, lat: float, lon: float) -> np.ndarray:
        if isinstance(self.model, RoadModel):
            chord = np.linalg.norm(self._u - unit_vectors(np.array([lat]), np.array([lon]))[0], axis=1)
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


class _State:
    """Selected columns and, for every commune, how many selected sites cover it (and which, when one)."""

    def __init__(self, acsc: sparse.csc_matrix, w: np.ndarray):
        self.ptr, self.idx, self.w = acsc.indptr, acsc.indices, w
        self.cnt = np.zeros(len(w), np.int32)
        self.owner = np.zeros(len(w), np.int64)  # sum of covering columns: the owner when cnt == 1
        self.selected: list[int] = []
        self.marginal: list[float] = []
        self.covered = 0.0

    def rows(self, j: int) -> np.ndarray:
        return self.idx[self.ptr[j]:self.ptr[j + 1]]

    def gain(self, j: int) -> float:
        r = self.rows(j)
        return float(self.w[r][self.cnt[r] == 0].sum())

    def add(self, j: int) -> float:
        g = self.gain(j)
        r = self.rows(j)
        self.cnt[r] += 1
        self.owner[r] += j
        self.selected.append(j)
        self.marginal.append(g)
        self.covered += g
        return g

    def remove(self, j: int) -> float:
        r = self.rows(j)
        self.cnt[r] -= 1
        self.owner[r] -= j
        k = self.selected.index(j)
        self.selected.pop(k)
        self.marginal.pop(k)
        loss = float(self.w[r][self.cnt[r] == 0].sum())
        self.covered -= loss
        return loss


class PlacementProblem:
    """Choose `n_sites` sites among candidate communes to maximise the population within `max_minutes`.

    communes: territory communes (code, name, dep, canton, lat, lon, population, density_class).
    candidates: commune codes, or a DataFrame with `code` (and optionally its own lat/lon); default all.
    existing: sites kept open — a list of commune codes or a site DataFrame (site_id, lat, lon, commune).
    costs: cost per candidate (Series indexed by commune code), used with `budget`.
    capacity: a SiteCapacity: relieve overloaded sites first (see the module docstring); a commune may then
    host several sites. Not combined with a budget; with a travel matrix the expected volumes are not known
    and the covering order is kept as it is (a warning says so).
    """

    def __init__(self, communes: pd.DataFrame, candidates=None, *, n_sites: int | None, max_minutes: float = 30,
                 model=RoadModel(), one_per_canton: bool = False, existing=None, costs: pd.Series | None = None,
                 budget: float | None = None, capacity: SiteCapacity | None = None):
        check_communes(communes)
        if capacity is not None and budget is not None:
            raise InputError("a site capacity cannot be combined with a budget: give one or the other",
                             field="capacity")
        self.capacity = capacity
        check_points(communes, "communes", "code")
        if n_sites is None and budget is None:
            raise InputError("give n_sites (the number of sites to place) or a budget", field="n_sites")
        if n_sites is not None and (int(n_sites) != n_sites or n_sites < 0):
            raise InputError(f"n_sites must be a whole number ≥ 0, got {n_sites!r}", field="n_sites")
        if not max_minutes > 0:
            raise InputError(f"max_minutes must be > 0, got {max_minutes!r}", field="max_minutes")
        if budget is not None and costs is None:
            raise InputError("a budget needs costs (a cost per candidate commune)", field="costs")
        self.communes = communes.reset_index(drop=True)
        self.max_minutes = float(max_minutes)
        self.model = model
        self.one_per_canton = bool(one_per_canton)
        self.budget = None if budget is None else float(budget)
        self.warnings: list[str] = []
        codes = codes_of(self.communes["code"])
        self._codes = codes
        self._row = pd.Series(np.arange(len(codes)), index=pd.Index(codes, dtype=object))
        self._row = self._row[~self._row.index.duplicated()]
        self._canton_of_commune = pd.Series(codes_of(self.communes["canton"]), index=pd.Index(codes, dtype=object))
        self._canton_of_commune = self._canton_of_commune[~self._canton_of_commune.index.duplicated()]

        cols = self._candidate_columns(candidates)
        fixed_extra = self._existing_columns(existing, cols)
        cols = pd.concat([cols, fixed_extra], ignore_index=True)
        self.columns = cols  # id, commune, lat, lon, canton, fixed, candidate
        n_fixed = int(cols["fixed"].sum())
        if n_sites is None:
            n_sites = n_fixed + int(cols["candidate"].sum())
        self.n_sites = int(n_sites)
        if n_fixed > self.n_sites:
            self.warnings.append(f"{n_fixed} existing sites exceed n_sites={self.n_sites}: all are kept, "
                                 f"no site is added")
        self._slots = max(0, self.n_sites - n_fixed)
        self._cost = np.zeros(len(cols))
        if costs is not None:
            self._cost = self._costs(costs, cols)
        self.w = pd.to_numeric(self.communes["population"]).to_numpy(float)
        self.population_total = float(self.w.sum())
        self._built = False
        self._input_warnings = list(self.warnings)

    # --- inputs -------------------------------------------------------------------------------------------
    def _candidate_columns(self, candidates) -> pd.DataFrame:
        c = self.communes
        if candidates is None:
            ids = self._codes
            lat, lon = c["lat"].to_numpy(float), c["lon"].to_numpy(float)
        else:
            if isinstance(candidates, pd.DataFrame):
                if "code" not in candidates.columns:
                    raise InputError("missing column 'code' in the candidates table", field="code")
                ids = codes_of(candidates["code"])
            else:
                ids = codes_of(list(candidates))
            unknown = [x for x in ids if x not in self._row.index]
            if unknown:
                raise InputError(f"{len(unknown)} candidate(s) are not communes of the territory "
                                 f"(e.g. {unknown[:5]}); give INSEE codes, zero-padded", field="candidates")
            if len(set(ids)) != len(ids):
                raise InputError("a candidate commune is listed twice", field="candidates")
            rows = self._row.reindex(ids).to_numpy()
            if isinstance(candidates, pd.DataFrame) and {"lat", "lon"} <= set(candidates.columns):
                check_points(candidates, "candidates", "code")
                lat, lon = candidates["lat"].to_numpy(float), candidates["lon"].to_numpy(float)
            else:
                lat, lon = c["lat"].to_numpy(float)[rows], c["lon"].to_numpy(float)[rows]
        return pd.DataFrame({"id": ids, "commune": ids, "lat": lat, "lon": lon,
                             "canton": self._canton_of_commune.reindex(ids).to_numpy(),
                             "fixed": False, "candidate": True})

    def _existing_columns(self, existing, cols: pd.DataFrame) -> pd.DataFrame:
        empty = cols.iloc[0:0].copy()
        if existing is None:
            return empty
        if isinstance(existing, pd.DataFrame):
            check_points(existing, "existing sites", "site_id")
            where, unmatched, notes = locate_sites(existing, self.communes)
            self.warnings += notes
            if len(unmatched):
                self.warnings.append(f"{len(unmatched)} existing site(s) lie in no known commune: kept, "
                                     f"but they count for no canton")
            return pd.DataFrame({"id": codes_of(existing["site_id"]), "commune": where,
                                 "lat": existing["lat"].to_numpy(float), "lon": existing["lon"].to_numpy(float),
                                 "canton": self._canton_of_commune.reindex(pd.Index(where, dtype=object)).to_numpy(),
                                 "fixed": True, "candidate": False})
        ids = codes_of(list(existing))
        unknown = [x for x in ids if x not in self._row.index]
        if unknown:
            raise InputError(f"existing site commune(s) {unknown[:5]} are not communes of the territory",
                             field="existing")
        pos = pd.Series(np.arange(len(cols)), index=pd.Index(cols["id"], dtype=object))
        inside = [x for x in ids if x in pos.index]
        cols.loc[pos.reindex(inside).to_numpy(), "fixed"] = True
        outside = [x for x in dict.fromkeys(ids) if x not in pos.index]
        rows = self._row.reindex(outside).to_numpy()
        return pd.DataFrame({"id": outside, "commune": outside,
                             "lat": self.communes["lat"].to_numpy(float)[rows],
                             "lon": self.communes["lon"].to_numpy(float)[rows],
                             "canton": self._canton_of_commune.reindex(outside).to_numpy(),
                             "fixed": True, "candidate": False})

    def _costs(self, costs, cols: pd.DataFrame) -> np.ndarray:
        s = pd.Series(costs)
        s.index = pd.Index(codes_of(s.index), dtype=object)
        s = s[~s.index.duplicated()]
        cand = cols["candidate"].to_numpy() & ~cols["fixed"].to_numpy()
        need = cols.loc[cand, "id"]
        got = pd.to_numeric(s.reindex(need), errors="coerce")
        if got.isna().any():
            raise InputError(f"no cost for candidate(s) {list(need[got.isna().to_numpy()][:5])}; give a cost "
                             f"for every candidate commune", field="costs")
        if (got < 0).any():
            raise InputError("costs must be ≥ 0", field="costs")
        out = np.zeros(len(cols))
        out[cand] = got.to_numpy(float)
        return out

    # --- coverage sets ------------------------------------------------------------------------------------
    def build(self) -> "PlacementProblem":
        """Compute the sparse coverage matrix (communes × columns)."""
        if not self._built:
            t0 = time.perf_counter()
            self.matrix = coverage_matrix(self.communes, self.columns["lat"], self.columns["lon"],
                                          self.max_minutes, self.model, ids=self.columns["id"])
            self._csc = self.matrix.tocsc()
            self._csc.sort_indices()
            self.build_seconds = time.perf_counter() - t0
            self._built = True
        return self

    @property
    def nonzeros(self) -> int:
        return int(self.build().matrix.nnz)

    # --- solving ------------------------------------------------------------------------------------------
    def solve(self, method: str = "auto", *, max_swap_rounds: int = 50, swap_seconds: float = 60.0,
              perturb_rounds: int = 0, time_limit: float = 60.0, seed: int = 0) -> "PlacementProblem":
        """Place the sites; returns self with `selected`, `covered_population`, `share_covered`, ….

        method: "greedy" (CELF then at most `max_swap_rounds` rounds of 1-swaps, `swap_seconds` at most),
        "milp" (exact, stopped after `time_limit` s; then the better of it and the greedy is kept) or
        "auto" (milp when the coverage matrix has fewer than MILP_MAX_NONZEROS nonzeros, else greedy).
        """
        if method not in ("auto", "greedy", "milp", "nested"):
            raise InputError(f"unknown method {method!r}; use nested, greedy, milp or auto", field="method")
        t0 = time.perf_counter()
        self.warnings = list(self._input_warnings)
        self.build()
        self._free = (self.columns["candidate"] & ~self.columns["fixed"]).to_numpy()
        self._canton = self.columns["canton"].to_numpy(dtype=object)
        self._nested = method == "nested"
        self._target_order = self._targets() if self.one_per_canton else []
        self._target_set = set(self._target_order)
        if method == "auto":
            method = "milp" if self.matrix.nnz < MILP_MAX_NONZEROS else "greedy"
        self.trace: list[float] = []
        state = None
        if method == "milp":
            state, optimal = self._solve_milp(time_limit)
            if state is None or not optimal:
                milp_state, milp_trace = state, self.trace
                state = self._greedy_state(max_swap_rounds, swap_seconds, perturb_rounds, seed)
                if milp_state is not None and milp_state.covered >= state.covered:
                    state, self.trace = milp_state, milp_trace
                else:
                    method = "greedy"
                    self.warnings.append("the greedy solution is used: the MILP gave none or a worse one")
        elif method == "nested":
            state = self._solve_greedy()
        else:
            state = self._greedy_state(max_swap_rounds, swap_seconds, perturb_rounds, seed)
        self.method = method
        self._finish(state)
        if self.capacity is not None:
            self._relieve(self.selected)
        self.solve_seconds = time.perf_counter() - t0
        return self

    def _greedy_state(self, max_swap_rounds: int, swap_seconds: float, perturb_rounds: int, seed: int) -> _State:
        state = self._solve_greedy()
        self._improve(state, max_swap_rounds, swap_seconds)
        if perturb_rounds:
            state = self._perturb(state, perturb_rounds, swap_seconds, seed)
        trace = self.trace
        state = self._ordered(np.array(state.selected, dtype=np.int64))  # marginals in greedy order
        self.trace = trace
        return state

    def _fixed_state(self) -> _State:
        st = _State(self._csc, self.w)
        for j in np.flatnonzero(self.columns["fixed"].to_numpy()):
            st.add(int(j))
        return st

    def _targets(self) -> list:
        """Cantons still to be given a site, limited to what the free slots allow, largest first."""
        cols = self.columns
        all_cantons = pd.Series(self.w, index=pd.Index(codes_of(self.communes["canton"]), dtype=object))
        pop = all_cantons.groupby(level=0).sum()
        have = set(cols.loc[cols["fixed"], "canton"].dropna())
        avail = set(cols.loc[cols["candidate"] & ~cols["fixed"], "canton"].dropna())
        todo = [k for k in pop.index if k not in have]
        no_cand = [k for k in todo if k not in avail]
        if no_cand:
            self.warnings.append(f"{len(no_cand)} canton(s) have no candidate commune and cannot get a site "
                                 f"(e.g. {no_cand[:3]})")
        todo = list(pop.reindex([k for k in todo if k in avail]).sort_values(ascending=False, kind="stable").index)
        if len(todo) > self._slots:
            self.warnings.append(f"n_sites leaves {self._slots} free site(s) for {len(todo)} cantons without a "
                                 f"site: only the {self._slots} most populous cantons are given one")
            todo = todo[:self._slots]
        return todo

    def _celf(self, st: _State, eligible: np.ndarray, limit: int, *, ratio: bool, group: np.ndarray | None = None,
              stop_at_zero: bool = True) -> None:
        """Lazy greedy: add up to `limit` columns among `eligible`, by gain (or gain/cost when `ratio`).

        With `group` (a label per column), at most one column per label is added. Respects the budget.
        """
        cost = self._cost
        budget_left = None if self.budget is None else self.budget - float(cost[st.selected].sum())
        cand = np.flatnonzero(eligible)
        if len(cand) == 0 or limit <= 0:
            return
        u0 = self.w * (st.cnt == 0)
        g0 = self._csc[:, cand].T @ u0
        key0 = g0 / np.maximum(cost[cand], 1e-12) if ratio else g0
        heap = [(-float(k), int(j), 0) for k, j in zip(key0, cand)]
        heapq.heapify(heap)
        stamp, done_groups, added = 0, set(), 0
        while heap and added < limit:
            negk, j, s = heapq.heappop(heap)
            if budget_left is not None and cost[j] > budget_left + 1e-9:
                continue  # never affordable again
            if group is not None and group[j] in done_groups:
                continue
            if s == stamp:
                if stop_at_zero and -negk <= 0:
                    break
                st.add(j)
                self.trace.append(st.covered)
                added += 1
                stamp += 1
                if budget_left is not None:
                    budget_left -= cost[j]
                if group is not None:
                    done_groups.add(group[j])
                continue
            g = st.gain(j)
            k = g / max(cost[j], 1e-12) if ratio else g
            heapq.heappush(heap, (-k, j, stamp))

    def _fill(self, st: _State, *, ratio: bool, exclude: np.ndarray | None = None) -> None:
        """Add sites up to n_sites: first to the target cantons still without one, then anywhere except in
        `exclude`."""
        chosen = np.zeros(len(self._free), bool)
        chosen[st.selected] = True
        if self.one_per_canton and self._nested:
            have = {self._canton[j] for j in st.selected}
            columns = pd.Series(np.arange(len(self._canton))).groupby(pd.Series(self._canton, dtype=object)).apply(
                np.asarray)
            for k in self._target_order:  # one canton after the other: the order does not depend on n_sites
                if k in have:
                    continue
                mask = np.zeros(len(chosen), bool)
                mask[columns[k]] = True
                self._celf(st, mask & self._free & ~chosen, 1, ratio=ratio, stop_at_zero=False)
                chosen[st.selected] = True
                have.add(k)
        elif self.one_per_canton:
            canton = self._canton
            need = self._target_set - {canton[j] for j in st.selected}
            in_need = self._free & ~chosen & np.array([k in need for k in canton], dtype=bool)
            self._celf(st, in_need, len(need), ratio=ratio, group=canton, stop_at_zero=False)
            chosen[st.selected] = True
        left = self._slots - int(self._free[st.selected].sum())
        free = self._free if exclude is None else self._free & ~exclude
        self._celf(st, free & ~chosen, left, ratio=ratio)

    def _solve_greedy(self) -> _State:
        """Lazy greedy; with a budget, the better of the plain and the cost-benefit greedy."""
        best, best_trace = None, None
        for ratio in ([False, True] if self.budget is not None and not self._nested else [False]):
            self.trace = []
            st = self._fixed_state()
            self.trace.append(st.covered)
            self._fill(st, ratio=ratio)
            if best is None or st.covered > best.covered + 1e-9:
                best, best_trace = st, list(self.trace)
        self.trace = best_trace
        if self.one_per_canton:
            missing = self._target_set - {self._canton[j] for j in best.selected}
            if missing:
                self.warnings.append(f"{len(missing)} canton(s) could not be given a site within the budget")
        return best

    def _perturb(self, st: _State, rounds: int, seconds: float, seed: int = 0) -> _State:
        """Iterated local search: drop ~10 % of the placed sites at random, refill greedily, swap; keep
        the result when it covers more."""
        rng = np.random.default_rng(seed)
        t_end = time.perf_counter() + seconds
        eps = 1e-9 * max(self.population_total, 1.0)
        for _ in range(rounds):
            if time.perf_counter() > t_end:
                break
            removable = [j for j in st.selected if self._free[j]]
            if not removable:
                break
            trial = self._state_of(st.selected)
            drop = rng.choice(removable, max(1, len(removable) // 10), replace=False)
            for j in drop:
                trial.remove(int(j))
            excluded = np.zeros(len(self._free), bool)
            excluded[drop] = True
            trace, self.trace = self.trace, []  # the trial's steps are not part of the trace
            self._fill(trial, ratio=self.budget is not None, exclude=excluded)
            self._improve(trial, 20, max(0.0, t_end - time.perf_counter()))
            self.trace = trace
            if trial.covered > st.covered + eps:
                st = trial
                self.trace.append(st.covered)
        return st

    def _state_of(self, selected) -> _State:
        st = _State(self._csc, self.w)
        for j in selected:
            st.add(int(j))
        return st

    def _improve(self, st: _State, max_rounds: int, seconds: float) -> None:
        """Rounds of improving 1-swaps (drop a selected site, add a candidate), independent ones together."""
        a = self.matrix
        at = self._csc.T.tocsr()  # columns × communes
        n_cols = a.shape[1]
        free = (self.columns["candidate"] & ~self.columns["fixed"]).to_numpy()
        canton = self.columns["canton"].to_numpy(dtype=object)
        canton_id = pd.factorize(pd.Series(canton, dtype=object), use_na_sentinel=True)[0]
        eps = 1e-9 * max(self.population_total, 1.0)
        t_end = time.perf_counter() + seconds
        targets = None
        if self.one_per_canton:
            targets = {canton[j] for j in st.selected if canton[j] is not None}
        for _ in range(max_rounds):
            if time.perf_counter() > t_end:
                self.warnings.append("swap improvement stopped at its time limit")
                break
            sel = np.array(st.selected, dtype=np.int64)
            removable = sel[free[sel]]
            if len(removable) == 0:
                break
            is_sel = np.zeros(n_cols, bool)
            is_sel[sel] = True
            u0 = self.w * (st.cnt == 0)
            gain = at @ u0
            one = np.flatnonzero(st.cnt == 1)
            pos = np.full(n_cols, -1, np.int64)
            pos[removable] = np.arange(len(removable))
            own = pos[st.owner[one]]
            keep = own >= 0
            p = sparse.csr_matrix((self.w[one[keep]], (one[keep], own[keep])), shape=(a.shape[0], len(removable)))
            credit = (at @ p).tocsr()  # credit[c, s]: people only s covers that c covers too
            loss = np.asarray(p.sum(axis=0)).ravel()
            budget_left = None if self.budget is None else self.budget - float(self._cost[sel].sum())
            # per candidate: the best site to drop
            cand = np.flatnonzero(free & ~is_sel)
            if len(cand) == 0:
                break
            sole = np.zeros(len(removable), bool)
            if targets is not None:
                cnt_k = pd.Series(canton_id[sel]).value_counts()
                sole = (cnt_k.reindex(canton_id[removable]).to_numpy() == 1) & \
                       np.array([canton[s] in targets for s in removable], bool)

            def feasible(c_idx, s_idx):
                ok = np.ones(len(c_idx), bool)
                if targets is not None:
                    ok &= ~sole[s_idx] | (canton_id[c_idx] == canton_id[removable[s_idx]])
                if budget_left is not None:
                    ok &= self._cost[c_idx] - self._cost[removable[s_idx]] <= budget_left + 1e-9
                return ok

            best_val = np.full(n_cols, -np.inf)
            best_s = np.full(n_cols, -1, np.int64)
            # sites whose drop frees no overlap with c: value −loss, try the cheapest few
            order = np.argsort(loss, kind="stable")[:32]
            for s_idx in order[::-1]:
                ok = feasible(cand, np.full(len(cand), s_idx))
                better = ok & (-loss[s_idx] >= best_val[cand])
                best_val[cand[better]] = -loss[s_idx]
                best_s[cand[better]] = s_idx
            sub = credit[cand]
            rows = np.repeat(cand, np.diff(sub.indptr))
            vals = sub.data - loss[sub.indices]
            ok = feasible(rows, sub.indices)
            rows, vals, sidx = rows[ok], vals[ok], sub.indices[ok]
            o = np.lexsort((-vals, rows))
            rows, vals, sidx = rows[o], vals[o], sidx[o]
            first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, bool)
            r1, v1, s1 = rows[first], vals[first], sidx[first]
            better = v1 > best_val[r1]
            best_val[r1[better]] = v1[better]
            best_s[r1[better]] = s1[better]
            delta = gain[cand] + best_val[cand]
            good = np.flatnonzero(delta > eps)
            if len(good) == 0:
                break
            good = good[np.argsort(-delta[good], kind="stable")]
            touched = np.zeros(a.shape[0], bool)
            used = set()
            swaps = 0
            for g in good:
                c, s = int(cand[g]), int(removable[best_s[cand[g]]])
                if s in used:
                    continue
                zone = np.concatenate([st.rows(c), st.rows(s)])
                if touched[zone].any():
                    continue
                if targets is not None:  # re-check: an earlier swap of this round may have changed cantons
                    same = canton_id[c] == canton_id[s]
                    n_left = sum(1 for x in st.selected if canton_id[x] == canton_id[s]) - 1
                    if canton[s] in targets and not same and n_left < 1:
                        continue
                if self.budget is not None:
                    left = self.budget - float(self._cost[st.selected].sum())
                    if self._cost[c] - self._cost[s] > left + 1e-9:
                        continue
                before = st.covered
                st.remove(s)
                st.add(c)
                if st.covered < before + eps:  # should not happen; undo defensively
                    st.remove(c)
                    st.add(s)
                    continue
                touched[zone] = True
                used.add(s)
                swaps += 1
            if swaps == 0:
                break
            self.trace.append(st.covered)

    def _solve_milp(self, time_limit: float) -> tuple[_State | None, bool]:
        """Exact maximal covering: max Σ w_i y_i, y_i ≤ Σ_{j covers i} x_j, Σ x_j ≤ n, canton and budget rows."""
        a = self.matrix
        n_dem, n_cols = a.shape
        active = np.flatnonzero((np.diff(a.indptr) > 0) & (self.w > 0))
        ay = a[active].astype(float)
        k = len(active)
        c = np.concatenate([np.zeros(n_cols), -self.w[active]])
        cons = [LinearConstraint(sparse.hstack([-ay, sparse.identity(k)], format="csr"), -np.inf, 0.0)]
        fixed = self.columns["fixed"].to_numpy()
        free = (self.columns["candidate"] & ~self.columns["fixed"]).to_numpy()
        count_row = np.concatenate([np.ones(n_cols), np.zeros(k)])
        cons.append(LinearConstraint(count_row[None, :], -np.inf, max(self.n_sites, int(fixed.sum()))))
        if self.budget is not None:
            cost_row = np.concatenate([np.where(free, self._cost, 0.0), np.zeros(k)])
            cons.append(LinearConstraint(cost_row[None, :], -np.inf, self.budget))
        if self.one_per_canton:
            targets = sorted(self._target_set)
            canton = self.columns["canton"].to_numpy(dtype=object)
            if targets:
                t_index = {t: r for r, t in enumerate(targets)}
                cols_ = [j for j in np.flatnonzero(free) if canton[j] in t_index]
                m = sparse.csr_matrix((np.ones(len(cols_)), ([t_index[canton[j]] for j in cols_], cols_)),
                                      shape=(len(targets), n_cols + k))
                cons.append(LinearConstraint(m, 1.0, np.inf))
        lb = np.concatenate([fixed.astype(float), np.zeros(k)])
        ub = np.concatenate([(fixed | free).astype(float), np.ones(k)])
        integrality = np.concatenate([np.ones(n_cols), np.zeros(k)])
        res = milp(c, constraints=cons, bounds=Bounds(lb, ub), integrality=integrality,
                   options={"time_limit": time_limit, "disp": False})
        if res.x is None:
            self.warnings.append(f"MILP found no solution ({res.message})")
            return None, False
        if res.status != 0:
            self.warnings.append(f"MILP stopped before proving optimality ({res.message})")
        chosen = np.flatnonzero(res.x[:n_cols] > 0.5)
        return self._ordered(chosen), res.status == 0

    def _ordered(self, chosen: np.ndarray) -> _State:
        """State holding `chosen` added in greedy order (fixed first); zero-gain extras dropped when allowed."""
        st = self._fixed_state()
        self.trace = [st.covered]
        mask = np.zeros(self.matrix.shape[1], bool)
        mask[chosen] = True
        mask[self.columns["fixed"].to_numpy()] = False
        n_want = int(mask.sum())
        if self.one_per_canton:
            canton = self.columns["canton"].to_numpy(dtype=object)
            self._celf(st, mask, n_want, ratio=False, stop_at_zero=False)
            # drop zero-gain sites unless they are the only site of their canton
            for j in list(st.selected):
                if self.columns["fixed"].iloc[j]:
                    continue
                if st.marginal[st.selected.index(j)] <= 0 and \
                        sum(1 for x in st.selected if canton[x] == canton[j]) > 1:
                    st.remove(j)
        else:
            self._celf(st, mask, n_want, ratio=False, stop_at_zero=True)
        return st

    def _finish(self, st: _State) -> None:
        sel = np.array(st.selected, dtype=np.int64)
        self._record(sel, st.marginal, st.cnt)
        if self.budget is not None:
            self.selected["cost"] = self._cost[sel]
            self.cost_total = float(self._cost[sel].sum())
        self.objective_trace = [int(round(x)) for x in self.trace]
        added = int((~self.selected["existing"]).sum())
        if added < self._slots:
            self.warnings.append(f"only {added} of {self._slots} free site(s) placed: the others would cover "
                                 f"no one more" + (" or exceed the budget" if self.budget is not None else ""))
        self.warnings = list(dict.fromkeys(self.warnings))

    def _record(self, sel: np.ndarray, marginal, cnt) -> None:
        """The selection table of columns ``sel`` (in placement order) and the coverage totals."""
        cols, com = self.columns, self.communes
        rows = self._row.reindex(cols["commune"].to_numpy()[sel]).to_numpy()
        get = lambda c: [com[c].iloc[int(r)] if r == r else None for r in rows] if c in com else [None] * len(sel)
        self.selected = pd.DataFrame({
            "code": cols["commune"].to_numpy()[sel],
            "site_id": cols["id"].to_numpy()[sel],
            "name": get("name"),
            "dep": get("dep"),
            "canton": cols["canton"].to_numpy()[sel],
            "lat": cols["lat"].to_numpy()[sel],
            "lon": cols["lon"].to_numpy()[sel],
            "existing": cols["fixed"].to_numpy()[sel],
            "population_covered_marginal": np.asarray(marginal, float).round().astype(np.int64),
            "order": np.arange(1, len(sel) + 1),
        })
        self.covered = np.asarray(cnt > 0)
        self.covered_population = int(round(float(self.w[self.covered].sum())))
        self.share_covered = self.covered_population / self.population_total if self.population_total else 0.0
        all_cantons = pd.unique(pd.Series(codes_of(com["canton"]), dtype=object).dropna())
        have = set(self.selected["canton"].dropna())
        self.cantons_without_site = sorted(k for k in all_cantons if k not in have)

    # --- demand-aware placement -----------------------------------------------------------------------
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
        loads = _Loads(self.communes, self.w, self.capacity, self.model)
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

    def _relief_column(self, s: int, loads: _Loads, v: np.ndarray, col_of_row: np.ndarray) -> int:
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
        st = _State(self._csc, self.w)
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

    def sites(self) -> pd.DataFrame:
        """The selected sites as a network (site_id, commune, lat, lon, mobile) for `fssim.geo.coverage`."""
        s = self.selected
        return pd.DataFrame({"site_id": s["site_id"], "commune": s["code"], "lat": s["lat"], "lon": s["lon"],
                             "mobile": False})


def compare_networks(placed, real: pd.DataFrame, *, communes: pd.DataFrame | None = None,
                     max_minutes: float | None = None, model=None, date=None,
                     cantons: pd.DataFrame | None = None, aliases: pd.DataFrame | None = None) -> pd.DataFrame:
    """Placed versus real network by département: population share within T, cantons with a site, sites.

    `placed` is a solved PlacementProblem (its communes, T and model are the defaults) or a site table.
    The last row, dep "total", is the whole territory.
    """
    if isinstance(placed, PlacementProblem):
        if not hasattr(placed, "selected"):
            raise InputError("solve the placement problem before comparing it", field="placed")
        communes = placed.communes if communes is None else communes
        max_minutes = placed.max_minutes if max_minutes is None else max_minutes
        model = placed.model if model is None else model
        placed = placed.sites()
    if communes is None:
        raise InputError("give the communes table to compare two site tables", field="communes")
    t = int(round(30 if max_minutes is None else max_minutes))
    model = RoadModel() if model is None else model
    a = coverage(communes, placed, thresholds=(t,), model=model, cantons=cantons, aliases=aliases)
    b = coverage(communes, real, thresholds=(t,), model=model, date=date, cantons=cantons, aliases=aliases)
    keep = ["dep", "population", f"share_within_{t}", "sites", "cantons_total", "cantons_with_site"]
    da, db = a.by_departement[keep], b.by_departement[keep]
    out = da.merge(db.drop(columns=["population", "cantons_total"]), on="dep", how="outer",
                   suffixes=("_placed", "_real"))
    total = {"dep": "total", "population": a.population_total,
             f"share_within_{t}_placed": a.share_within[t], "sites_placed": len(a.sites),
             "cantons_total": a.cantons_total, "cantons_with_site_placed": a.cantons_with_site,
             f"share_within_{t}_real": b.share_within[t], "sites_real": len(b.sites),
             "cantons_with_site_real": b.cantons_with_site}
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    out[f"share_within_{t}_gain"] = out[f"share_within_{t}_placed"] - out[f"share_within_{t}_real"]
    cols = ["dep", "population", f"share_within_{t}_placed", f"share_within_{t}_real", f"share_within_{t}_gain",
            "cantons_total", "cantons_with_site_placed", "cantons_with_site_real", "sites_placed", "sites_real"]
    return out[cols]

"""Maximal covering: which communes each site would cover, and the search for the sites covering the most.

- coverage sets are sparse: candidate j covers commune i when road minutes(i→j) ≤ max_minutes, found by a
  KD-tree radius search bounded by the fastest speed (a scipy.sparse matrix, communes × candidates);
- "greedy": lazy greedy (CELF, Leskovec et al. 2007) on marginal population gains, then rounds of
  improving 1-swaps (remove one site, add another); with a budget, the better of the cost-benefit
  (gain/cost) and the plain greedy, both within the budget; optionally (`perturb_rounds`) an iterated
  local search: drop 10 % of the sites at random, refill, swap, keep when better;
- "milp": the exact maximal covering location problem (Church & ReVelle 1974) with scipy.optimize.milp,
  for small instances ("auto" picks it below `MILP_MAX_NONZEROS` coverage pairs);
- "nested": the greedy order alone (no swaps, no budget ratio, cantons served in order of population), so
  that the n + 1 sites placed contain the n sites placed, in the same order.

`CoveringSearch` is the search part of `fssim.network.placement.PlacementProblem`, which holds the data it
reads (coverage matrix, weights, columns, costs, budget, cantons to serve, free slots).
"""

from __future__ import annotations

import heapq
import time

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree

from fssim.errors import InputError
from fssim.geo.travel import RoadModel, TravelMatrix, chord_to_km, codes_of, km_to_chord, unit_vectors

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




class CoverState:
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



class CoveringSearch:
    """Greedy, swap, iterated local search and exact (MILP) searches over the coverage matrix.

    A part of PlacementProblem: it reads the problem's `matrix`/`_csc` (communes × columns), `w` (population
    per commune), `columns` (fixed, candidate, canton), `_cost`, `budget`, `n_sites`, `_slots` (free sites to
    place), `_free`, `_canton`, `one_per_canton`, `_nested`, `_target_order`/`_target_set` (cantons to serve),
    and appends to its `trace` and `warnings`.
    """

    def _greedy_state(self, max_swap_rounds: int, swap_seconds: float, perturb_rounds: int, seed: int) -> CoverState:
        state = self._solve_greedy()
        self._improve(state, max_swap_rounds, swap_seconds)
        if perturb_rounds:
            state = self._perturb(state, perturb_rounds, swap_seconds, seed)
        trace = self.trace
        state = self._ordered(np.array(state.selected, dtype=np.int64))  # marginals in greedy order
        self.trace = trace
        return state

    def _fixed_state(self) -> CoverState:
        st = CoverState(self._csc, self.w)
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

    def _celf(self, st: CoverState, eligible: np.ndarray, limit: int, *, ratio: bool, group: np.ndarray | None = None,
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

    def _fill(self, st: CoverState, *, ratio: bool, exclude: np.ndarray | None = None) -> None:
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

    def _solve_greedy(self) -> CoverState:
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

    def _perturb(self, st: CoverState, rounds: int, seconds: float, seed: int = 0) -> CoverState:
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

    def _state_of(self, selected) -> CoverState:
        st = CoverState(self._csc, self.w)
        for j in selected:
            st.add(int(j))
        return st

    def _improve(self, st: CoverState, max_rounds: int, seconds: float) -> None:
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

    def _solve_milp(self, time_limit: float) -> tuple[CoverState | None, bool]:
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

    def _ordered(self, chosen: np.ndarray) -> CoverState:
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


"""Where to put n sites so that the most people live within T minutes of one (maximal covering location).

`PlacementProblem` (PySAL spopt style: built from data, `.solve()` returns it, results as attributes and
DataFrames) places sites among candidate communes, by a search over sparse coverage sets
(fssim.network.covering: "greedy" with swaps, exact "milp", "auto", or "nested"). "nested" keeps the greedy
order alone, so that the n + 1 sites placed contain the n sites placed, in the same order: a network that
grows by one site keeps every other site (and its citizens); "greedy", "milp" and "auto" are free placements.
Existing sites are kept and count toward n_sites (they use no budget); `one_per_canton` first gives every
canton a site, then fills the rest. With a `SiteCapacity` the placement is demand-aware
(fssim.network.demand_aware): overloaded sites are relieved first, so a populous commune may host several.
The placed network is compared with the real one by fssim.network.comparison.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from fssim.errors import InputError
from fssim.geo.coverage import check_communes, locate_sites
from fssim.geo.travel import RoadModel, check_points, codes_of
from fssim.network.covering import MILP_MAX_NONZEROS, CoverState, CoveringSearch, coverage_matrix
from fssim.network.demand_aware import DemandRelief, SiteCapacity


class PlacementProblem(CoveringSearch, DemandRelief):
    """Choose `n_sites` sites among candidate communes to maximise the population within `max_minutes`.

    communes: territory communes (code, name, dep, canton, lat, lon, population, density_class).
    candidates: commune codes, or a DataFrame with `code` (and optionally its own lat/lon); default all.
    existing: sites kept open — a list of commune codes or a site DataFrame (site_id, lat, lon, commune).
    costs: cost per candidate (Series indexed by commune code), used with `budget`.
    capacity: a SiteCapacity: relieve overloaded sites first (fssim.network.demand_aware); a commune may then
    host several sites. Not combined with a budget; with a travel matrix the expected volumes are not known
    and the covering order is kept as it is (a warning says so).

    After `.solve()` (None before): `selected` (one row per site in placement order: code, site_id, name,
    dep, canton, lat, lon, existing, population_covered_marginal, order; `cost` with a budget, `relief` and
    `expected_visits` with a capacity), `covered` (per commune, within max_minutes of a site),
    `covered_population`, `share_covered`, `cantons_without_site`, `method` (the one that gave the solution),
    `objective_trace` (people covered after each step), `cost_total` (with a budget), `site_capacity` (with
    a capacity), `solve_seconds`, `warnings`; `sites()` gives the selection as a network table.

    Three sites for the communes of Lozère (the embedded territory), each commune within 30 minutes by road:

    >>> from fssim.geo.territory import load_territory
    >>> communes = load_territory().communes.query("dep == '48'")
    >>> problem = PlacementProblem(communes, n_sites=3, max_minutes=30).solve()
    >>> len(problem.selected), bool(0 < problem.share_covered <= 1)
    (3, True)
    >>> int(problem.covered_population) == int(communes.loc[problem.covered, "population"].sum())
    True
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
        # results, set by solve()
        self.selected: pd.DataFrame | None = None
        self.covered: np.ndarray | None = None
        self.covered_population: int | None = None
        self.share_covered: float | None = None
        self.cantons_without_site: list | None = None
        self.method: str | None = None
        self.objective_trace: list[int] | None = None
        self.cost_total: float | None = None
        self.site_capacity: float | None = None
        self.solve_seconds: float | None = None

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


    def _finish(self, st: CoverState) -> None:
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


    def sites(self) -> pd.DataFrame:
        """The selected sites as a network (site_id, commune, lat, lon, mobile) for `fssim.geo.coverage`."""
        if self.selected is None:
            raise InputError("solve the placement problem before asking for its sites", field="placed")
        s = self.selected
        return pd.DataFrame({"site_id": s["site_id"], "commune": s["code"], "lat": s["lat"], "lon": s["lon"],
                             "mobile": False})

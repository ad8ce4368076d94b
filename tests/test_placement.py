"""Site placement (maximal covering): greedy and MILP against brute force, cantons, existing sites, budget."""

import itertools
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fssim.geo.coverage import coverage
from fssim.errors import InputError
from fssim.network.comparison import compare_networks
from fssim.network.covering import coverage_matrix
from fssim.network.placement import PlacementProblem
from fssim.geo.travel import RoadModel, TravelMatrix

CLASSES = ["dense", "intermediaire", "peu_dense", "tres_peu_dense"]


def make_territory(n, seed, n_cantons=4, size=0.6):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "code": [f"{10000 + i}" for i in range(n)],
        "name": [f"Commune {i}" for i in range(n)],
        "dep": np.where(np.arange(n) % 2 == 0, "10", "11"),
        "region": "44",
        "canton": [f"K{i % n_cantons}" for i in range(n)],
        "lat": rng.uniform(45.0, 45.0 + size, n),
        "lon": rng.uniform(2.0, 2.0 + 1.4 * size, n),
        "population": rng.lognormal(7, 1.2, n).round().astype(np.int64) + 1,
        "density_class": rng.choice(CLASSES, n),
    })


def covered(a: np.ndarray, w: np.ndarray, cols) -> float:
    return float(w[a[:, list(cols)].any(axis=1)].sum()) if len(cols) else 0.0


def brute_force(a, w, n, *, allowed=None, must=(), ok=lambda s: True):
    """Best coverage over all subsets of ≤ n columns containing `must` and passing `ok`."""
    cols = range(a.shape[1]) if allowed is None else allowed
    best = 0.0
    for k in range(0, n + 1):
        for s in itertools.combinations(cols, k):
            if set(must) <= set(s) and ok(s):
                best = max(best, covered(a, w, s))
    return best


def test_coverage_matrix_equals_dense_times():
    com = make_territory(150, seed=0, size=1.0)
    pts = com.sample(30, random_state=1)
    model = RoadModel()
    a = coverage_matrix(com, pts.lat, pts.lon, 20, model).toarray()
    dense = model.minutes(com.lat, com.lon, com.density_class, pts.lat, pts.lon) <= 20
    assert a.shape == (150, 30) and (a == dense).all()
    assert a.sum() > 0 and not a.all()


@pytest.mark.parametrize("seed", range(10))
def test_greedy_and_milp_against_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    com = make_territory(45, seed=seed)
    cand = list(com.code.sample(12, random_state=seed))
    n = int(rng.integers(2, 5))
    exact = PlacementProblem(com, cand, n_sites=n, max_minutes=15).solve("milp")
    a, w = exact.matrix.toarray(), com.population.to_numpy(float)
    opt = brute_force(a, w, n)
    assert exact.method == "milp"
    assert exact.covered_population == pytest.approx(opt, abs=0.5)
    plain = PlacementProblem(com, cand, n_sites=n, max_minutes=15).solve("greedy", max_swap_rounds=0)
    assert plain.covered_population >= (1 - 1 / math.e) * opt - 0.5
    assert len(plain.selected) <= n
    # the objective trace is the cumulative coverage, increasing
    assert np.all(np.diff(plain.objective_trace) > 0)
    assert plain.objective_trace[-1] == plain.covered_population
    # marginals add up to the total
    assert plain.selected["population_covered_marginal"].sum() == pytest.approx(plain.covered_population, abs=n)


def test_improved_greedy_is_optimal_on_most_seeds():
    hits, seeds = 0, range(20)
    for seed in seeds:
        com = make_territory(60, seed=seed + 40, size=0.6)
        cand = list(com.code.sample(12, random_state=seed))
        n = 3 + seed % 2
        p = PlacementProblem(com, cand, n_sites=n, max_minutes=20).solve("greedy")
        g0 = PlacementProblem(com, cand, n_sites=n, max_minutes=20).solve("greedy", max_swap_rounds=0)
        opt = brute_force(p.matrix.toarray(), com.population.to_numpy(float), n)
        assert g0.covered_population <= p.covered_population <= opt + 0.5
        hits += abs(p.covered_population - opt) < 0.5
        if seed < 6:  # iterated local search never loses ground
            ils = PlacementProblem(com, cand, n_sites=n, max_minutes=20).solve("greedy", perturb_rounds=10, seed=seed)
            assert p.covered_population <= ils.covered_population <= opt + 0.5
    assert hits >= 0.9 * len(seeds)


def test_swap_repairs_a_greedy_trap():
    """M covers 3 of A and 3 of B (6 people); a covers all of A, b all of B (4 each): greedy takes M first."""
    demand = [f"{i:05d}" for i in range(1, 9)]  # 1-4 in A, 5-8 in B
    com = pd.DataFrame({"code": demand + ["00091", "00092", "00093"], "name": "x", "dep": "10", "region": "44",
                        "canton": "K0", "lat": 45.0, "lon": 2.0, "population": [1] * 8 + [0, 0, 0],
                        "density_class": "peu_dense"})
    covers = {"00091": demand[0:3] + demand[4:7], "00092": demand[0:4], "00093": demand[4:8]}
    rows = [(o, d, 5.0) for d, os in covers.items() for o in os]
    tm = TravelMatrix.from_frame(pd.DataFrame(rows, columns=["origin", "destination", "minutes"]))
    cand = list(covers)
    plain = PlacementProblem(com, cand, n_sites=2, max_minutes=10, model=tm).solve("greedy", max_swap_rounds=0)
    assert plain.covered_population == 7 and plain.selected["code"].iloc[0] == "00091"
    better = PlacementProblem(com, cand, n_sites=2, max_minutes=10, model=tm).solve("greedy")
    assert better.covered_population == 8 and set(better.selected["code"]) == {"00092", "00093"}
    assert better.objective_trace[-1] == 8 and 7 in better.objective_trace
    exact = PlacementProblem(com, cand, n_sites=2, max_minutes=10, model=tm).solve("milp")
    assert exact.covered_population == 8


def test_auto_picks_milp_when_small_and_selected_table():
    com = make_territory(40, seed=3)
    p = PlacementProblem(com, n_sites=3, max_minutes=20).solve()
    assert p.method == "milp"
    s = p.selected
    assert list(s.columns[:7]) == ["code", "site_id", "name", "dep", "canton", "lat", "lon"]
    assert list(s["order"]) == list(range(1, len(s) + 1))
    assert s["population_covered_marginal"].is_monotonic_decreasing
    assert 0 < p.share_covered <= 1
    assert p.solve_seconds >= 0
    # the same figure as measured by coverage()
    res = coverage(com, p.sites(), thresholds=(20,))
    assert res.share_within[20] == pytest.approx(p.share_covered)


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_one_per_canton(method):
    com = make_territory(60, seed=5, n_cantons=5)
    com.loc[com.canton == "K4", "population"] = 1  # a canton worth nothing for coverage alone
    p = PlacementProblem(com, n_sites=7, max_minutes=12, one_per_canton=True).solve(method)
    assert set(p.selected["canton"]) == {f"K{i}" for i in range(5)}
    assert p.cantons_without_site == []
    assert len(p.selected) <= 7
    if method == "greedy":
        ils = PlacementProblem(com, n_sites=7, max_minutes=12, one_per_canton=True).solve(method, perturb_rounds=15)
        assert set(ils.selected["canton"]) == {f"K{i}" for i in range(5)}
        assert ils.covered_population >= p.covered_population
    free = PlacementProblem(com, n_sites=7, max_minutes=12).solve(method)
    assert free.covered_population >= p.covered_population - 0.5
    # too few sites: say so, and cover the most populous cantons
    few = PlacementProblem(com, n_sites=3, max_minutes=12, one_per_canton=True).solve(method)
    top3 = set(com.groupby("canton").population.sum().sort_values(ascending=False).index[:3])
    assert set(few.selected["canton"]) == top3
    assert any("cantons" in w for w in few.warnings)
    assert len(few.cantons_without_site) == 2


def test_one_per_canton_against_brute_force():
    com = make_territory(40, seed=8, n_cantons=3)
    cand = list(com.code[:12])
    p = PlacementProblem(com, cand, n_sites=4, max_minutes=15, one_per_canton=True).solve("milp")
    canton = dict(zip(com.code, com.canton))
    opt = brute_force(p.matrix.toarray(), com.population.to_numpy(float), 4,
                      ok=lambda s: {canton[cand[j]] for j in s} == {"K0", "K1", "K2"})
    assert p.covered_population == pytest.approx(opt, abs=0.5)


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_existing_sites_are_kept_and_counted(method):
    com = make_territory(60, seed=6)
    keep = [com.code[0], com.code[1]]
    p = PlacementProblem(com, list(com.code[5:20]), n_sites=4, max_minutes=15, existing=keep).solve(method)
    sel = p.selected
    assert set(keep) <= set(sel["code"])
    assert set(sel.loc[sel.existing, "code"]) == set(keep)
    assert len(sel) <= 4 and list(sel["existing"][:2]) == [True, True]
    # as a site table, at its own coordinates
    real = pd.DataFrame({"site_id": ["fs1", "fs2"], "lat": [45.3, 45.1], "lon": [2.4, 2.2],
                         "commune": [com.code[3], "99999"]})
    q = PlacementProblem(com, n_sites=3, max_minutes=15, existing=real).solve(method)
    assert {"fs1", "fs2"} <= set(q.selected["site_id"])
    assert len(q.selected) <= 3
    assert any("no known commune" in w for w in q.warnings)
    a = q.matrix.toarray()
    opt = brute_force(a, com.population.to_numpy(float), 3, allowed=range(a.shape[1]),
                      must=[a.shape[1] - 2, a.shape[1] - 1])
    if method == "milp":
        assert q.covered_population == pytest.approx(opt, abs=0.5)
    else:
        assert q.covered_population >= (1 - 1 / math.e) * opt


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_budget_respected(method):
    com = make_territory(45, seed=9)
    cand = list(com.code[:11])
    rng = np.random.default_rng(9)
    costs = pd.Series(rng.uniform(1, 10, len(cand)).round(1), index=cand)
    budget = 12.0
    p = PlacementProblem(com, cand, n_sites=4, max_minutes=15, costs=costs, budget=budget).solve(method)
    assert costs[p.selected["code"]].sum() <= budget + 1e-9
    assert p.cost_total == pytest.approx(costs[p.selected["code"]].sum())
    opt = brute_force(p.matrix.toarray(), com.population.to_numpy(float), 4,
                      ok=lambda s: costs.iloc[list(s)].sum() <= budget)
    if method == "milp":
        assert p.covered_population == pytest.approx(opt, abs=0.5)
    else:
        assert p.covered_population >= 0.5 * (1 - 1 / math.e) * opt  # Khuller et al. bound
        ils = PlacementProblem(com, cand, n_sites=4, max_minutes=15, costs=costs, budget=budget).solve(
            method, perturb_rounds=10)
        assert costs[ils.selected["code"]].sum() <= budget + 1e-9
        assert p.covered_population <= ils.covered_population <= opt + 0.5
    # a huge budget changes nothing compared to no budget
    big = PlacementProblem(com, cand, n_sites=3, max_minutes=15, costs=costs, budget=1e9).solve("milp")
    none = PlacementProblem(com, cand, n_sites=3, max_minutes=15).solve("milp")
    assert big.covered_population == none.covered_population


def test_compare_networks_by_departement():
    com = make_territory(80, seed=11)
    p = PlacementProblem(com, n_sites=4, max_minutes=20).solve("greedy")
    real = pd.DataFrame({"site_id": ["r1", "r2"], "lat": [45.1, 45.5], "lon": [2.1, 2.7],
                         "commune": [com.code[0], com.code[1]]})
    cmp = compare_networks(p, real)
    assert list(cmp["dep"]) == ["10", "11", "total"]
    tot = cmp.set_index("dep").loc["total"]
    assert tot["share_within_20_placed"] == pytest.approx(p.share_covered)
    real_cov = coverage(com, real, thresholds=(20,))
    assert tot["share_within_20_real"] == pytest.approx(real_cov.share_within[20])
    assert tot["sites_placed"] == len(p.selected) and tot["sites_real"] == 2
    assert cmp["sites_placed"][:2].sum() == len(p.selected)
    assert tot["share_within_20_gain"] == pytest.approx(p.share_covered - real_cov.share_within[20])


def test_bad_inputs():
    com = make_territory(20, seed=1)
    with pytest.raises(InputError, match="99999"):
        PlacementProblem(com, ["99999"], n_sites=1)
    with pytest.raises(InputError, match="costs"):
        PlacementProblem(com, n_sites=2, budget=10)
    with pytest.raises(InputError, match="no cost"):
        PlacementProblem(com, n_sites=2, costs=pd.Series({com.code[0]: 1.0}), budget=10)
    with pytest.raises(InputError, match="method"):
        PlacementProblem(com, n_sites=2).solve("simplex")


def test_real_departement_placement_beats_the_real_network():
    from fssim.geo.territory import load_territory

    terr = load_territory().subset(deps=["23"])  # Creuse: rural, few sites
    sites = real_sites()
    sites = sites[sites["commune"].isin(terr.communes["code"])]
    n = len(sites)
    assert 10 < n < 40
    p = PlacementProblem(terr.communes, n_sites=n, max_minutes=10).solve("auto")
    assert p.method == "milp"
    assert len(p.selected) <= n and p.selected["dep"].eq("23").all()
    cmp = compare_networks(p, sites).set_index("dep")
    assert 0 < cmp.loc["total", "share_within_10_real"] < cmp.loc["total", "share_within_10_placed"] <= 1
    assert cmp.loc["total", "share_within_10_placed"] == pytest.approx(p.share_covered)
    assert cmp.loc["total", "sites_real"] == n


def real_sites() -> pd.DataFrame:
    """The ANCT list of August 2024, read from the shared data directory."""
    env = os.environ.get("FSSIM_DATA_DIR")
    folder = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    raw = pd.read_csv(folder / "france-services-2024-08.csv", dtype=str)
    return pd.DataFrame({"site_id": raw["id_fs"], "lat": raw["latitude"].astype(float),
                         "lon": raw["longitude"].astype(float), "commune": raw["insee_com"]})

"""Common random numbers that survive changes to the network: the same citizens at the same sites.

A citizen is keyed by their site, day and index in the day, never by the position of a draw: turning on
appointments, adding demand, adding a site elsewhere or sharding the run must leave them unchanged.
"""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fssim.config import config_from_dict
from fssim.run import simulate
from fssim.scenario import build_network, build_scenario

from conftest import arrivals_of, small_network

CITIZEN = ["demarche", "service", "walk_in_patience", "follow_up", "follow_up_delay", "follow_up_service",
           "return_u", "return_delay"]


def citizens(a) -> pd.DataFrame:
    """One row per citizen, indexed by the arrival time they drew (before any appointment moved them)."""
    drawn = getattr(a, "drawn_time", None)
    drawn = a.time if drawn is None else drawn
    return pd.DataFrame({c: getattr(a, c) for c in CITIZEN}, index=pd.Index(drawn, name="drawn"))


def test_appointments_keep_every_citizens_demarche_and_service_time():
    on = small_network()
    off = small_network()
    off["sites"][0]["appointments"] = False
    # in the simulation: walk-ins of the site with appointments are the same people (by arrival time)
    v_on = simulate(config_from_dict(on), replications=1).visits
    v_off = simulate(config_from_dict(off), replications=1).visits
    first = lambda v: v[(v["site_id"] == "a") & v["kind"].isin(["walk_in", "booked"])]  # noqa: E731
    walk_on = first(v_on)[first(v_on)["kind"] == "walk_in"].set_index("arrival")
    all_off = first(v_off).set_index("arrival")
    assert (first(v_on)["kind"] == "booked").sum() > 20 and len(walk_on) > 100
    assert walk_on.index.isin(all_off.index).all()
    pd.testing.assert_series_equal(walk_on["demarche"], all_off.loc[walk_on.index, "demarche"])
    both = walk_on["service_min"].notna() & all_off.loc[walk_on.index, "service_min"].notna().to_numpy()
    assert both.sum() > 100
    np.testing.assert_array_equal(walk_on.loc[both, "service_min"], all_off.loc[walk_on.index[both], "service_min"])
    # every citizen, booked or not, keeps their whole future
    a_on, a_off = arrivals_of(config_from_dict(on)), arrivals_of(config_from_dict(off))
    assert a_on.booked.any() and not a_off.booked.any() and len(a_on) == len(a_off)
    x, y = citizens(a_on).sort_index(), citizens(a_off).sort_index()
    pd.testing.assert_frame_equal(x, y)


def test_more_demand_adds_citizens_without_redrawing_the_others():
    cfg = lambda n: config_from_dict(small_network(demand={"visits_per_open_day": n}))  # noqa: E731
    few, more = citizens(arrivals_of(cfg(30))), citizens(arrivals_of(cfg(33)))
    assert len(more) > len(few) > 500
    assert few.index.isin(more.index).all()
    pd.testing.assert_frame_equal(few, more.loc[few.index])


def test_another_demarche_mix_keeps_the_other_citizens():
    base = small_network()
    cfg = config_from_dict(base)
    shares = [d.share for d in cfg.demarches]
    shifted = [dict(d.model_dump(), share=s) for d, s in zip(cfg.demarches, shares[::-1])]
    x, y = arrivals_of(cfg), arrivals_of(config_from_dict(dict(base, demarches=shifted)))
    a, b = citizens(x), citizens(y)
    pd.testing.assert_index_equal(a.index, b.index)  # same arrivals
    # the same démarches (the first and any further ones) give the same service time
    same = (a["demarche"] == b["demarche"]).to_numpy() & (x.other_demarches == y.other_demarches).all(axis=1)
    assert 0 < same.sum() < len(a)
    pd.testing.assert_frame_equal(a[same], b[same])


def placed(dep: str, n: int, days: int = 42, demand: str = "calibrated", **placement):
    return config_from_dict({
        "name": f"placed-{dep}-{n}", "horizon": {"start": "2024-01-01", "days": days}, "seed": 17,
        "replications": 1, "territory": {"departements": [dep]},
        "network": {"source": "placement", "placement": {"n_sites": n, "max_minutes": 30, **placement}},
        "catchment": {"model": demand}, "outputs": {"visits": True},
    })


VISIT_COLUMNS = ["citizen", "demarche", "kind", "attempt", "arrival", "service_start", "service_end", "service_min",
                 "wait_min", "outcome"]


def catchments(cfg) -> dict[str, frozenset]:
    """Each site's catchment on the reference date: the communes it serves and the visits they send."""
    from fssim.demand.catchment import CatchmentProblem
    from fssim.scenario import build_network
    from fssim.geo.territory import load_territory

    terr, nt, model = build_network(cfg)
    share = terr.communes["population"].sum() / load_territory().communes["population"].sum()
    cp = CatchmentProblem(terr.communes, nt.sites, cfg.catchment, model, population_share=share)
    ref = cfg.horizon.end - dt.timedelta(days=1)
    cp.solve([cfg.horizon.start], ref)
    bc = cp.by_commune.dropna(subset=["site_id"])
    return {sid: frozenset(zip(g["code"], g["visits_per_year"])) for sid, g in bc.groupby("site_id")}


@pytest.mark.parametrize("dep", ["48", "23"])
def test_adding_a_site_changes_only_the_sites_whose_catchment_changes(dep):
    """Population rule: the new site takes communes (and so citizens) from some of its neighbours only."""
    small, big = placed(dep, 10, demand="population"), placed(dep, 11, demand="population")
    va, vb = simulate(small).visits, simulate(big).visits
    ids_a, ids_b = set(va["site_id"].astype(str)), set(vb["site_id"].astype(str))
    assert len(ids_a) == 10 and ids_a < ids_b  # the same ids: nested placement, ids from communes
    ca, cb = catchments(small), catchments(big)
    cols = VISIT_COLUMNS
    changed = set()
    for sid in ids_a:
        x = va[va["site_id"] == sid][cols].reset_index(drop=True)
        y = vb[vb["site_id"] == sid][cols].reset_index(drop=True)
        assert len(x) > 10, sid
        if not x.equals(y):
            changed.add(sid)
    assert changed == {s for s in ids_a if ca[s] != cb[s]}
    assert 0 < len(changed) < len(ids_a)  # the new site takes communes from some of its neighbours only


def test_with_calibrated_demand_adding_a_site_changes_no_other_site():
    """Calibrated demand: a site's volume depends on its own hours, age and commune only, so every site of the
    smaller network keeps exactly its citizens, and the communes near the new site get more demand."""
    small, big = placed("48", 10), placed("48", 11)
    va, vb = simulate(small).visits, simulate(big).visits
    ids_a = set(va["site_id"].astype(str))
    new = set(vb["site_id"].astype(str)) - ids_a
    assert len(new) == 1
    for sid in ids_a:
        x = va[va["site_id"] == sid][VISIT_COLUMNS].reset_index(drop=True)
        y = vb[vb["site_id"] == sid][VISIT_COLUMNS].reset_index(drop=True)
        assert len(x) > 10 and x.equals(y), sid
    ca, cb = commune_visits(small), commune_visits(big)
    host = build_network(big)[1].sites.set_index("site_id").loc[new.pop(), "commune"]
    assert cb[host] > ca[host]  # demand rises near the new site
    assert cb.sum() > ca.sum()


def commune_visits(cfg) -> pd.Series:
    from fssim.demand.catchment import CatchmentProblem

    terr, nt, model = build_network(cfg)
    cp = CatchmentProblem(terr.communes, nt.sites, cfg.catchment, model)
    cp.actes_per_visit = cfg.behaviour.mean_demarches()
    cp.solve([cfg.horizon.start], cfg.horizon.end - dt.timedelta(days=1))
    return cp.by_commune.set_index("code")["visits_per_year"]


def test_placement_of_n_plus_one_sites_contains_placement_of_n():
    from fssim.scenario import build_network

    prev = None
    for n in range(9, 16):  # Lozère has 12 cantons: one site per canton first, then anywhere
        communes = list(build_network(placed("48", n, max_minutes=15))[1].sites["commune"])
        assert len(communes) == n
        if prev is not None:
            assert communes[:-1] == prev
        prev = communes
    assert build_network(placed("48", 10))[1].sites.attrs["placement"]["method"] == "nested"
    # a free placement (swaps, milp) only when asked for with placement.nested: false
    from types import SimpleNamespace

    from fssim.network.build import placement_method
    assert placement_method(SimpleNamespace(nested=False, method="milp")) == "milp"


def test_placed_site_ids_come_from_their_commune():
    from fssim.network.build import placed_site_ids
    from fssim.scenario import build_network

    net = build_network(placed("23", 12))[1].sites
    assert list(net["site_id"]) == ["p-" + c for c in net["commune"]]
    assert placed_site_ids(["23001", "23096", "23001", "23001"]) == ["p-23001", "p-23096", "p-23001-2",
                                                                     "p-23001-3"]


def sharded_network() -> dict:
    """Six sites in two départements and a bus redirecting its citizens to one of them."""
    sites = [{"id": f"s{i}", "commune": c, "lat": 49.7, "lon": 4.7, "far_from_commune": True, "agents": 2,
              "appointments": i % 2 == 0}
             for i, c in enumerate(["08105", "08409", "08362", "08116", "23096", "23176"])]
    bus = {"id": "bus", "agents": 1, "fallback_site": "s2", "unserved": "nearest_site", "stops": [
        {"commune": "08003", "lat": 49.8, "lon": 4.6, "weekday": "tue", "start": "09:00", "end": "12:00",
         "visits_per_visit": 12}]}
    return small_network(sites=sites, buses=[bus], horizon={"start": "2024-04-01", "days": 28})


def test_sharded_run_is_the_unsplit_run():
    cfg = config_from_dict(sharded_network())
    shards = build_scenario(cfg).shards(max_size=2)
    assert len(shards) >= 4 and max(len(s) for s in shards) <= 2
    assert sum(len(s) for s in shards) == 7
    assert any({"s2", "bus"} == {e.id for e in s} for s in shards)  # the bus travels with its fallback site
    assert len([s for s in shards if all(e.commune.startswith("08") for e in s if hasattr(e, "hours"))]) >= 2
    split, whole = simulate(cfg, shard_size=2), simulate(cfg, shard_size=1000)
    assert len(whole.visits) > 1000 and (whole.visits["kind"] == "redirected").any()
    pd.testing.assert_frame_equal(split.visits, whole.visits)
    pd.testing.assert_frame_equal(split.summary, whole.summary)


def _splitmix_reference(k0, k1, unit, index):
    """The counter-based uniforms written with numpy (the formula of fssim.demand.compiled, one array at a time)."""
    golden, one = np.uint64(0x9E3779B97F4A7C15), np.uint64(1)

    def mix(z):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    unit = np.asarray(unit, dtype=np.int64).astype(np.uint64)
    index = np.asarray(index, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = mix(mix(k0 + (unit + one) * golden) ^ (k1 + (index + one) * golden))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


def test_compiled_uniforms_equal_the_numpy_formula_to_the_bit():
    from fssim.demand.randomness import Streams

    streams = Streams(42, 3, "site-7", "demand")
    rng = np.random.default_rng(5)
    unit = rng.integers(-5, 400, 20_000)
    index = np.r_[rng.integers(0, 2**45, 19_990), -np.arange(1, 11)]
    k0, k1 = streams._seq("arrival").generate_state(2, np.uint64)
    got = streams.uniforms("arrival", unit, index)
    assert np.array_equal(got, _splitmix_reference(k0, k1, unit, index))
    assert got.min() > 0 and got.max() < 1 and 0.49 < got.mean() < 0.51
    # one unit for many citizens (a day), and a single pair
    assert np.array_equal(streams.uniforms("arrival", 12, np.arange(50)), _splitmix_reference(k0, k1, 12, np.arange(50)))
    assert streams.uniforms("arrival", 3, 4) == _splitmix_reference(k0, k1, 3, 4)
    with pytest.raises(ValueError):
        streams.uniforms("arrival", np.arange(3), np.arange(4))

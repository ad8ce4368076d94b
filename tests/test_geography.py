"""Results where people live: the commune of each visit, the canton/département/région scopes, the access
indicator against a hand-computed case."""
import numpy as np
import pandas as pd
import pytest

from fssim.config import config_from_dict
from fssim.demand.arrivals import DemandModel, generate_arrivals
from fssim.demand.profiles import profile_of
from fssim.demand.origins import origin_communes
from fssim.demand.randomness import stream
from fssim.engine.calendar import site_sessions
from fssim.metrics.geography import Geography, access_by_commune, access_sums
from fssim.run import simulate

from conftest import small_network


def _visits(rows):
    """rows: (replication, site, commune, outcome, wait) → a visits table with the columns the metrics read."""
    df = pd.DataFrame(rows, columns=["replication", "site_id", "commune", "outcome", "wait_min"])
    df["site_id"] = df["site_id"].astype("category")
    df["commune"] = df["commune"].astype("category")
    df["outcome"] = df["outcome"].astype("category")
    return df


def _geography():
    communes = pd.DataFrame({
        "code": ["A", "B", "C"], "population": [1000, 500, 200], "minutes": [10.0, 40.0, 5.0],
        "site_id": ["s1", "s1", "s2"], "canton": ["k1", "k1", "k2"], "dep": ["d1", "d1", "d2"],
        "region": ["r", "r", "r"]})
    return Geography(communes, {"s1": "A", "s2": "C"}, access_minutes=30.0)


def test_the_access_indicator_equals_the_hand_computed_case():
    W = 15.0
    visits = _visits([
        # commune A at s1: 3 served within W, one gave up; at s2: one within, one over W; one no-show (ignored)
        (0, "s1", "A", "served", 2.0), (0, "s1", "A", "served", 14.0), (0, "s1", "A", "served", 0.0),
        (0, "s1", "A", "gave_up", np.nan), (0, "s2", "A", "served", 5.0), (0, "s2", "A", "served", 25.0),
        (0, "s1", "A", "no_show", np.nan),
        # commune B: all served at once, but 40 min away (> T)
        (0, "s1", "B", "served", 1.0), (0, "s1", "B", "served", 1.0),
        # commune C sends nobody: it takes its access point s2's share (1 of 2 within W)
    ])
    geo = _geography()
    a_share = 4 / 6
    want = (1000 * a_share + 500 * 0 + 200 * 0.5) / 1700
    net = access_sums(visits, geo, W, None)
    assert net.loc[0, "population"] == 1700
    assert net.loc[0, "population_served"] / net.loc[0, "population"] == pytest.approx(want, rel=1e-12)
    by_dep = access_sums(visits, geo, W, "departement")
    assert by_dep.loc[(0, "d1"), "population_served"] == pytest.approx(1000 * a_share)
    assert by_dep.loc[(0, "d2"), "population_served"] / by_dep.loc[(0, "d2"), "population"] == pytest.approx(0.5)
    table = access_by_commune(visits, geo, W).set_index("code")
    assert table.loc["A", "within_target"] == pytest.approx(a_share)
    assert table.loc["B", "within_target"] == 0.0 and table.loc["B", "served_within_wait"] == 1.0
    assert table.loc["C", "within_target"] == pytest.approx(0.5)


def test_origins_draw_the_commune_and_change_no_other_attribute_of_a_citizen():
    base = small_network()
    base["sites"] = [{"id": "a", "commune": "08105", "lat": 49.7625, "lon": 4.7253}]
    plain = config_from_dict(base)
    spread = config_from_dict({**base, "sites": [{**base["sites"][0], "demand": {
        "origins": {"08105": 0.7, "08409": 0.2, "08490": 0.1}}}]})
    out = {}
    for name, cfg in (("plain", plain), ("spread", spread)):
        site = cfg.sites[0]
        model = DemandModel(cfg)
        sessions = site_sessions(site, cfg.horizon, set())
        out[name] = generate_arrivals(model, site, sessions, profile_of(model, site, sessions),
                                      stream(cfg.seed, 0, site.id, "demand"))
    assert origin_communes(plain.sites[0])[0] == ["08105"] and set(out["plain"].origin) == {0}
    codes = origin_communes(spread.sites[0])[0]
    drawn = pd.Series(np.asarray(codes)[out["spread"].origin]).value_counts(normalize=True)
    assert len(out["spread"]) > 500 and abs(drawn["08105"] - 0.7) < 0.06 and abs(drawn["08490"] - 0.1) < 0.04
    for field in ("time", "demarche", "service", "walk_in_patience", "booked"):
        np.testing.assert_array_equal(getattr(out["plain"], field), getattr(out["spread"], field), err_msg=field)


def test_a_network_run_has_the_geographic_scopes_and_they_add_up(monkeypatch):
    import fssim.metrics.geography as geography
    computed = []
    real = geography._compute_shares
    monkeypatch.setattr(geography, "_compute_shares", lambda *a: computed.append(1) or real(*a))
    cfg = config_from_dict({
        "name": "lozere", "horizon": {"start": "2024-03-04", "days": 28}, "seed": 5, "replications": 2,
        "territory": {"departements": ["48"]},
        "network": {"source": "placement", "placement": {"n_sites": 6, "max_minutes": 30}},
    })
    run = simulate(cfg)
    assert len(computed) == 1  # the per-commune shares: once for every level and access.parquet
    s = run.summary
    assert {"canton", "departement", "region"} <= set(s["scope"])
    visits = s[s["kpi"] == "visits"].set_index(["scope", "key"])["mean"]
    assert visits.loc["departement"].sum() == pytest.approx(visits.loc[("network", "")])
    assert visits.loc["canton"].sum() == pytest.approx(visits.loc[("network", "")])
    assert set(run.visits["commune"].astype(str).str[:2]) == {"48"}
    access = s[s["kpi"] == "population_served_within_targets"].set_index(["scope", "key"])["mean"]
    assert 0 < access.loc[("network", "")] <= 1 and access.loc[("departement", "48")] == access.loc[("network", "")]
    assert s["reliable"].dtype == bool and not s.loc[s["scope"] == "canton", "reliable"].all()
    table = run.tables["access"]
    assert len(table) == len(run.tables["coverage"]) and table["within_target"].between(0, 1).all()
    pop = table["population"].astype(float)
    assert (table["within_target"] * pop).sum() / pop.sum() == pytest.approx(access.loc[("network", "")], rel=1e-9)


def test_listed_sites_without_a_commune_have_no_geographic_scope():
    cfg = config_from_dict({**small_network(), "horizon": {"start": "2024-04-01", "days": 14}})
    run = simulate(cfg)
    assert not {"canton", "departement", "region"} & set(run.summary["scope"])
    assert "access" not in run.tables
    assert set(run.visits["commune"].astype(str)) == {""}
    with pytest.raises(ValueError, match="geography"):
        from fssim.metrics.tables import kpis
        kpis(run.visits, run.sessions, "canton")

"""Visits carry one or more démarches: actes (démarches handled) against visits, and what stays the same.

An acte is the unit of the Baromètre's statistics; a visit may handle several démarches (≈ 1.5 a visitor in
the MSAP network). The number of a visit's démarches and the further démarches come from their own streams,
so another distribution of that number leaves every citizen's arrival and first démarche as they were.
"""
import numpy as np
import pytest

from fssim.config import config_from_dict
from fssim.demand.arrivals import DemandModel
from fssim.errors import InputError
from fssim.experiment.partials import kpis_from_sums, unit_partials
from fssim.metrics.tables import kpis, sessions_table, visits_table
from fssim.engine.simulation import simulate_sites

from conftest import arrivals_of, queue_config, small_network


def run_tables(cfg, replications=1):
    model = DemandModel(cfg)
    runs = [(r, simulate_sites(cfg, cfg.sites, r, model)) for r in range(replications)]
    return runs, visits_table(cfg, runs), sessions_table(cfg, runs)


def two_demarches(factor: float, follow_up: float = 0.0) -> dict:
    """Two démarches of fixed service times (10 and 30 min), every visit handling both."""
    return {**small_network(), "demarches": [
        {"name": "short", "share": 0.5, "service": {"dist": "fixed", "value": 10.0},
         "follow_up": {"share": follow_up, "delay_days": [2, 4]}},
        {"name": "long", "share": 0.5, "service": {"dist": "fixed", "value": 30.0}}],
        "demand": {"visits_per_open_day": 30, "mix_shifts": []},
        "behaviour": {"demarches_per_visit": {2: 1.0}, "extra_demarche_factor": factor}}


def test_actes_are_the_demarches_of_served_visits_in_both_kpi_paths():
    cfg = config_from_dict(small_network())
    runs, visits, sessions = run_tables(cfg)
    served = visits[visits["outcome"] == "served"]
    assert (served["demarches"] > 1).any() and (served["demarches"] == 1).any()
    net = kpis(visits, sessions, None, threshold=cfg.outputs.wait_threshold_min).iloc[0]
    assert net["actes"] == int(served["demarches"].sum())
    assert net["actes"] > net["served"]
    assert net["actes_per_visit"] * net["served"] == pytest.approx(net["actes"], rel=1e-12)
    by_site = kpis(visits, sessions, "site", threshold=cfg.outputs.wait_threshold_min).set_index("site_id")
    assert by_site["actes"].sum() == net["actes"]
    # the partials a worker sends give the same figures
    sums = unit_partials(cfg, runs[0][1]).frame().drop(columns=["site_id", "slot"]).sum().to_frame().T
    k = kpis_from_sums(sums).iloc[0]
    assert k["actes"] == net["actes"] and k["actes_per_visit"] == pytest.approx(net["actes_per_visit"], rel=1e-12)


def test_share_of_visits_with_several_demarches_follows_the_table():
    table = {1: 0.5, 2: 0.3, 3: 0.2}
    data = small_network(horizon={"start": "2024-01-01", "days": 364})
    data["behaviour"] = {"demarches_per_visit": table}
    a = arrivals_of(config_from_dict(data))
    n = len(a)
    assert n > 5000
    for k, p in table.items():
        share = float(np.mean(a.demarches == k))
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n), (k, share)
    mean = sum(k * p for k, p in table.items())
    sd = np.sqrt(sum((k - mean) ** 2 * p for k, p in table.items()))
    assert abs(a.demarches.mean() - mean) < 4 * sd / np.sqrt(n)
    # the further démarches are distinct from the first and from each other, and there are demarches − 1 of them
    rows = np.c_[a.demarche, a.other_demarches]
    for r, c in zip(rows, a.demarches):
        assert (r[c:] == -1).all() and len(set(r[:c])) == c and (r[:c] >= 0).all()


def test_more_demarches_than_the_catalogue_offers_are_capped():
    data = two_demarches(0.5)
    data["behaviour"]["demarches_per_visit"] = {3: 1.0}
    a = arrivals_of(config_from_dict(data))
    assert len(a) > 100 and (a.demarches == 2).all()


def test_two_demarche_visits_take_the_first_in_full_and_the_second_at_the_factor():
    cfg = config_from_dict(two_demarches(0.5, follow_up=0.5))
    _, visits, _ = run_tables(cfg)
    served = visits[visits["outcome"] == "served"]
    assert (served["demarches"] == 2).all() and len(served) > 500
    want = served["demarche"].map({"short": 10.0 + 0.5 * 30.0, "long": 30.0 + 0.5 * 10.0}).astype(float)
    np.testing.assert_allclose(served["service_min"].to_numpy(float), want.to_numpy(), rtol=1e-12)
    # follow-ups and returns handle the same démarches again, with the same rule
    later = served[served["kind"].isin(["follow_up", "return"])]
    assert (later["kind"] == "follow_up").sum() > 50
    np.testing.assert_allclose(later["service_min"].to_numpy(float), want[later.index].to_numpy(), rtol=1e-12)


def test_another_number_of_demarches_keeps_every_citizen_arrival_and_first_demarche():
    one = small_network()
    one["behaviour"] = {"demarches_per_visit": {1: 1.0}}
    more = small_network()
    more["behaviour"] = {"demarches_per_visit": {1: 0.2, 2: 0.4, 3: 0.4}}
    a, b = arrivals_of(config_from_dict(one)), arrivals_of(config_from_dict(more))
    assert len(a) == len(b) > 500
    np.testing.assert_array_equal(a.time, b.time)
    np.testing.assert_array_equal(a.demarche, b.demarche)
    for name in ("booked", "walk_in_patience", "follow_up", "follow_up_delay", "return_u", "return_delay"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.demarches == 1).all() and (b.demarches > 1).mean() > 0.7
    # a citizen with one démarche in both keeps their service time; the others take longer
    alone = b.demarches == 1
    np.testing.assert_array_equal(a.service[alone], b.service[alone])
    assert (b.service[~alone] > a.service[~alone]).all()


def test_one_demarche_a_visit_makes_actes_the_served_visits():
    cfg = config_from_dict(queue_config(agents=2, rate_per_hour=4.0, service={"dist": "exponential", "mean": 20},
                                        patience=None, days=10, replications=1))
    assert cfg.behaviour.demarches_per_visit == {1: 1.0}
    _, visits, sessions = run_tables(cfg)
    net = kpis(visits, sessions, None, threshold=15.0).iloc[0]
    assert (visits["demarches"] == 1).all() and net["actes"] == net["served"] > 100
    assert net["actes_per_visit"] == 1.0


@pytest.mark.parametrize("table, expect", [({1: 0.5, 2: 0.4}, "sum to 0.9000"), ({0: 1.0}, "greater than 0"),
                                           ({}, "sum to 0.0000")])
def test_a_bad_demarches_per_visit_table_names_the_field(table, expect):
    data = small_network()
    data["behaviour"] = {"demarches_per_visit": table}
    with pytest.raises(InputError) as e:
        config_from_dict(data)
    assert "behaviour.demarches_per_visit" in str(e.value) and expect in str(e.value), str(e.value)

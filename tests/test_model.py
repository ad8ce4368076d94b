"""Model behaviour: conservation, closing, determinism, common random numbers, calendars."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fssim.calendar import public_holidays, site_sessions
from fssim.config import config_from_dict
from fssim.demand import DemandModel
from fssim.run import simulate

from conftest import small_network


@pytest.fixture(scope="module")
def small_run():
    return simulate(config_from_dict(small_network()))


def test_conservation_every_visit_ends_somewhere(small_run):
    v = small_run.visits
    assert v["outcome"].isna().sum() == 0
    counts = v["outcome"].value_counts()
    assert counts.sum() == len(v)
    net = small_run.network()["mean"]
    assert net["visits"] == pytest.approx(net["served"] + net["gave_up"] + net["sent_home"] + net["no_show"]
                                          + net["still_waiting"])
    # a closing site leaves nobody "still waiting"; every outcome happens
    assert counts["still_waiting"] == 0
    for o in ("served", "gave_up", "sent_home", "no_show"):
        assert counts[o] > 0, o


def test_served_citizens_have_consistent_times(small_run):
    s = small_run.visits[small_run.visits["outcome"] == "served"]
    assert (s["service_start"] >= s["arrival"]).all()
    assert (s["service_end"] > s["service_start"]).all()
    assert np.allclose(s["wait_min"], (s["service_start"] - s["arrival"]).dt.total_seconds() / 60, atol=1e-3)


def test_agents_never_exceed_staffing(small_run):
    """At every service start, citizens in service <= agents on duty at that time."""
    cfg = small_run.config
    sites = {s.id: s for s in cfg.sites}
    v = small_run.visits
    for (rep, sid), g in v[v["outcome"] == "served"].groupby(["replication", "site_id"], observed=True):
        starts = g["service_start"].to_numpy()
        ends = g["service_end"].to_numpy()
        order = np.argsort(starts)
        starts, ends = starts[order], ends[order]
        for i in range(0, len(starts), 7):  # sample of start instants
            t = starts[i]
            busy = ((starts <= t) & (ends > t)).sum()
            day = pd.Timestamp(t)
            sched = sites[sid].schedule[["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.weekday()]]
            minute = day.hour * 60 + day.minute + day.second / 60
            on_duty = max(c for a, b, c in sched if a <= minute + 1e-6 and minute < b + 1e-6)
            # an agent going off duty finishes the citizen in front of them: count the previous segment too
            allowed = max(on_duty, max(c for a, b, c in sched if a <= minute))
            assert busy <= allowed


def test_closing_sends_home_exactly_those_still_waiting(small_run):
    cfg = small_run.config
    v = small_run.visits
    sessions = {}
    for s in cfg.sites:
        from fssim.simulation import closed_days
        sessions[s.id] = site_sessions(s, cfg.horizon, closed_days(cfg))
    origin = pd.Timestamp(cfg.horizon.start)
    mins = lambda col: (v[col] - origin).dt.total_seconds().to_numpy() / 60
    arr, start = mins("arrival"), mins("service_start")
    patience_left = arr + v["time_in_queue_min"].to_numpy()
    for sid in v["site_id"].cat.categories:
        ends = np.array([s.end for s in sessions[sid]])
        starts = np.array([s.start for s in sessions[sid]])
        m = (v["site_id"] == sid).to_numpy()
        close = ends[np.searchsorted(starts, arr[m], side="right") - 1]
        outcome = v.loc[m, "outcome"].to_numpy()
        served = outcome == "served"
        assert (start[m][served] < close[served]).all()  # nobody starts after the doors close
        home = outcome == "sent_home"
        assert np.allclose(patience_left[m][home], close[home])  # they left exactly at closing
        gave_up = outcome == "gave_up"
        assert (patience_left[m][gave_up] < close[gave_up] + 1e-9).all()


def test_returns_and_follow_ups_come_later_for_the_same_citizen(small_run):
    v = small_run.visits
    for kind, after in (("return", "sent_home"), ("follow_up", "served")):
        later = v[v["kind"] == kind]
        assert len(later) > 0, kind
        first = v[v["kind"].isin(["walk_in", "booked"])].set_index(["replication", "site_id", "citizen"])
        key = pd.MultiIndex.from_frame(later[["replication", "site_id", "citizen"]])
        assert (later["arrival"].to_numpy() > first.loc[key, "arrival"].to_numpy()).all()


def test_no_shows_only_among_booked(small_run):
    v = small_run.visits
    assert set(v.loc[v["outcome"] == "no_show", "kind"]) == {"booked"}
    assert (v.loc[v["site_id"] == "b", "kind"] != "booked").all()  # site b takes no appointments


def test_same_seed_same_tables_whatever_the_sharding():
    from fssim.scenario import build_scenario

    cfg = config_from_dict(small_network())
    assert len(build_scenario(cfg).shards(1)) == 2  # the two sites really are simulated apart
    a = simulate(cfg, shard_size=1)
    b = simulate(cfg, shard_size=100)
    pd.testing.assert_frame_equal(a.visits, b.visits)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    c = simulate(cfg, seed=cfg.seed + 1)
    assert not a.visits["arrival"].equals(c.visits["arrival"])


def test_common_random_numbers_across_scenarios():
    base = small_network()
    ref = simulate(config_from_dict(base), replications=1).visits
    # adding a site leaves the other sites' draws (and here their whole history) unchanged
    more = small_network(sites=base["sites"] + [{"id": "c", "agents": 2}])
    other = simulate(config_from_dict(more), replications=1).visits
    for sid in ("a", "b"):
        x = ref[ref["site_id"] == sid].reset_index(drop=True)
        y = other[other["site_id"] == sid].reset_index(drop=True)
        pd.testing.assert_frame_equal(x.drop(columns="site_id"), y.drop(columns="site_id"))
    # more agents at site a: same citizens (arrivals, démarches, service times), shorter waits
    staffed = small_network()
    staffed["sites"][0]["agents"] = 4
    st = simulate(config_from_dict(staffed), replications=1).visits
    x = ref[(ref["site_id"] == "a") & ref["kind"].isin(["walk_in", "booked"])].reset_index(drop=True)
    y = st[(st["site_id"] == "a") & st["kind"].isin(["walk_in", "booked"])].reset_index(drop=True)
    for col in ("arrival", "demarche", "kind"):
        pd.testing.assert_series_equal(x[col], y[col])
    assert y["wait_min"].mean() < x["wait_min"].mean()


def test_french_public_holidays():
    h = public_holidays(dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    assert len(h) == 11
    assert dt.date(2025, 4, 21) in h  # Easter Monday 2025
    assert dt.date(2025, 5, 29) in h  # Ascension 2025
    assert dt.date(2025, 6, 9) in h   # Whit Monday 2025
    assert dt.date(2025, 7, 14) in h
    moselle = public_holidays(dt.date(2025, 1, 1), dt.date(2026, 1, 1), "57")
    assert dt.date(2025, 4, 18) in moselle and dt.date(2025, 12, 26) in moselle  # Good Friday, St Stephen


def test_closed_on_holidays_and_before_opening():
    cfg = config_from_dict(small_network(horizon={"start": "2024-04-29", "days": 14}))
    v = simulate(cfg, replications=1).visits
    days = set(v["arrival"].dt.date)
    assert dt.date(2024, 5, 1) not in days and dt.date(2024, 5, 8) not in days and dt.date(2024, 5, 9) not in days
    assert dt.date(2024, 4, 30) in days
    late = small_network(horizon={"start": "2024-04-29", "days": 14})
    late["sites"][0]["opens_on"] = "2024-05-06"
    v = simulate(config_from_dict(late), replications=1).visits
    assert v.loc[v["site_id"] == "a", "arrival"].min() >= pd.Timestamp("2024-05-06")


def test_demand_profiles_shape_arrivals():
    cfg = config_from_dict(small_network(horizon={"start": "2024-01-01", "days": 366}, replications=1))
    v = simulate(cfg).visits
    first = v[v["kind"].isin(["walk_in", "booked"])]
    per_day = first.groupby(first["arrival"].dt.date).size()
    dates = pd.to_datetime(pd.Series(per_day.index))
    monday = per_day[(dates.dt.day_of_week == 0).to_numpy()].mean()
    friday = per_day[(dates.dt.day_of_week == 4).to_numpy()].mean()
    assert monday > friday  # weekday factors 1.15 vs 0.9
    may = per_day[(dates.dt.month == 5).to_numpy()].mean()
    aug = per_day[(dates.dt.month == 8).to_numpy()].mean()
    assert may > 1.4 * aug  # month factors 1.25 vs 0.65
    # the income-tax campaign doubles the DGFiP share
    mix = DemandModel(cfg).daily_mix()
    k = [d.name for d in cfg.demarches].index("dgfip")
    ft = [d.name for d in cfg.demarches].index("france_titres")
    # 15 May: DGFiP x2 and France Titres x1.3, then renormalised
    expected = 0.15 * 2 / (1 + 0.15 * (2 - 1) + 0.19 * (1.3 - 1))
    assert mix[pd.Timestamp("2024-05-15").day_of_year - 1, k] == pytest.approx(expected)
    assert mix[pd.Timestamp("2024-02-15").day_of_year - 1, k] == pytest.approx(0.15)
    assert mix[pd.Timestamp("2024-05-15").day_of_year - 1, ft] == pytest.approx(0.19 * 1.3 / (1 + 0.15 + 0.19 * 0.3))
    dg = first[first["demarche"] == "dgfip"]
    campaign = dg["arrival"].between("2024-04-15", "2024-06-10").sum() / first["arrival"].between(
        "2024-04-15", "2024-06-10").sum()
    winter = dg["arrival"].between("2024-01-08", "2024-03-01").sum() / first["arrival"].between(
        "2024-01-08", "2024-03-01").sum()
    assert campaign > 1.4 * winter


def test_visits_per_open_day_matches_the_configured_volume():
    cfg = config_from_dict(small_network(horizon={"start": "2024-01-01", "days": 364}, replications=1))
    v = simulate(cfg).visits
    first = v[v["kind"].isin(["walk_in", "booked"]) & (v["site_id"] == "b")]
    per_day = first.groupby(first["arrival"].dt.date).size()
    # Poisson counts: the mean over ~250 open days is within 4 standard errors of 30
    assert abs(per_day.mean() - 30) < 4 * np.sqrt(30 / len(per_day))

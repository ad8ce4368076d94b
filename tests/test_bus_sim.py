"""Buses in the simulation: a stop is a site that comes and goes; stops recur weekly, fortnightly, monthly."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fssim.engine.calendar import bus_sessions, recurs_on
from fssim.config import Recurrence, Stop, config_from_dict
from fssim.run import simulate


def base(**kw):
    cfg = {
        "name": "bus", "horizon": {"start": "2024-04-01", "days": 84}, "seed": 5, "replications": 2,
        "demand": {"visits_per_open_day": 9},
    }
    cfg.update(kw)
    return cfg


def test_a_bus_with_a_single_stop_is_the_site_with_the_same_hours():
    site = base(sites=[{"id": "x", "hours": {"tue": "09:00-12:00"}, "agents": 2}])
    bus = base(buses=[{"id": "x", "agents": 2, "arrival_profile": "hours",
                       "stops": [{"commune": "08105", "weekday": "tue", "start": "09:00", "end": "12:00",
                                  "visits_per_visit": 9}]}])
    a = simulate(config_from_dict(site)).visits
    b = simulate(config_from_dict(bus)).visits
    assert len(a) > 50
    cols = ["replication", "site_id", "citizen", "demarche", "kind", "arrival", "service_start", "service_end",
            "wait_min", "outcome"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert set(b["stop"]) == {"x:08105"} and set(a["stop"]) == {""}


def two_stop_bus(**bus_kw):
    bus = {"id": "b1", "agents": 2, "stops": [
        {"commune": "23001", "weekday": "mon", "start": "09:00", "end": "12:00", "every": "weekly",
         "visits_per_visit": 12},
        {"commune": "23002", "weekday": "mon", "start": "14:00", "end": "16:30", "every": "fortnightly",
         "visits_per_visit": 8},
        {"commune": "23003", "weekday": "thu", "start": "09:00", "end": "12:00", "every": "monthly",
         "visits_per_visit": 10}]}
    bus.update(bus_kw)
    return bus


def test_conservation_and_returns_at_stops():
    res = simulate(config_from_dict(base(buses=[two_stop_bus(agents=1)])))
    v = res.visits
    assert v["outcome"].isna().sum() == 0 and (v["outcome"] != "still_waiting").all()
    assert set(v["stop"]) == {"b1:23001", "b1:23002", "b1:23003"}
    # arrivals only while the bus is at the stop
    for stop, (a, b) in {"b1:23001": (540, 720), "b1:23002": (840, 990), "b1:23003": (540, 720)}.items():
        t = v[v["stop"] == stop]["arrival"]
        minutes = t.dt.hour * 60 + t.dt.minute + t.dt.second / 60
        assert ((minutes >= a) & (minutes <= b)).all(), stop
    # a citizen sent home comes back at the same stop, at a later visit of the bus
    ret = v[v["kind"] == "return"]
    assert len(ret) > 0
    first = v[v["kind"] == "walk_in"].set_index(["replication", "citizen"])
    key = pd.MultiIndex.from_frame(ret[["replication", "citizen"]])
    assert (first.loc[key, "stop"].to_numpy() == ret["stop"].to_numpy()).all()
    assert (first.loc[key, "arrival"].dt.date.to_numpy() < ret["arrival"].dt.date.to_numpy()).all()
    # more arrivals at the start of a stop than at its end (front-loaded profile)
    m = v[(v["stop"] == "b1:23001") & (v["kind"] == "walk_in")]["arrival"]
    minutes = m.dt.hour * 60 + m.dt.minute
    assert (minutes < 600).sum() > 1.5 * (minutes >= 660).sum()
    # stop-level KPIs exist in the summary
    s = res.summary
    assert set(s.loc[s["scope"] == "stop", "key"]) == {"b1:23001", "b1:23002", "b1:23003"}


def test_recurrence_rules_across_months_and_holidays():
    fortnight = Recurrence(weeks=2, phase=1, anchor=dt.date(2024, 1, 1))
    assert recurs_on(fortnight, "mon", dt.date(2024, 1, 8)) and not recurs_on(fortnight, "mon", dt.date(2024, 1, 15))
    assert not recurs_on(fortnight, "mon", dt.date(2024, 1, 9))  # a Tuesday
    first_thu = Recurrence(nth=1)
    assert recurs_on(first_thu, "thu", dt.date(2024, 2, 1)) and recurs_on(first_thu, "thu", dt.date(2024, 3, 7))
    assert not recurs_on(first_thu, "thu", dt.date(2024, 2, 8))
    last_fri = Recurrence(nth=-1)
    assert recurs_on(last_fri, "fri", dt.date(2024, 5, 31)) and not recurs_on(last_fri, "fri", dt.date(2024, 5, 24))
    cfg = config_from_dict(base(horizon={"start": "2024-04-01", "days": 61}, buses=[two_stop_bus()]))
    from fssim.engine.simulation import closed_days
    sessions = bus_sessions(cfg.buses[0], cfg.horizon, closed_days(cfg), set())
    days = {cfg.horizon.start + dt.timedelta(days=s.day) for s in sessions}
    assert dt.date(2024, 4, 1) not in days  # Easter Monday 2024: no bus
    assert dt.date(2024, 5, 20) not in days  # Whit Monday
    assert dt.date(2024, 4, 4) in days and dt.date(2024, 5, 2) in days  # first Thursdays of April and May
    assert dt.date(2024, 4, 11) not in days
    mondays = sorted(d for d, s in zip([cfg.horizon.start + dt.timedelta(days=s.day) for s in sessions], sessions)
                     if s.point == 1)
    assert all((b - a).days % 14 == 0 for a, b in zip(mondays, mondays[1:]))


def test_recurrence_labels_round_trip_through_a_config():
    """A recurrence's label, description, visits a year and short form; the short form reads back the same."""
    cases = [(Recurrence(), "weekly", "weekly", 52.0),
             (Recurrence(weeks=2, phase=1), "fortnightly", "fortnightly (week 2 of 2)", 26.0),
             (Recurrence(weeks=3), "every 3 weeks", "every 3 weeks (week 1 of 3)", 52 / 3),
             (Recurrence(weeks=4, phase=2), "monthly", "monthly (week 3 of 4)", 13.0),
             (Recurrence(nth=2), "monthly", "monthly (2nd of the month)", 12.0),
             (Recurrence(nth=-1), "monthly", "monthly (last of the month)", 12.0)]
    for every, label, text, per_year in cases:
        assert (every.label(), every.describe()) == (label, text)
        assert every.per_year() == pytest.approx(per_year)
        stop = {"commune": "23001", "weekday": "mon", "start": "09:00", "end": "12:00", "every": every.short_form()}
        assert Stop.model_validate(stop).every == every, every
    assert Recurrence(weeks=2).short_form() == "fortnightly" and Recurrence(nth=1).short_form() == "monthly"


def test_absences_and_breakdowns_remove_days():
    cfg = base(buses=[two_stop_bus(absences=["2024-04-08"], breakdown_rate=0.3)])
    v = simulate(config_from_dict(cfg)).visits
    assert dt.date(2024, 4, 8) not in set(v["arrival"].dt.date)
    lost = [len(set(g["arrival"].dt.date)) for _, g in v.groupby("replication")]
    full = simulate(config_from_dict(base(buses=[two_stop_bus()]))).visits
    assert max(lost) < len(set(full[full["replication"] == 0]["arrival"].dt.date))


def test_overlapping_stops_on_the_same_day_are_an_error():
    from fssim.errors import InputError
    bus = two_stop_bus()
    bus["stops"][1].update(start="11:00", every="weekly")
    with pytest.raises(InputError, match="overlap"):
        simulate(config_from_dict(base(buses=[bus])))


def test_unserved_citizens_can_go_to_the_fallback_site():
    cfg = base(sites=[{"id": "fixed", "commune": "23096", "agents": 2}],
               buses=[two_stop_bus(agents=1, unserved="nearest_site", fallback_site="fixed")])
    v = simulate(config_from_dict(cfg)).visits
    red = v[v["kind"] == "redirected"]
    assert len(red) > 0 and set(red["site_id"]) == {"fixed"}
    assert (v[(v["site_id"] == "b1")]["kind"] != "return").all()


# --------------------------------------------------------------------------- buses drive between stops

AHUN = (46.08645, 2.04487)   # commune 23001
FAR = (46.45, 2.40)          # ≈ 50 km north-east: given as the second stop's coordinates


def driving_bus(second_start: str, **kw):
    """Two stops on Mondays: nobody comes to the first, so the bus leaves it at 12:00 sharp."""
    stops = [{"commune": "23001", "lat": AHUN[0], "lon": AHUN[1], "weekday": "mon", "start": "09:00",
              "end": "12:00", "visits_per_visit": 0},
             {"commune": "23002", "lat": FAR[0], "lon": FAR[1], "far_from_commune": True, "weekday": "mon",
              "start": second_start, "end": "16:00", "visits_per_visit": 12}]
    return base(buses=[{"id": "d1", "agents": 1, "stops": stops, **kw}], replications=2)


def drive_minutes() -> float:
    from fssim.geo.territory import load_territory
    from fssim.geo.travel import RoadModel
    density = load_territory().communes.set_index("code").at["23001", "density_class"]
    return float(RoadModel().minutes([AHUN[0]], [AHUN[1]], [density], [FAR[0]], [FAR[1]])[0, 0])


def test_a_stop_the_bus_cannot_reach_in_time_starts_late_by_the_missing_drive():
    drive, gap = drive_minutes(), 30.0
    assert drive > gap + 10  # the case is what it claims to be
    res = simulate(config_from_dict(driving_bus("12:30")))
    ses, v = res.sessions, res.visits
    # nobody is served before the bus arrives; citizens who came earlier waited, some gave up meanwhile
    at = v[v["stop"] == "d1:23002"]
    minute = lambda col: (at[col] - at[col].dt.normalize()) / pd.Timedelta(minutes=1)
    arrives = 12 * 60 + drive
    served = at["outcome"] == "served"
    assert (minute("service_start")[served] >= arrives - 1e-4).all()  # times are stored to the millisecond
    early = served & (minute("arrival") < arrives)
    assert early.sum() > 0 and (at.loc[early, "wait_min"] > 0).all()
    gave_up = at["outcome"] == "gave_up"
    left = minute("arrival") + at["time_in_queue_min"]
    assert (gave_up & (left < arrives)).any()
    # the stop starts late by exactly the drive it lacks, and has its agent from then on
    second = ses[ses["stop"] == "d1:23002"]
    assert len(second) > 5
    np.testing.assert_allclose(second["late_min"], drive - gap, rtol=0, atol=1e-9)
    assert (ses.loc[ses["stop"] == "d1:23001", "late_min"] == 0).all()
    np.testing.assert_allclose(second["staffed_min"], 210 - (drive - gap), atol=1e-9)
    # lost minutes in the daily table and the summary
    d = res.daily[res.daily["site_id"] == "d1"]
    np.testing.assert_allclose(d["late_min"], drive - gap, atol=1e-9)
    net = res.network()["mean"]
    per_rep = second.groupby("replication")["late_min"].sum()
    assert net["bus_late_min"] == pytest.approx(per_rep.mean())
    assert net["bus_lost_share"] == pytest.approx(per_rep.mean() / (ses.groupby("replication")["open_min"].sum().mean()))
    assert res.kpi("bus_late_min", "site", "d1") == pytest.approx(per_rep.mean())


def test_a_gap_longer_than_the_drive_loses_nothing():
    assert drive_minutes() < 120
    res = simulate(config_from_dict(driving_bus("14:00")))
    assert len(res.sessions) > 10 and (res.sessions["late_min"] == 0).all()
    assert res.network()["mean"]["bus_late_min"] == 0 and res.network()["mean"]["bus_lost_share"] == 0


def test_the_first_drive_of_the_day_is_from_the_base():
    far_base = {"base": "23002", "base_lat": FAR[0], "base_lon": FAR[1], "leaves_base": "08:30"}
    res = simulate(config_from_dict(driving_bus("14:00", **far_base)))
    ses = res.sessions
    np.testing.assert_allclose(ses.loc[ses["stop"] == "d1:23001", "late_min"], drive_minutes() - 30, atol=1e-9)


def test_partials_count_bus_minutes_as_the_tables_do():
    from fssim.demand.arrivals import DemandModel
    from fssim.experiment.partials import unit_partials
    from fssim.experiment.runner import replication_tables
    from fssim.metrics.tables import kpis, sessions_table, visits_table
    from fssim.engine.simulation import simulate_sites
    cfg = config_from_dict(driving_bus("12:30"))
    runs = [(r, simulate_sites(cfg, cfg.buses, r, DemandModel(cfg))) for r in range(2)]
    ref = kpis(visits_table(cfg, runs), sessions_table(cfg, runs), None, threshold=15.0).set_index("replication")
    for r, plans in runs:
        net, _ = replication_tables([(p.site.id, unit_partials(cfg, [p])) for p in plans])
        for k in ("bus_late_min", "bus_lost_share", "overtime_min", "busy_min", "utilisation"):
            assert net[k] == pytest.approx(ref.loc[r, k], rel=1e-12), k
        assert net["bus_late_min"] > 0

"""Agent absences and planned closures at fixed sites (fssim.engine.absences, fssim.config.absences).

The staffed time falls by the absence rate (within the binomial spread over many days), days close with the
probability the binomial law gives, the citizens are the same with absences on or off (common random
numbers), planned closures have no session, every visit has one outcome, the two KPI engines agree, and a
bad block names its field.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fssim import defaults as D
from fssim.config import Bus, Site, absences_of, config_from_dict, load_config
from fssim.demand.arrivals import DemandModel
from fssim.engine.absences import draw_absences, with_closures
from fssim.engine.calendar import site_sessions, staffed_minutes
from fssim.engine.simulation import closed_days, simulate_sites
from fssim.errors import InputError
from fssim.experiment.partials import unit_partials
from fssim.metrics import kpis as registry
from fssim.metrics.tables import kpi_sums, sessions_table, visits_table
from fssim.run import simulate

from conftest import REPO, small_network

OUTCOMES = ["served", "gave_up", "sent_home", "no_show", "still_waiting"]


def config(network: dict | None = None, *, days: int = 365, replications: int = 1, **site) -> object:
    """The one-site example (2 agents, Monday–Friday), with a network-wide absences block and site fields."""
    d = load_config(REPO / "configs" / "one-site.yaml").model_dump(mode="json")
    d.update(horizon={"start": "2024-01-01", "days": days}, replications=replications)
    d["sites"][0].update(site)
    if network is not None:
        d["absences"] = network
    return config_from_dict(d)


def drawn(cfg, replications: int, site_index: int = 0):
    """(sessions without absences, [absence plan of each replication]) of one site of ``cfg``."""
    site = cfg.sites[site_index]
    sessions = site_sessions(site, cfg.horizon, closed_days(cfg))
    return sessions, [draw_absences(cfg, site, sessions, r) for r in range(replications)]


def binomial_tail(n: int, p: float, k: int) -> float:
    """P(K ≥ k) for K ~ Binomial(n, p)."""
    return sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1))


# --------------------------------------------------------------------------- staffing and closed days


@pytest.mark.parametrize("agents", [2, {"mon": [3, 2], "tue": 2, "wed": 2, "thu": 2, "fri": [2, 1]}])
def test_staffed_minutes_fall_by_the_absence_rate(agents):
    """Open with whoever is there: each agent-minute is lost with probability p, so E[staffed] = (1 − p) ×
    the timetable's, with variance p(1 − p) Σ over days and agents of (that agent's minutes that day)²."""
    p, reps = 0.1, 20
    cfg = config({"agent_daily_rate": p, "below_minimum": "open_with_one"}, agents=agents)
    sessions, plans = drawn(cfg, reps)
    base = sum(s.staffed_minutes for s in sessions)
    got = sum(sum(staffed_minutes(s.segments) for s in a.sessions) for a in plans)
    by_day: dict = {}
    for s in sessions:  # minutes on duty of each agent each day (agent k is on duty where staffing > k)
        for a, b, c in s.segments:
            for k in range(c):
                by_day[(s.day, k)] = by_day.get((s.day, k), 0.0) + (b - a)
    sd = math.sqrt(reps * p * (1 - p) * sum(m * m for m in by_day.values()))
    assert abs(got - reps * (1 - p) * base) < 4 * sd, (got / reps / base, 1 - p)
    assert got < reps * base  # absences did happen
    absent = sum(int(a.absent.sum()) for a in plans)
    heads = sum(1 for _ in by_day)  # agent-days on duty
    assert abs(absent - reps * p * heads) < 4 * math.sqrt(reps * heads * p * (1 - p))


@pytest.mark.parametrize("agents,minimum,rule", [(2, 2, "close"), (2, 2, "open_with_one"), (3, 2, "close"),
                                                 (3, 3, "close"), (3, 2, "open_with_one")])
def test_the_share_of_days_closed_is_the_binomial_tail(agents, minimum, rule):
    """N agents each absent with probability p: the day closes when fewer than the minimum are left
    (``close``: K ≥ N − m + 1 absent) or when nobody is (``open_with_one``: K = N), K ~ Binomial(N, p)."""
    p, reps = 0.15, 20
    cfg = config({"agent_daily_rate": p, "below_minimum": rule, "minimum_agents": minimum}, agents=agents)
    sessions, plans = drawn(cfg, reps)
    open_days = len({s.day for s in sessions}) * reps
    closed = sum(int(a.closed.sum()) for a in plans)
    want = binomial_tail(agents, p, agents - minimum + 1 if rule == "close" else agents)
    sd = math.sqrt(open_days * want * (1 - want))
    assert abs(closed - open_days * want) < 4 * sd, (closed / open_days, want)
    for a in plans:
        first = np.flatnonzero(a.closed)
        assert (a.absent[first] >= (agents - minimum + 1 if rule == "close" else agents)).all()
        if rule == "open_with_one":  # an agent missing never closes the day while one is left
            assert not a.closed[(a.absent > 0) & (a.absent < agents)].any()
        for j in first:  # a closed day: no agent in any of its sessions
            assert all(s.segments == () for s in a.sessions if s.day == a.sessions[j].day)


def test_two_agents_closing_rule_closes_one_day_in_about_1_minus_0_85_with_the_sourced_rate():
    """The sourced figure: 15 % of open days with an agent missing at a 2-agent site."""
    p = D.AGENT_DAILY_ABSENCE
    assert 1 - (1 - p) ** 2 == pytest.approx(0.15)
    sessions, plans = drawn(config({"agent_daily_rate": p}), 30)
    days = len({s.day for s in sessions}) * 30
    share = sum(int(a.closed.sum()) for a in plans) / days
    assert abs(share - 0.15) < 4 * math.sqrt(0.15 * 0.85 / days)


# --------------------------------------------------------------------------- off, and common random numbers


def test_with_rate_zero_the_run_is_identical_and_has_no_absence_kpi():
    base = simulate(config(days=91, replications=2))
    for block in ({"agent_daily_rate": 0.0}, {"agent_daily_rate": 0.0, "below_minimum": "open_with_one",
                                               "minimum_agents": 5}):
        same = simulate(config(block, days=91, replications=2))
        pd.testing.assert_frame_equal(same.summary, base.summary)
        pd.testing.assert_frame_equal(same.visits, base.visits)
        pd.testing.assert_frame_equal(same.daily, base.daily)
    assert not set(registry.optional_kpis("absences")) & set(base.summary["kpi"])
    assert (base.daily[["agents_absent", "closed_absence"]] == 0).all().all()


def test_the_citizens_are_the_same_with_absences_on_or_off():
    off = config_from_dict(small_network())
    on = config_from_dict({**small_network(), "absences": {"agent_daily_rate": 0.2}})
    for r in range(2):
        a = simulate_sites(off, off.sites, r, DemandModel(off))
        b = simulate_sites(on, on.sites, r, DemandModel(on))
        for x, y in zip(a, b):
            assert x.absences is None and y.absences is not None and y.absences.absent.sum() > 0
            for name in ("time", "demarche", "demarches", "service", "patience", "booked", "no_show"):
                np.testing.assert_array_equal(getattr(x.arrivals, name), getattr(y.arrivals, name), err_msg=name)
    # and the outcomes differ: more citizens turned away
    v_off, v_on = simulate(off, replications=1).visits, simulate(on, replications=1).visits
    first = lambda v: v[v["kind"].isin(["walk_in", "booked"])].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_series_equal(first(v_off)["arrival"], first(v_on)["arrival"])
    assert (v_on["outcome"] == "sent_home").sum() > (v_off["outcome"] == "sent_home").sum()


def test_an_agents_absences_do_not_depend_on_the_staffing():
    """Agent k has their own stream: with one more agent, the days agents 0 and 1 miss are the same."""
    _, (two,) = drawn(config({"agent_daily_rate": 0.2, "below_minimum": "open_with_one"}, agents=2), 1)
    _, (three,) = drawn(config({"agent_daily_rate": 0.2, "below_minimum": "open_with_one"}, agents=3), 1)
    lost2 = np.array([2 - max((c for _, _, c in s.segments), default=0) for s in two.sessions])
    lost3 = np.array([3 - max((c for _, _, c in s.segments), default=0) for s in three.sessions])
    assert (lost3 >= lost2).all() and (lost3 > lost2).any()  # agent 2's absences add to the others'


# --------------------------------------------------------------------------- the run: closures, conservation


def test_planned_closures_have_no_session_and_other_days_keep_their_citizens():
    dates = ["2024-02-06", "2024-02-07", "2024-03-15"]
    base = simulate(config(days=91))
    net = simulate(config({"closures": dates[:2]}, days=91, absences={"closures": [dates[2]]}))
    day = lambda v: v["arrival"].dt.normalize()  # noqa: E731
    shut = pd.to_datetime(dates)
    assert not net.daily["date"].isin(shut).any() and base.daily["date"].isin(shut).sum() == 3
    assert not day(net.visits).isin(shut).any()
    # the other days keep their citizens: the same arrival times, up to the odd citizen added or left out where
    # a day's expected count moved (volumes are per open day on average, as around a public holiday)
    keep = lambda v: set(v[v["kind"].isin(["walk_in", "booked"]) & ~day(v).isin(shut)]["arrival"])  # noqa: E731
    a, b = keep(net.visits), keep(base.visits)
    assert len(a & b) > 800 and len(a ^ b) <= 0.01 * len(b), (len(a & b), len(a ^ b))
    site = Site(id="x", absences={"closures": ["2024-03-15"]})
    merged = absences_of(config({"closures": dates[:2]}).absences, site)
    assert [d.isoformat() for d in merged.closures] == dates  # the site's add to the network's


def test_every_visit_has_one_outcome_and_closed_days_turn_everyone_away():
    run = simulate(config({"agent_daily_rate": 0.15}, days=182, replications=2))
    v, d = run.visits, run.daily
    assert len(v) == sum(int((v["outcome"] == o).sum()) for o in OUTCOMES)
    assert (d[OUTCOMES].sum(axis=1) == d["visits"]).all()
    closed = d[d["closed_absence"] == 1]
    assert len(closed) > 10
    assert (closed[["open_min", "staffed_min", "busy_min", "served", "gave_up"]] == 0).all().all()
    assert (closed["sent_home"] + closed["no_show"] == closed["visits"]).all() and closed["sent_home"].sum() > 50
    full = d[d["agents_absent"] == 0]
    assert (full["staffed_min"] == full["open_min"] * 2).all()
    shut = pd.MultiIndex.from_frame(closed[["replication", "date"]].astype({"date": "datetime64[ms]"}))
    on_shut = pd.MultiIndex.from_arrays([v["replication"], v["arrival"].dt.normalize()]).isin(shut)
    assert on_shut.sum() == closed["visits"].sum()
    turned = v[on_shut & (v["outcome"] == "sent_home")]
    assert (turned["time_in_queue_min"] == 0).all()  # they leave when they find the door closed
    assert v["kind"].eq("return").sum() > simulate(config(days=182, replications=2)).visits["kind"].eq("return").sum()
    net = run.network()["mean"]
    assert net["absence_closure_days"] == closed.groupby("replication").size().mean()
    assert net["absent_agent_days"] == d.groupby("replication")["agents_absent"].sum().mean()
    assert net["open_days"] == (d["open_min"] > 0).groupby(d["replication"]).sum().mean()


def test_both_kpi_engines_count_the_same_absences_and_open_days():
    cfg = config_from_dict({**small_network(), "absences": {"agent_daily_rate": 0.15}})
    runs = [(0, simulate_sites(cfg, cfg.sites, 0, DemandModel(cfg)))]
    ref = kpi_sums(visits_table(cfg, runs), sessions_table(cfg, runs), "site", threshold=15.0).loc[0]
    for slots in (False, True):
        got = unit_partials(cfg, runs[0][1], slots=slots).frame().groupby("site_id").sum(numeric_only=True)
        for s in ("absent_agent_days", "absence_closure_days", "open_days", "staffed_min", "busy_min", "sent_home"):
            if slots and s == "open_days":
                continue  # by opening interval, a day counts once per interval
            np.testing.assert_allclose(got.loc[ref.index, s], ref[s], err_msg=f"{s} (slots={slots})")
        assert got["absence_closure_days"].sum() > 0


def test_buses_and_always_open_sites_have_no_absences():
    cfg = config_from_dict({**small_network(), "absences": {"agent_daily_rate": 0.5, "closures": ["2024-04-02"]},
                            "sites": [{"id": "q", "always_open": True, "agents": 2}]})
    bus = Bus(id="bus", stops=[{"commune": "08105", "weekday": "tue", "start": "09:00", "end": "12:00"}])
    for entity in (cfg.sites[0], bus):
        assert draw_absences(cfg, entity, site_sessions(cfg.sites[0], cfg.horizon, set()), 0) is None
        assert with_closures(cfg, entity, set()) == set()


def test_site_defaults_and_a_sites_own_block_override_the_network_field_by_field():
    d = small_network()
    d["absences"] = {"agent_daily_rate": 0.1, "minimum_agents": 2}
    d["site_defaults"] = {"absences": {"below_minimum": "open_with_one"}}
    d["sites"][1]["absences"] = {"agent_daily_rate": 0.3}
    cfg = config_from_dict(d)
    a, b = (absences_of(cfg.absences, s) for s in cfg.sites)
    assert (a.agent_daily_rate, a.below_minimum, a.minimum_agents) == (0.1, "open_with_one", 2)
    assert b.agent_daily_rate == 0.3 and b.minimum_agents == 2
    again = config_from_dict(cfg.model_dump(mode="json"))  # the resolved config reads back the same
    assert [absences_of(again.absences, s) for s in again.sites] == [a, b]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("block,field,words", [
    ("agent_daily_rate: 1.5", "absences.agent_daily_rate", "from 0 to 1"),
    ("closures: [lundi]", "absences.closures", "YYYY-MM-DD"),
    ("closures: [2024-02-30]", "line", "not a real date"),
    ("below_minimum: shut", "absences.below_minimum", "open_with_one"),
    ("minimum_agents: 0", "absences.minimum_agents", "greater than 0"),
    ("agents_daily_rate: 0.1", "absences.agents_daily_rate", "unknown key"),
])
@pytest.mark.parametrize("where", ["network", "site"])
def test_a_bad_absences_block_names_the_file_and_the_field(tmp_path, block, field, words, where):
    text = (REPO / "configs" / "one-site.yaml").read_text(encoding="utf-8")
    if where == "network":
        text += f"absences:\n  {block}\n"
    else:
        text += f"    absences:\n      {block}\n"
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_config(path)
    msg = str(e.value)
    assert "bad.yaml" in msg and words in msg, msg
    if field != "line":
        assert (field if where == "network" else f"sites[0].{field}") in msg, msg


def test_the_day_at_a_site_shows_the_agents_present():
    import datetime as dt

    from fssim.report.day import DayChoice, _after_absences

    daily = pd.DataFrame({"replication": [0, 0, 0], "site_id": ["s", "s", "s"],
                          "date": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]),
                          "agents_absent": [0, 1, 2], "closed_absence": [0, 0, 1]})
    duty = [(540, 720, 2), (840, 1005, 1)]
    on = lambda day: _after_absences(daily, DayChoice("s", dt.date(2024, 1, day), 0, "requested", 1), duty)  # noqa
    assert on(2) == duty and on(3) == [(540, 720, 1)] and on(4) == []
    assert _after_absences(daily.drop(columns=["agents_absent", "closed_absence"]),
                           DayChoice("s", dt.date(2024, 1, 3), 0, "requested", 1), duty) == duty

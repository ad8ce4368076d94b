"""Model behaviour: conservation, closing, determinism, common random numbers, calendars."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fssim.engine.calendar import public_holidays, site_sessions
from fssim.config import config_from_dict
from fssim.demand.arrivals import DemandModel
from fssim.run import simulate

from conftest import REPO, small_network
from fssim.defaults import WEEKDAYS


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


LUNCH_DAYS = ("mon", "tue", "wed", "thu", "fri")


def lunch_case(reopens: str = "14:00") -> dict:
    """One agent, a lunch closure from 12:00 and long services: some run through the closure."""
    return {"name": "lunch", "horizon": {"start": "2024-03-04", "days": 28}, "seed": 3, "replications": 2,
            "demarches": [{"name": "long", "share": 1.0, "service": {"dist": "lognormal", "mean": 60, "cv": 0.8}}],
            "demand": {"visits_per_open_day": 7, "mix_shifts": []},
            "sites": [{"id": "solo", "agents": 1, "hours": {d: f"09:00-12:00 / {reopens}-17:00" for d in LUNCH_DAYS}}]}


def busy_urban_site() -> dict:
    from fssim.config import read_yaml
    cfg = read_yaml(REPO / "configs" / "busy-urban-site.yaml")
    cfg.update(horizon={"start": "2024-03-04", "days": 28}, replications=2)
    return cfg


def changing_staffing() -> dict:
    """Staffing that changes inside a session (3 → 1 → 2) and across the lunch closure."""
    hours = {d: "09:00-10:30 / 10:30-12:00 / 12:00-13:00 / 14:00-17:00" for d in LUNCH_DAYS}
    return small_network(sites=[{"id": "shift", "hours": hours, "agents": {d: [3, 1, 2, 2] for d in LUNCH_DAYS}}],
                         demarches=[{"name": "x", "share": 1.0, "service": {"dist": "lognormal", "mean": 45,
                                                                              "cv": 1.0}}],
                         demand={"visits_per_open_day": 30, "mix_shifts": []})


def long_service_bus() -> dict:
    stops = [{"commune": "23001", "weekday": "mon", "start": "09:00", "end": "12:00", "visits_per_visit": 6},
             {"commune": "23002", "weekday": "mon", "start": "12:30", "end": "15:00", "visits_per_visit": 6}]
    return {"name": "bus", "horizon": {"start": "2024-04-01", "days": 56}, "seed": 5, "replications": 2,
            "demarches": [{"name": "long", "share": 1.0, "service": {"dist": "lognormal", "mean": 60, "cv": 0.8}}],
            "demand": {"visits_per_open_day": 6, "mix_shifts": []}, "buses": [{"id": "bus", "agents": 1, "stops": stops}]}


def _duty(cfg) -> dict:
    """Per site or bus and weekday: the (from, to, agents) intervals of the timetable, in minutes."""
    out = {s.id: s.schedule for s in cfg.sites}
    for b in cfg.buses:
        out[b.id] = {}
        for st in b.stops:
            a, e = st.window
            out[b.id].setdefault(st.weekday, []).append((a, e, b.agents))
    return out


@pytest.mark.parametrize("make", [lunch_case, busy_urban_site, changing_staffing, long_service_bus])
@pytest.mark.parametrize("seed", [1, 2])
def test_agents_never_serve_two_citizens_at_once(make, seed):
    """Exactly: an agent serves one citizen at a time, across closures too, and starts only while on duty;
    so citizens in service never outnumber agents on duty or finishing, and utilisation stays ≤ 1."""
    res = simulate(config_from_dict(make()), seed=seed)
    v = res.visits
    duty = _duty(res.config)
    served = v[v["outcome"] == "served"]
    origin = pd.Timestamp(res.config.horizon.start)
    for (rep, sid), g in served.groupby(["replication", "site_id"], observed=True):
        a = ((g["service_start"] - origin) / pd.Timedelta(minutes=1)).to_numpy()
        b = ((g["service_end"] - origin) / pd.Timedelta(minutes=1)).to_numpy()
        crew = max(c for day in duty[sid].values() for _, _, c in day)
        # at every service start, citizens in service (whoever serves them) ≤ the site's agents
        in_service = np.searchsorted(np.sort(a), a, side="right") - np.searchsorted(np.sort(b), a, side="right")
        assert in_service.max() <= crew, (sid, rep)
    assert (res.daily["utilisation"].dropna() <= 1 + 1e-9).all()
    assert (served["agent"] >= 0).all() and (v.loc[v["outcome"] != "served", "agent"] == -1).all()
    for (rep, sid, k), g in served.groupby(["replication", "site_id", "agent"], observed=True):
        g = g.sort_values("service_start")
        a = ((g["service_start"] - origin) / pd.Timedelta(minutes=1)).to_numpy()
        b = ((g["service_end"] - origin) / pd.Timedelta(minutes=1)).to_numpy()
        assert (a[1:] >= b[:-1] - 1e-6).all(), (sid, rep, k)  # one citizen at a time, across closures too
        day = np.floor(a / 1440)
        minute = a - 1440 * day
        wd = (origin.day_of_week + day.astype(int)) % 7
        for m, w in zip(minute, wd):  # staffing at the start instant > agent index
            on = [c for lo, hi, c in duty[sid].get(WEEKDAYS[w], []) if lo - 1e-6 <= m < hi]
            assert on and max(on) > k, (sid, rep, k, m)
    # conservation of visits and of agent time: busy within duty + overtime = service of served citizens
    assert v["outcome"].notna().all() and len(v) == v["outcome"].value_counts().sum()
    d = res.daily
    assert d["busy_min"].sum() + d["overtime_min"].sum() == pytest.approx(served["service_min"].sum())
    assert (d["busy_min"] <= d["staffed_min"] + 1e-6).all() and (d["overtime_min"] >= -1e-6).all()


def test_a_service_through_lunch_keeps_the_agent_busy_after_it():
    """The agent who serves through the closure starts nobody until done, and the break is reported."""
    res = simulate(config_from_dict(lunch_case(reopens="12:30")))
    v = res.visits[res.visits["outcome"] == "served"]
    minute = lambda col: v[col].dt.hour * 60 + v[col].dt.minute + v[col].dt.second / 60
    through = v[(minute("service_start") < 720) & (minute("service_end") > 750)]
    assert len(through) > 0
    for (rep, date), end in through.groupby(["replication", through["service_start"].dt.date])["service_end"]:
        same = v[(v["replication"] == rep) & (v["service_start"].dt.date == date)]
        afternoon = same[minute("service_start")[same.index] >= 750]
        assert (afternoon["service_start"] >= end.max()).all()
    d = res.daily
    assert d["overtime_min"].sum() > 0 and d["utilisation"].max() <= 1 + 1e-9


def test_closing_sends_home_exactly_those_still_waiting(small_run):
    cfg = small_run.config
    v = small_run.visits
    sessions = {}
    for s in cfg.sites:
        from fssim.engine.simulation import closed_days
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


def test_busy_time_per_opening_interval_adds_up_and_never_exceeds_staffing():
    """Experiment partials by opening interval (slots) split busy time within duty exactly as the sessions do."""
    from fssim.experiment.partials import unit_partials
    from fssim.engine.simulation import simulate_sites
    cfg = config_from_dict(changing_staffing())
    for rep in range(2):
        plans = simulate_sites(cfg, cfg.sites, rep, DemandModel(cfg))
        by_slot = unit_partials(cfg, plans, slots=True).frame()
        whole = unit_partials(cfg, plans).frame()
        assert (by_slot["busy_min"] <= by_slot["staffed_min"] + 1e-6).all()
        for k in ("busy_min", "overtime_min", "staffed_min"):
            assert by_slot[k].sum() == pytest.approx(whole[k].sum(), rel=1e-9), k
        assert whole["overtime_min"].sum() > 0


def test_outcomes_and_kinds_are_stored_as_their_enum_codes():
    """The visits table stores how each visit ended and why it came as small integers whose categories are the
    enums' names, in code order (so a code read back from Parquet means the same thing everywhere)."""
    import numpy as np
    from fssim.demand.arrivals import VisitKind
    from fssim.engine.counter import Outcome
    from fssim.run import simulate
    from conftest import small_network

    visits = simulate(small_network()).visits
    for col, enum in (("outcome", Outcome), ("kind", VisitKind)):
        assert list(visits[col].cat.categories) == [m.name.lower() for m in enum]
        assert visits[col].cat.codes.dtype == np.int8
    served = visits["outcome"].cat.codes == Outcome.SERVED
    assert served.any() and (visits.loc[served, "outcome"] == "served").all()
    assert visits.loc[served, "service_end"].notna().all()


def _numpy_picks(mix_cum, mix, day, u_first, count, u_further):
    """The démarche picks written with numpy (the rule of fssim.demand.compiled, one array at a time)."""
    first = (u_first[:, None] > mix_cum[day]).sum(axis=1).astype(np.int16)
    n, most = len(day), int(count.max())
    others = np.full((n, max(most - 1, 0)), -1, dtype=np.int16)
    left = mix[day]
    left[np.arange(n), first] = 0.0
    for j in range(1, most):
        idx = np.flatnonzero(count > j)
        w = left[idx]
        cum_w = np.cumsum(w, axis=1)
        target = u_further[j - 1][idx] * cum_w[:, -1]
        last = w.shape[1] - 1 - np.argmax(w[:, ::-1] > 0, axis=1)
        pick = np.minimum((target[:, None] > cum_w).sum(axis=1), last)
        others[idx, j - 1] = pick
        left[idx, pick] = 0.0
    return first, others


def test_compiled_demarche_picks_equal_the_numpy_rule():
    from fssim.demand.compiled import first_demarche, further_demarches

    rng = np.random.default_rng(11)
    for D in (1, 2, 5, 9):
        mix = rng.random((30, D)) * (rng.random((30, D)) < 0.8)  # some démarches absent on some days
        mix[:, 0] += 1e-3
        mix /= mix.sum(axis=1, keepdims=True)
        mix_cum = np.cumsum(mix, axis=1)
        mix_cum[:, -1] = 1.0
        mix = np.diff(mix_cum, axis=1, prepend=0.0)
        n = 5000
        day = rng.integers(0, 30, n)
        count = np.minimum(rng.integers(1, 5, n), (mix > 0).sum(axis=1)[day]).astype(np.int8)
        u_first, u_further = rng.random(n), rng.random((max(int(count.max()) - 1, 1), n))
        first, others = _numpy_picks(mix_cum, mix, day, u_first, count, u_further)
        got_first = first_demarche(u_first, mix_cum, day)
        assert np.array_equal(got_first, first)
        got = np.full_like(others, -1)
        if others.shape[1]:
            further_demarches(mix, day, first, count, u_further, got)
        assert np.array_equal(got, others)
        if D > 1:
            assert (others >= 0).any()
            drawn = np.column_stack([first, others])  # never twice the same démarche in a visit
            for row, k in zip(drawn[:200], count[:200]):
                assert len(set(row[:k].tolist())) == k


def test_service_times_in_one_pass_equal_each_demarches_quantile():
    """_by_demarche computes the log-normal démarches together: the same numbers, to the bit, as each démarche's
    own quantile function; other laws (exponential, triangular, fixed) and missing démarches (−1) as before."""
    from fssim.demand.arrivals import _by_demarche

    laws = [{"dist": "lognormal", "mean": 12.0, "cv": 0.6}, {"dist": "exponential", "mean": 9.0},
            {"dist": "lognormal", "mean": 25.0, "cv": 1.1}, {"dist": "triangular", "min": 2.0, "mode": 5.0, "max": 20.0},
            {"dist": "fixed", "value": 7.0}, {"dist": "lognormal", "mean": 4.0, "cv": 0.3}]
    cfg = config_from_dict({"name": "laws", "horizon": {"start": "2024-01-01", "days": 7},
                            "sites": [{"id": "s", "hours": {"mon": "09:00-12:00"}, "agents": 1}],
                            "demarches": [{"name": f"d{i}", "share": 1 / len(laws), "service": law}
                                          for i, law in enumerate(laws)]})
    rng = np.random.default_rng(3)
    demarche = rng.integers(-1, len(laws), 20_000).astype(np.int16)
    u = rng.random(20_000)
    expected = np.zeros(len(u))
    for i, d in enumerate(cfg.demarches):
        idx = np.flatnonzero(demarche == i)
        expected[idx] = d.service.ppf(u[idx])
    got = _by_demarche(cfg, demarche, u)
    assert np.array_equal(got, expected)
    assert (got[demarche == -1] == 0).all() and (got[demarche == 4] == 7.0).all()


def test_poisson_counts_are_scipys_quantiles():
    from scipy.stats import poisson

    from fssim.demand.arrivals import _poisson_counts

    rng = np.random.default_rng(8)
    lam = np.r_[rng.uniform(0, 3, 20_000), rng.uniform(3, 400, 20_000), np.zeros(100), [1e-9, 1e-3, 5000.0]]
    u = np.r_[rng.random(len(lam) - 3), [1e-12, 0.5, 1 - 1e-12]]
    got = _poisson_counts(u, lam)
    on = lam > 0
    assert np.array_equal(got[on], poisson.ppf(u[on], lam[on]).astype(np.int64))
    assert (got[~on] == 0).all() and got.dtype == np.int64

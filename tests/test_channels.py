"""Channels besides the counter: self-service stations against queueing theory, visio slots, back-office
follow-ups, conservation across channels, common random numbers and bad input."""
import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from fssim.config import config_from_dict, load_config, parse_clock
from fssim.engine.queueing import erlang_c_mean_wait
from fssim.errors import InputError
from fssim.run import simulate

from conftest import REPO, queue_config
from test_queueing import interval, per_replication

FULL = REPO / "configs" / "full-service-site.yaml"


def full(**changes):
    """The full-service site's config as a mapping, shortened to 10 weeks, with ``changes`` to its site; its
    channels only (the absences and the booking calendar it also has are tested together below)."""
    data = yaml.safe_load(FULL.read_text(encoding="utf-8"))
    data.pop("absences", None)
    data.pop("behaviour", None)
    data["sites"][0].pop("appointments", None)
    data["horizon"] = {"start": "2024-03-04", "days": 70}
    data["replications"] = 2
    for k, v in changes.items():
        if v is None:
            data["sites"][0].pop(k, None)
        else:
            data["sites"][0][k] = v
    return data


def primaries(visits: pd.DataFrame) -> pd.DataFrame:
    """First visits of each citizen (not returns or follow-ups): who came, when, for what."""
    v = visits[visits["kind"].isin(["walk_in", "booked"])]
    return v[["replication", "site_id", "arrival", "demarche", "demarches"]].astype(
        {"site_id": str, "demarche": str}).sort_values(["replication", "site_id", "arrival", "demarche"]).reset_index(
        drop=True)


# --------------------------------------------------------------------------- queueing theory


@pytest.fixture(scope="module")
def station_queue():
    """Three stations alone: every visit self-service, no help, exponential station time, no giving up: M/M/3."""
    data = queue_config(agents=1, rate_per_hour=6.75, service={"dist": "exponential", "mean": 5}, patience=None,
                        days=60, replications=12)
    data["channels"] = {"mix": {"self_service": 1.0},
                        "self_service": {"station_minutes": {"dist": "exponential", "mean": 20}, "help_share": 0.0}}
    data["sites"][0]["self_service"] = {"stations": 3}
    return simulate(config_from_dict(data))


def test_a_station_pool_alone_is_an_mmc_queue(station_queue):
    v = station_queue.visits
    assert (v["channel"] == "self_service").all() and (v["agent"] == -1).all()  # nobody needed an agent
    reps = per_replication(station_queue)
    lo, hi = interval(reps["mean_wait_min"])
    theory = erlang_c_mean_wait(3, 6.75 / 60, 20)
    assert lo <= theory <= hi, (lo, theory, hi)
    lo, hi = interval(reps["station_utilisation"])
    assert lo <= 6.75 / 60 * 20 / 3 <= hi, (lo, hi)  # offered load per station, rho = 0.75
    assert reps["utilisation"].max() == 0  # the agent never served


def test_never_more_citizens_at_the_stations_than_stations(station_queue):
    v = station_queue.visits
    v = v[(v["replication"] == 0) & (v["outcome"] == "served")]
    events = pd.concat([pd.Series(1, index=v["service_start"]), pd.Series(-1, index=v["service_end"])]).sort_index(
        kind="stable")
    # ends before starts at the same instant (a station freed and taken again)
    events = events.groupby(level=0).apply(lambda s: s.sort_values()).reset_index(drop=True)
    assert events.cumsum().max() == 3


# --------------------------------------------------------------------------- the full-service site


@pytest.fixture(scope="module")
def runs():
    with_all = simulate(config_from_dict(full()))
    no_stations = simulate(config_from_dict(full(self_service=None)))
    return with_all, no_stations


def test_every_visit_has_one_channel_and_one_outcome(runs):
    res, _ = runs
    v = res.visits
    assert set(v["channel"].unique()) == {"counter", "self_service", "visio", "back_office"}
    assert v["channel"].notna().all() and v["outcome"].notna().all()
    s = res.summary
    by = s[(s["scope"] == "channel") & (s["kpi"] == "visits")].set_index("key")["mean"]
    net = res.kpi("visits")
    assert by.sum() == pytest.approx(net)
    for kpi in ("served", "gave_up", "sent_home"):
        assert s[(s["scope"] == "channel") & (s["kpi"] == kpi)]["mean"].sum() == pytest.approx(res.kpi(kpi))
    served = v[v["outcome"] == "served"]
    assert (served["service_start"] >= served["arrival"]).all()
    assert (v.loc[v["channel"] == "visio", "outcome"] == "served").all()
    later = v[v["kind"].isin(["return", "follow_up"])]
    assert (later["channel"] == "counter").all()  # later visits are at the counter


def test_helped_self_service_citizens_take_agent_time(runs):
    res, _ = runs
    ss = res.visits[(res.visits["channel"] == "self_service") & (res.visits["outcome"] == "served")]
    helped = (ss["agent"] >= 0).mean()
    assert 0.4 < helped < 0.6  # help_share 0.5 by default


def test_turning_stations_on_changes_outcomes_not_citizens(runs):
    with_all, no_stations = runs
    pd.testing.assert_frame_equal(primaries(with_all.visits), primaries(no_stations.visits))
    a, b = with_all.visits, no_stations.visits
    assert (b["channel"] == "self_service").sum() == 0  # no station: those citizens go to the counter
    assert (a["channel"] == "self_service").sum() > 0
    assert with_all.kpi("mean_wait_min") < no_stations.kpi("mean_wait_min")
    assert "station_utilisation" in with_all.network().index
    assert no_stations.network().loc["station_utilisation", "n"] == 0  # undefined: no station


def test_channels_draw_their_own_random_numbers():
    """Switching the channels on (without visio, which moves citizens to their slot) keeps every citizen."""
    off = full(visio=None, self_service=None)
    off["channels"] = {"mix": "counter"}
    on = full(visio=None)
    plain = simulate(config_from_dict(off))
    assert (plain.visits["channel"] == "counter").all()
    pd.testing.assert_frame_equal(primaries(simulate(config_from_dict(on)).visits), primaries(plain.visits))


def test_visio_visits_only_in_their_partners_slots(runs):
    res, _ = runs
    cfg = res.config
    site = cfg.sites[0]
    v = res.visits[res.visits["channel"] == "visio"]
    assert len(v) > 10
    wd = v["service_start"].dt.day_of_week.map(dict(enumerate(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])))
    minute = v["service_start"].dt.hour * 60 + v["service_start"].dt.minute
    windows = [(w.partner, w.weekday, parse_clock(w.start), parse_clock(w.end)) for w in site.visio.timetable]
    slot = cfg.channels.visio.slot_minutes
    for d, day, m in zip(v["demarche"].astype(str), wd, minute):
        assert any(d == p and day == w and a <= m and m + slot <= b and (m - a) % slot == 0
                   for p, w, a, b in windows), (d, day, m)
    per_slot = v.groupby(["replication", "service_start"]).size()
    assert per_slot.max() <= site.visio.rooms
    assert (v["wait_min"] == 0).all() and (v["service_min"] == slot).all()


def test_back_office_referrals_come_back_after_the_delay():
    data = full(visio=None, self_service=None)
    data["channels"] = {"mix": {"counter": 0.5, "back_office": 0.5},
                        "back_office": {"delay_days": [5, 5], "return_share": 1.0}}
    data["behaviour"] = {"patience": None}
    res = simulate(config_from_dict(data))
    v = res.visits
    first = v[(v["channel"] == "back_office") & (v["outcome"] == "served")]
    follow = v[v["kind"] == "follow_up"].set_index(["replication", "citizen"])
    end = pd.Timestamp(res.config.horizon.end)
    came_back = 0
    for r in first.itertuples():
        key = (r.replication, r.citizen)
        due = r.arrival.normalize() + pd.Timedelta(days=5)
        if due + pd.Timedelta(days=5) >= end:
            continue  # the answer may fall after the horizon
        assert key in follow.index, key
        f = follow.loc[[key], "arrival"].min()  # (a follow-up sent home comes back, and may need another)
        gap = (f.normalize() - r.arrival.normalize()).days
        assert 5 <= gap <= 9, gap  # the first open day on or after the delay
        came_back += 1
    assert came_back > 50
    # counter citizens come back only as their démarche's follow-up share says (at most 20 %, facts §9.4)
    counter = v[(v["channel"] == "counter") & (v["kind"] == "walk_in") & (v["outcome"] == "served")]
    back = pd.MultiIndex.from_arrays([counter["replication"], counter["citizen"]]).isin(follow.index)
    assert 0.02 < back.mean() < 0.2


# --------------------------------------------------------------------------- bad input


def bad(tmp_path, data) -> str:
    p = tmp_path / "scenario.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_config(p)
    msg = str(e.value)
    assert "scenario.yaml" in msg, msg
    return msg


def test_bad_channel_configs_say_what_and_how_to_fix(tmp_path):
    data = full()
    d = copy.deepcopy(data)
    d["channels"]["mix"] = {"counter": 0.7, "self_service": 0.2}
    assert "sum to 0.9000" in bad(tmp_path, d) and "channels.mix" in bad(tmp_path, d)
    d = copy.deepcopy(data)
    d["channels"]["mix"] = {"counter": 0.5, "kiosk": 0.5}
    assert "kiosk" in bad(tmp_path, d) and "the channels are counter" in bad(tmp_path, d)
    d["channels"]["mix"] = "fact"
    assert "write counter" in bad(tmp_path, d)
    d = copy.deepcopy(data)
    d["demarches"] = [{"name": "any", "share": 1.0, "service": {"dist": "fixed", "value": 10},
                       "channels": {"counter": 0.5, "visio": 0.2}}]
    assert "demarches[0].channels" in bad(tmp_path, d)
    d = copy.deepcopy(data)
    d["sites"][0]["visio"]["timetable"][0]["partner"] = "cnav"
    msg = bad(tmp_path, d)
    assert "sites[0].visio.timetable[0].partner" in msg and "'cnav'" in msg and "assurance_retraite" in msg
    d = copy.deepcopy(data)
    d["sites"][0]["visio"]["timetable"][0]["end"] = "13:00"
    msg = bad(tmp_path, d)
    assert "outside the site's opening hours" in msg and "visio.timetable[0]" in msg
    d = copy.deepcopy(data)
    d["sites"][0]["visio"]["timetable"].append({"partner": "dgfip", "weekday": "tue", "start": "11:00",
                                                "end": "12:00"})
    assert "overlap" in bad(tmp_path, d)
    d = copy.deepcopy(data)
    d["sites"][0]["self_service"] = {"stations": 0}
    assert "self_service.stations" in bad(tmp_path, d)
    d = copy.deepcopy(data)
    d["sites"][0]["self_service"] = {"stations": 2, "hours": {"mon": "12:00-09:00"}}
    assert "self_service.hours" in bad(tmp_path, d) and "ends before it starts" in bad(tmp_path, d)
    d = copy.deepcopy(data)
    d["channels"]["back_office"] = {"delay_days": [10, 2]}
    assert "min <= max" in bad(tmp_path, d)


def test_the_default_keeps_every_visit_at_the_counter():
    cfg = load_config(REPO / "configs" / "one-site.yaml")
    assert cfg.channels.mix == "counter" and all(d.channels is None for d in cfg.demarches)
    cfg = cfg.model_copy(update={"horizon": cfg.horizon.model_copy(update={"days": 14})})
    res = simulate(cfg)
    assert (res.visits["channel"] == "counter").all()
    assert "channel" not in set(res.summary["scope"])
    assert "station_utilisation" not in res.network().index


def test_both_engines_have_the_same_resource_sums_and_kpis():
    """The run tables and the experiment partials agree on the stations' and the visio room's minutes."""
    from fssim.demand.arrivals import DemandModel
    from fssim.engine.simulation import simulate_sites
    from fssim.experiment.partials import kpis_from_sums, unit_partials
    from fssim.metrics import kpis as registry
    from fssim.metrics.tables import kpi_sums, sessions_table, visits_table

    cfg = config_from_dict(full())
    model = DemandModel(cfg)
    runs = [(r, simulate_sites(cfg, cfg.sites, r, model)) for r in range(2)]
    ref = kpi_sums(visits_table(cfg, runs), sessions_table(cfg, runs), "site",
                   threshold=cfg.outputs.wait_threshold_min)
    for r, plans in runs:
        got = unit_partials(cfg, plans).frame().set_index("site_id")
        want = ref.loc[r]
        want.index = want.index.astype(str)
        got = got.loc[want.index]
        for s in registry.RESOURCE_SUMS:
            assert want[s].gt(0).all(), s
            np.testing.assert_allclose(got[s].to_numpy(float), want[s].to_numpy(float), rtol=1e-12, err_msg=s)
        for k in registry.optional_kpis("resources"):
            a, b = kpis_from_sums(got)[k].to_numpy(float), registry.from_sums(want)[k].to_numpy(float)
            np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=k)
            assert ((0 < a) & (a < 1)).all(), k


def test_an_experiment_on_the_number_of_stations(tmp_path):
    """The partials carry the stations' minutes and the visio room's: one station is busier than two."""
    from fssim.experiment.design import load_experiment
    from fssim.experiment.runner import run_experiment

    (tmp_path / "base.yaml").write_text(yaml.safe_dump(full(), allow_unicode=True), encoding="utf-8")
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump({
        "base": "base.yaml", "factors": {"sites[*].self_service.stations": [1, 2]}, "replications": 2}),
        encoding="utf-8")
    run_experiment(load_experiment(tmp_path / "exp.yaml"), tmp_path / "out", workers=0)
    s = pd.read_parquet(tmp_path / "out" / "experiment.parquet").set_index(["stations", "kpi"])["mean"]
    assert s[(1, "station_utilisation")] > s[(2, "station_utilisation")] > 0
    assert abs(s[(1, "arrivals")] / s[(2, "arrivals")] - 1) < 0.02  # the same citizens, some returns differ
    assert s[(1, "visio_utilisation")] > 0


def test_the_facts_mix_gives_the_facts_shares():
    """``mix: facts``: a tenth of first visits referred to the back office, a tenth at the stations (facts §9.4)."""
    from fssim import defaults as D

    data = full()
    data["channels"] = {"mix": "facts"}
    data["replications"] = 3
    v = simulate(config_from_dict(data)).visits
    first = v[v["kind"].isin(["walk_in", "booked"])]
    n = len(first)
    share = first["channel"].value_counts(normalize=True)
    for channel in ("back_office", "self_service"):
        p = D.CHANNEL_SHARES[channel]
        assert abs(share[channel] - p) < 4 * np.sqrt(p * (1 - p) / n), (channel, share[channel])
    assert 0 < share["visio"] < D.CHANNEL_SHARES["visio"]  # only CAF and CNAV have visio windows here


def test_the_run_table_shows_visits_by_channel_only_when_there_are_several(runs):
    from rich.console import Console

    from fssim.report.terminal import channel_table

    res, _ = runs
    for lang in ("fr", "en"):
        console = Console(width=80, record=True)
        console.print(channel_table(res.summary, res.config, lang=lang))
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= 80
        words = ("Guichet", "Libre-service", "Visio", "Back-office") if lang == "fr" else (
            "Counter", "Self-service", "Visio", "Back office")
        assert all(w in text for w in words), text
    one = simulate(config_from_dict({**full(self_service=None, visio=None), "channels": {"mix": "counter"}}))
    assert channel_table(one.summary, one.config) is None


def test_every_feature_together_on_the_full_service_site():
    """configs/full-service-site.yaml uses channels, agent absences and a booking calendar at once: a day closed
    for lack of agents closes the stations and the visio room too, and the stations keep serving on the other
    days (their session count stays in step with the site's); every visit ends somewhere."""
    import yaml
    from fssim.run import simulate
    from conftest import REPO

    cfg = yaml.safe_load((REPO / "configs" / "full-service-site.yaml").read_text(encoding="utf-8"))
    cfg["horizon"]["days"], cfg["replications"] = 120, 2
    cfg["absences"]["agent_daily_rate"] = 0.3  # many closed days
    result = simulate(cfg)
    daily, visits = result.daily, result.visits
    assert daily["closed_absence"].sum() > 0
    closed = daily[daily["closed_absence"] > 0]
    assert (closed["open_min"] == 0).all() and (closed["staffed_min"] == 0).all()
    station = visits[visits["channel"] == "self_service"]
    shut = set(zip(closed["replication"], closed["date"]))
    day = station["arrival"].dt.normalize().astype("datetime64[ns]")
    open_day = ~pd.Series([(r, d) in shut for r, d in zip(station["replication"], day)], index=station.index)
    assert open_day.sum() > 100 and (~open_day).sum() > 0
    assert (station.loc[open_day, "outcome"] == "served").mean() > 0.8  # stations serve on the days open
    assert (station.loc[~open_day, "outcome"] != "served").all()  # and nobody on a closed day
    net = result.network()["mean"]
    assert 0 < net["station_utilisation"] < 1 and net["mean_booking_lead_days"] > 0
    ends = visits["outcome"].value_counts()
    assert ends.sum() == len(visits) and set(ends.index) <= {"served", "gave_up", "sent_home", "no_show",
                                                               "still_waiting"}

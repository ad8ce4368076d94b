"""The booking calendar (fssim.demand.booking): slots filled days ahead within the opening sessions.

Capacity is never exceeded, ample capacity books everyone on the day they want, scarce capacity makes leads
grow and sends the overflow to the walk-in queue (or to the next free slot), no-shows rise with the lead and
fall with reminders by the configured effect, every citizen is kept, and the citizens are the same with the
calendar on or off.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fssim.config import config_from_dict, load_config
from fssim.demand.arrivals import BOOKED, FOLLOW_UP, DemandModel
from fssim.engine.calendar import DAY, site_sessions
from fssim.engine.simulation import closed_days, simulate_sites
from fssim.errors import InputError
from fssim.experiment.partials import unit_partials
from fssim.metrics import kpis as registry
from fssim.metrics.tables import kpi_sums, sessions_table, visits_table

from conftest import arrivals_of


def site_config(days: int = 91, visits: float = 14.0, share: float = 0.4, seed: int = 5, agents=2,
                hours=None, **booking) -> dict:
    """One 2-agent site with appointments; ``booking`` fields go to the network's calendar (on)."""
    site = {"id": "fs", "agents": agents, "appointments": True}
    if hours:
        site["hours"] = hours
    return {
        "name": "booking", "horizon": {"start": "2024-01-01", "days": days}, "seed": seed, "replications": 1,
        "demand": {"visits_per_open_day": visits},
        "behaviour": {"appointment_share": share, "booking": {"calendar": True, **booking}},
        "sites": [site],
    }


def plan_of(data: dict, replication: int = 0):
    cfg = config_from_dict(data)
    return cfg, simulate_sites(cfg, cfg.sites, replication)[0]


def wants_of(a) -> np.ndarray:
    """Who asked for an appointment: booked first visits and those who found no slot."""
    return a.booked | a.no_slot


# --------------------------------------------------------------------------- capacity and sessions


@pytest.mark.parametrize("booking", [{"slots_per_interval": 1}, {"slots_per_interval": 2, "slot_minutes": 20},
                                     {"reserved_agents": 2}])
def test_no_slot_takes_more_bookings_than_its_capacity(booking):
    hours = {d: "09:00-12:00 / 14:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
    agents = {d: [1, 3] for d in hours}  # reserved_agents 2: one booking a slot in the morning, two after lunch
    cfg, plan = plan_of(site_config(visits=30, share=0.8, hours=hours, agents=agents, **booking))
    cal, log = plan.arrivals.calendar, plan.log
    booked = np.flatnonzero(np.asarray(log.booked))
    slot = np.searchsorted(cal.start, np.asarray(log.time)[booked], side="right") - 1
    np.testing.assert_array_equal(cal.start[slot], np.asarray(log.time)[booked])  # at the start of a slot
    per_slot = np.bincount(slot, minlength=len(cal.start))
    assert (per_slot <= cal.capacity).all()
    assert (per_slot == cal.capacity).mean() > 0.5  # scarce: most slots full, so the bound was tested
    np.testing.assert_array_equal(per_slot, cal.taken)  # first visits and follow-ups: what the ledger says
    if "reserved_agents" in booking:
        morning = (cal.start % DAY) < 12 * 60
        assert set(cal.capacity[morning]) == {1} and set(cal.capacity[~morning]) == {2}


def test_slots_lie_inside_the_opening_sessions():
    hours = {"mon": "08:30-12:15 / 13:30-17:00", "wed": "09:00-12:00", "sat": "09:00-11:40"}
    cfg = config_from_dict(site_config(hours=hours, slot_minutes=25))
    sessions = site_sessions(cfg.sites[0], cfg.horizon, closed_days(cfg))
    plan = simulate_sites(cfg, cfg.sites, 0)[0]
    cal = plan.arrivals.calendar
    s = np.array([(x.start, x.end) for x in sessions])
    j = cal.session
    assert ((cal.start >= s[j, 0]) & (cal.start + 25 <= s[j, 1] + 1e-9)).all()  # full slots inside their session
    assert len(np.unique(j)) == len(sessions)  # every session has slots
    holidays = {(d - cfg.horizon.start).days for d in closed_days(cfg)}
    assert not set(cal.day) & holidays  # 1 January, Easter Monday… are closed
    booked = np.asarray(plan.log.time)[np.asarray(plan.log.booked)]
    assert np.isin(booked, cal.start).all()


# --------------------------------------------------------------------------- ample and scarce


def test_with_ample_capacity_every_booking_lands_on_its_desired_day():
    cfg, plan = plan_of(site_config(slots_per_interval=50))
    a, cal = plan.arrivals, plan.arrivals.calendar
    assert a.booked.sum() > 300 and not a.no_slot.any()
    b = np.flatnonzero(a.booked)
    drawn = a.drawn_time[b]
    np.testing.assert_array_equal(np.floor(a.time[b] / DAY), np.floor(drawn / DAY))
    # the slot the wanted moment falls in (the last full slot of the session for the last minutes)
    k = np.searchsorted(cal.start, drawn, side="right") - 1
    np.testing.assert_array_equal(a.time[b], cal.start[k])
    assert ((drawn - a.time[b] < 30) | (k + 1 == len(cal.start)) | (cal.session[np.minimum(k + 1, len(k) - 1)]
                                                                      != cal.session[k])).all()
    # the lead is the drawn one: whole days of the lead distribution, at most the calendar's horizon
    lead = np.floor(a.time[b] / DAY) - a.booked_on[b]
    rule = cfg.behaviour.booking
    law = np.minimum(np.floor(rule.lead_days.ppf((np.arange(100_000) + 0.5) / 100_000)), rule.horizon_days)
    assert lead.min() >= 0 and lead.max() <= rule.horizon_days
    assert abs(lead.mean() - law.mean()) < 4 * law.std() / np.sqrt(len(b)), (lead.mean(), law.mean())


def test_scarce_slots_make_leads_grow_and_walk_in_takes_the_overflow():
    ample = plan_of(site_config(visits=30, share=0.6, slots_per_interval=20))[1]
    scarce = plan_of(site_config(visits=30, share=0.6, slots_per_interval=1))[1]
    lead = {}
    for name, p in (("ample", ample), ("scarce", scarce)):
        b = np.flatnonzero(p.arrivals.booked)
        lead[name] = (np.floor(p.arrivals.time[b] / DAY) - p.arrivals.booked_on[b]).mean()
    assert lead["scarce"] > lead["ample"] + 1.0
    a = scarce.arrivals
    key = lambda x: pd.Series(wants_of(x), index=x.drawn_time).sort_index()  # noqa: E731
    pd.testing.assert_series_equal(key(a), key(ample.arrivals))  # the same citizens asked
    over = np.flatnonzero(a.no_slot)
    assert len(over) > 100 and not a.booked[over].any()  # walk-ins…
    np.testing.assert_array_equal(a.time[over], a.drawn_time[over])  # …at the time they drew
    assert not a.no_show[over].any() and np.isfinite(a.patience[over]).all()  # walk-ins give up, never no-show


def test_next_free_books_beyond_the_horizon_instead():
    walk = plan_of(site_config(visits=30, share=0.6, slots_per_interval=1, when_full="walk_in"))[1].arrivals
    nxt = plan_of(site_config(visits=30, share=0.6, slots_per_interval=1, when_full="next_free"))[1].arrivals
    over = np.flatnonzero(nxt.no_slot & nxt.booked)
    assert len(over) > 50
    lead = np.floor(nxt.time[over] / DAY) - nxt.booked_on[over]
    assert (lead > 14).all()  # beyond the calendar's 14 days
    assert nxt.booked.sum() >= walk.booked.sum()  # (equal when the calendar is full to the horizon's end)
    late = nxt.no_slot & ~nxt.booked  # none left before the end of the simulated horizon: walk-ins
    np.testing.assert_array_equal(nxt.time[late], nxt.drawn_time[late])


# --------------------------------------------------------------------------- no-shows


def no_show_share(**booking) -> tuple[float, int, np.ndarray]:
    a = plan_of(site_config(days=364, visits=40, share=0.9, slots_per_interval=60, **booking))[1].arrivals
    return a.no_show[a.booked].mean(), int(a.booked.sum()), a.no_show


def test_no_shows_rise_with_the_lead_and_fall_with_reminders_by_the_effect():
    curve = {0: 0.05, 5: 0.20}
    same_day, n0, _ = no_show_share(lead_days={"dist": "fixed", "value": 0}, no_show_by_lead=curve)
    ahead, n1, without = no_show_share(lead_days={"dist": "fixed", "value": 7}, no_show_by_lead=curve)
    reminded, n2, with_ = no_show_share(lead_days={"dist": "fixed", "value": 7}, no_show_by_lead=curve,
                                        reminders=True, reminder_effect=0.6)
    for got, p, n in ((same_day, 0.05, n0), (ahead, 0.20, n1), (reminded, 0.20 * 0.4, n2)):
        assert n > 5000
        assert abs(got - p) < 4 * np.sqrt(p * (1 - p) / n), (got, p)
    assert ahead > same_day and reminded < ahead
    assert (with_ <= without).all()  # the same uniforms: a reminder only ever turns a no-show into a visit


def test_the_default_curve_rises_with_the_lead():
    from fssim.config import Booking

    rule = Booking(calendar=True)
    p = rule.no_show_share(np.arange(30))
    assert (np.diff(p) >= 0).all() and p[0] < p[-1]
    assert Booking(calendar=True, reminders=True).no_show_share([10])[0] == pytest.approx(p[10] * 0.5)


# --------------------------------------------------------------------------- conservation and CRN


def test_every_citizen_has_one_first_visit_and_every_visit_one_outcome():
    data = site_config(visits=30, share=0.6, slots_per_interval=1)
    cfg = config_from_dict(data)
    runs = [(0, simulate_sites(cfg, cfg.sites, 0))]
    v = visits_table(cfg, runs)
    a = runs[0][1][0].arrivals
    first = v[v["kind"].isin(["walk_in", "booked"])]
    assert len(first) == len(a) and first["citizen"].is_unique
    assert v["outcome"].notna().all() and (v["outcome"].astype(str) != "").all()
    assert (first["kind"] == "booked").sum() + (first["no_slot"] & (first["kind"] == "walk_in")).sum() == \
        wants_of(a).sum()
    assert v.loc[v["kind"] == "booked", "lead_days"].notna().all()
    assert v.loc[v["kind"] == "walk_in", "lead_days"].isna().all()
    off = config_from_dict({**data, "behaviour": {"appointment_share": 0.6}})
    assert len(simulate_sites(off, off.sites, 0)[0].arrivals) == len(a)


CITIZEN = ["demarche", "demarches", "service", "walk_in_patience", "follow_up", "follow_up_delay",
           "follow_up_service", "return_u", "return_delay", "origin"]


def citizens(a) -> pd.DataFrame:
    return pd.DataFrame({c: getattr(a, c) for c in CITIZEN}, index=pd.Index(a.drawn_time, name="drawn")).sort_index()


def test_the_citizens_are_the_same_with_the_calendar_on_or_off():
    on = site_config(visits=30, share=0.6, slots_per_interval=1)
    off = {**on, "behaviour": {"appointment_share": 0.6}}
    none = {**on, "sites": [{**on["sites"][0], "appointments": False}]}
    a_on, a_off, a_none = (arrivals_of(config_from_dict(d)) for d in (on, off, none))
    pd.testing.assert_frame_equal(citizens(a_on), citizens(a_off))
    pd.testing.assert_frame_equal(citizens(a_on), citizens(a_none))
    # who asks is the booking stream's: everyone the same-day rule booked asked the calendar too
    booked_off = set(a_off.drawn_time[a_off.booked])
    asked_on = set(a_on.drawn_time[wants_of(a_on)])
    assert len(booked_off) > 300 and booked_off <= asked_on and len(asked_on) > len(booked_off)
    # another lead distribution or reminders: the same requests, the same citizens
    longer = arrivals_of(config_from_dict(site_config(visits=30, share=0.6, slots_per_interval=1,
                                                      lead_days={"dist": "exponential", "mean": 9})))
    pd.testing.assert_frame_equal(citizens(longer), citizens(a_on))
    key = lambda a: pd.Series(wants_of(a), index=a.drawn_time).sort_index()  # noqa: E731
    pd.testing.assert_series_equal(key(longer), key(a_on))
    remind = arrivals_of(config_from_dict(site_config(visits=30, share=0.6, slots_per_interval=1, reminders=True)))
    np.testing.assert_array_equal(remind.time, a_on.time)
    assert (remind.no_show <= a_on.no_show).all() and remind.no_show.sum() < a_on.no_show.sum()


# --------------------------------------------------------------------------- follow-ups and outputs


def test_follow_ups_are_booked_in_the_calendar():
    cfg, plan = plan_of(site_config(days=182, slots_per_interval=2))
    log, cal = plan.log, plan.arrivals.calendar
    kind, booked = np.asarray(log.kind), np.asarray(log.booked)
    f = np.flatnonzero((kind == FOLLOW_UP) & booked)
    assert len(f) > 20
    assert np.isin(np.asarray(log.time)[f], cal.start).all()
    assert all(v in log.booked_on for v in f) and np.isinf(np.asarray(log.patience)[f]).all()
    off = plan_of(site_config(days=182, slots_per_interval=2, follow_ups=False))[1].log
    assert not (np.asarray(off.booked) & (np.asarray(off.kind) == FOLLOW_UP)).any()
    assert not (np.asarray(off.booked) & (np.asarray(off.kind) != BOOKED)).any()


def test_the_run_tables_and_the_partials_agree_on_the_booking_kpis():
    data = site_config(visits=30, share=0.6, slots_per_interval=1)
    data["horizon"]["warmup_days"] = 5
    cfg = config_from_dict(data)
    runs = [(r, simulate_sites(cfg, cfg.sites, r, DemandModel(cfg))) for r in range(2)]
    v, s = visits_table(cfg, runs), sessions_table(cfg, runs)
    ref = kpi_sums(v, s, "site", threshold=15.0, warmup_days=5, origin=cfg.horizon.start)
    for r, plans in runs:
        got = unit_partials(cfg, plans).frame().set_index("site_id")
        for name in registry.BOOKING_SUMS:
            assert got.loc["fs", name] == pytest.approx(ref.loc[(r, "fs"), name], rel=1e-9), name
        assert ref.loc[(r, "fs"), "no_slot"] > 0
    k = registry.from_sums(ref)
    assert (k["mean_booking_lead_days"] > 0).all() and k["no_slot_share"].between(0, 1).all()


def test_a_site_without_the_calendar_keeps_its_outputs():
    cfg = config_from_dict({**site_config(), "behaviour": {"appointment_share": 0.4}})
    runs = [(0, simulate_sites(cfg, cfg.sites, 0))]
    v = visits_table(cfg, runs)
    assert "lead_days" not in v and "no_slot" not in v
    assert runs[0][1][0].arrivals.calendar is None
    # a site's own block replaces the network's: off at the network, on at the site
    on = config_from_dict({**site_config(), "behaviour": {"appointment_share": 0.4},
                           "sites": [{"id": "fs", "appointments": True, "booking": {"calendar": True}}]})
    assert simulate_sites(on, on.sites, 0)[0].arrivals.calendar is not None


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("booking, field, words", [
    ({"calendar": True, "no_show_by_lead": {3: 0.1}}, "behaviour.booking.no_show_by_lead", "0 days"),
    ({"calendar": True, "slots_per_interval": 1, "reserved_agents": 1}, "behaviour.booking.reserved_agents",
     "not both"),
    ({"calendar": True, "when_full": "later"}, "behaviour.booking.when_full", "walk_in"),
    ({"calendar": True, "horizon_days": 0}, "behaviour.booking.horizon_days", "greater than 0"),
    ({"calendar": True, "reminder_effect": 1.5}, "behaviour.booking.reminder_effect", "less than or equal to 1"),
    ({"reminders": True}, "behaviour.booking.calendar", "calendar: true"),
    ({"calendar": True, "lead": 3}, "behaviour.booking.lead", "unknown key"),
])
def test_bad_booking_config_names_the_file_and_the_field(tmp_path, booking, field, words):
    import yaml

    data = site_config()
    data["behaviour"]["booking"] = booking
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as e:
        load_config(path)
    text = str(e.value)
    assert "bad.yaml" in text and field in text and words in text, text


def test_a_bad_site_booking_names_the_site():
    data = site_config()
    data["sites"][0]["booking"] = {"calendar": True, "no_show_by_lead": {0: 1.4}}
    with pytest.raises(InputError, match=r"sites\[0\]\.booking\.no_show_by_lead"):
        config_from_dict(data)

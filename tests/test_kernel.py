"""The compiled counter (fssim.engine.kernel) gives the Python reference's results bit for bit.

Random sites (staffing by half-day, Saturdays, appointments, booking calendars, no-shows, patience, returns,
follow-ups, absences, holidays, heavy and light load) and random buses (drives, late starts, stops not driven,
breakdowns) are simulated by both kernels; every column of every log must be equal,
NaNs included. Also: which sites take the compiled path, the retry when a site has more later visits than the
first allocation, and a clear error for an unknown kernel.
"""
from __future__ import annotations

import numpy as np
import pytest

from fssim.config import config_from_dict, load_config
from fssim.engine import kernel as K
from fssim.engine.simulation import kernel_choice, simulate_sites
from fssim.errors import InputError

from conftest import REPO

VISIT = ("time", "service", "patience", "booked", "start", "end", "leave", "outcome", "agent", "kind", "citizen",
         "attempt", "point", "origin", "demarche", "demarches")
SESSION = ("session_day", "session_point", "session_open", "session_staffed", "session_busy", "session_overtime",
           "session_late")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat")


def random_config(seed: int):
    """A few sites drawn at random, every feature of the counter's compiled path in play."""
    rng = np.random.default_rng(seed)
    sites = []
    for s in range(int(rng.integers(1, 4))):
        hours, agents = {}, {}
        for d in DAYS:
            if d == "sat" and rng.random() < 0.6:
                continue
            morning = f"{int(rng.integers(8, 10)):02d}:{rng.choice(['00', '30'])}-12:00"
            afternoon = f"{int(rng.integers(13, 15)):02d}:00-{int(rng.integers(16, 19)):02d}:30"
            hours[d] = morning if rng.random() < 0.25 else f"{morning} / {afternoon}"
            c = [int(rng.integers(1, 5)), int(rng.integers(1, 4))]
            agents[d] = c if "/" in hours[d] else c[0]
        sites.append({"id": f"s{s}", "hours": hours, "agents": agents, "appointments": bool(rng.random() < 0.5),
                      "demand": {"visits_per_open_day": float(rng.choice([3, 15, 40, 90]))}})
    lo = int(rng.integers(1, 4))
    d = {
        "name": f"random-{seed}", "seed": int(rng.integers(1, 10_000)), "replications": 1,
        "horizon": {"start": "2024-03-01", "days": int(rng.integers(20, 90))},
        "sites": sites,
        "holidays": {"closed": bool(rng.random() < 0.7)},
        "behaviour": {
            "appointment_share": float(rng.uniform(0, 0.6)), "no_show": float(rng.uniform(0, 0.3)),
            "return_probability": float(rng.uniform(0, 1)), "max_returns": int(rng.integers(0, 5)),
            "return_delay_days": [lo, lo + int(rng.integers(0, 8))],
            "patience": rng.choice([{"dist": "triangular", "min": 5.0, "mode": 20.0, "max": 45.0},
                                    {"dist": "exponential", "mean": 25.0}, None]),
        },
    }
    if rng.random() < 0.5:
        d["absences"] = {"agent_daily_rate": float(rng.uniform(0.05, 0.4)),
                         "below_minimum": str(rng.choice(["close", "open_with_one"]))}
    if rng.random() < 0.4:  # a booking calendar: bookings days ahead, follow-ups booked in the slots left
        d["behaviour"]["booking"] = {
            "calendar": True, "slot_minutes": int(rng.choice([30, 60])), "horizon_days": int(rng.integers(3, 15)),
            "when_full": str(rng.choice(["walk_in", "next_free"])), "follow_ups": bool(rng.random() < 0.8),
            **({"slots_per_interval": int(rng.integers(1, 3))} if rng.random() < 0.5
               else {"reserved_agents": int(rng.integers(1, 3))})}
    if rng.random() < 0.35:  # channels: self-service stations (some citizens need help), visio, back office
        counter = float(rng.uniform(0.3, 0.7))
        rest = rng.dirichlet([2, 1, 1]) * (1 - counter)
        d["channels"] = {"mix": {"counter": counter, "self_service": float(rest[0]), "visio": float(rest[1]),
                                 "back_office": 1 - counter - float(rest[0]) - float(rest[1])}}
        for site in d["sites"]:
            site["self_service"] = {"stations": int(rng.integers(1, 4))}
            if rng.random() < 0.6:
                site["visio"] = {"rooms": 1, "timetable": [
                    {"partner": "caf", "weekday": "tue", "start": "10:00", "end": "11:30"},
                    {"partner": "assurance_retraite", "weekday": "wed", "start": "10:00", "end": "11:30"}]}
    return config_from_dict(d)


def assert_same(cfg, sites, replication=0):
    py = simulate_sites(cfg, sites, replication, kernel="python")
    nb = simulate_sites(cfg, sites, replication, kernel="compiled")
    for a, b in zip(py, nb):
        for f in VISIT + SESSION:
            x = np.asarray(getattr(a.log, f), dtype=float)
            y = np.asarray(getattr(b.log, f), dtype=float)
            assert x.shape == y.shape, (a.site.id, f, x.shape, y.shape)
            assert np.array_equal(x, y, equal_nan=True), (a.site.id, f, np.flatnonzero(~((x == y) | np.isnan(x)
                                                                                       & np.isnan(y)))[:5])
        assert a.log.deferred == b.log.deferred
        assert a.log.booked_on == b.log.booked_on  # who booked a calendar's slot, and on which day
        if a.channels is not None:  # stations and visio: who used which station, minutes per session
            for f in ("station", "free", "station_min", "station_busy_min", "visio_min", "visio_busy_min", "session"):
                assert np.array_equal(np.asarray(getattr(a.channels, f), float),
                                      np.asarray(getattr(b.channels, f), float), equal_nan=True), (a.site.id, f)
    return py


@pytest.mark.parametrize("seed", range(24))
def test_compiled_kernel_is_the_python_kernel_bit_for_bit(seed):
    cfg = random_config(seed)
    plans = assert_same(cfg, cfg.sites)
    outcomes = np.concatenate([np.asarray(p.log.outcome) for p in plans])
    assert (outcomes >= 0).all()  # every visit ended somewhere (conservation), on both paths


def test_the_random_cases_reach_every_branch():
    """The random sites above do exercise what the kernel handles: gave up, sent home, no-shows, returns,
    follow-ups, appointments, sessions without agents and capacity carried across a closure."""
    seen = {k: False for k in ("gave_up", "sent_home", "no_show", "return", "follow_up", "booked", "closed",
                               "carried", "booked_follow_up", "station", "helped", "visio")}
    for seed in range(24):
        cfg = random_config(seed)
        for p in simulate_sites(cfg, cfg.sites, 0, kernel="python"):
            o, kind = np.asarray(p.log.outcome), np.asarray(p.log.kind)
            seen["gave_up"] |= bool((o == 1).any())
            seen["sent_home"] |= bool((o == 2).any())
            seen["no_show"] |= bool((o == 3).any())
            seen["return"] |= bool((kind == 2).any())
            seen["follow_up"] |= bool((kind == 3).any())
            seen["booked"] |= bool(np.asarray(p.log.booked).any())
            seen["booked_follow_up"] |= bool((np.asarray(p.log.booked) & (kind == 3)).any())
            if p.channels is not None:
                ch = np.asarray(p.channels.channel)
                helped = np.asarray(p.channels.help, bool) & (np.asarray(p.log.agent)[:len(ch)] >= 0) & (ch == 1)
                seen["station"] |= bool((np.asarray(p.channels.station) >= 0).any())
                seen["helped"] |= bool(helped.any())
                seen["visio"] |= bool(sum(p.channels.visio_busy_min) > 0)
            seen["closed"] |= bool((np.asarray(p.log.session_open) == 0).any())
            seen["carried"] |= bool((np.asarray(p.log.session_overtime) < 0).any()
                                    or (np.asarray(p.log.session_overtime) > 0).any())
    assert all(seen.values()), seen


@pytest.mark.parametrize("name", ["one-site", "busy-urban-site", "absences"])
def test_shipped_configs_give_the_same_results(name):
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert_same(cfg, cfg.sites + cfg.buses, replication=1)


COMMUNES = [("09225", 43.1145, 1.60818), ("09122", 42.96374, 1.60548), ("09261", 42.98646, 1.14405),
            ("09160", 42.9382, 1.85264), ("09282", 43.23373, 1.57599), ("09185", 43.25104, 1.67742)]


def random_bus_config(seed: int):
    """Buses drawn at random: stops tens of km apart in tight timetables (late starts), weekly, fortnightly and
    monthly stops, stops without coordinates (not driven), breakdowns, both arrival profiles, returns and
    follow-ups at the next visit to the stop; and one bus sending its citizens to a fixed site (Python path)."""
    rng = np.random.default_rng(1000 + seed)
    buses = []
    for b in range(int(rng.integers(1, 3))):
        stops = []
        slots = [(d, half) for d in DAYS[:5] for half in (0, 1)]  # at most a morning and an afternoon a day
        for k in rng.permutation(len(slots))[:int(rng.integers(2, 7))]:
            day, half = slots[k]
            code, lat, lon = COMMUNES[int(rng.integers(len(COMMUNES)))]
            start = int(rng.integers(8, 11)) if half == 0 else int(rng.integers(12, 15))
            end = min(start + int(rng.integers(1, 3)), 12) if half == 0 else start + int(rng.integers(1, 4))
            stop = {"commune": code, "weekday": day, "start": f"{start:02d}:00",
                    "end": f"{end:02d}:{'00' if half == 0 and end == 12 else rng.choice(['00', '30'])}",
                    "every": str(rng.choice(["weekly", "weekly", "fortnightly", "monthly"])),
                    "visits_per_visit": float(rng.choice([2, 8, 20, 45]))}
            if rng.random() < 0.85:
                stop.update(lat=lat, lon=lon)
            stops.append(stop)
        buses.append({"id": f"bus{b}", "base": "09122", "base_lat": 42.96374, "base_lon": 1.60548,
                      "agents": int(rng.integers(1, 4)), "leaves_base": str(rng.choice(["07:30", "08:30", "10:00"])),
                      "stops": stops, "breakdown_rate": float(rng.choice([0.0, 0.1])),
                      "front_load": float(rng.uniform(0, 0.9)),
                      "arrival_profile": str(rng.choice(["front_loaded", "hours"]))})
    sites = [{"id": "fixed", "commune": "09225", "lat": 43.1145, "lon": 1.60818, "hours": {d: "09:00-12:00 / 14:00-17:00"
             for d in DAYS[:5]}, "agents": 2, "demand": {"visits_per_open_day": 20.0}}]
    if rng.random() < 0.5:  # a bus whose unserved citizens go to the fixed site: both stay on the Python path
        buses.append({**buses[0], "id": "bus-to-site", "unserved": "nearest_site", "fallback_site": "fixed"})
    lo = int(rng.integers(1, 4))
    d = {
        "name": f"random-bus-{seed}", "seed": int(rng.integers(1, 10_000)), "replications": 1,
        "horizon": {"start": "2024-03-01", "days": int(rng.integers(30, 120))},
        "sites": sites, "buses": buses, "holidays": {"closed": bool(rng.random() < 0.7)},
        "behaviour": {
            "no_show": float(rng.uniform(0, 0.3)), "return_probability": float(rng.uniform(0.3, 1)),
            "max_returns": int(rng.integers(0, 5)), "return_delay_days": [lo, lo + int(rng.integers(0, 8))],
            "patience": rng.choice([{"dist": "triangular", "min": 5.0, "mode": 20.0, "max": 45.0},
                                    {"dist": "exponential", "mean": 25.0}, None]),
        },
    }
    return config_from_dict(d)


@pytest.mark.parametrize("seed", range(12))
def test_compiled_buses_are_the_python_buses_bit_for_bit(seed):
    cfg = random_bus_config(seed)
    plans = assert_same(cfg, cfg.sites + cfg.buses)
    assert (np.concatenate([np.asarray(p.log.outcome) for p in plans]) >= 0).all()


def test_the_random_buses_reach_every_branch():
    """Late starts, stops not driven, returns and follow-ups at a later visit to the stop, sent home, gave up,
    breakdowns, both arrival profiles and a bus redirecting to a site all occur in the random buses above."""
    seen = {k: False for k in ("late", "not_driven", "return", "follow_up", "sent_home", "gave_up", "hours",
                               "redirect")}
    for seed in range(12):
        cfg = random_bus_config(seed)
        for p in simulate_sites(cfg, cfg.sites + cfg.buses, 0, kernel="compiled"):
            if not p.is_bus:
                continue
            o, kind = np.asarray(p.log.outcome), np.asarray(p.log.kind)
            seen["late"] |= bool((np.asarray(p.log.session_late) > 0).any())
            seen["not_driven"] |= any(d is None for d in p.drives)
            seen["return"] |= bool((kind == 2).any())
            seen["follow_up"] |= bool((kind == 3).any())
            seen["sent_home"] |= bool((o == 2).any())
            seen["gave_up"] |= bool((o == 1).any())
            seen["hours"] |= p.site.arrival_profile == "hours"
            seen["redirect"] |= p.site.unserved == "nearest_site"
    assert all(seen.values()), seen


def test_which_sites_take_the_compiled_path():
    """A bus redirecting to a fallback site and that site, channels, booking calendars and always-open sites keep
    the Python path; other buses and sites take the compiled one."""
    bus = load_config(REPO / "configs" / "bus-rotation.yaml")
    plans = simulate_sites(bus, bus.sites + bus.buses, 0)
    targets = {p.fallback.site.id for p in plans if p.fallback is not None}
    for p in plans:
        redirects = p.is_bus and p.site.unserved == "nearest_site" and p.fallback is not None
        assert K.compiled_path_for(p, targets) == (not redirects and p.site.id not in targets)
    assert_same(bus, bus.sites + bus.buses)  # a network with buses
    cfg = random_bus_config(1)
    plans = simulate_sites(cfg, cfg.sites + cfg.buses, 0)
    targets = {p.fallback.site.id for p in plans if p.fallback is not None}
    paths = {p.site.id: K.compiled_path_for(p, targets) for p in plans}
    assert paths["bus0"] and not paths["bus-to-site"] and not paths["fixed"]  # both paths in one network
    for name in ("full-service-site", "booking-calendar"):  # channels, absences and a calendar; a calendar
        cfg = load_config(REPO / "configs" / f"{name}.yaml")
        assert all(K.compiled_path_for(p, set()) for p in simulate_sites(cfg, cfg.sites, 0))
        assert_same(cfg, cfg.sites)


def test_more_later_visits_than_room_runs_again(monkeypatch):
    """Returns and follow-ups beyond the first allocation: the kernel says so and runs again with more room."""
    cfg = random_config(3)
    calls = []
    real = K.site_kernel

    def wrapped(F, I, n, *rest):
        calls.append(len(F))
        return real(F[: n + 1], I[: n + 1], n, *rest) if len(calls) == 1 else real(F, I, n, *rest)
    monkeypatch.setattr(K, "site_kernel", wrapped)
    py = simulate_sites(cfg, cfg.sites[:1], 0, kernel="python")[0]
    nb = simulate_sites(cfg, cfg.sites[:1], 0, kernel="compiled")[0]
    assert len(py.log.time) > len(py.arrivals) + 1  # there were later visits to make room for
    assert len(calls) >= 2
    for f in VISIT:
        assert np.array_equal(np.asarray(getattr(py.log, f), float), np.asarray(getattr(nb.log, f), float),
                              equal_nan=True), f


def test_a_site_without_citizens():
    cfg = config_from_dict({"name": "empty", "horizon": {"start": "2024-01-01", "days": 10},
                            "demand": {"visits_per_open_day": 5},
                            "sites": [{"id": "a", "agents": 2, "demand": {"multiplier": 0}}]})
    plan = assert_same(cfg, cfg.sites)[0]
    assert len(plan.log.time) == 0 and len(plan.log.session_day) > 0


def test_an_unknown_kernel_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FSSIM_KERNEL", "fortran")
    with pytest.raises(InputError, match="FSSIM_KERNEL.*'fortran' is not a kernel.*compiled, python"):
        kernel_choice()
    monkeypatch.setenv("FSSIM_KERNEL", "python")
    assert kernel_choice() == "python" and kernel_choice("compiled") == "compiled"

"""Bus rotation design: crew hours and travel re-timed independently, one bus per stop, recurrences,
coverage against brute force and against random stops, tours, bad input."""

import math

import numpy as np
import pandas as pd
import pytest

from fssim.config import parse_clock
from fssim.errors import InputError
from fssim.network.rotation import RotationDesign
from fssim.network.tour import solve_tour, tour_length
from fssim.geo.travel import RoadModel, TravelMatrix

DAYS = ("mon", "tue", "wed", "thu", "fri")


def make_territory(n=300, seed=0, size=0.9):
    """A rural département: sparse villages, a few bourgs; cantons by position."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(46.8, 46.8 + size, n)
    lon = rng.uniform(3.0, 3.0 + 1.4 * size, n)
    return pd.DataFrame({
        "code": [f"58{i:03d}" for i in range(n)],
        "name": [f"Village {i}" for i in range(n)],
        "dep": "58", "region": "27",
        "canton": [f"58{int((la - 46.8) / size * 3) * 3 + int((lo - 3.0) / (1.4 * size) * 3):02d}"
                   for la, lo in zip(lat, lon)],
        "lat": lat, "lon": lon,
        "population": (rng.lognormal(5.5, 1.0, n)).round().astype(np.int64) + 1,
        "density_class": rng.choice(["peu_dense", "tres_peu_dense"], n, p=[0.3, 0.7]),
    })


def fixed_sites(com, k=6, seed=1):
    pick = com.sample(k, random_state=seed)
    return pd.DataFrame({"site_id": [f"fs{i}" for i in range(k)], "lat": pick["lat"].to_numpy(),
                         "lon": pick["lon"].to_numpy(), "commune": pick["code"].to_numpy()})


@pytest.fixture(scope="module")
def territory():
    com = make_territory()
    return com, fixed_sites(com)


@pytest.fixture(scope="module")
def design(territory):
    com, fx = territory
    return RotationDesign(com, n_buses=2, fixed_sites=fx, max_minutes=25).solve()


def active(stop, week):
    ev = stop.every
    return ev.nth is None and week % ev.weeks == ev.phase


def check_timetable(d, com, model, *, crew=("08:00", "17:30"), windows=(("09:00", "12:00"), ("14:00", "16:30")),
                    lunch=45, weeks=2):
    """Re-time every day of the cycle from the Bus objects alone, with the model, and check it fits."""
    dens = com.set_index("code")["density_class"]
    c0, c1 = parse_clock(crew[0]), parse_clock(crew[1])
    win = [(parse_clock(a), parse_clock(b)) for a, b in windows]
    lunch_gap = max(range(len(win) - 1), key=lambda i: win[i + 1][0] - win[i][1]) if len(win) > 1 else None
    checked = 0
    for bus in d.buses:
        base_dens = dens[bus.base]
        for st in bus.stops:
            assert (parse_clock(st.start), parse_clock(st.end)) in win, "a stop outside the stop windows"
        for w in range(weeks):
            for day in DAYS:
                today = sorted((s for s in bus.stops if s.weekday == day and active(s, w)),
                               key=lambda s: parse_clock(s.start))
                starts = [s.start for s in today]
                assert len(starts) == len(set(starts)), f"{bus.id} week {w} {day}: two stops in one window"
                pts = [(bus.base_lat, bus.base_lon, base_dens, c0)]
                for s in today:
                    pts.append((s.lat, s.lon, dens[s.commune], None))
                pts.append((bus.base_lat, bus.base_lon, base_dens, None))
                free_at = c0
                for k in range(1, len(pts)):
                    (la0, lo0, d0, _), (la1, lo1, _, _) = pts[k - 1], pts[k]
                    drive = float(model.minutes([la0], [lo0], [d0], [la1], [lo1])[0, 0])
                    due = parse_clock(today[k - 1].start) if k <= len(today) else c1
                    avail = due - free_at
                    if lunch_gap is not None and free_at <= win[lunch_gap][1] and due >= win[lunch_gap + 1][0]:
                        avail -= lunch
                    assert drive <= avail + 1e-6, f"{bus.id} week {w} {day}: {drive:.1f} min to drive, {avail} free"
                    if k <= len(today):
                        free_at = parse_clock(today[k - 1].end)
                    checked += 1
    return checked


def test_rotations_respect_crew_hours_and_travel(design, territory):
    com, _ = territory
    assert len(design.buses) == 2 and design.n_stops > 10
    assert check_timetable(design, com, RoadModel()) > 20
    assert design.timetable["fits"].all()


def test_every_stop_in_one_bus_and_recurrences_valid(design):
    owner = {}
    for bus in design.buses:
        assert bus.generated and bus.agents == 2 and bus.base is not None
        for st in bus.stops:
            assert owner.setdefault(st.commune, bus.id) == bus.id, f"commune {st.commune} in two buses"
            ev = st.every
            assert ev.nth is None and ev.weeks in (1, 2) and 0 <= ev.phase < ev.weeks
        communes = {s.commune for s in bus.stops}
        assert len(communes) <= design.capacity == 15
        weekly = [s for s in bus.stops if s.every.weeks == 1]
        # a weekly slot holds one commune; a rotating one at most one per week
        assert len(weekly) <= 10
    st = design.stops
    assert set(st["recurrence"]) <= {"weekly", "fortnightly"}
    assert len(st) == sum(len(b.stops) for b in design.buses)


def test_full_buses_visit_half_their_slots_weekly(design):
    for bus in design.buses:
        if len({s.commune for s in bus.stops}) == design.capacity:
            assert sum(s.every.weeks == 1 for s in bus.stops) == design.weekly_stops == 5


def test_covered_population_matches_brute_force(design, territory):
    com, fx = territory
    model = RoadModel()
    stops = pd.DataFrame([(s.lat, s.lon) for b in design.buses for s in b.stops], columns=["lat", "lon"])
    t_stop = model.minutes(com.lat, com.lon, com.density_class, stops.lat, stops.lon).min(axis=1)
    t_fixed = model.minutes(com.lat, com.lon, com.density_class, fx.lat, fx.lon).min(axis=1)
    pop = com.population.to_numpy()
    assert design.covered_population == pop[t_stop <= 25].sum()
    assert design.added_population == pop[(t_stop <= 25) & (t_fixed > 25)].sum()
    assert design.population_beyond_fixed == pop[t_fixed > 25].sum()
    assert design.uncovered["population"].sum() == pop[(t_stop > 25) & (t_fixed > 25)].sum()
    assert 0 < design.added_population <= design.population_beyond_fixed


def reachable(com, model, buses, minutes=60):
    """Communes a crew based at one of the buses' bases reaches within `minutes` out or back."""
    dens = com.set_index("code")["density_class"]
    out = np.zeros(len(com), bool)
    for bus in buses:
        go = model.minutes([bus.base_lat], [bus.base_lon], [dens[bus.base]], com.lat, com.lon)[0]
        back = model.minutes(com.lat, com.lon, com.density_class, [bus.base_lat], [bus.base_lon])[:, 0]
        out |= (go <= minutes) | (back <= minutes)
    return out


def best_random(com, model, pool, n, t_fixed, seed=5, draws=8):
    rng = np.random.default_rng(seed)
    pop = com.population.to_numpy()
    best = 0
    for _ in range(draws):
        pick = rng.choice(pool, n, replace=False)
        t = model.minutes(com.lat, com.lon, com.density_class, com.lat.to_numpy()[pick], com.lon.to_numpy()[pick])
        best = max(best, pop[(t.min(axis=1) <= 25) & (t_fixed > 25)].sum())
    return best


def test_beats_random_stops(design, territory):
    """Random stops among the candidates the same bases can reach (within an hour out or back)."""
    com, fx = territory
    model = RoadModel()
    t_fixed = model.minutes(com.lat, com.lon, com.density_class, fx.lat, fx.lon).min(axis=1)
    pool = np.flatnonzero((t_fixed > 25) & reachable(com, model, design.buses))
    assert design.added_population >= best_random(com, model, pool, design.n_communes, t_fixed)
    # one bus, weekly stops only (10 communes), from the first bus's base: a harder test for the design
    one = RotationDesign(com, n_buses=1, fixed_sites=fx, max_minutes=25, weeks_in_cycle=1,
                         base=design.buses[0].base).solve()
    pool = np.flatnonzero((t_fixed > 25) & reachable(com, model, one.buses))
    assert one.n_communes == 10 and one.added_population > best_random(com, model, pool, 10, t_fixed)


def test_deterministic_and_stops_table(design, territory):
    com, fx = territory
    again = RotationDesign(com, n_buses=2, fixed_sites=fx, max_minutes=25).solve()
    assert [b.model_dump() for b in again.buses] == [b.model_dump() for b in design.buses]
    st = design.stops
    assert {"bus", "commune", "population", "weekday", "window", "recurrence", "minutes_from_previous"} <= set(st)
    assert (st["minutes_from_previous"] <= 75 + 1e-9).all()  # at most the midday gap less lunch


def test_tight_crew_day_still_fits(territory):
    com, fx = territory
    crew, lunch = ("08:30", "17:00"), 100
    d = RotationDesign(com, n_buses=2, fixed_sites=fx, max_minutes=25, crew_hours=crew, lunch_minutes=lunch,
                       weeks_in_cycle=2).solve()
    assert d.buses
    check_timetable(d, com, RoadModel(), crew=crew, lunch=lunch)
    assert (d.stops["minutes_from_previous"] <= 30 + 1e-9).all()


def test_given_bases_and_monthly_cycle(territory):
    com, fx = territory
    bases = [fx.commune.iloc[0], fx.commune.iloc[3]]
    d = RotationDesign(com, n_buses=2, fixed_sites=fx, max_minutes=25, base=bases, weeks_in_cycle=4).solve()
    assert [b.base for b in d.buses] == bases
    assert set(d.stops["recurrence"]) <= {"weekly", "monthly"}
    assert {s.every.weeks for b in d.buses for s in b.stops} <= {1, 4}
    check_timetable(d, com, RoadModel(), weeks=4)
    assert max(len({s.commune for s in b.stops}) for b in d.buses) <= 5 + 5 * 4


def test_no_fixed_site_and_one_window():
    com = make_territory(120, seed=3, size=0.4)
    d = RotationDesign(com, n_buses=1, stops_per_day=1, stop_windows=(("10:00", "15:00"),), days=("tue", "thu"),
                       weeks_in_cycle=1, max_minutes=15).solve()
    (bus,) = d.buses
    assert {s.weekday for s in bus.stops} <= {"tue", "thu"} and len(bus.stops) == 2
    assert all(s.every.weeks == 1 for s in bus.stops)
    check_timetable(d, com, RoadModel(), windows=(("10:00", "15:00"),), weeks=1)
    assert d.population_beyond_fixed == com.population.sum()


def test_tour_on_a_circle_is_the_circle():
    rng = np.random.default_rng(0)
    angles = rng.permutation(np.linspace(0, 2 * math.pi, 12, endpoint=False))
    pts = np.c_[np.cos(angles), np.sin(angles)]
    cost = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    order = solve_tour(cost, 0)
    assert sorted(order) == list(range(1, 12))
    ring = [0, *order]
    steps = {round(((angles[b] - angles[a]) % (2 * math.pi)) / (2 * math.pi / 12)) for a, b in zip(ring, ring[1:])}
    assert steps in ({1}, {11})  # consecutive around the circle, one way or the other
    assert tour_length(cost, order) == pytest.approx(12 * 2 * math.sin(math.pi / 12))


@pytest.mark.parametrize("kwargs, field", [
    ({"n_buses": 0}, "n_buses"),
    ({"n_buses": 1, "stop_windows": (("12:00", "09:00"), ("14:00", "16:30"))}, "stop_windows"),
    ({"n_buses": 1, "stops_per_day": 3}, "stop_windows"),
    ({"n_buses": 1, "crew_hours": ("09:30", "17:00")}, "crew_hours"),
    ({"n_buses": 1, "lunch_minutes": 150}, "lunch_minutes"),
    ({"n_buses": 1, "days": ("mon", "funday")}, "days"),
    ({"n_buses": 2, "base": ["58001"]}, "base"),
    ({"n_buses": 1, "base": "99999"}, "base"),
    ({"n_buses": 1, "candidates": ["12345"]}, "candidates"),
    ({"n_buses": 1, "model": TravelMatrix(pd.DataFrame({"origin": ["58000"], "destination": ["x"],
                                                        "minutes": [1.0]}))}, "model"),
])
def test_bad_input(kwargs, field):
    com = make_territory(30, seed=1)
    with pytest.raises(InputError) as err:
        RotationDesign(com, **kwargs)
    assert err.value.field == field


def test_stops_that_cannot_share_a_day_are_moved_and_slots_repeat():
    """A and B lie 25 km either side of the base, 50 km apart; 20 min of driving at midday: never the same day."""
    km = 6371.0088 * np.pi / 180
    com = pd.DataFrame({"code": ["01000", "01001", "01002"], "name": ["O", "A", "B"], "dep": "01", "region": "84",
                        "canton": ["K0", "K1", "K2"], "lat": [45.0, 45 + 25 / km, 45 - 25 / km], "lon": 5.0,
                        "population": [1000, 100, 120], "density_class": "peu_dense"})
    flat = RoadModel(detour=1.0, speed_dense=60, speed_intermediaire=60, speed_peu_dense=60,
                     speed_tres_peu_dense=60, access_minutes=0)
    crew, lunch = ("08:30", "17:00"), 100
    d = RotationDesign(com, n_buses=1, fixed_sites=["01000"], max_minutes=10, crew_hours=crew, lunch_minutes=lunch,
                       model=flat, base="01000").solve()
    (bus,) = d.buses
    assert {s.commune for s in bus.stops} == {"01001", "01002"}
    for day in DAYS:
        for w in range(2):
            assert len({s.commune for s in bus.stops if s.weekday == day and active(s, w)}) <= 1
    check_timetable(d, com, flat, crew=crew, lunch=lunch)
    assert len(d.dropped) >= 1 and d.dropped["moved"].all()
    assert any("second time" in w for w in d.warnings)
    assert d.added_population == 220 and d.uncovered.empty


def test_real_departement_rotation_fits():
    """The Ariège (embedded territory, ANCT fixed sites): two buses from Saint-Girons, re-timed day by day."""
    import os
    from pathlib import Path

    from fssim.sources.anct import load_anct
    from fssim.geo.territory import load_territory

    shared = Path(os.environ.get("FSSIM_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    com = load_territory().subset(deps=["09"]).communes
    sites = load_anct("2024-08", data_dir=shared).sites
    fx = sites[(sites["dep"] == "09") & ~sites["mobile"]][["site_id", "lat", "lon", "commune"]]
    d = RotationDesign(com, n_buses=2, fixed_sites=fx, max_minutes=20, base=["09261", "09261"]).solve()
    assert len(d.buses) == 2 and d.n_communes == 30
    check_timetable(d, com, RoadModel())
    assert 0.9 * d.population_beyond_fixed <= d.added_population <= d.population_beyond_fixed

"""Real buses from the ANCT list: stops generated from the posted hours around the base, flagged, listed,
reproducible; YAML round trip into a scenario config; the real 2024 list."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fssim.network.buses import buses_from_anct, buses_yaml, posted_stops
from fssim.config import config_from_dict, parse_clock
from fssim.errors import InputError
from fssim.geo.travel import RoadModel

SHARED = Path(os.environ.get("FSSIM_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
WEEK = ("mon", "tue", "wed", "thu", "fri")


def communes(n=500, seed=0, dep="23"):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "code": [f"{dep}{i:03d}" for i in range(n)], "name": [f"Bourg {i}" for i in range(n)], "dep": dep,
        "region": "75", "canton": [f"{dep}{i % 15:02d}" for i in range(n)],
        "lat": rng.uniform(45.7, 46.4, n), "lon": rng.uniform(1.4, 2.6, n),
        "population": rng.integers(40, 4000, n), "density_class": rng.choice(["peu_dense", "tres_peu_dense"], n)})


def site(sid, commune, lat, lon, fmt, hours, dep="23"):
    cal = {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    cal.update(hours)
    return {"site_id": sid, "name": f"Site {sid}", "dep": dep, "commune": commune, "lat": lat, "lon": lon,
            "hours": cal, "format": fmt, "labelled_on": pd.Timestamp("2021-07-01")}


@pytest.fixture(scope="module")
def sample():
    com = communes()
    c = com.set_index("code")
    rows = [
        # a bus posting 2 intervals a day, Monday to Friday
        site("101", "23010", c.lat["23010"], c.lon["23010"], "bus", {d: [(540, 720), (840, 990)] for d in WEEK}),
        # a bus with no hours: default timetable
        site("102", "23200", c.lat["23200"], c.lon["23200"], "bus", {}),
        # an itinerant service posting whole days (09:30–16:30) three days a week: split in two
        site("103", "23300", c.lat["23300"], c.lon["23300"], "itinerante", {d: [(570, 990)] for d in WEEK[:3]}),
        # fixed sites, and a bus of another département
        site("1", "23050", c.lat["23050"], c.lon["23050"], "fixe", {d: [(540, 720)] for d in WEEK}),
        site("2", "23400", c.lat["23400"], c.lon["23400"], "fixe", {d: [(540, 720)] for d in WEEK}),
        site("900", "87001", 45.8, 1.2, "bus", {d: [(540, 720)] for d in WEEK}, dep="87"),
    ]
    return com, pd.DataFrame(rows)


def test_one_stop_per_posted_interval_around_the_base(sample):
    com, sites = sample
    buses, table = buses_from_anct(sites, com, RoadModel(), seed=3)
    assert [b.id for b in buses] == ["101", "102", "103"]  # the Haute-Vienne bus is not of this territory
    assert all(b.generated and b.agents == 2 for b in buses)
    assert set(table["status"]) == {"generated"} and len(table) == sum(len(b.stops) for b in buses)
    b101 = buses[0]
    slots = {(s.weekday, s.start, s.end) for s in b101.stops}
    assert slots == {(d, a, b) for d in WEEK for a, b in (("09:00", "12:00"), ("14:00", "16:30"))}
    communes_101 = {s.commune for s in b101.stops}
    assert len(communes_101) == 15  # 5 weekly main stops + 5 slots × 2 fortnightly communes
    weekly = [s for s in b101.stops if s.every.weeks == 1]
    assert len(weekly) == 5
    fortn = [s for s in b101.stops if s.every.weeks == 2]
    assert len(fortn) == 10 and {s.every.phase for s in fortn} == {0, 1}
    # each (slot, week) holds exactly one commune
    for day in WEEK:
        for start in ("09:00", "14:00"):
            here = [s for s in b101.stops if s.weekday == day and s.start == start]
            assert len(here) == 1 and here[0].every.weeks == 1 or sorted(s.every.phase for s in here) == [0, 1]
    # stops lie within 25 min of the base, are listed with their minutes, and are the base's stop communes
    rows = table[table["bus_id"] == "101"]
    assert (rows["minutes_from_base"] <= 25).all() and set(rows["commune"]) == communes_101
    c = com.set_index("code")
    m = RoadModel().minutes([b101.base_lat], [b101.base_lon], [c.density_class["23010"]],
                            c.lat[list(communes_101)], c.lon[list(communes_101)])
    assert (m <= 25).all()
    # main (weekly) stops are the most populous communes drawn
    pop = c.population
    assert min(pop[s.commune] for s in weekly) >= max(pop[s.commune] for s in fortn)


def test_no_hours_gets_the_default_timetable(sample):
    com, sites = sample
    buses, table = buses_from_anct(sites, com, seed=3)
    rows = table[table["bus_id"] == "102"]
    assert set(rows["hours_source"]) == {"default"}
    b = buses[1]
    assert {(s.weekday, s.start, s.end) for s in b.stops} == {
        (d, a, e) for d in WEEK for a, e in (("09:00", "12:00"), ("14:00", "16:30"))}


def test_whole_days_are_split_into_two_stops(sample):
    com, sites = sample
    buses, table = buses_from_anct(sites, com, seed=3)
    b = buses[2]
    windows = sorted({(s.weekday, s.start, s.end) for s in b.stops})
    assert windows == sorted((d, a, e) for d in WEEK[:3] for a, e in (("09:30", "12:45"), ("13:15", "16:30")))
    assert table.loc[table["bus_id"] == "103", "split"].all()
    for s in b.stops:  # within the posted 09:30–16:30
        assert 570 <= parse_clock(s.start) < parse_clock(s.end) <= 990
    assert posted_stops({"mon": [(540, 720)]}) == ([("mon", 540, 720, False)], "posted")
    assert posted_stops({"mon": [(570, 990)]}, split_minutes=None) == ([("mon", 570, 990, False)], "posted")


def test_seeded_and_far_from_fixed_sites(sample):
    com, sites = sample
    a, ta = buses_from_anct(sites, com, seed=3)
    b, _ = buses_from_anct(sites, com, seed=3)
    c, _ = buses_from_anct(sites, com, seed=4)
    assert [x.model_dump() for x in a] == [x.model_dump() for x in b]
    assert [x.model_dump() for x in a] != [x.model_dump() for x in c]
    # adding a bus leaves the others' stops unchanged (one stream per bus)
    d, _ = buses_from_anct(sites[sites["site_id"] != "102"], com, seed=3)
    assert d[0].model_dump() == a[0].model_dump()
    # the communes hosting a fixed site are (almost) never drawn: weight × (2/30)²
    assert not {"23050", "23400"} & set(ta["commune"])
    assert (ta["minutes_to_fixed_site"] > 2.0 + 1e-9).all()


def test_monthly_rotation(sample):
    com, sites = sample
    buses, table = buses_from_anct(sites, com, seed=3, rotation="monthly")
    b = buses[0]
    nth = sorted(s.every.nth for s in b.stops if s.every.nth is not None)
    assert nth == sorted([1, 2, 3, 4] * 5)
    assert len({s.commune for s in b.stops}) == 25 <= 30
    assert table.loc[table["bus_id"] == "101", "every"].str.startswith("monthly").sum() == 20
    with pytest.raises(InputError):
        buses_from_anct(sites, com, rotation="yearly")


def test_yaml_round_trip_into_a_config(sample):
    com, sites = sample
    buses, _ = buses_from_anct(sites, com, seed=3)
    text = buses_yaml(buses, header="generated by a test\nsecond line")
    assert text.startswith("# generated by a test\n# second line\n")
    data = yaml.safe_load(text)
    cfg = config_from_dict({"demand": {"visits_per_open_day": 10}, "buses": data["buses"]})
    def plain(b):  # coordinates are written to 5 decimals (≈1 m)
        d = b.model_dump()
        for k in ("base_lat", "base_lon"):
            d[k] = round(d[k], 5)
        for st in d["stops"]:
            st["lat"], st["lon"] = round(st["lat"], 5), round(st["lon"], 5)
        return d

    assert [plain(b) for b in cfg.buses] == [plain(b) for b in buses]


def test_real_2024_list_for_the_nievre():
    from fssim.sources.anct import load_anct

    sl = load_anct("2024-08", data_dir=SHARED)
    com = communes(400, dep="58")
    com["lat"] = np.random.default_rng(1).uniform(46.65, 47.6, len(com))
    com["lon"] = np.random.default_rng(2).uniform(2.85, 4.2, len(com))
    buses, table = buses_from_anct(sl, com, seed=0)
    real = sl.sites[(sl.sites["dep"] == "58") & sl.sites["mobile"]]
    assert sorted(b.id for b in buses) == sorted(real["site_id"].astype(str))
    for b in buses:
        r = real[real["site_id"].astype(str) == b.id].iloc[0]
        assert (b.base_lat, b.base_lon, b.base) == (r["lat"], r["lon"], r["commune"])
        posted = sum(len(v) for v in r["hours"].values())
        generated = {(s.weekday, s.start) for s in b.stops}
        assert len(generated) >= posted  # one slot per posted interval (more when whole days are split)
        assert 10 <= len({s.commune for s in b.stops}) <= 30
    assert table["status"].eq("generated").all()


def test_bus_rotation_config_is_valid_and_reproducible(capsys):
    """configs/bus-rotation.yaml validates, its stops are communes of the Ariège, and the script that wrote it
    writes the same buses again (else: regenerate it with the command in its header)."""
    import importlib.util

    from fssim.config import load_config
    from fssim.geo.territory import load_territory

    repo = Path(__file__).resolve().parents[1]
    path = repo / "configs" / "bus-rotation.yaml"
    cfg = load_config(path)
    assert cfg.territory.departements == ["09"] and cfg.network.source == "anct"
    assert len(cfg.buses) == 2 and all(b.generated and b.agents == 2 for b in cfg.buses)
    names = load_territory().subset(deps=["09"]).communes.set_index("code")["name"]
    for b in cfg.buses:
        assert b.base in names.index and {s.commune for s in b.stops} <= set(names.index)
        assert all(s.name == names[s.commune] for s in b.stops)
        assert 10 <= len({s.commune for s in b.stops}) <= 15
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# Regenerate:")]
    argv = header[0].split("design_buses.py", 1)[1].split(">")[0].split()
    spec = importlib.util.spec_from_file_location("design_buses", repo / "scripts" / "design_buses.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(argv) == 0
    again = yaml.safe_load(capsys.readouterr().out)
    assert again["buses"] == yaml.safe_load(path.read_text(encoding="utf-8"))["buses"], \
        f"configs/bus-rotation.yaml is stale: regenerate it with {header[0][2:]}"

"""Coverage with buses: a line of villages computed by hand, pooling of stops, dates, JSON, bus or site."""

import json

import numpy as np
import pandas as pd
import pytest

from fssim.geo.bus_coverage import (BusCosts, compare_bus_or_site, coverage_with_buses, frequency_class,
                                stop_places, stop_table)
from fssim.config import Bus, config_from_dict
from fssim.geo.coverage import coverage
from fssim.defaults import SITE_COST_EUR
from fssim.errors import InputError
from fssim.geo.travel import RoadModel

KM_PER_DEGREE = 6371.0088 * np.pi / 180  # along a meridian
FLAT = RoadModel(detour=1.0, speed_dense=60, speed_intermediaire=60, speed_peu_dense=60, speed_tres_peu_dense=60,
                 access_minutes=0)  # one minute per km


def line_of_villages():
    """A … F on one meridian at 0, 8, 25, 40, 52 and 100 km; a site in A."""
    km = [0, 8, 25, 40, 52, 100]
    return pd.DataFrame({
        "code": ["01001", "01002", "01003", "01004", "01005", "01006"],
        "name": list("ABCDEF"),
        "dep": "01", "region": "84",
        "canton": ["K1", "K1", "K2", "K3", "K3", "K4"],
        "lat": [45 + k / KM_PER_DEGREE for k in km],
        "lon": 5.0,
        "population": [1000, 200, 300, 50, 70, 10],
        "density_class": "peu_dense",
    })


def bus(stops, **kw):
    return Bus(id=kw.pop("id", "b1"), stops=stops, **kw)


SITE = pd.DataFrame({"site_id": ["s1"], "lat": [45.0], "lon": [5.0], "commune": ["01001"]})
WEEKLY_C = {"commune": "01003", "weekday": "mon", "start": "09:00", "end": "12:00", "every": "weekly"}
MONTHLY_D = {"commune": "01004", "weekday": "tue", "start": "14:00", "end": "16:30", "every": "monthly"}


def test_line_of_villages_by_hand():
    com = line_of_villages()
    res = coverage_with_buses(com, SITE, [bus([WEEKLY_C, MONTHLY_D])], thresholds=(10, 20), model=FLAT)
    bc = res.by_commune.set_index("name")
    assert bc["site_minutes"].to_numpy() == pytest.approx([0, 8, 25, 40, 52, 100])
    assert bc["stop_minutes"].to_numpy() == pytest.approx([25, 17, 0, 0, 12, 60])
    assert list(bc["stop_frequency"]) == ["weekly", "weekly", "weekly", "monthly", "monthly", "monthly"]
    assert list(bc["access"]) == ["site", "site", "bus", "bus", "bus", "bus"]
    # within 10: C (weekly stop) and D (monthly stop) by bus only
    assert res.population_only_bus[10] == 350
    # within 20: D is also 15 min from C's weekly stop; E only reaches D's monthly stop (12 min)
    assert res.population_only_bus[20] == 420
    freq = res.population_only_bus_by_frequency.set_index("threshold")
    assert freq.loc[10].to_dict() == {"weekly": 300, "fortnightly": 0, "monthly": 50}
    assert freq.loc[20].to_dict() == {"weekly": 350, "fortnightly": 0, "monthly": 70}
    assert res.population_within == {10: 1550, 20: 1620}
    assert res.share_within[20] == pytest.approx(1620 / 1630)
    assert res.cantons_only_bus == ["K2", "K3"] and res.cantons_with_site == 1 and res.cantons_total == 4
    line = json.loads(res.to_json_line())
    fixed_keys = set(json.loads(coverage(com, SITE, thresholds=(10, 20), model=FLAT).to_json_line()))
    assert fixed_keys <= set(line)
    assert line["population_only_bus_within_min"] == {"10": 350, "20": 420}
    assert line["cantons_only_bus"] == 2 and line["bus_stops"] == 2 and line["buses"] == 1
    assert line["population_beyond"] == 10 and line["communes_beyond"] == 1  # F, 60 min from D


def test_stops_at_one_place_are_pooled():
    com = line_of_villages()
    fort = [{"commune": "01005", "weekday": d, "start": "09:00", "end": "12:00", "every": {"weeks": 2, "phase": p}}
            for d, p in (("wed", 0), ("fri", 1))]
    places = stop_places(stop_table([bus(fort)], com))
    assert len(places) == 1 and places["visits_per_year"].iloc[0] == pytest.approx(52)
    assert places["frequency"].iloc[0] == "weekly"
    res = coverage_with_buses(com, SITE, [bus(fort[:1])], thresholds=(10,), model=FLAT)
    assert res.stops["frequency"].tolist() == ["fortnightly"]
    assert res.population_only_bus_by_frequency.iloc[0].to_dict() == {
        "threshold": 10, "weekly": 0, "fortnightly": 70, "monthly": 0}
    assert [frequency_class(v) for v in (52, 26, 17.3, 13, 12)] == [
        "weekly", "fortnightly", "monthly", "monthly", "monthly"]


def test_dates_stop_coordinates_and_no_bus():
    com = line_of_villages()
    late = bus([WEEKLY_C], id="late", opens_on="2025-01-01")
    res = coverage_with_buses(com, SITE, [late], thresholds=(10,), model=FLAT, date="2024-06-01")
    assert res.population_only_bus[10] == 0 and res.n_buses == 0 and len(res.stops) == 0
    res = coverage_with_buses(com, SITE, [late], thresholds=(10,), model=FLAT, date="2025-06-01")
    assert res.population_only_bus[10] == 300
    # a stop's own coordinates win over its commune's: C's stop moved 30 km north of C
    moved = {**WEEKLY_C, "lat": 45 + 55 / KM_PER_DEGREE, "lon": 5.0}
    res = coverage_with_buses(com, SITE, [bus([moved])], thresholds=(10,), model=FLAT)
    assert res.by_commune.set_index("name").loc["C", "stop_minutes"] == pytest.approx(30)
    assert res.population_only_bus[10] == 70  # only E (3 km); D is 15 km away, C 30 km
    # no bus at all: the same as fssim.geo.coverage
    res = coverage_with_buses(com, SITE, [], thresholds=(10, 20), model=FLAT)
    assert res.population_only_bus == {10: 0, 20: 0} and res.cantons_only_bus == []
    assert res.share_within == coverage(com, SITE, thresholds=(10, 20), model=FLAT).share_within


def test_unknown_stop_commune_is_an_input_error():
    com = line_of_villages()
    with pytest.raises(InputError, match="99999"):
        coverage_with_buses(com, SITE, [bus([{**WEEKLY_C, "commune": "99999"}])], model=FLAT)
    with pytest.raises(InputError, match="not a fssim.config.Bus"):
        coverage_with_buses(com, SITE, [{"id": "x"}], model=FLAT)


def test_buses_from_a_config_file():
    cfg = config_from_dict({"demand": {"visits_per_open_day": 10},
                            "buses": [{"id": "b", "stops": [WEEKLY_C, MONTHLY_D]}]})
    res = coverage_with_buses(line_of_villages(), SITE, cfg.buses, thresholds=(10,), model=FLAT)
    assert res.population_only_bus[10] == 350


def test_bus_coverage_has_the_date_sites_and_beyond_of_a_coverage():
    res = coverage_with_buses(line_of_villages(), SITE, [bus([WEEKLY_C])], thresholds=(10, 30), model=FLAT,
                              date="2024-03-01")
    assert res.date == pd.Timestamp("2024-03-01") and list(res.sites["site_id"]) == ["s1"]
    # beyond 30 min of any access point: D (15 min from the stop at C), E (27) are reached, F is not
    assert list(res.beyond["name"]) == ["F"]
    assert res.pseudo_cantons_total == 0


def test_coverage_command_prints_a_table_with_buses():
    from typer.testing import CliRunner

    from conftest import REPO, SHARED_DATA
    from fssim.cli import app

    p = REPO / "configs" / "bus-rotation.yaml"
    res = CliRunner().invoke(app, ["coverage", str(p)], env={"FSSIM_DATA_DIR": str(SHARED_DATA)})
    assert res.exit_code == 0, res.output
    assert "only by bus" in res.output and "cantons with a site" in res.output
    line = CliRunner().invoke(app, ["coverage", str(p), "--json"], env={"FSSIM_DATA_DIR": str(SHARED_DATA)})
    rec = json.loads(line.output.strip().splitlines()[-1])
    assert f"{rec['cantons_with_site']} / {rec['cantons_total']}" in res.output


def test_bus_costs():
    c = BusCosts()
    assert c.yearly() == pytest.approx(60_000 / 8 + 2 * 40_000 + 15_000 + 10_000)
    assert BusCosts(agents=3).yearly() - c.yearly() == pytest.approx(40_000)


def test_compare_bus_or_site():
    rng = np.random.default_rng(2)
    n = 220
    com = pd.DataFrame({
        "code": [f"58{i:03d}" for i in range(n)], "name": [f"V{i}" for i in range(n)], "dep": "58",
        "region": "27", "canton": [f"K{i % 9}" for i in range(n)],
        "lat": rng.uniform(46.8, 47.5, n), "lon": rng.uniform(3.0, 4.0, n),
        "population": rng.integers(50, 3000, n), "density_class": "tres_peu_dense"})
    pick = com.sample(4, random_state=3)
    fixed = pd.DataFrame({"site_id": ["a", "b", "c", "d"], "lat": pick.lat.to_numpy(), "lon": pick.lon.to_numpy(),
                          "commune": pick.code.to_numpy()})
    budget = 240_000
    out = compare_bus_or_site(com, fixed, budget_eur=budget, max_minutes=20)
    assert list(out["option"]) == ["current network", "+2 fixed sites", "+2 buses"]
    assert out["units"].tolist() == [0, budget // SITE_COST_EUR["mean"], budget // BusCosts().yearly()]
    assert (out["yearly_cost_eur"] <= budget).all()
    base = out.iloc[0]
    share = coverage(com, fixed, thresholds=(20,)).share_within[20]
    assert base["population_within_20"] == pytest.approx(share * com.population.sum())
    assert (out["population_within_20"] >= base["population_within_20"]).all()
    sites, buses = out.iloc[1], out.iloc[2]
    assert sites["population_only_bus_within_20"] == 0 and sites["population_added"] > 0
    assert buses["population_fixed_within_20"] == base["population_fixed_within_20"]
    assert buses["population_only_bus_within_20"] == buses["population_added"] > 0
    assert buses[["only_bus_weekly", "only_bus_fortnightly", "only_bus_monthly"]].sum() == buses["population_added"]
    assert buses["cantons_reached"] >= base["cantons_reached"]
    with pytest.raises(InputError):
        compare_bus_or_site(com, fixed, budget_eur=-1)

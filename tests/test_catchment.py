"""Catchments: commune demand reaches sites by geography, at a rate per inhabitant independent of the network."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fssim.catchment import CatchmentProblem
from fssim.config import Catchment
from fssim.travel import RoadModel


def communes_on_a_line(n=20):
    """Communes every ~5.5 km along a parallel, 1,000 inhabitants each, one canton per 7 communes."""
    return pd.DataFrame({
        "code": [f"99{i:03d}" for i in range(n)], "name": [f"c{i}" for i in range(n)],
        "dep": "99", "region": "99", "canton": [f"99{i // 7:02d}" for i in range(n)],
        "lat": 47.0, "lon": 2.0 + 0.073 * np.arange(n), "population": 1000,
        "density_class": "peu_dense", "area_km2": 10.0,
    })


def sites(*specs):
    return pd.DataFrame([{"site_id": s, "lat": 47.0, "lon": lon, "opens_on": o, "closes_on": None}
                         for s, lon, o in specs])


def test_volumes_are_the_rate_per_inhabitant_times_the_decayed_population():
    c = communes_on_a_line()
    s = sites(("west", 2.0, None), ("east", 2.0 + 0.073 * 19, None))
    cp = CatchmentProblem(c, s, Catchment(annual_visits=50_000), RoadModel()).solve([dt.date(2024, 1, 1)],
                                                                                       dt.date(2024, 1, 1))
    # annual_visits is the volume if everyone lived at zero minutes: each commune sends rate × population,
    # halved every 30 minutes of travel (here the line is the whole of "France")
    assert cp.rate_per_inhabitant == pytest.approx(50_000 / c["population"].sum())
    bc = cp.by_commune
    decayed = (bc["population"] * 0.5 ** (bc["minutes"] / 30)).sum()
    assert cp.volumes["visits_per_year"].sum() == pytest.approx(50_000 * decayed / c["population"].sum())
    assert cp.volumes["visits_per_year"].sum() < 50_000
    # symmetric geography: both sites get the same volume; nearest assignment splits the line in two
    v = cp.volumes.set_index("site_id")["visits_per_year"]
    assert v["west"] == pytest.approx(v["east"])
    assert (cp.by_commune.set_index("code").loc["99000", "site_id"]) == "west"


def test_a_new_site_takes_demand_from_its_neighbours_and_creates_some():
    c = communes_on_a_line()
    s = sites(("west", 2.0, None), ("east", 2.0 + 0.073 * 19, None), ("middle", 2.0 + 0.073 * 10, "2024-07-01"))
    spec = Catchment(annual_visits=50_000, decay_half_minutes=30)
    cp = CatchmentProblem(c, s, spec, RoadModel()).solve([dt.date(2024, 1, 1), dt.date(2024, 7, 1)],
                                                           dt.date(2024, 7, 1))
    before = cp.volumes[cp.volumes["start"] == dt.date(2024, 1, 1)].set_index("site_id")["visits_per_year"]
    after = cp.volumes[cp.volumes["start"] == dt.date(2024, 7, 1)].set_index("site_id")["visits_per_year"]
    assert "middle" not in before.index and after["middle"] > 0
    assert after["west"] < before["west"]
    assert after.sum() > before.sum()  # closer sites create more visits (distance decay)
    assert after.sum() < 50_000  # 50,000 would need everyone at zero minutes


def test_gravity_choice_spreads_demand_at_the_same_rate_per_inhabitant():
    c = communes_on_a_line()
    s = sites(("west", 2.0, None), ("east", 2.0 + 0.073 * 19, None))
    near = CatchmentProblem(c, s, Catchment(annual_visits=1000), RoadModel()).solve(
        [dt.date(2024, 1, 1)], dt.date(2024, 1, 1))
    grav = CatchmentProblem(c, s, Catchment(annual_visits=1000, choice="gravity", candidates=2,
                                            beta_per_minute=0.05), RoadModel()).solve(
        [dt.date(2024, 1, 1)], dt.date(2024, 1, 1))
    # the rate per inhabitant does not depend on the network nor on the choice model; gravity sends part of
    # the demand to farther sites, where it decays more
    assert grav.rate_per_inhabitant == near.rate_per_inhabitant
    assert 0 < grav.volumes["visits_per_year"].sum() < near.volumes["visits_per_year"].sum()
    # with gravity the far site gets a share of the westmost commune's demand; with nearest it gets none
    assert near.by_commune.set_index("code").loc["99000", "site_id"] == "west"
    w0 = grav.by_commune.set_index("code").loc["99000", "visits_per_year"]
    assert w0 < near.by_commune.set_index("code").loc["99000", "visits_per_year"]


def test_no_site_open_on_the_reference_date_is_a_clear_error():
    from fssim.errors import InputError
    c = communes_on_a_line()
    s = sites(("late", 2.0, "2030-01-01"))
    with pytest.raises(InputError, match="reference date"):
        CatchmentProblem(c, s, Catchment(), RoadModel()).solve([dt.date(2024, 1, 1)], dt.date(2024, 1, 1))

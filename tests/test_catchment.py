"""Catchments: commune demand reaches sites by geography, at a rate per inhabitant independent of the network."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fssim.demand.catchment import CatchmentProblem
from fssim.config import Catchment
from fssim.geo.travel import RoadModel


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
    cp = CatchmentProblem(c, s, Catchment(model="population", annual_visits=50_000), RoadModel()).solve([dt.date(2024, 1, 1)],
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
    spec = Catchment(model="population", annual_visits=50_000, decay_half_minutes=30)
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
    near = CatchmentProblem(c, s, Catchment(model="population", annual_visits=1000), RoadModel()).solve(
        [dt.date(2024, 1, 1)], dt.date(2024, 1, 1))
    grav = CatchmentProblem(c, s, Catchment(model="population", annual_visits=1000, choice="gravity", candidates=2,
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
        CatchmentProblem(c, s, Catchment(model="population"), RoadModel()).solve([dt.date(2024, 1, 1)],
                                                                                 dt.date(2024, 1, 1))


# -- calibrated model (the default)
from fssim import defaults as D  # noqa: E402

HOURS = {d: "09:00-12:00 / 14:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}  # 30 h a week


def calibrated(s, dates, ref, **spec):
    cp = CatchmentProblem(communes_on_a_line(), s.assign(hours=[HOURS] * len(s)), Catchment(**spec), RoadModel())
    cp.actes_per_visit = 1.5
    return cp.solve(dates, ref)


def test_a_calibrated_volume_is_the_fitted_model_of_its_hours_age_and_density():
    p = D.DEMAND_CALIBRATION["parameters"]
    cp = calibrated(sites(("old", 2.2, None), ("new", 3.0, "2023-07-01")), [dt.date(2024, 1, 1)], dt.date(2024, 1, 1))
    v = cp.volumes.set_index("site_id")["visits_per_year"]
    years = (pd.Timestamp("2024-01-15") - pd.Timestamp(D.DEMAND_CALIBRATION["epoch"])).days / 365.25
    mature = 12 * np.exp(p["level"] + p["growth_per_year"] * years) * np.exp(p["density_peu_dense"]) / 1.5
    assert v["old"] == pytest.approx(mature, rel=1e-6)  # 30 h/week, open before the horizon: no ramp-up
    age = (pd.Timestamp("2024-01-15") - pd.Timestamp("2023-07-01")).days / 30.44
    assert v["new"] == pytest.approx(mature * (1 - np.exp(-(age + 0.5) / p["ramp_months"])), rel=1e-6)


def test_a_new_site_ramps_up_month_by_month_and_its_neighbours_keep_their_volume():
    months = [dt.date(2024, m, 1) for m in range(1, 13)]
    alone = calibrated(sites(("a", 2.2, None)), months, dt.date(2024, 12, 1))
    both = calibrated(sites(("a", 2.2, None), ("b", 2.6, "2024-03-10")), months, dt.date(2024, 12, 1))
    pd.testing.assert_frame_equal(alone.volumes, both.volumes[both.volumes["site_id"] == "a"].reset_index(drop=True))
    b = both.volumes[both.volumes["site_id"] == "b"]
    assert b["start"].iloc[0] == dt.date(2024, 3, 10)  # from its opening day
    assert (np.diff(b["visits_per_year"]) > 0).all()  # ramp-up
    # demand per inhabitant rises near the new site and falls with travel time from it
    ra, rb = (x.by_commune.set_index("code")["visits_per_year"] for x in (alone, both))
    assert rb["99010"] > ra["99010"]
    assert rb.loc["99010":"99019"].is_monotonic_decreasing


def test_communes_share_all_the_volume_of_the_sites_they_reach():
    cp = calibrated(sites(("a", 2.2, None), ("b", 2.9, None)), [dt.date(2024, 1, 1)], dt.date(2024, 1, 1))
    assert cp.by_commune["visits_per_year"].sum() == pytest.approx(cp.volumes["visits_per_year"].sum())
    assert cp.rate_per_inhabitant == pytest.approx(cp.volumes["visits_per_year"].sum() / 20_000)


def test_multiplier_and_annual_visits_override_scale_the_calibrated_volumes():
    s, d = sites(("a", 2.2, None), ("b", 2.9, "2023-01-01")), [dt.date(2024, 1, 1)]
    base = calibrated(s, d, d[0]).volumes["visits_per_year"]
    double = calibrated(s, d, d[0], multiplier=2).volumes["visits_per_year"]
    assert np.allclose(double, 2 * base)
    over = calibrated(s, d, d[0], annual_visits=1e6).volumes["visits_per_year"]
    # population_share 1: the territory stands for France and receives the national override
    assert over.sum() == pytest.approx(1e6) and np.allclose(over / base, over.iloc[0] / base.iloc[0])


def test_calibrated_model_refuses_the_population_rule_options():
    from fssim.errors import InputError
    from fssim.config import config_from_dict
    with pytest.raises(InputError, match="catchment.*only for model: population"):
        config_from_dict({"catchment": {"choice": "gravity"}})
    assert Catchment(model="population", choice="gravity").choice == "gravity"


def test_a_site_table_without_hours_is_a_clear_error():
    from fssim.errors import InputError
    cp = CatchmentProblem(communes_on_a_line(), sites(("a", 2.2, None)), Catchment(), RoadModel())
    with pytest.raises(InputError, match="opening hours"):
        cp.solve([dt.date(2024, 1, 1)], dt.date(2024, 1, 1))

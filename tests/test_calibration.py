"""Calibration of demand per inhabitant on observed actes (fssim.demand.calibration)."""

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATA
from fssim.sources.anct import load_anct
from fssim.demand.calibration import (LOWER, SHAPE, UPPER, CalibrationProblem, Features, predicted_matrix,
                               rate_per_inhabitant, site_volume)
from fssim.geo.territory import load_territory

MONTHS = [pd.Timestamp(m) for m in ("2020-06-01", "2021-03-01", "2021-09-01", "2022-03-01", "2022-09-01",
                                    "2023-06-01")]
TRUE = dict(density_intermediaire=0.4, density_peu_dense=-0.3, density_tres_peu_dense=0.3,
            log_ramp_months=np.log(10.0))


@pytest.fixture(scope="module")
def cantons_as_units():
    """Three départements whose cantons stand in for départements: many small units, seconds to fit."""
    territory = load_territory().subset(deps=["12", "46", "82"])
    communes = territory.communes.assign(dep=territory.communes["canton"])
    sites = load_anct("2024-08", data_dir=SHARED_DATA).sites
    sites = sites[sites["dep"].isin(["12", "46", "82"])]
    canton = dict(zip(territory.communes["code"], territory.communes["canton"]))
    sites = sites.assign(dep=sites["commune"].map(canton).fillna(sites["dep"]))
    return Features.build(communes, sites, MONTHS)


def observed_from(features, shape, noise, seed=3):
    matrix = predicted_matrix(features, shape) * np.exp(np.random.default_rng(seed).normal(0, noise, (len(features.deps), len(features.months))))
    return pd.DataFrame({"dep": np.repeat(features.deps, len(features.months)),
                         "month": np.tile(np.array(features.months, dtype="datetime64[ns]"), len(features.deps)),
                         "actes": matrix.ravel()})


def test_fit_recovers_the_parameters_the_data_were_simulated_with(cantons_as_units):
    shape = np.array([TRUE[name] for name in SHAPE])
    problem = CalibrationProblem(cantons_as_units, observed_from(cantons_as_units, shape, 0.02))
    fitted, _ = problem.fit_shape()
    for i, name in enumerate(SHAPE):
        assert fitted[i] == pytest.approx(shape[i], abs=0.1 * abs(shape[i]) + 0.02), name
    residuals = problem._residuals(fitted, *problem._cells(cantons_as_units.deps))
    assert np.median(np.abs(residuals)) < 0.03  # the simulated shares are reproduced up to the noise


def test_solve_reports_fit_uncertainty_and_a_calibration_file(cantons_as_units, tmp_path):
    shape = np.array([TRUE[name] for name in SHAPE])
    problem = CalibrationProblem(cantons_as_units, observed_from(cantons_as_units, shape, 0.05)).solve(folds=3)
    model, baseline = problem.cross_validated["model"], problem.cross_validated["population_rule"]
    assert model["median_abs_log_error"] < 0.1 < baseline["median_abs_log_error"]
    assert model["log_correlation"] > 0.95
    assert all(np.isfinite(problem.standard_errors[name]) for name in SHAPE)
    saved = pd.read_json(problem.save(tmp_path / "c.json"), typ="series")
    assert set(saved["parameters"]) >= set(SHAPE)


def tiny_features(sites):
    communes = pd.DataFrame({"code": ["a", "b", "c"], "dep": "01", "lat": [45.0, 45.0, 45.3],
                             "lon": [5.0, 5.2, 5.0], "population": [1000, 1000, 1000],
                             "density_class": "peu_dense"})
    return Features.build(communes, sites, [pd.Timestamp("2021-01-01"), pd.Timestamp("2021-06-01")])


def site_table(*rows):
    return pd.DataFrame([dict(site_id=i, dep="01", lat=lat, lon=lon, labelled_on=pd.Timestamp(day),
                              weekly_hours=30.0, mobile=False, role="principal")
                         for i, (lat, lon, day) in enumerate(rows)])


def test_demand_falls_with_travel_time():
    features = tiny_features(site_table((45.0, 5.0, "2020-01-01")))
    shape = np.array([TRUE[name] for name in SHAPE])
    r = rate_per_inhabitant(features, 0, shape)
    assert features.nearest_minutes[0][0] < features.nearest_minutes[0][1]
    assert r[0] > r[1] > 0  # same commune but farther from the site


def test_demand_rises_near_a_new_site():
    features = tiny_features(site_table((45.0, 5.0, "2020-01-01"), (45.3, 5.0, "2021-03-01")))
    shape = np.array([TRUE[name] for name in SHAPE])
    before, after = rate_per_inhabitant(features, 0, shape), rate_per_inhabitant(features, 1, shape)
    assert after[2] > 1.5 * before[2]  # commune c gets its own site in March 2021


def test_demand_per_inhabitant_adds_up_to_the_actes_of_the_sites(cantons_as_units):
    shape = np.array([TRUE[name] for name in SHAPE])
    pop = cantons_as_units.communes["population"].to_numpy()
    for month in (0, len(MONTHS) - 1):
        volume = site_volume(cantons_as_units, month, shape)
        assert np.sum(pop * rate_per_inhabitant(cantons_as_units, month, shape)) == pytest.approx(volume.sum())
    # a site's actes grow with its age: the ramp-up
    young = site_volume(cantons_as_units, 0, shape)
    old = site_volume(cantons_as_units, len(MONTHS) - 1, shape)
    both = young > 0
    assert np.all(old[both] > young[both])


@pytest.fixture(scope="module")
def real_fit():
    from fssim.demand.calibration import calibrate

    return calibrate(SHARED_DATA, folds=3)


def test_cross_validated_fit_on_the_real_data_beats_the_population_rule(real_fit):
    model, baseline = real_fit.cross_validated["model"], real_fit.cross_validated["population_rule"]
    # floor: the population rule scores ≈ 0.46 / 0.49 out of sample; the model must do much better
    assert model["median_abs_log_error"] < 0.25 < baseline["median_abs_log_error"]
    assert model["log_correlation"] > 0.75 > baseline["log_correlation"]
    national = real_fit.national_fit.set_index("month")["ratio"]
    assert national.between(0.7, 1.4).all()


def test_real_fit_is_identified_no_parameter_at_a_bound(real_fit):
    shape = np.array([real_fit.parameters[name] for name in SHAPE])
    width = UPPER - LOWER
    assert np.all(shape > LOWER + 0.02 * width) and np.all(shape < UPPER - 0.02 * width)
    se = np.array([real_fit.standard_errors[name] for name in SHAPE])
    assert np.all(np.isfinite(se)) and np.all(se < 0.5 * width)


def test_the_shipped_default_is_what_fssim_calibrate_fits_on_the_shared_data(real_fit):
    """The fitted numbers in fssim.defaults are the calibration's, to their printed precision (refit and copy
    them when the data or the model change); the data they were fitted on are the ones in the data directory."""
    from fssim.defaults import DEMAND_CALIBRATION

    shipped = DEMAND_CALIBRATION["parameters"]
    for name, value in shipped.items():
        assert real_fit.parameters[name] == pytest.approx(value, rel=1e-3, abs=1e-5), name
    assert DEMAND_CALIBRATION["provenance"]["sources"] == real_fit.sources

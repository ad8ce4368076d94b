"""Every problem object has one shape (as PySAL spopt's): built from data, `.solve()` returns the problem,
results as documented attributes (None before solving) and DataFrames."""
import datetime as dt
import inspect

import numpy as np
import pandas as pd
import pytest

from conftest import queue_config
from fssim.config import Bus, Catchment, config_from_dict
from fssim.demand.calibration import SHAPE, CalibrationProblem, Features, predicted_matrix
from fssim.demand.catchment import CatchmentProblem
from fssim.experiment.staffing import StaffingProblem
from fssim.geo.travel import RoadModel
from fssim.network.placement import PlacementProblem
from fssim.network.rotation import RotationDesign

DENSITIES = ["dense", "intermediaire", "peu_dense", "tres_peu_dense"]


def communes(n=60, seed=0, size=0.5, deps=("01", "02", "03")):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "code": [f"{10000 + i}" for i in range(n)], "name": [f"Commune {i}" for i in range(n)],
        "dep": [deps[i % len(deps)] for i in range(n)], "region": "84", "canton": [f"K{i % 5}" for i in range(n)],
        "lat": rng.uniform(45.0, 45.0 + size, n), "lon": rng.uniform(5.0, 5.0 + 1.4 * size, n),
        "population": rng.lognormal(6, 1.0, n).round().astype(np.int64) + 1,
        "density_class": rng.choice(DENSITIES, n), "area_km2": 10.0,
    })


def sites_in(com, rows, **columns):
    picked = com.iloc[list(rows)]
    return pd.DataFrame({"site_id": [f"s{i}" for i in range(len(picked))], "lat": picked["lat"].to_numpy(),
                         "lon": picked["lon"].to_numpy(), "commune": picked["code"].to_numpy(),
                         "dep": picked["dep"].to_numpy(), **columns})


def placement():
    return PlacementProblem(communes(), n_sites=4, max_minutes=15), lambda p: p.solve(method="greedy")


def rotation():
    com = communes(size=0.8)
    return (RotationDesign(com, n_buses=1, fixed_sites=sites_in(com, range(3)), max_minutes=15),
            lambda p: p.solve())


def catchment():
    com = communes()
    sites = sites_in(com, range(0, 60, 10), opens_on=None, closes_on=None)
    spec = Catchment(model="population", annual_visits=50_000)
    day = dt.date(2024, 1, 1)
    return CatchmentProblem(com, sites, spec, RoadModel()), lambda p: p.solve([day], day)


def calibration():
    com = communes()
    months = [pd.Timestamp(m) for m in ("2021-01-01", "2021-09-01", "2022-06-01", "2023-03-01")]
    sites = sites_in(com, range(0, 60, 5), labelled_on=pd.to_datetime(["2020-01-01", "2021-06-01"] * 6),
                     weekly_hours=30.0, mobile=False, role="principal")
    features = Features.build(com, sites, months)
    shape = np.array([0.4, -0.3, 0.3, np.log(10.0)])[:len(SHAPE)]
    matrix = predicted_matrix(features, shape)
    observed = pd.DataFrame({"dep": np.repeat(features.deps, len(months)),
                             "month": np.tile(np.array(months, dtype="datetime64[ns]"), len(features.deps)),
                             "actes": matrix.ravel()})
    national = pd.DataFrame({"month": months, "actes": 1e6 * np.array([1.0, 1.1, 1.2, 1.3])})
    return CalibrationProblem(features, observed, national), lambda p: p.solve(folds=2)


def staffing():
    cfg = config_from_dict(queue_config(agents=2, rate_per_hour=6.0, service={"dist": "exponential", "mean": 10.0},
                                        patience=None, days=8, warmup_days=1, replications=2, seed=3))
    return StaffingProblem(cfg, target="p90_wait_min<=30", replications=2, min_agents=1, max_agents=4), \
        lambda p: p.solve()


# problem → its results after solving and their types (what its docstring promises)
CASES = {
    "placement": (placement, {"selected": pd.DataFrame, "covered": np.ndarray, "covered_population": int,
                              "share_covered": float, "cantons_without_site": list, "method": str,
                              "objective_trace": list, "solve_seconds": float}),
    "rotation": (rotation, {"buses": list, "stops": pd.DataFrame, "timetable": pd.DataFrame,
                            "dropped": pd.DataFrame, "uncovered": pd.DataFrame, "bases": pd.DataFrame,
                            "covered_population": int, "added_population": int, "population_beyond_fixed": int,
                            "n_stops": int, "n_communes": int}),
    "catchment": (catchment, {"volumes": pd.DataFrame, "by_commune": pd.DataFrame, "origins": pd.DataFrame,
                              "rate_per_inhabitant": float}),
    "calibration": (calibration, {"parameters": dict, "standard_errors": dict, "in_sample": dict,
                                  "cross_validated": dict, "national_fit": pd.DataFrame,
                                  "departements": pd.DataFrame}),
    "staffing": (staffing, {"staffing": pd.DataFrame, "rounds": pd.DataFrame, "totals": dict}),
}


def unset(value) -> bool:
    return value is None or (isinstance(value, (dict, list)) and not value)


@pytest.mark.parametrize("name", CASES)
def test_a_problem_is_built_from_data_solved_in_place_and_read_from_attributes(name):
    build, results = CASES[name]
    problem, solve = build()
    cls = type(problem)
    doc = inspect.getdoc(cls) or ""
    assert callable(getattr(cls, "solve", None)), f"{cls.__name__} has no solve()"
    for attr in results:
        assert f"`{attr}`" in doc, f"{cls.__name__}.{attr} is not documented in the class docstring"
        assert hasattr(problem, attr) and unset(getattr(problem, attr)), \
            f"{cls.__name__}.{attr} should be declared (None) before solve()"
    assert solve(problem) is problem, f"{cls.__name__}.solve() must return the problem itself"
    for attr, kind in results.items():
        value = getattr(problem, attr)
        assert isinstance(value, kind) and not isinstance(value, bool), f"{cls.__name__}.{attr}: {type(value)}"
        if isinstance(value, pd.DataFrame) and attr not in ("dropped", "uncovered"):
            assert len(value) > 0, f"{cls.__name__}.{attr} is empty on the small case"
    if name == "rotation":
        assert all(isinstance(b, Bus) for b in problem.buses) and len(problem.buses) == 1

"""Road-time model, user travel matrices and nearest-site search."""

import math

import numpy as np
import pandas as pd
import pytest

from fssim.errors import InputError
from fssim.geo.travel import (EARTH_RADIUS_KM, RoadModel, TravelMatrix, haversine_km, km_to_chord, chord_to_km,
                          travel_times)

CLASSES = ["dense", "intermediaire", "peu_dense", "tres_peu_dense"]


def make_communes(n, seed=0, box=(45.0, 46.0, 2.0, 3.5)):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "code": [f"{1000 + i:05d}" for i in range(n)],
        "name": [f"Commune {i}" for i in range(n)],
        "lat": rng.uniform(box[0], box[1], n),
        "lon": rng.uniform(box[2], box[3], n),
        "density_class": rng.choice(CLASSES, n),
        "population": rng.integers(50, 20_000, n),
    })


def make_sites(m, seed=1, box=(45.0, 46.0, 2.0, 3.5)):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"site_id": [f"S{j}" for j in range(m)],
                         "lat": rng.uniform(box[0], box[1], m), "lon": rng.uniform(box[2], box[3], m)})


def test_haversine_known_distances():
    # Paris (Notre-Dame) – Lyon (Bellecour): about 392 km as the crow flies
    assert 388 < haversine_km(48.853, 2.350, 45.758, 4.832) < 396
    # one degree of latitude along a meridian
    assert haversine_km(45.0, 3.0, 46.0, 3.0) == pytest.approx(EARTH_RADIUS_KM * math.pi / 180, rel=1e-9)
    assert haversine_km(10.0, 20.0, 10.0, 20.0) == 0.0
    km = np.array([0.0, 1.0, 25.0, 700.0])
    assert np.allclose(chord_to_km(km_to_chord(km)), km)


def test_road_minutes_formula_and_broadcast():
    m = RoadModel()
    d_lat = 10.0 / (EARTH_RADIUS_KM * math.pi / 180)  # 10 km north
    t = m.minutes([45.0, 45.0], [3.0, 3.0], ["dense", "tres_peu_dense"], [45.0, 45.0 + d_lat], [3.0, 3.0])
    assert t.shape == (2, 2)
    assert t[0, 0] == pytest.approx(m.access_minutes)
    assert t[0, 1] == pytest.approx(2 + 60 * 1.3 * 10 / 25)
    assert t[1, 1] == pytest.approx(2 + 60 * 1.3 * 10 / 65)
    slow = RoadModel(detour=1.4, speed_dense=20, access_minutes=0)
    assert slow.minutes(45.0, 3.0, "dense", 45.0 + d_lat, 3.0)[0, 0] == pytest.approx(60 * 1.4 * 10 / 20)
    # km_within is the inverse of the time formula
    assert m.minutes_from_km(m.km_within(30, 55.0), 55.0) == pytest.approx(30)


def test_road_model_rejects_bad_parameters_and_classes():
    with pytest.raises(InputError, match="detour"):
        RoadModel(detour=0.9)
    with pytest.raises(InputError, match="speed"):
        RoadModel(speed_peu_dense=0)
    with pytest.raises(InputError, match="rural"):
        RoadModel().minutes([45.0], [3.0], ["rural"], [45.1], [3.0])


def test_kdtree_nearest_equals_brute_force():
    com, sites = make_communes(300, seed=3), make_sites(40, seed=4)
    model = RoadModel()
    res = travel_times(com, sites, model, k=3)
    full = model.minutes(com.lat, com.lon, com.density_class, sites.lat, sites.lon)
    expect = np.sort(full, axis=1)[:, :3]
    assert res.minutes.shape == (300, 3)
    assert np.allclose(res.minutes, expect, rtol=1e-9)
    best = sites.site_id.to_numpy()[full.argmin(axis=1)]
    assert (res.nearest_site == best).mean() > 0.99  # equal but for exact ties
    assert list(res.codes) == list(com.code)
    long = res.to_frame()
    assert len(long) == 900 and set(long["rank"]) == {1, 2, 3}


def test_generic_model_goes_through_chunks_and_agrees():
    class Shifted:  # any object with RoadModel's .minutes signature
        def minutes(self, olat, olon, odens, dlat, dlon):
            return RoadModel(detour=1.2).minutes(olat, olon, odens, dlat, dlon) + 1.0

    com, sites = make_communes(120, seed=5), make_sites(15, seed=6)
    a = travel_times(com, sites, Shifted(), k=2)
    b = travel_times(com, sites, RoadModel(detour=1.2), k=2)
    assert np.allclose(a.minutes, b.minutes + 1.0)


def test_more_neighbours_than_sites_and_no_site():
    com, sites = make_communes(10), make_sites(2)
    res = travel_times(com, sites, k=4)
    assert np.isfinite(res.minutes[:, :2]).all() and np.isinf(res.minutes[:, 2:]).all()
    assert all(x is None for x in res.site_ids[:, 2:].ravel())
    empty = travel_times(com, sites.iloc[0:0], k=1)
    assert np.isinf(empty.nearest_minutes).all()


def test_missing_coordinates_are_an_input_error():
    com = make_communes(5)
    com.loc[2, "lat"] = np.nan
    with pytest.raises(InputError, match="01002"):
        travel_times(com, make_sites(3))


def write_matrix(tmp_path, rows, name="times.csv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=["origin", "destination", "minutes"]).to_csv(path, index=False)
    return path


def test_user_matrix_nearest_and_missing_communes(tmp_path):
    com = pd.DataFrame({"code": ["01033", "01034", "2A004"], "lat": [45.0, 45.1, 41.9], "lon": [5.0, 5.1, 8.7],
                        "density_class": "peu_dense", "population": [100, 200, 300]})
    sites = pd.DataFrame({"site_id": ["a", "b", "c"], "lat": [45.0, 45.2, 41.9], "lon": [5.0, 5.2, 8.7]})
    path = write_matrix(tmp_path, [("01033", "a", 12.5), ("01033", "b", 7.0), ("01034", "a", 40.0),
                                   ("01034", "c", 3.0)])
    tm = TravelMatrix.from_file(path, communes=com, sites=sites)
    assert tm.table["origin"].iloc[0] == "01033"  # leading zero kept
    res = travel_times(com, sites, tm, k=2)
    assert list(res.nearest_site) == ["b", "c", None]
    assert res.nearest_minutes[0] == 7.0 and res.minutes[0, 1] == 12.5
    assert res.missing == ["2A004"]  # reported, not silently dropped
    # only open sites count: without c, 01034 falls back to a
    res2 = travel_times(com, sites[sites.site_id != "c"], tm)
    assert res2.nearest_site[1] == "a" and res2.nearest_minutes[1] == 40.0
    assert res2.missing == ["2A004"]


def test_user_matrix_parquet(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"origin": ["01033"], "destination": ["a"], "minutes": [5.0]}).to_parquet(path)
    tm = TravelMatrix.from_file(path)
    assert tm.table.to_dict("records") == [{"origin": "01033", "destination": "a", "minutes": 5.0}]


@pytest.mark.parametrize("rows, kwargs, pattern", [
    ([("01033", "a", -1.0)], {}, r"times\.csv: minutes: negative travel time at line 2"),
    ([("01033", "a", 1.0), ("01033", "a", 2.0)], {}, r"origin: .*given twice.*line 3"),
    ([("01033", "a", 1.0), ("99999", "a", 2.0)], {"communes": True}, r"origin: unknown commune code '99999' at line 3"),
    ([("01033", "zz", 1.0)], {"sites": True}, r"destination: unknown site id 'zz' at line 2"),
    ([("01033", "a", "abc")], {}, r"minutes: not a finite number at line 2"),
])
def test_user_matrix_errors_name_file_column_row(tmp_path, rows, kwargs, pattern):
    path = write_matrix(tmp_path, rows)
    com = pd.DataFrame({"code": ["01033"]}) if kwargs.get("communes") else None
    sites = pd.DataFrame({"site_id": ["a"]}) if kwargs.get("sites") else None
    with pytest.raises(InputError, match=pattern):
        TravelMatrix.from_file(path, communes=com, sites=sites)


def test_user_matrix_missing_column_and_file(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"origin": ["01033"], "site": ["a"], "minutes": [1]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"bad\.csv: missing column\(s\) \['destination'\]"):
        TravelMatrix.from_file(path)
    with pytest.raises(InputError, match="not found"):
        TravelMatrix.from_file(tmp_path / "nope.csv")


def test_compiled_chords_are_numpys_to_the_bit():
    """fssim.geo.chords (placement's inner loop) gives np.linalg.norm's lengths exactly, so placement is unchanged."""
    import numpy as np
    from fssim.geo.chords import chords_from
    from fssim.geo.travel import unit_vectors

    rng = np.random.default_rng(7)
    u = unit_vectors(rng.uniform(-21.5, 51.2, 200_000), rng.uniform(-61.9, 55.9, 200_000))
    for v in u[rng.integers(0, len(u), 5)]:
        assert np.array_equal(chords_from(np.ascontiguousarray(u), v), np.linalg.norm(u - v, axis=1))

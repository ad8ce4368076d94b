"""The embedded territory: consistency of communes, cantons, départements, régions, outlines."""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fssim.errors import InputError
from fssim.geo.territory import DATA_DIR, DENSITY_CLASSES, Territory, load_territory

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FSSIM_DATA_DIR", REPO.parent / "shared" / "data"))

# (lat min, lat max, lon min, lon max) of each part of France.
BOUNDS = {
    "metro": (41.3, 51.2, -5.2, 9.6),
    "971": (15.8, 16.55, -61.85, -60.95),
    "972": (14.35, 14.9, -61.25, -60.8),
    "973": (2.1, 5.8, -54.65, -51.6),
    "974": (-21.4, -20.85, 55.2, 55.85),
    "976": (-13.05, -12.6, 44.95, 45.35),
    "978": (18.0, 18.15, -63.16, -62.97),
}


@pytest.fixture(scope="module")
def territory() -> Territory:
    return load_territory()


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads((DATA_DIR / "territory.json").read_text(encoding="utf-8"))


def test_commune_codes_unique_and_well_formed(territory):
    codes = territory.communes.code
    assert codes.is_unique
    assert codes.str.fullmatch(r"\d{5}|2[AB]\d{3}").all()
    assert codes.str[:2].isin(["2A", "2B"]).sum() > 300  # Corse kept with its letter codes


def test_column_types(territory):
    c = territory.communes
    assert c.lat.dtype == np.float64 and c.lon.dtype == np.float64 and c.area_km2.dtype == np.float64
    assert c.population.dtype == np.int64
    for col in ("code", "name", "dep", "region", "canton", "epci", "coord_source", "density_class"):
        assert pd.api.types.is_string_dtype(c[col]), col
    assert (c.name != "").all()
    assert c.epci.str.fullmatch(r"|\d{9}").all()
    assert (c.epci == "").sum() < 10  # only a few islands are in no EPCI


def test_every_commune_in_one_canton_and_one_departement(territory):
    c, cantons, deps = territory.communes, territory.cantons, territory.departements
    assert cantons.code.is_unique and deps.code.is_unique
    assert c.canton.isin(cantons.code).all()
    assert c.dep.isin(deps.code).all()
    # A commune's canton lies in the commune's département: no exception.
    canton_dep = c.canton.map(cantons.set_index("code").dep)
    assert (canton_dep == c.dep).all(), c[canton_dep != c.dep].head()
    region_of_dep = c.dep.map(deps.set_index("code").region)
    assert (region_of_dep == c.region).all()
    assert c.region.isin(territory.regions.code).all()
    # The pseudo-cantons added by the build are only where the source has no canton.
    pseudo = cantons[cantons.type == "P"]
    assert set(pseudo.dep) <= {"69", "972", "973", "978"}
    assert set(cantons.type) <= {"C", "V", "N", "P"}


def test_canton_population_is_the_sum_of_its_communes(territory):
    sums = territory.communes.groupby("canton").population.sum()
    cantons = territory.cantons.set_index("code")
    assert (cantons.population == sums.reindex(cantons.index)).all()
    assert (cantons.population > 0).all()
    assert (cantons.type == "C").sum() > 1700  # ~2,000 cantons, minus those of split cities


def _source_total(codes: set[str]) -> int | None:
    """Population total of the npm source, if its tarball is given by FSSIM_ETALAB_TGZ."""
    tgz = os.environ.get("FSSIM_ETALAB_TGZ")
    if not tgz or not Path(tgz).is_file():
        return None
    with tarfile.open(tgz) as tf:
        communes = json.load(tf.extractfile("package/data/communes.json"))
    return sum(c["population"] for c in communes
               if c["type"] == "commune-actuelle" and c["code"] in codes)


def test_population_total_matches_source(territory, meta):
    total = int(territory.communes.population.sum())
    source = _source_total(set(territory.communes.code)) or meta["totals"]["source_population"]
    assert abs(total - source) / source < 0.01
    assert 66_000_000 < total < 71_000_000  # France without the Pacific COM, 2020s
    assert (territory.communes.population >= 0).all()
    paris = territory.communes.set_index("code").loc["75056"]
    assert 2_000_000 < paris.population < 2_300_000


def test_coordinates_inside_france(territory):
    c = territory.communes
    part = c.dep.where(c.dep.str.len() == 3, "metro")
    assert set(part) == set(BOUNDS)
    for name, (lat0, lat1, lon0, lon1) in BOUNDS.items():
        sub = c[part == name]
        inside = sub.lat.between(lat0, lat1) & sub.lon.between(lon0, lon1)
        assert inside.all(), (name, sub[~inside].head())


def test_coordinates_are_mostly_town_halls(territory):
    src = territory.communes.coord_source.value_counts()
    assert set(src.index) <= {"mairie", "polygon", "postcode_neighbours", "manual"}
    assert src["mairie"] / src.sum() > 0.9
    assert src.get("postcode_neighbours", 0) + src.get("manual", 0) < 20


def test_density_classes_follow_the_documented_thresholds(territory, meta):
    c = territory.communes
    assert set(c.density_class) <= set(DENSITY_CLASSES)
    th = meta["density_thresholds"]
    d = c.population / c.area_km2
    expected = np.select(
        [(d >= th["dense"]) & (c.population >= th["dense_min_population"]),
         d >= th["intermediaire"], d >= th["peu_dense"]],
        ["dense", "intermediaire", "peu_dense"], "tres_peu_dense")
    assert (c.density_class.to_numpy() == expected).all()
    # Close to INSEE's shares of the population (38 / 30 / 29 / 4 %), within 6 points.
    shares = c.groupby("density_class").population.sum() / c.population.sum()
    for cls, insee in zip(DENSITY_CLASSES, (0.38, 0.30, 0.29, 0.04)):
        assert abs(shares[cls] - insee) < 0.06, (cls, shares[cls])
    assert c.set_index("code").loc["75056", "density_class"] == "dense"


def test_areas(territory):
    c = territory.communes
    assert (c.area_km2 > 0).all()
    metro = c[c.dep.str.len() == 2].area_km2.sum()
    assert 540_000 < metro < 555_000  # metropolitan France, about 544,000-550,000 km²
    assert 100 < c.set_index("code").loc["75056", "area_km2"] < 110  # Paris, 105.4 km²
    assert 80_000 < c[c.dep == "973"].area_km2.sum() < 86_000  # Guyane, 83,534 km²


def test_departements_regions_and_outlines(territory):
    deps = territory.departements
    assert len(deps) >= 101
    assert {"01", "2A", "2B", "95", "971", "972", "973", "974", "976"} <= set(deps.code)
    assert len(territory.regions) >= 18
    features = territory.outlines["features"]
    ids = [f["id"] for f in features]
    assert len(ids) == len(set(ids))
    assert set(deps.code) - set(ids) <= {"978"}  # Saint-Martin has no polygon in the sources
    for f in features:
        assert f["properties"]["code"] == f["id"]
        assert f["properties"]["name"] == deps.set_index("code").name[f["id"]]
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_population_vintage_is_recorded(territory):
    assert re.search(r"populations légales 20\d\d", territory.population_vintage)


def test_subset_by_departements_and_regions(territory):
    corse = territory.subset(deps=["2A", "2B"])
    assert set(corse.communes.dep) == {"2A", "2B"}
    assert set(corse.cantons.dep) == {"2A", "2B"}
    assert corse.communes.canton.isin(corse.cantons.code).all()
    assert [f["id"] for f in corse.outlines["features"]] == ["2A", "2B"]
    assert list(corse.regions.code) == ["94"]
    by_region = territory.subset(regions=["94"])
    assert by_region.communes.code.tolist() == corse.communes.code.tolist()
    both = territory.subset(deps=["75"], regions=["94"])
    assert set(both.communes.dep) == {"2A", "2B", "75"}
    assert territory.subset() is territory
    assert len(territory.communes) > len(corse.communes)  # the original is untouched
    with pytest.raises(InputError, match="99"):
        territory.subset(deps=["99"])


def test_current_code_resolves_old_and_arrondissement_codes(territory):
    got = territory.current_code(["75112", "13201", "69388", "01001", "00000"]).tolist()
    assert got == ["75056", "13055", "69123", "01001", ""]


def test_every_france_services_site_is_in_a_known_commune(territory):
    sites = pd.read_csv(SHARED_DATA / "france-services-2024-08.csv", dtype=str)
    codes = territory.current_code(sites.insee_com)
    assert (codes != "").all(), sites.insee_com[codes == ""].tolist()
    assert sites.insee_dep.isin(territory.departements.code).all()
    # Sites lie near the point of their commune (a few large communes reach ~20 km).
    c = territory.communes.set_index("code").loc[codes]
    dist_km = np.hypot(sites.latitude.astype(float).to_numpy() - c.lat.to_numpy(),
                       (sites.longitude.astype(float).to_numpy() - c.lon.to_numpy())
                       * np.cos(np.radians(c.lat.to_numpy()))) * 111.2
    assert np.median(dist_km) < 1.0 and dist_km.max() < 40


def test_load_is_cached(territory):
    assert load_territory() is territory
    assert load_territory(DATA_DIR) is territory


def _copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "territory"
    shutil.copytree(DATA_DIR, target, ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    return target


def test_user_directory_missing_column_names_file_and_column(tmp_path):
    d = _copy_data(tmp_path)
    cantons = pd.read_parquet(d / "cantons.parquet").drop(columns=["type"])
    cantons.to_parquet(d / "cantons.parquet")
    with pytest.raises(InputError, match=r"cantons\.parquet.*type"):
        load_territory(d)


def test_user_directory_missing_file_is_named(tmp_path):
    d = _copy_data(tmp_path)
    (d / "regions.parquet").unlink()
    with pytest.raises(InputError, match=r"regions\.parquet"):
        load_territory(d)
    with pytest.raises(InputError, match="not found"):
        load_territory(tmp_path / "nowhere")


def test_user_directory_bad_values_are_reported(tmp_path):
    d = _copy_data(tmp_path)
    communes = pd.read_parquet(d / "communes.parquet")
    communes.loc[0, "density_class"] = "urbain"
    communes.to_parquet(d / "communes.parquet")
    with pytest.raises(InputError, match=r"communes\.parquet.*density_class"):
        load_territory(d)
    communes.loc[0, "density_class"] = "dense"
    communes.loc[0, "canton"] = "XXXX"
    communes.to_parquet(d / "communes.parquet")
    with pytest.raises(InputError, match=r"canton.*XXXX"):
        load_territory(d)


def test_user_directory_loads_a_smaller_territory(tmp_path):
    d = _copy_data(tmp_path)
    small = load_territory().subset(deps=["48"])
    small.communes.to_parquet(d / "communes.parquet")
    small.cantons.to_parquet(d / "cantons.parquet")
    (d / "commune_aliases.parquet").unlink()  # optional file
    t = load_territory(d)
    assert set(t.communes.dep) == {"48"} and len(t.communes) == len(small.communes)
    assert t.aliases.empty
    assert t.current_code(["75112"]).tolist() == [""]

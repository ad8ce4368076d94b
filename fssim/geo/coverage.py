"""Coverage of the population by a network of sites: who lives within 10, 20, 30 minutes of a site.

`coverage(communes, sites, ...)` takes the sites open on a date, finds each commune's nearest site
(`fssim.geo.travel.travel_times`) and summarises the population within each threshold, nationally, by
département and by région, together with the cantons that host at least one site (the programme's
"one France services per canton" goal). Official cantons are counted apart from the pseudo-cantons of
communes outside any canton (type ``P`` of the cantons table: Métropole de Lyon, Martinique, Guyane,
Saint-Martin), which would otherwise inflate the goal's denominator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from fssim.errors import InputError
from fssim.geo.travel import RoadModel, codes_of, travel_times, unit_vectors

COMMUNE_COLUMNS = ("code", "lat", "lon", "density_class", "population", "dep", "canton")


def check_communes(communes: pd.DataFrame) -> None:
    """Raise InputError when the communes table lacks a column coverage needs."""
    missing = [c for c in COMMUNE_COLUMNS if c not in communes.columns]
    if missing:
        raise InputError(f"missing column(s) {missing} in the communes table (see fssim.geo.territory)",
                         field=missing[0])
    pop = pd.to_numeric(communes["population"], errors="coerce")
    if pop.isna().any() or (pop < 0).any():
        bad = list(codes_of(communes.loc[pop.isna() | (pop < 0), "code"].head(5)))
        raise InputError(f"population missing or negative for communes {bad}", field="population")


def to_timestamp(value, what: str = "date") -> pd.Timestamp | None:
    """A date given as text, date or Timestamp; None stays None."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"not a date: {value!r}; use YYYY-MM-DD", field=what) from exc
    if pd.isna(ts):
        raise InputError(f"not a date: {value!r}; use YYYY-MM-DD", field=what)
    return ts.normalize()


def _date_column(sites: pd.DataFrame, col: str) -> pd.Series:
    if col not in sites.columns:
        return pd.Series(pd.NaT, index=sites.index, dtype="datetime64[ns]")
    raw = sites[col]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = pd.to_datetime(raw.astype(object), errors="coerce", format="ISO8601")
    bad = parsed.isna() & raw.notna() & (raw.astype(object).map(lambda v: str(v).strip()) != "")
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise InputError(f"site {sites['site_id'].iloc[i]!r}: not a date {raw.iloc[i]!r}; use YYYY-MM-DD "
                         f"(blank = always open)", field=col)
    return parsed.dt.tz_localize(None) if getattr(parsed.dt, "tz", None) is not None else parsed


def open_sites(sites: pd.DataFrame, date=None) -> pd.DataFrame:
    """Sites open on `date`: opens_on ≤ date < closes_on, a blank (NaT) bound being unbounded.

    Without an `opens_on` column the ANCT labelling date `labelled_on` serves. With date=None every site
    is kept.
    """
    if "site_id" not in sites.columns:
        raise InputError("missing column 'site_id' in the sites table", field="site_id")
    day = to_timestamp(date)
    if day is None:
        return sites.copy()
    start = "opens_on" if "opens_on" in sites.columns or "labelled_on" not in sites.columns else "labelled_on"
    opens, closes = _date_column(sites, start), _date_column(sites, "closes_on")
    keep = (opens.isna() | (opens <= day)) & (closes.isna() | (day < closes))
    return sites[keep.to_numpy()].copy()


def locate_sites(sites: pd.DataFrame, communes: pd.DataFrame,
                 aliases=None) -> tuple[np.ndarray, pd.DataFrame, list[str]]:
    """Commune code of every site (None when unknown), the unmatched sites, and notes.

    Sites carry a `commune` code, translated through `aliases` (a DataFrame code → commune, e.g.
    `Territory.aliases`: arrondissements, communes déléguées, former codes) when it is not a current code;
    without aliases, Paris/Marseille/Lyon arrondissements still go to their commune. Without a `commune`
    column each site is put in the commune whose centre is the nearest (noted), which can be wrong near a
    boundary.
    """
    notes: list[str] = []
    known = pd.Index(codes_of(communes["code"]))
    if "commune" in sites.columns:
        lookup = {}
        if aliases is not None:
            lookup = dict(zip(codes_of(aliases["code"]), codes_of(aliases["commune"])))
        where = np.array([c if c in known or c not in lookup else lookup[c] for c in codes_of(sites["commune"])],
                         dtype=object)
        where = np.array([_plm_parent(c, known) for c in where], dtype=object)
        ok = np.array([c is not None and c in known for c in where], dtype=bool) if len(where) else np.zeros(0, bool)
        where = np.where(ok, where, None)
        return where, sites[~ok].copy(), notes
    if len(sites) == 0 or len(communes) == 0:
        return np.full(len(sites), None, dtype=object), sites.iloc[0:0].copy(), notes
    tree = cKDTree(unit_vectors(communes["lat"].to_numpy(float), communes["lon"].to_numpy(float)))
    _, idx = tree.query(unit_vectors(sites["lat"].to_numpy(float), sites["lon"].to_numpy(float)))
    notes.append("sites have no 'commune' column: each was placed in the commune with the nearest centre")
    return np.asarray(known)[np.atleast_1d(idx)], sites.iloc[0:0].copy(), notes


def _plm_parent(code, known: pd.Index):
    """Paris, Marseille and Lyon arrondissement codes (75101…, 13201…, 69381…) → their commune when only
    the commune is in the territory."""
    if code is None or code in known:
        return code
    parent = None
    if code.startswith("751") and len(code) == 5:
        parent = "75056"
    elif code.startswith("132") and len(code) == 5:
        parent = "13055"
    elif code.startswith("6938") and len(code) == 5:
        parent = "69123"
    return parent if parent in known else code


@dataclass
class CoverageResult:
    """Population within each threshold of its nearest open site, and cantons hosting a site."""

    date: pd.Timestamp | None
    thresholds: tuple[int, ...]
    sites: pd.DataFrame  # the open sites used, with their commune and canton
    by_commune: pd.DataFrame  # code, name, dep, region, canton, population, nearest_site, minutes, within_T…
    share_within: dict[int, float]
    population_total: int
    by_departement: pd.DataFrame
    by_region: pd.DataFrame
    cantons_total: int  # official cantons (pseudo-cantons apart)
    cantons_with_site: int
    unmatched_sites: pd.DataFrame  # sites whose commune is not in the territory
    beyond: pd.DataFrame  # communes beyond the largest threshold, largest population first
    missing_communes: list[str] = field(default_factory=list)  # absent from a user travel matrix
    notes: list[str] = field(default_factory=list)
    pseudo_cantons_total: int = 0  # communes outside any canton (cantons table type P)
    pseudo_cantons_with_site: int = 0

    def to_json_line(self) -> str:
        """One JSON line summarising the run (for `fssim coverage --json`)."""
        mobile = int(self.sites["mobile"].fillna(False).astype(bool).sum()) if "mobile" in self.sites else 0
        beyond_pop = int(self.beyond["population"].sum()) if len(self.beyond) else 0
        record = {
            "date": None if self.date is None else self.date.date().isoformat(),
            "sites": int(len(self.sites)),
            "sites_mobile": mobile,
            "population_total": int(self.population_total),
            "share_within_min": {str(t): round(float(self.share_within[t]), 6) for t in self.thresholds},
            "cantons_total": int(self.cantons_total),
            "cantons_with_site": int(self.cantons_with_site),
            "pseudo_cantons_total": int(self.pseudo_cantons_total),
            "pseudo_cantons_with_site": int(self.pseudo_cantons_with_site),
            "communes": int(len(self.by_commune)),
            "communes_beyond": int(len(self.beyond)),
            "population_beyond": beyond_pop,
            "unmatched_sites": int(len(self.unmatched_sites)),
            "missing_communes": len(self.missing_communes),
        }
        return json.dumps(record, ensure_ascii=False)


def coverage(communes: pd.DataFrame, sites: pd.DataFrame, *, thresholds=(10, 20, 30), model=RoadModel(),
             date=None, cantons: pd.DataFrame | None = None, aliases: pd.DataFrame | None = None) -> CoverageResult:
    """Coverage of `communes` by the `sites` open on `date` (all sites when date is None).

    `model` is a RoadModel or a TravelMatrix; `cantons` (code, dep, type…), when given, defines the list of
    cantons counted (else the cantons named in the communes table), those of type ``P`` being counted apart
    as pseudo-cantons; `aliases` (code, commune) translates
    the sites' non-current commune codes (see `locate_sites`).
    """
    check_communes(communes)
    try:
        ok = all(float(t) == int(t) for t in thresholds)
        thresholds = tuple(sorted({int(t) for t in thresholds}))
    except (TypeError, ValueError) as exc:
        raise InputError(f"thresholds must be whole minutes, got {thresholds!r}", field="thresholds") from exc
    if not ok or not thresholds or thresholds[0] <= 0:
        raise InputError(f"thresholds must be positive whole minutes, got {thresholds!r}", field="thresholds")
    day = to_timestamp(date)
    live = open_sites(sites, day).reset_index(drop=True)
    live["site_id"] = codes_of(live["site_id"])
    where, unmatched, notes = locate_sites(live, communes, aliases)

    codes = codes_of(communes["code"])
    info = pd.DataFrame({c: codes_of(communes[c]) for c in ("canton", "dep", "region") if c in communes.columns},
                        index=pd.Index(codes, dtype=object))
    info = info[~info.index.duplicated()]
    live["commune"] = where
    for c in info.columns:
        live[c] = info[c].reindex(pd.Index(where, dtype=object)).to_numpy() if len(live) else np.zeros(0, object)

    near = travel_times(communes, live, model, k=1)
    cols = [c for c in ("name", "dep", "region", "canton", "density_class") if c in communes.columns]
    bc = pd.DataFrame({"code": codes})
    for c in cols:
        bc[c] = codes_of(communes[c]) if c in ("dep", "region", "canton") else communes[c].to_numpy()
    bc["population"] = pd.to_numeric(communes["population"]).to_numpy().astype(np.int64)
    bc["nearest_site"] = near.nearest_site
    bc["minutes"] = near.nearest_minutes
    for t in thresholds:
        bc[f"within_{t}"] = bc["minutes"].to_numpy() <= t
    pop_total = int(bc["population"].sum())
    share = {t: (float(bc.loc[bc[f"within_{t}"], "population"].sum()) / pop_total if pop_total else 0.0)
             for t in thresholds}

    # cantons: the list counted, their département, and which host a site
    if cantons is not None:
        if "code" not in cantons.columns:
            raise InputError("missing column 'code' in the cantons table", field="code")
        cant = pd.DataFrame({"canton": codes_of(cantons["code"])})
        if "dep" in cantons.columns:
            cant["dep"] = codes_of(cantons["dep"])
        else:
            cant_dep = bc.dropna(subset=["canton"]).drop_duplicates("canton").set_index("canton")["dep"]
            cant["dep"] = cant_dep.reindex(cant["canton"]).to_numpy()
    else:
        cant = bc[["canton", "dep"]].dropna(subset=["canton"]).drop_duplicates("canton")
    cant["pseudo"] = (codes_of(cantons["type"]) == "P") if cantons is not None and "type" in cantons.columns \
        else False
    cant = cant.drop_duplicates("canton").reset_index(drop=True)
    hosting = set(live["canton"].dropna())
    cant["has_site"] = cant["canton"].isin(hosting)
    if cantons is not None:
        orphan = set(bc["canton"].dropna()) - set(cant["canton"])
        if orphan:
            notes.append(f"{len(orphan)} canton code(s) of the communes table are not in the cantons table "
                         f"and are not counted (e.g. {sorted(orphan)[:3]})")
    if len(unmatched):
        notes.append(f"{len(unmatched)} site(s) lie in no known commune and count for no canton")
    if near.missing:
        notes.append(f"{len(near.missing)} commune(s) are absent from the travel matrix and count as beyond reach")

    by_dep = _summary(bc, live, cant, "dep", thresholds)
    dep_region = bc.dropna(subset=["dep"]).drop_duplicates("dep").set_index("dep")
    if "region" in bc.columns:
        by_dep.insert(1, "region", dep_region["region"].reindex(by_dep["dep"]).to_numpy())
        cant_r = cant.assign(region=dep_region["region"].reindex(cant["dep"]).to_numpy())
        by_reg = _summary(bc, live, cant_r, "region", thresholds)
    else:
        by_reg = pd.DataFrame()
    beyond_cols = [c for c in ("code", "name", "dep", "canton", "population", "nearest_site", "minutes")
                   if c in bc.columns]
    beyond = (bc.loc[~bc[f"within_{thresholds[-1]}"], beyond_cols]
              .sort_values(["population", "code"], ascending=[False, True], kind="stable").reset_index(drop=True))
    return CoverageResult(
        date=day, thresholds=thresholds, sites=live, by_commune=bc, share_within=share,
        population_total=pop_total, by_departement=by_dep, by_region=by_reg,
        cantons_total=int((~cant["pseudo"]).sum()),
        cantons_with_site=int((cant["has_site"] & ~cant["pseudo"]).sum()),
        unmatched_sites=unmatched.reset_index(drop=True), beyond=beyond,
        missing_communes=list(near.missing), notes=notes,
        pseudo_cantons_total=int(cant["pseudo"].sum()),
        pseudo_cantons_with_site=int((cant["has_site"] & cant["pseudo"]).sum()),
    )


def _summary(bc: pd.DataFrame, live: pd.DataFrame, cant: pd.DataFrame, key: str, thresholds) -> pd.DataFrame:
    """Population, share within each threshold, sites and cantons, grouped by `key` (dep or region)."""
    g = bc.groupby(key, sort=True, dropna=True)
    out = pd.DataFrame({"communes": g.size(), "population": g["population"].sum()})
    for t in thresholds:
        within = bc["population"].where(bc[f"within_{t}"], 0)
        out[f"share_within_{t}"] = within.groupby(bc[key]).sum() / out["population"].where(out["population"] > 0)
    finite = np.isfinite(bc["minutes"].to_numpy())
    wm = (bc["minutes"].where(finite, 0) * bc["population"]).groupby(bc[key]).sum()
    wp = bc["population"].where(finite, 0).groupby(bc[key]).sum()
    out["mean_minutes"] = wm / wp.where(wp > 0)
    site_key = live[key] if key in live.columns else pd.Series(dtype=object)
    out["sites"] = site_key.value_counts().reindex(out.index).fillna(0).astype(np.int64)
    if key in cant.columns:
        for prefix, part in (("", cant[~cant["pseudo"]]), ("pseudo_", cant[cant["pseudo"]])):
            g_c = part.groupby(key)
            out[f"{prefix}cantons_total"] = g_c.size().reindex(out.index).fillna(0).astype(np.int64)
            out[f"{prefix}cantons_with_site"] = g_c["has_site"].sum().reindex(out.index).fillna(0).astype(np.int64)
    out.index.name = key
    return out.reset_index()

"""Calibrate demand per inhabitant on the observed monthly actes by département (Baromètre IND-323).

IND-323 counts the actes handled by the France services of a département, so the model is written per
site and summed over the sites of the département. The actes of open site s in month m are

    (weekly hours_s / 30) × (1 − exp(−age_s,m / ramp_months)) × exp(density of the site's commune)
                          × exp(level + growth × years_m) × seasonality(month)

- the network of each month is rebuilt from the labelling dates of the ANCT list of 2024;
- ramp-up: a new site grows towards its volume over ``ramp_months``;
- density: the INSEE density class of the site's commune (dense is the reference).

Demand per inhabitant follows from the site volumes by a two-step floating catchment
(:func:`rate_per_inhabitant`): each site's actes are shared among the population around it with the
kernel exp(−minutes / KERNEL_MINUTES) up to REACH_MINUTES, and summed over the sites around each commune;
so it falls with the travel time to the sites and rises near a new one, and Σ population × rate equals
Σ site actes. Terms tried and dropped because they did not improve the cross-validated fit: a free hours
exponent, mobile and antenne factors, a demand term (the catchment population per hour of opening, with
travel decay and commune density), the Baromètre labels used to rescale the sites missing from the 2024
list, a delayed (Hill) ramp-up.

The shape parameters are fitted by least squares on the log shares of the départements in each month
(level, growth and seasonality cancel there); level and growth are then fitted on the national series,
with the seasonality of :data:`fssim.defaults.MONTH_FACTORS`. Standard errors are clustered by
département; the cross-validation holds out départements, in folds stratified by density.
"""
from __future__ import annotations

from fssim.files import write_json

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import least_squares
from scipy.spatial import cKDTree

from fssim.defaults import DEMAND_CALIBRATION, MONTH_FACTORS
from fssim.errors import InputError
from fssim.geo.travel import RoadModel, chord_to_km, km_to_chord, travel_times, unit_vectors

REACH_MINUTES = 45.0
KERNEL_MINUTES = 15.0
DENSITY = ("dense", "intermediaire", "peu_dense", "tres_peu_dense")
SHAPE = ("density_intermediaire", "density_peu_dense", "density_tres_peu_dense", "log_ramp_months")
START = np.array([0.0, 0.0, 0.0, np.log(12.0)])
LOWER = np.array([-3.0, -3.0, -3.0, np.log(0.5)])
UPPER = np.array([3.0, 3.0, 3.0, np.log(240.0)])


@dataclass
class Features:
    """What the data support, per commune and month: the inputs of the rate, computed once.

    communes: code, dep, population, density (index in DENSITY). sites: site_id, dep, hours, labelled_on,
    mobile, antenne, density (index in DENSITY of the site's commune).
    pairs: commune and site indices with road minutes (within REACH_MINUTES). Per month (in ``months``
    order): minutes to the nearest open site and its département, per commune.
    """

    communes: pd.DataFrame
    sites: pd.DataFrame
    pair_commune: np.ndarray
    pair_site: np.ndarray
    pair_kernel: np.ndarray
    months: list[pd.Timestamp]
    nearest_minutes: np.ndarray  # (months, communes)
    nearest_dep: np.ndarray  # (months, communes) index in ``deps`` of the nearest open site's, -1 if none
    site_age: np.ndarray  # (months, sites) months since labelling, NaN if not yet open
    deps: np.ndarray  # département codes indexed by nearest_dep
    _reach: dict = field(default_factory=dict, repr=False)

    def reach(self, month: int):
        """Kernel matrix (communes × sites open in the month) and the kernel-weighted population around each site."""
        if month not in self._reach:
            open_ = np.isfinite(self.site_age[month])
            keep = open_[self.pair_site]
            kernel = sparse.csr_matrix((self.pair_kernel[keep], (self.pair_commune[keep], self.pair_site[keep])),
                                       shape=(len(self.communes), len(self.sites)))
            around = kernel.T @ self.communes["population"].to_numpy(float)
            self._reach[month] = (kernel, around)
        return self._reach[month]

    @classmethod
    def build(cls, communes: pd.DataFrame, sites: pd.DataFrame, months, model: RoadModel | None = None) -> "Features":
        model = model or RoadModel()
        communes = communes.reset_index(drop=True)
        sites = sites.dropna(subset=["lat", "lon", "labelled_on"]).reset_index(drop=True)
        months = [pd.Timestamp(m) for m in months]
        hours = sites["weekly_hours"].to_numpy(float)
        hours = np.where(hours > 0, hours, np.median(hours[hours > 0]))  # no hours published: a typical site
        speed = model.speeds(communes["density_class"].to_numpy())
        tree_c = cKDTree(unit_vectors(communes["lat"], communes["lon"]))
        tree_s = cKDTree(unit_vectors(sites["lat"], sites["lon"]))
        near = tree_s.sparse_distance_matrix(tree_c, float(km_to_chord(model.km_within(REACH_MINUTES))),
                                             output_type="coo_matrix")
        minutes = model.minutes_from_km(chord_to_km(near.data), speed[near.col])
        keep = minutes <= REACH_MINUTES
        ages, nearest, dep_of = [], [], []
        mid = [m + pd.Timedelta(days=14) for m in months]
        for m in mid:
            age = ((m - sites["labelled_on"]).dt.days / 30.44).to_numpy(dtype=float, copy=True)
            age[age < 0] = np.nan
            open_ = sites[np.isfinite(age)]
            result = travel_times(communes, open_, model)
            ages.append(age)
            nearest.append(result.nearest_minutes)
            dep_of.append(open_.set_index("site_id")["dep"].reindex(result.nearest_site).to_numpy(dtype=object))
        table = pd.DataFrame({
            "code": communes["code"].to_numpy(), "dep": communes["dep"].to_numpy(),
            "population": communes["population"].to_numpy(float),
            "density": pd.Categorical(communes["density_class"], categories=DENSITY).codes,
        })
        site_table = pd.DataFrame({"site_id": sites["site_id"].to_numpy(), "dep": sites["dep"].to_numpy(),
                                   "hours": hours, "labelled_on": sites["labelled_on"].to_numpy(),
                                   "mobile": sites["mobile"].to_numpy(float),
                                   "antenne": (sites["role"] == "antenne").to_numpy(float)})
        site_table["density"] = _site_density(sites, table, near.col[keep], near.row[keep], minutes[keep])
        deps = np.array(sorted(set(sites["dep"])), dtype=object)
        index = {d: i for i, d in enumerate(deps)}
        dep_index = np.array([[index.get(d, -1) if isinstance(d, str) else -1 for d in row] for row in dep_of])
        return cls(table, site_table, near.col[keep], near.row[keep], np.exp(-minutes[keep] / KERNEL_MINUTES),
                   months, np.array(nearest), dep_index, np.array(ages), deps)


def _site_density(sites: pd.DataFrame, communes: pd.DataFrame, pair_commune, pair_site, minutes) -> np.ndarray:
    """Density class of each site's commune; the nearest commune when the code is not in the territory."""
    by_code = dict(zip(communes["code"], communes["density"]))
    known = sites["commune"].map(by_code) if "commune" in sites else pd.Series(np.nan, index=sites.index)
    nearest = np.zeros(len(sites), dtype=int)
    order = np.lexsort((minutes, pair_site))
    first = np.r_[True, pair_site[order][1:] != pair_site[order][:-1]] if len(order) else np.array([], bool)
    nearest[pair_site[order][first]] = communes["density"].to_numpy()[pair_commune[order][first]]
    return np.where(known.notna(), known.fillna(0), nearest).astype(int)


def site_volume(features: Features, month: int, shape: np.ndarray) -> np.ndarray:
    """Relative actes of each site in month index ``month``: hours × ramp-up × density; 0 if not open."""
    age = features.site_age[month]
    sites = features.sites
    density = np.concatenate([[0.0], shape[:3]])[sites["density"].to_numpy()]
    ramp = 1 - np.exp(-(np.nan_to_num(age) + 0.5) / np.exp(shape[3]))
    volume = sites["hours"].to_numpy() / 30.0 * ramp * np.exp(density)
    return np.where(np.isfinite(age), volume, 0.0)


def rate_per_inhabitant(features: Features, month: int, shape: np.ndarray) -> np.ndarray:
    """Relative actes per inhabitant of each commune (order of ``features.communes``) in month ``month``.

    Inputs: ``features`` (communes with population; open sites with hours, age and density; the
    commune–site kernel within REACH_MINUTES) and the shape parameters (order of :data:`SHAPE`). Each
    site's volume (:func:`site_volume`) is shared among the kernel-weighted population around it and
    summed over the sites around the commune, so Σ population × rate = Σ site volumes. Multiply by
    exp(level + growth × years) × the month factor to get actes a month; 0 beyond reach of every site.
    """
    kernel, around = features.reach(month)
    volume = site_volume(features, month, shape)
    per_head = np.divide(volume, around, out=np.zeros(len(around)), where=around > 0)
    return kernel @ per_head


rate = rate_per_inhabitant


def predicted_matrix(features: Features, shape: np.ndarray) -> np.ndarray:
    """Relative actes by département (rows, ``features.deps``) and month (columns): Σ over its sites."""
    index = {d: i for i, d in enumerate(features.deps)}
    site_dep = features.sites["dep"].map(index).to_numpy()
    out = np.zeros((len(features.deps), len(features.months)))
    for i in range(len(features.months)):
        out[:, i] = np.bincount(site_dep, site_volume(features, i, shape), minlength=len(features.deps))
    return out


def _as_frame(features: Features, matrix: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"dep": np.repeat(features.deps, len(features.months)),
                         "month": np.tile(np.array(features.months, dtype="datetime64[ns]"), len(features.deps)),
                         "predicted": matrix.ravel()})


def predicted_by_dep(features: Features, shape: np.ndarray) -> pd.DataFrame:
    """dep, month, predicted (relative actes summed over the département's open sites)."""
    return _as_frame(features, predicted_matrix(features, shape))


def population_rule(features: Features) -> pd.DataFrame:
    """The present rule: the same demand per inhabitant, counted at the nearest open site."""
    pop = features.communes["population"].to_numpy()
    out = np.zeros((len(features.deps), len(features.months)))
    for i in range(len(features.months)):
        ok = features.nearest_dep[i] >= 0
        out[:, i] = np.bincount(features.nearest_dep[i][ok], pop[ok], minlength=len(features.deps))
    return _as_frame(features, out)


def share_errors(observed: pd.DataFrame, predicted: pd.DataFrame, scale_on=None) -> pd.DataFrame:
    """dep, month, observed, predicted (scaled so each month's total matches over the ``scale_on``
    départements, default all), log_error = log(predicted share / observed share)."""
    table = observed.merge(predicted, on=["dep", "month"], how="left")
    table["predicted"] = table["predicted"].fillna(0.0)
    base = table if scale_on is None else table[table["dep"].isin(scale_on)]
    scale = base.groupby("month")["actes"].sum() / base.groupby("month")["predicted"].sum()
    table["predicted"] = table["predicted"] * table["month"].map(scale)
    table["log_error"] = np.log(np.maximum(table["predicted"], 1e-9) / table["actes"])
    return table


def fit_figures(table: pd.DataFrame, worst: int = 5) -> dict:
    """Log correlation and median absolute log error of département shares; the worst départements."""
    total = table.groupby("month")["actes"].transform("sum")
    obs, pred = np.log(table["actes"] / total), np.log(np.maximum(table["predicted"], 1e-9) / total)
    by_dep = table.assign(abs_error=table["log_error"].abs()).groupby("dep")["log_error"].mean()
    order = by_dep.abs().sort_values(ascending=False).index[:worst]
    return {"log_correlation": float(np.corrcoef(obs, pred)[0, 1]),
            "median_abs_log_error": float(table["log_error"].abs().median()),
            "worst": {d: float(by_dep[d]) for d in order}}


class CalibrationProblem:
    """Fit the demand per inhabitant to the observed actes; results as attributes and DataFrames.

    ``CalibrationProblem(features, observed, national).solve(folds=5)`` sets ``parameters`` (name →
    value), ``standard_errors``, ``in_sample`` and ``cross_validated`` (fit figures, model and
    population baseline), ``national_fit`` (month, observed, predicted) and ``departements``
    (dep, month, observed, predicted, log_error).
    """

    def __init__(self, features: Features, observed: pd.DataFrame, national: pd.DataFrame | None = None,
                 *, sources: dict | None = None, seed: int = 1):
        months = set(features.months)
        observed = observed.dropna(subset=["actes"])
        observed = observed[observed["month"].isin(months) & (observed["actes"] > 0)
                            & observed["dep"].isin(set(features.deps))]
        if observed.empty:
            raise InputError("no observed actes in the months of the features; check the IND-323 file", field="month")
        self.features, self.observed, self.national = features, observed.reset_index(drop=True), national
        self.sources, self.seed = sources or {}, seed
        self.parameters: dict[str, float] = {}
        self.standard_errors: dict[str, float] = {}
        self.in_sample: dict = {}
        self.cross_validated: dict = {}
        self.national_fit: pd.DataFrame | None = None
        self.departements: pd.DataFrame | None = None

    # -- fitting
    def _residuals(self, shape: np.ndarray, rows: np.ndarray, cols: np.ndarray, actes: np.ndarray) -> np.ndarray:
        """log(predicted share / observed share) of the given (département, month) cells."""
        predicted = predicted_matrix(self.features, shape)[rows, cols]
        obs_total = np.bincount(cols, actes, minlength=len(self.features.months))
        pred_total = np.bincount(cols, predicted, minlength=len(self.features.months))
        share = predicted / np.where(pred_total[cols] > 0, pred_total[cols], 1.0)
        return np.log(np.maximum(share, 1e-12) / (actes / obs_total[cols]))

    def _cells(self, deps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        obs = self.observed[self.observed["dep"].isin(deps)]
        index = {d: i for i, d in enumerate(self.features.deps)}
        months = {m: i for i, m in enumerate(self.features.months)}
        return (obs["dep"].map(index).to_numpy(int), obs["month"].map(months).to_numpy(int),
                obs["actes"].to_numpy(float))

    def fit_shape(self, deps=None) -> tuple[np.ndarray, object]:
        """Shape parameters fitted on the shares of ``deps`` (default: all observed départements)."""
        deps = sorted(set(self.observed["dep"])) if deps is None else list(deps)
        result = least_squares(self._residuals, START, bounds=(LOWER, UPPER), args=self._cells(deps), x_scale=0.1,
                               diff_step=1e-3, max_nfev=200)
        return result.x, result

    def _clustered_se(self, result) -> np.ndarray:
        groups = self.observed["dep"].to_numpy()
        jac, res = result.jac, result.fun
        bread = np.linalg.pinv(jac.T @ jac)
        meat = np.zeros_like(bread)
        for dep in np.unique(groups):
            score = jac[groups == dep].T @ res[groups == dep]
            meat += np.outer(score, score)
        n_groups = len(np.unique(groups))
        cov = bread @ meat @ bread * n_groups / max(n_groups - 1, 1)
        return np.sqrt(np.clip(np.diag(cov), 0, None))

    def _national(self, shape: np.ndarray) -> tuple[float, float, pd.DataFrame]:
        if self.national is None or self.national.empty:
            return float("nan"), float("nan"), pd.DataFrame(columns=["month", "observed", "predicted", "ratio"])
        rows = []
        for i, month in enumerate(self.features.months):
            obs = self.national.loc[self.national["month"] == month, "actes"]
            if len(obs):
                raw = float(site_volume(self.features, i, shape).sum()) * MONTH_FACTORS[month.month - 1]
                rows.append((month, float(obs.iloc[0]), raw))
        table = pd.DataFrame(rows, columns=["month", "observed", "raw"])
        years = (table["month"] - pd.Timestamp(DEMAND_CALIBRATION["epoch"])).dt.days / 365.25
        y = np.log(table["observed"] / table["raw"])
        growth, level = np.polyfit(years, y, 1) if len(table) > 1 else (0.0, float(y.mean()))
        table["predicted"] = table["raw"] * np.exp(level + growth * years)
        table["ratio"] = table["observed"] / table["predicted"]
        return float(level), float(growth), table.drop(columns="raw")

    def _folds(self, folds: int) -> list[np.ndarray]:
        """Départements held out together: ranked by their share of population in dense communes and dealt
        in random order within each run of ``folds``, so each fold spans urban to rural départements."""
        deps = np.array(sorted(set(self.observed["dep"])), dtype=object)
        communes = self.features.communes
        dense = (communes["population"] * (communes["density"] == 0)).groupby(communes["dep"]).sum()
        share = (dense / communes.groupby("dep")["population"].sum()).reindex(deps).fillna(0.0).to_numpy()
        rng = np.random.default_rng(self.seed)
        ranked = deps[np.lexsort((rng.random(len(deps)), share))]
        fold_of = np.concatenate([rng.permutation(folds) for _ in range(-(-len(deps) // folds))])[:len(deps)]
        return [ranked[fold_of == k] for k in range(folds)]

    def _cross_validate(self, folds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        split = self._folds(folds)
        deps = np.concatenate(split)
        baseline = population_rule(self.features)
        model_parts, base_parts = [], []
        for test in split:
            train = sorted(set(deps) - set(test))
            shape, _ = self.fit_shape(train)
            for parts, predicted in ((model_parts, predicted_by_dep(self.features, shape)), (base_parts, baseline)):
                table = share_errors(self.observed, predicted, scale_on=train)
                parts.append(table[table["dep"].isin(test)])
        return pd.concat(model_parts, ignore_index=True), pd.concat(base_parts, ignore_index=True)

    def solve(self, folds: int = 5) -> "CalibrationProblem":
        deps = sorted(set(self.observed["dep"]))
        if folds < 2 or folds > len(deps):
            raise InputError(f"folds must be between 2 and the {len(deps)} observed départements, got {folds}",
                             field="folds")
        shape, result = self.fit_shape()
        se = self._clustered_se(result)
        level, growth, self.national_fit = self._national(shape)
        self.parameters = {**dict(zip(SHAPE, map(float, shape))), "level": level, "growth_per_year": growth}
        self.standard_errors = dict(zip(SHAPE, map(float, se)))
        ramp = SHAPE.index("log_ramp_months")
        self.parameters["ramp_months"] = float(np.exp(shape[ramp]))
        self.standard_errors["ramp_months"] = float(np.exp(shape[ramp]) * se[ramp])
        self.departements = share_errors(self.observed, predicted_by_dep(self.features, shape))
        baseline = share_errors(self.observed, population_rule(self.features))
        self.in_sample = {"model": fit_figures(self.departements), "population_rule": fit_figures(baseline)}
        cv_model, cv_base = self._cross_validate(folds)
        self.cross_validated = {"folds": folds, "model": fit_figures(cv_model), "population_rule": fit_figures(cv_base)}
        return self

    # -- output
    def to_dict(self) -> dict:
        return {
            "generator": "fssim calibrate",
            "model": "fssim demand per inhabitant (see fssim.demand.calibration)",
            "fitted_on": dt.date.today().isoformat(),
            "constants": {"reach_minutes": REACH_MINUTES, "kernel_minutes": KERNEL_MINUTES,
                          "month_factors": list(MONTH_FACTORS)},
            "parameters": self.parameters, "standard_errors": self.standard_errors,
            "observations": {"departements": int(self.observed["dep"].nunique()),
                             "months": [m.date().isoformat() for m in sorted(set(self.observed["month"]))],
                             "rows": int(len(self.observed))},
            "in_sample": self.in_sample, "cross_validated": self.cross_validated,
            "national": [{"month": r.month.date().isoformat(), "observed": r.observed, "predicted": r.predicted}
                         for r in self.national_fit.itertuples(index=False)],
            "sources": self.sources,
        }

    def save(self, path: str | Path) -> Path:
        """Write the calibration file atomically (a temporary file renamed into place)."""
        return write_json(path, self.to_dict())


@lru_cache(maxsize=2)
def _national_features(data_dir: str | None, months: tuple) -> tuple[Features, dict]:
    from fssim.sources.anct import load_anct
    from fssim.geo.territory import load_territory

    sites = load_anct("2024-08", data_dir=data_dir)
    features = Features.build(load_territory().communes, sites.sites, list(months))
    return features, {"france-services-2024-08.csv": sites.sha256}


def calibrate(data_dir: str | Path | None = None, folds: int = 5) -> CalibrationProblem:
    """Load the Baromètre series, the ANCT list and the territory, and solve the calibration."""
    from fssim.sources.barometre import load_actes, load_labels

    actes = load_actes(data_dir=data_dir)
    labels = load_labels(data_dir=data_dir)
    months = tuple(sorted(set(actes.departements["month"])))
    features, sources = _national_features(None if data_dir is None else str(data_dir), months)
    sources = {**sources, Path(actes.source).name: actes.sha256, Path(labels.source).name: labels.sha256}
    return CalibrationProblem(features, actes.departements, actes.national, sources=sources).solve(folds)


def fit_table(problem: CalibrationProblem) -> list:
    """Rich tables of a solved calibration: fit figures, parameters, national series."""
    from rich.table import Table

    fit = Table(title="fit of département shares (log correlation, median |log error|)")
    for column in ("", "model", "population rule"):
        fit.add_column(column, justify="right" if column else "left")
    for label, figures in (("in sample", problem.in_sample), (f"{problem.cross_validated['folds']}-fold CV",
                                                              problem.cross_validated)):
        for key, name in (("log_correlation", "log correlation"), ("median_abs_log_error", "median |log error|")):
            fit.add_row(f"{label}: {name}", f"{figures['model'][key]:.3f}", f"{figures['population_rule'][key]:.3f}")
        worst = ", ".join(f"{d} {e:+.2f}" for d, e in figures["model"]["worst"].items())
        fit.add_row(f"{label}: worst", worst, "")
    params = Table(title="parameters (standard errors clustered by département)")
    for column in ("parameter", "value", "s.e."):
        params.add_column(column, justify="left" if column == "parameter" else "right")
    for name, value in problem.parameters.items():
        se = problem.standard_errors.get(name)
        params.add_row(name, f"{value:.4g}", "" if se is None else f"{se:.3g}")
    national = Table(title="national actes a month: observed vs model (trend × seasonality)")
    for column in ("month", "observed", "model", "observed / model"):
        national.add_column(column, justify="right")
    for row in problem.national_fit.itertuples(index=False):
        national.add_row(row.month.strftime("%Y-%m"), f"{row.observed:,.0f}", f"{row.predicted:,.0f}", f"{row.ratio:.2f}")
    return [fit, params, national]

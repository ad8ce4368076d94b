"""Calibrate demand per inhabitant on the observed monthly actes by département (Baromètre IND-323).

Model: the actes of commune c in month m are

    population_c × exp(level + growth × years_m + density_c) × exp(−travel × minutes_c,m)
                 × (supply_c,m / mean supply + SUPPLY_FLOOR) ^ elasticity × seasonality(month)

- minutes: road minutes to the nearest site open in month m (:class:`fssim.travel.RoadModel`; the network
  of each month is rebuilt from the labelling dates of the ANCT list);
- supply: sites within reach per inhabitant within reach (two-step floating catchment: each open site's
  weight, its weekly hours ^ hours_exponent × its ramp-up 1 − exp(−age / ramp_months), is shared among
  the population around it with the kernel exp(−minutes / KERNEL_MINUTES) up to REACH_MINUTES, then
  summed over the sites around each commune);
- density: the commune's class of the INSEE density grid (dense is the reference).

A commune's actes are counted in the département of its nearest open site. The shape parameters are
fitted by least squares on the log shares of the départements in each month (level, growth and
seasonality cancel there); level and growth are then fitted on the national series, with the
seasonality of :data:`fssim.defaults.MONTH_FACTORS`. Standard errors are clustered by département.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import least_squares
from scipy.spatial import cKDTree

from .defaults import MONTH_FACTORS
from .errors import InputError
from .travel import RoadModel, chord_to_km, km_to_chord, travel_times, unit_vectors

REACH_MINUTES = 45.0
KERNEL_MINUTES = 15.0
SUPPLY_FLOOR = 0.05
DENSITY = ("dense", "intermediaire", "peu_dense", "tres_peu_dense")
SHAPE = ("density_intermediaire", "density_peu_dense", "density_tres_peu_dense", "travel_per_minute",
         "supply_elasticity", "hours_exponent", "log_ramp_months", "log_mobile_factor", "log_antenne_factor")
START = np.array([0.0, 0.0, 0.0, 0.01, 0.5, 0.5, np.log(6.0), 0.0, 0.0])
LOWER = np.array([-3.0, -3.0, -3.0, -0.2, -1.0, -1.0, np.log(0.5), -3.0, -3.0])
UPPER = np.array([3.0, 3.0, 3.0, 0.2, 3.0, 4.0, np.log(240.0), 3.0, 3.0])


@dataclass
class Features:
    """What the data support, per commune and month: the inputs of the rate, computed once.

    communes: code, dep, population, density (index in DENSITY). sites: site_id, dep, hours, labelled_on.
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
        deps = np.array(sorted(set(sites["dep"])), dtype=object)
        index = {d: i for i, d in enumerate(deps)}
        dep_index = np.array([[index.get(d, -1) if isinstance(d, str) else -1 for d in row] for row in dep_of])
        return cls(table, site_table, near.col[keep], near.row[keep], np.exp(-minutes[keep] / KERNEL_MINUTES),
                   months, np.array(nearest), dep_index, np.array(ages), deps)


def _site_weight(features: Features, month: int, shape: np.ndarray) -> np.ndarray:
    """Weight of each site in a month: weekly hours ^ exponent × ramp-up × format factors; 0 if not open."""
    age = features.site_age[month]
    sites = features.sites
    weight = ((sites["hours"].to_numpy() / 30.0) ** shape[5]
              * (1 - np.exp(-(np.nan_to_num(age) + 0.5) / np.exp(shape[6])))
              * np.exp(shape[7] * sites["mobile"].to_numpy() + shape[8] * sites["antenne"].to_numpy()))
    return np.where(np.isfinite(age), weight, 0.0)


def rate(features: Features, month: int, shape: np.ndarray) -> np.ndarray:
    """Relative actes per inhabitant of each commune in month index ``month`` (no level, growth, season)."""
    kernel, around = features.reach(month)
    per_head = np.divide(_site_weight(features, month, shape), around, out=np.zeros(len(around)), where=around > 0)
    supply = kernel @ per_head
    pop = features.communes["population"].to_numpy()
    mean = np.sum(supply * pop) / pop.sum()
    beta = np.concatenate([[0.0], shape[:3]])[features.communes["density"].to_numpy()]
    minutes = np.minimum(features.nearest_minutes[month], 2 * REACH_MINUTES)
    return np.exp(beta - shape[3] * minutes) * (supply / mean + SUPPLY_FLOOR) ** shape[4]


def predicted_matrix(features: Features, shape: np.ndarray) -> np.ndarray:
    """Relative actes (population × rate) by département (rows, ``features.deps``) and month (columns)."""
    pop = features.communes["population"].to_numpy()
    out = np.zeros((len(features.deps), len(features.months)))
    for i in range(len(features.months)):
        ok = features.nearest_dep[i] >= 0
        out[:, i] = np.bincount(features.nearest_dep[i][ok], (pop * rate(features, i, shape))[ok],
                                minlength=len(features.deps))
    return out


def predicted_by_dep(features: Features, shape: np.ndarray) -> pd.DataFrame:
    """dep, month, predicted (relative actes: population × rate, summed by the nearest site's département)."""
    matrix = predicted_matrix(features, shape)
    return pd.DataFrame({"dep": np.repeat(features.deps, len(features.months)),
                         "month": np.tile(np.array(features.months, dtype="datetime64[ns]"), len(features.deps)),
                         "predicted": matrix.ravel()})


def population_rule(features: Features) -> pd.DataFrame:
    """The present rule: the same demand per inhabitant, counted at the nearest open site."""
    shape = np.zeros(len(SHAPE))
    shape[-1] = np.log(1e-6)  # no ramp-up, no supply, no travel effect
    return predicted_by_dep(features, shape)


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
        pop = self.features.communes["population"].to_numpy()
        rows = []
        for i, month in enumerate(self.features.months):
            obs = self.national.loc[self.national["month"] == month, "actes"]
            if len(obs):
                raw = float(np.sum(pop * rate(self.features, i, shape))) * MONTH_FACTORS[month.month - 1]
                rows.append((month, float(obs.iloc[0]), raw))
        table = pd.DataFrame(rows, columns=["month", "observed", "raw"])
        years = (table["month"] - pd.Timestamp("2023-01-01")).dt.days / 365.25
        y = np.log(table["observed"] / table["raw"])
        growth, level = np.polyfit(years, y, 1) if len(table) > 1 else (0.0, float(y.mean()))
        table["predicted"] = table["raw"] * np.exp(level + growth * years)
        table["ratio"] = table["observed"] / table["predicted"]
        return float(level), float(growth), table.drop(columns="raw")

    def _cross_validate(self, folds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        deps = np.array(sorted(set(self.observed["dep"])))
        rng = np.random.default_rng(self.seed)
        split = np.array_split(rng.permutation(deps), folds)
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
            "model": "fssim demand per inhabitant (see fssim.calibration)",
            "fitted_on": dt.date.today().isoformat(),
            "constants": {"reach_minutes": REACH_MINUTES, "kernel_minutes": KERNEL_MINUTES,
                          "supply_floor": SUPPLY_FLOOR, "month_factors": list(MONTH_FACTORS)},
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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


@lru_cache(maxsize=2)
def _national_features(data_dir: str | None, months: tuple) -> tuple[Features, dict]:
    from .anct import load_anct
    from .territory import load_territory

    sites = load_anct("2024-08", data_dir=data_dir)
    features = Features.build(load_territory().communes, sites.sites, list(months))
    return features, {"france-services-2024-08.csv": sites.sha256}


def calibrate(data_dir: str | Path | None = None, folds: int = 5) -> CalibrationProblem:
    """Load the Baromètre series, the ANCT list and the territory, and solve the calibration."""
    from .barometre import load_actes, load_labels

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

"""Statistics across replications: Student-t intervals, paired differences, sequential stopping.

Replications are independent (their streams differ), so a KPI's replication values are i.i.d. and the
Student-t interval mean ± t(n−1) · s / √n has the stated coverage when they are close to normal, which
KPIs averaging thousands of visits are. Scenarios of an experiment share their random numbers
replication by replication (common random numbers), so the difference of two scenarios is estimated
from the per-replication differences: its variance is var(A) + var(B) − 2 cov(A, B), much smaller than the
unpaired var(A) + var(B) when the scenarios see the same citizens.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from fssim.metrics.intervals import summarise, t_quantile  # noqa: F401  (summarise: one of this module's tools)

COLUMNS = ["mean", "std", "n", "half_width", "ci_low", "ci_high"]


def interval(values, confidence: float = 0.95, axis: int = -1) -> dict[str, np.ndarray]:
    """Mean, std, n, half-width and the two-sided interval of ``values`` along ``axis`` (NaNs left out)."""
    v = np.asarray(values, dtype=float)
    n = np.sum(~np.isnan(v), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(v, axis=axis) if v.size else np.full(n.shape, np.nan)
        dev = np.where(np.isnan(v), 0.0, v - np.expand_dims(mean, axis))
        std = np.sqrt(np.sum(dev ** 2, axis=axis) / np.where(n > 1, n - 1, np.nan))
        hw = t_quantile(n, confidence) * std / np.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "half_width": hw, "ci_low": mean - hw, "ci_high": mean + hw}


def upper_bound(values, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound of the mean: mean + t(n−1, confidence) · s / √n."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan")
    if len(v) == 1:
        return float("nan")
    return float(v.mean() + t_quantile(len(v), confidence, two_sided=False) * v.std(ddof=1) / math.sqrt(len(v)))


def lower_bound(values, confidence: float = 0.95) -> float:
    """One-sided lower confidence bound of the mean."""
    return -upper_bound(-np.asarray(values, dtype=float), confidence)


def welch_half_width(a, b, confidence: float = 0.95) -> float:
    """Half-width of the interval of mean(a) − mean(b) treating the samples as independent (Welch)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se2 = va + vb
    if se2 == 0:
        return 0.0
    df = se2 ** 2 / ((va ** 2 / (len(a) - 1) if va else 0) + (vb ** 2 / (len(b) - 1) if vb else 0))
    return float(stats.t.ppf(0.5 + confidence / 2, df) * math.sqrt(se2))


def paired_differences(per_rep: pd.DataFrame, baseline: str, confidence: float = 0.95) -> pd.DataFrame:
    """Differences scenario − baseline per KPI, from per-replication values (columns scenario, replication,
    kpi, value): mean difference with its paired interval, the two means, the relative difference and,
    for comparison, the unpaired (Welch) half-width that ignores the common random numbers."""
    wide = per_rep.pivot_table(index=["kpi", "replication"], columns="scenario", values="value", aggfunc="first",
                               dropna=False, observed=True, sort=False)
    if baseline not in wide.columns:
        raise KeyError(f"baseline {baseline!r} has no replications")
    rows = []
    scen_order = list(dict.fromkeys(per_rep["scenario"]))
    kpi_order = list(dict.fromkeys(per_rep["kpi"]))
    for kpi in kpi_order:
        w = wide.loc[kpi]
        base = w[baseline].to_numpy(float)
        for s in scen_order:
            if s == baseline:
                continue
            x = w[s].to_numpy(float)
            ok = ~np.isnan(x) & ~np.isnan(base)
            d = x[ok] - base[ok]
            iv = interval(d, confidence)
            bm, sm = _nanmean(base), _nanmean(x)
            rows.append({
                "scenario": s, "baseline": baseline, "kpi": kpi,
                **{k: (float(v) if k != "n" else int(v)) for k, v in iv.items()},
                "scenario_mean": float(sm), "baseline_mean": float(bm),
                "relative": float(iv["mean"] / bm) if bm not in (0, 0.0) and not np.isnan(bm) else np.nan,
                "unpaired_half_width": welch_half_width(x, base, confidence),
            })
    out = pd.DataFrame(rows, columns=["scenario", "baseline", "kpi", *COLUMNS, "scenario_mean", "baseline_mean",
                                      "relative", "unpaired_half_width"])
    out["significant"] = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    return out


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if len(x) else float("nan")


def precise_enough(mean: float, half_width: float, relative: float, absolute: float | None = None) -> bool:
    """Is an interval narrow enough: half-width ≤ relative × |mean|, or ≤ ``absolute`` when given."""
    if half_width != half_width:  # NaN: fewer than 2 replications (or no value)
        return False
    if absolute is not None and half_width <= absolute:
        return True
    return half_width <= relative * abs(mean)


def replications_needed(n: int, mean: float, half_width: float, relative: float,
                        absolute: float | None = None) -> int:
    """Replications for the half-width to reach its target, from hw ∝ 1/√n (at least n + 1)."""
    target = relative * abs(mean)
    if absolute is not None:
        target = max(target, absolute)
    if not (half_width == half_width) or target <= 0:
        return 2 * n
    return max(n + 1, math.ceil(n * (half_width / target) ** 2))

"""Student-t intervals across replications: the one summary of a KPI's replication values.

Replications are independent, so a KPI's values are i.i.d. and mean ± t(n−1) · s / √n has the stated coverage
when they are close to normal (see :mod:`fssim.experiment.stats` for paired differences and stopping rules).
Every KPI is non-negative and a rate is at most 1, so the interval of a KPI is cut at those bounds (a rate
near 0 over a few replications would otherwise read "−0.4 % – 1.2 %"); ``half_width`` stays the t one.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from fssim.metrics import kpis as registry


def t_quantile(n, confidence: float = 0.95, two_sided: bool = True):
    """Student-t quantile with n − 1 degrees of freedom (NaN where n < 2)."""
    n = np.asarray(n, dtype=float)
    p = 0.5 + confidence / 2 if two_sided else confidence
    with np.errstate(invalid="ignore"):
        return np.where(n >= 2, stats.t.ppf(p, np.maximum(n - 1, 1)), np.nan)


def summarise(long: pd.DataFrame, keys: list[str], value: str = "value", confidence: float = 0.95) -> pd.DataFrame:
    """Across replications: one row per ``keys`` with mean, std, n, half_width, ci_low, ci_high."""
    g = long.dropna(subset=[value]).groupby(keys, sort=False, observed=True)[value]
    res = g.agg(mean="mean", std="std", n="count").reset_index()
    res = long[keys].drop_duplicates().merge(res, on=keys, how="left")
    res["n"] = res["n"].fillna(0).astype(int)
    res["half_width"] = t_quantile(res["n"], confidence) * res["std"] / np.sqrt(res["n"].where(res["n"] > 0))
    res["ci_low"] = res["mean"] - res["half_width"]
    res["ci_high"] = res["mean"] + res["half_width"]
    if "kpi" in keys:
        rate = res["kpi"].map({k.name: k.unit == "rate" for k in registry.REGISTRY}).fillna(False).to_numpy(bool)
        known = res["kpi"].isin(registry.names()).to_numpy()
        res["ci_low"] = np.where(known, np.maximum(res["ci_low"], 0.0), res["ci_low"])
        res["ci_high"] = np.where(rate, np.minimum(res["ci_high"], 1.0), res["ci_high"])
    return res

"""Targets against the run's KPIs: met, missed or uncertain, judged on the 95 % confidence interval.

A target is met ("pass") when its whole confidence interval meets it, missed ("fail") when the whole
interval misses it, and "uncertain" otherwise: more replications may settle it. With one replication
there is no interval ("no_interval"; ``mean_meets`` still tells what the point value says). A KPI that
the run could not measure (e.g. a no-show rate without appointments) is "missing".
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
from pydantic import ValidationError

from fssim.config import Target
from fssim.errors import InputError

STATUSES = ("pass", "fail", "uncertain", "no_interval", "missing")
#: From worst to best: the verdict of a site-scope target is its worst site's.
_SEVERITY = ("fail", "uncertain", "no_interval", "missing", "pass")
SUMMARY_COLUMNS = ("scope", "key", "kpi", "mean", "n", "ci_low", "ci_high")
COLUMNS = ["target", "kpi", "scope", "key", "label", "min", "max", "mean", "ci_low", "ci_high", "n", "status",
           "mean_meets"]


def _as_target(t, i: int) -> Target:
    if isinstance(t, Target):
        return t
    try:
        return Target.model_validate(t)
    except ValidationError as e:
        msg = "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())
        raise InputError(f"invalid target: {msg}", field=f"targets[{i}]") from None


def _meets(value: float, t: Target) -> bool:
    ok = True
    if t.max is not None:
        ok &= value <= t.max
    if t.min is not None:
        ok &= value >= t.min
    return bool(ok)


def judge(t: Target, mean: float, low: float, high: float, n: int) -> str:
    """One verdict: pass, fail, uncertain, no_interval or missing."""
    if mean is None or np.isnan(mean):
        return "missing"
    if n < 2 or np.isnan(low) or np.isnan(high):
        return "no_interval"
    if _meets(low, t) and _meets(high, t):
        return "pass"
    fail = (t.max is not None and low > t.max) or (t.min is not None and high < t.min)
    return "fail" if fail else "uncertain"


def evaluate_targets(summary: pd.DataFrame, targets: Iterable[Target | dict]) -> pd.DataFrame:
    """One row per target (per site for ``scope: site``): the KPI's mean, 95 % interval and verdict.

    ``summary`` is a run's summary table (``summary.parquet``); ``targets`` are :class:`fssim.config.Target`
    (or mappings of the same fields). Columns: target (its index), kpi, scope, key (site id or ''), label,
    min, max, mean, ci_low, ci_high, n, status, mean_meets.
    """
    missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise InputError(f"the summary table lacks column(s) {missing}; give summary.parquet of a run",
                         field=missing[0])
    rows = []
    for i, raw in enumerate(targets):
        t = _as_target(raw, i)
        sel = summary[(summary["scope"] == t.scope) & (summary["kpi"] == t.kpi)]
        if sel.empty:
            sel = pd.DataFrame([{"key": "", "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0}])
        for r in sel.itertuples(index=False):
            mean, low, high, n = float(r.mean), float(r.ci_low), float(r.ci_high), int(r.n)
            rows.append({
                "target": i, "kpi": t.kpi, "scope": t.scope, "key": str(r.key), "label": t.label,
                "min": t.min, "max": t.max, "mean": mean, "ci_low": low, "ci_high": high, "n": n,
                "status": judge(t, mean, low, high, n),
                "mean_meets": bool(not np.isnan(mean) and _meets(mean, t)),
            })
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.astype({"min": float, "max": float, "mean": float, "ci_low": float, "ci_high": float})


def overall_status(statuses: Iterable[str]) -> str:
    """The verdict of a group of rows (a site-scope target): its worst row's."""
    found = set(statuses)
    for s in _SEVERITY:
        if s in found:
            return s
    return "missing"

"""Confidence intervals: coverage close to the nominal 95 % where the true value is known, paired
differences, and the sequential-stopping arithmetic.

Coverage is checked against a binomial band: over m independent intervals the number covering the true
value is Binomial(m, 0.95), so the observed share must lie within 4 standard deviations of 0.95 (seeded,
so the checks are deterministic; the band is wide enough for any seed to pass with probability > 0.9999).
"""
import math

import numpy as np
import pandas as pd
import pytest

from fssim.config import config_from_dict
from fssim.experiment.execute import run_job
from fssim.experiment.partials import FIELDS, kpis_from_sums
from fssim.experiment.stats import (interval, lower_bound, paired_differences, precise_enough, replications_needed,
                                    summarise, upper_bound, welch_half_width)


def band(m: int, p: float = 0.95, k: float = 4.0) -> tuple[float, float]:
    sd = math.sqrt(p * (1 - p) / m)
    return p - k * sd, p + k * sd


def coverage(samples: np.ndarray, truth: float) -> float:
    iv = interval(samples, 0.95, axis=1)
    return float(np.mean((iv["ci_low"] <= truth) & (truth <= iv["ci_high"])))


def test_normal_samples_cover_95_percent():
    rng = np.random.default_rng(1)
    m = 4000
    lo, hi = band(m)
    for n in (3, 8, 30):
        cov = coverage(rng.normal(3.0, 2.0, (m, n)), 3.0)
        assert lo <= cov <= hi, (n, cov)


def test_replication_means_of_exponential_visits_cover_95_percent():
    # a KPI is a mean over many visits: each replication value = mean of 40 exponential waits
    rng = np.random.default_rng(2)
    m, n = 4000, 10
    reps = rng.exponential(6.0, (m, n, 40)).mean(axis=2)
    cov = coverage(reps, 6.0)
    lo, hi = band(m)
    assert lo <= cov <= hi, cov


def test_too_few_samples_give_no_interval_rather_than_a_false_one():
    iv = interval(np.array([[4.0, np.nan]]), axis=1)
    assert iv["n"][0] == 1 and np.isnan(iv["half_width"][0])
    assert np.isnan(upper_bound([4.0])) and np.isnan(lower_bound([]))


def test_simulated_arrivals_cover_their_known_mean():
    """A cheap simulated KPI with an exactly known expectation: arrivals at an always-open site with Poisson
    arrivals (rate 3/hour over 1 day: 72 expected), through the whole path (simulation → partials → KPI →
    interval). 1,000 replications make 200 intervals of 5 replications."""
    cfg = config_from_dict({
        "name": "poisson", "horizon": {"start": "2024-01-01", "days": 1}, "seed": 17, "holidays": {"closed": False},
        "demarches": [{"name": "any", "share": 1.0, "service": {"dist": "exponential", "mean": 10}}],
        "demand": {"rate_per_hour": 3.0, "mix_shifts": []},
        "behaviour": {"patience": None, "appointment_share": 0.0},
        "sites": [{"id": "p", "always_open": True, "agents": 2}]})
    frames = pd.DataFrame(np.vstack([run_job(cfg, cfg.sites, r).values for r in range(1000)]), columns=list(FIELDS))
    values = kpis_from_sums(frames)["arrivals"].to_numpy(float).reshape(200, 5)
    assert values.mean() == pytest.approx(72.0, rel=0.02)
    cov = coverage(values, 72.0)
    lo, hi = band(200)
    assert lo <= cov <= min(hi, 1.0) and cov < 1.0, cov


def test_upper_bound_is_one_sided():
    rng = np.random.default_rng(4)
    m = 1500
    x = rng.normal(10.0, 1.0, (m, 6))
    hits = np.mean([upper_bound(row, 0.95) >= 10.0 for row in x])
    lo, hi = band(m)
    assert lo <= hits <= hi
    assert upper_bound(x[0], 0.95) < interval(x[0])["ci_high"]  # tighter than the two-sided bound
    assert lower_bound(x[0], 0.95) == pytest.approx(-upper_bound(-x[0], 0.95))


def test_paired_differences_use_the_pairing():
    rng = np.random.default_rng(5)
    n = 10
    common = rng.normal(20.0, 4.0, n)              # what both scenarios share (the same citizens)
    a = common + rng.normal(0, 0.3, n)
    b = common - 2.0 + rng.normal(0, 0.3, n)
    per_rep = pd.DataFrame({"scenario": ["a"] * n + ["b"] * n, "replication": list(range(n)) * 2,
                            "kpi": "wait", "value": np.r_[a, b]})
    d = paired_differences(per_rep, "a").iloc[0]
    assert d["scenario"] == "b" and d["n"] == n
    assert d["mean"] == pytest.approx((b - a).mean())
    assert d["ci_low"] < -2.0 + 1.0 and d["ci_high"] > -2.0 - 1.0
    assert d["half_width"] < d["unpaired_half_width"] / 5
    assert d["unpaired_half_width"] == pytest.approx(welch_half_width(b, a))
    assert d["significant"] and d["relative"] == pytest.approx(d["mean"] / a.mean())


def test_summarise_leaves_out_missing_values():
    long = pd.DataFrame({"scenario": ["s"] * 4, "kpi": ["no_show_rate"] * 4, "value": [0.1, np.nan, 0.2, 0.3]})
    row = summarise(long, ["scenario", "kpi"]).iloc[0]
    assert row["n"] == 3 and row["mean"] == pytest.approx(0.2)
    assert row["half_width"] == pytest.approx(interval([0.1, 0.2, 0.3])["half_width"])


def test_sequential_stopping_arithmetic():
    assert precise_enough(10.0, 0.4, 0.05) and not precise_enough(10.0, 0.6, 0.05)
    assert precise_enough(0.01, 0.004, 0.05, absolute=0.005)
    assert not precise_enough(10.0, float("nan"), 0.05)
    # half-width ∝ 1/√n: halving it needs four times the replications
    assert replications_needed(5, 10.0, 1.0, 0.05) == 20
    assert replications_needed(5, 10.0, 0.1, 0.05) == 6  # never fewer than one more

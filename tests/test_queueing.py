"""The model against queueing theory, with tolerances from confidence intervals across replications.

Each check uses independent replications (different random streams) of a long always-open run and
asserts that the analytic value lies in the 99 % Student-t interval of the replication means.
"""
import numpy as np
import pytest
from scipy import stats

from fssim.config import config_from_dict
from fssim.engine.queueing import erlang_a, erlang_c, erlang_c_mean_wait, erlang_c_wait_exceeds
from fssim.metrics.tables import kpis
from fssim.run import simulate

from conftest import queue_config

LEVEL = 0.99


def interval(values):
    v = np.asarray(values, dtype=float)
    hw = stats.t.ppf(0.5 + LEVEL / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return v.mean() - hw, v.mean() + hw


def per_replication(result):
    cfg = result.config
    return kpis(result.visits, result.sessions, None, threshold=cfg.outputs.wait_threshold_min,
                warmup_days=cfg.horizon.warmup_days, origin=cfg.horizon.start)


@pytest.fixture(scope="module")
def mmc():
    # c = 3 agents, 20-minute exponential service, 6.75 arrivals/hour: offered load 2.25, rho = 0.75
    cfg = config_from_dict(queue_config(agents=3, rate_per_hour=6.75, service={"dist": "exponential", "mean": 20},
                                        patience=None, threshold=10.0, days=100, replications=20))
    return simulate(cfg)


def test_erlang_c_mean_wait(mmc):
    reps = per_replication(mmc)
    lo, hi = interval(reps["mean_wait_min"])
    theory = erlang_c_mean_wait(3, 6.75 / 60, 20)
    assert lo <= theory <= hi, (lo, theory, hi)


def test_erlang_c_probability_of_waiting_longer_than_t(mmc):
    reps = per_replication(mmc)
    lo, hi = interval(reps["share_wait_over_threshold"])
    theory = erlang_c_wait_exceeds(3, 6.75 / 60, 20, 10.0)
    assert lo <= theory <= hi, (lo, theory, hi)


def test_erlang_c_probability_of_waiting(mmc):
    v = mmc.visits
    shares = [(g.loc[g["outcome"] == "served", "wait_min"] > 1e-9).mean()
              for _, g in v[v["arrival"] >= v["arrival"].min() + np.timedelta64(2, "D")].groupby("replication")]
    lo, hi = interval(shares)
    assert lo <= erlang_c(3, 6.75 / 60, 20) <= hi


def test_no_abandonment_without_patience(mmc):
    assert (mmc.visits["outcome"] == "gave_up").sum() == 0


def test_erlang_a_abandonment_share():
    # M/M/3+M: 9 arrivals/hour, 20-minute service, exponential patience of mean 15 minutes
    cfg = config_from_dict(queue_config(agents=3, rate_per_hour=9.0, service={"dist": "exponential", "mean": 20},
                                        patience={"dist": "exponential", "mean": 15}, days=60, replications=20))
    res = simulate(cfg)
    reps = per_replication(res)
    theory = erlang_a(3, 9 / 60, 20, 15)
    lo, hi = interval(reps["abandonment_rate"])
    assert lo <= theory["abandonment"] <= hi, (lo, theory["abandonment"], hi)
    # and the share of arrivals who wait at all (served or not)
    v = res.visits
    v = v[v["arrival"] >= v["arrival"].min() + np.timedelta64(2, "D")]
    waited = [(g["time_in_queue_min"] > 1e-9).mean() for _, g in v.groupby("replication")]
    lo, hi = interval(waited)
    assert lo <= theory["p_wait"] <= hi, (lo, theory["p_wait"], hi)


def time_average_queue(arrival, leave, t0, t1):
    """Time-average number of citizens in the queue over [t0, t1], from the event times."""
    times = np.concatenate([arrival, leave])
    steps = np.concatenate([np.ones(len(arrival)), -np.ones(len(leave))])
    order = np.argsort(times, kind="stable")
    times, steps = times[order], steps[order]
    level = np.cumsum(steps)
    inside = (times >= t0) & (times <= t1)
    times, level = np.r_[t0, times[inside], t1], np.r_[0, level[inside]]
    return float((np.diff(times) * level).sum() / (t1 - t0))


def test_littles_law():
    cfg = config_from_dict(queue_config(agents=2, rate_per_hour=5.0, service={"dist": "lognormal", "mean": 20, "cv": 0.8},
                                        patience={"dist": "triangular", "min": 5, "mode": 20, "max": 40},
                                        days=20, replications=1))
    v = simulate(cfg).visits
    q = v[v["outcome"] != "no_show"]
    origin = np.datetime64(cfg.horizon.start)
    arr = (q["arrival"].to_numpy() - origin) / np.timedelta64(1, "m")
    leave = arr + q["time_in_queue_min"].to_numpy()
    horizon = cfg.horizon.days * 1440.0
    L = time_average_queue(arr, leave, 0.0, horizon)
    lam = len(q) / horizon
    W = q["time_in_queue_min"].mean()
    assert L > 0.1
    assert abs(L - lam * W) / L < 0.01

"""Analytic queueing results used to validate the simulation and to seed staffing searches.

* Erlang C (M/M/c): probability of waiting, mean wait, P(wait > t).
* Erlang A (M/M/c+M, exponential patience): stationary distribution of the birth–death chain, giving
  the abandonment share, P(wait > 0) and the mean time in queue.
Rates are per minute, times in minutes.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special


def erlang_c(c: int, lam: float, mean_service: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (requires lam * mean_service < c)."""
    a = lam * mean_service
    if a >= c:
        raise ValueError(f"unstable queue: offered load {a:.3f} >= {c} servers")
    # Erlang B by its stable recursion, then C from B
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1 - rho + rho * b)


def erlang_c_mean_wait(c: int, lam: float, mean_service: float) -> float:
    mu = 1 / mean_service
    return erlang_c(c, lam, mean_service) / (c * mu - lam)


def erlang_c_wait_exceeds(c: int, lam: float, mean_service: float, t: float) -> float:
    """P(wait > t) in an M/M/c queue."""
    mu = 1 / mean_service
    return erlang_c(c, lam, mean_service) * math.exp(-(c * mu - lam) * t)


def erlang_a(c: int, lam: float, mean_service: float, mean_patience: float, tol: float = 1e-12) -> dict:
    """M/M/c+M: abandonment share, P(wait > 0), mean time in queue (all arrivals), mean queue length."""
    mu, theta = 1 / mean_service, 1 / mean_patience
    # unnormalised log-probabilities of the birth–death chain, truncated where they become negligible
    logs = [0.0]
    n = 0
    while True:
        n += 1
        death = min(n, c) * mu + max(n - c, 0) * theta
        logs.append(logs[-1] + math.log(lam) - math.log(death))
        if n > c and logs[-1] - max(logs) < math.log(tol) and n > 10 * c:
            break
    lp = np.array(logs)
    p = np.exp(lp - special.logsumexp(lp))
    states = np.arange(len(p))
    queue = np.maximum(states - c, 0)
    mean_queue = float((queue * p).sum())
    return {
        "abandonment": theta * mean_queue / lam,      # abandonment rate / arrival rate
        "p_wait": float(p[c:].sum()),                  # PASTA
        "mean_time_in_queue": mean_queue / lam,        # Little's law
        "mean_queue": mean_queue,
    }


def square_root_staffing(lam: float, mean_service: float, beta: float = 1.0) -> int:
    """Halfin–Whitt rule c = a + beta * sqrt(a): a starting point for staffing searches."""
    a = lam * mean_service
    return max(1, math.ceil(a + beta * math.sqrt(a)))

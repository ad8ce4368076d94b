"""Benchmarks: figures printed, never asserted in tests.

``bench_site``: visits simulated per second for the full-featured default site workload (profiles,
appointments with no-shows, reneging, closing and returns, follow-ups), and on the same number of
arrivals an idiomatic SimPy M/M/c (one process per customer and a ``simpy.Resource``) as baseline.
"""
from __future__ import annotations

from fssim.clock import WORKDAYS

import time

import numpy as np
import simpy

from fssim.config import Config, config_from_dict
from fssim.demand.arrivals import DemandModel
from fssim.metrics.tables import visits_table
from fssim.engine.simulation import simulate_sites


def default_site_workload(visits_per_open_day: float = 60.0, agents: int = 5) -> Config:
    """A busy site with every feature switched on (the defaults of fssim.defaults elsewhere)."""
    return config_from_dict({
        "name": "bench-site",
        "horizon": {"start": "2024-01-01", "days": 365},
        "seed": 1,
        "demand": {"visits_per_open_day": visits_per_open_day},
        "sites": [{"id": "bench", "agents": agents, "appointments": True,
                   "hours": {d: "08:30-12:30 / 13:30-17:30" for d in WORKDAYS}
                   | {"sat": "09:00-12:00"}}],
    })


def baseline_mmc(n: int, lam_per_min: float, mean_service: float, c: int, seed: int = 1) -> float:
    """Idiomatic SimPy M/M/c: a process per customer and a Resource; returns the wall time in seconds."""
    rng = np.random.default_rng(seed)
    inter = rng.exponential(1 / lam_per_min, n)
    serv = rng.exponential(mean_service, n)
    waits = []

    def customer(env, desk, s):
        t0 = env.now
        with desk.request() as req:
            yield req
            waits.append(env.now - t0)
            yield env.timeout(s)

    def source(env, desk):
        for i in range(n):
            yield env.timeout(inter[i])
            env.process(customer(env, desk, serv[i]))

    t = time.perf_counter()
    env = simpy.Environment()
    desk = simpy.Resource(env, capacity=c)
    env.process(source(env, desk))
    env.run()
    return time.perf_counter() - t


def _site_rate(cfg: Config, model: DemandModel, min_visits: int, kernel: str) -> tuple[float, int, object]:
    """(visits per second, visits, last visits table) of whole replications of ``cfg`` on ``kernel``."""
    visits, wall, rep = 0, 0.0, 0
    while visits < min_visits:
        t = time.perf_counter()
        runs = [(rep, simulate_sites(cfg, cfg.sites, rep, model, kernel=kernel))]
        table = visits_table(cfg, runs)
        wall += time.perf_counter() - t
        visits += len(table)
        rep += 1
    return visits / wall, visits, table


def bench_site(min_visits: int = 100_000, rounds: int = 3) -> dict:
    """The full model (demand, counter and visits table) on the compiled and the Python kernel, and the
    idiomatic SimPy baseline on as many arrivals. The compiled kernel is loaded (or compiled) before timing.
    ``rounds`` rounds time the three in turn (a shared machine's speed drifts between seconds): the rates are each
    one's median, ``ratio`` the median of the rounds' ratios and ``ratio_range`` their lowest and highest."""
    cfg = default_site_workload()
    model = DemandModel(cfg)
    simulate_sites(cfg, cfg.sites, 0, model, kernel="compiled")  # load the machine code from numba's cache
    rates, py_rates, base_rates = [], [], []
    for _ in range(rounds):
        rate, visits, table = _site_rate(cfg, model, min_visits, "compiled")
        py_rates.append(_site_rate(cfg, model, min_visits, "python")[0])
        mean_service = float(np.nanmean(table["service_min"]))
        base = baseline_mmc(visits, lam_per_min=0.9 * 5 / mean_service, mean_service=mean_service, c=5)
        rates.append(rate)
        base_rates.append(visits / base)
    rate, py_rate, base_rate = (float(np.median(x)) for x in (rates, py_rates, base_rates))
    ratios, py_ratios = np.array(rates) / np.array(base_rates), np.array(py_rates) / np.array(base_rates)
    return {"visits_per_s": round(rate, 1), "python_kernel_visits_per_s": round(py_rate, 1),
            "baseline_visits_per_s": round(base_rate, 1), "ratio": round(float(np.median(ratios)), 3),
            "ratio_range": [round(float(ratios.min()), 3), round(float(ratios.max()), 3)],
            "python_kernel_ratio": round(float(np.median(py_ratios)), 3), "visits": int(visits), "rounds": rounds}

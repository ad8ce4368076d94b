"""Driving between stops: road minutes between any two points, and a short closed tour through them.

Used by the designed rotations (fssim.network.rotation) and the generated stops of the ANCT buses
(fssim.network.buses): a bus's stops follow a tour from its base so that the stops of a day are neighbours.
"""

from __future__ import annotations

import numpy as np

from fssim.geo.travel import TravelMatrix


def has_minutes(model) -> bool:
    """Whether `model` can time the drive between any two points (a commune → site matrix cannot)."""
    return hasattr(model, "minutes") and not isinstance(model, TravelMatrix)


def minutes_matrix(model, lat, lon, density) -> np.ndarray:
    """Square matrix of road minutes between points (row = origin, with its density class)."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    if len(lat) == 0:
        return np.zeros((0, 0))
    t = np.asarray(model.minutes(lat, lon, np.asarray(density, dtype=object), lat, lon), dtype=float)
    np.fill_diagonal(t, 0.0)
    return t


def tour_length(cost: np.ndarray, order: list[int], start: int = 0) -> float:
    """Length of the closed tour start → order… → start."""
    path = [start, *order, start]
    return float(sum(cost[a, b] for a, b in zip(path, path[1:])))


def solve_tour(cost: np.ndarray, start: int = 0, max_rounds: int = 50) -> list[int]:
    """A short closed tour from `start` through every other node: nearest neighbour, then 2-opt.

    `cost` may be asymmetric (road minutes depend on the origin); a 2-opt move reverses a segment and is kept
    when the whole tour gets shorter. Returns the nodes after `start`, in order.
    """
    n = len(cost)
    left = [i for i in range(n) if i != start]
    order, here = [], start
    while left:
        j = min(left, key=lambda k: (cost[here, k], k))
        order.append(j)
        left.remove(j)
        here = j
    best = tour_length(cost, order, start)
    for _ in range(max_rounds):
        improved = False
        for i in range(len(order) - 1):
            for k in range(i + 1, len(order)):
                trial = order[:i] + order[i:k + 1][::-1] + order[k + 1:]
                length = tour_length(cost, trial, start)
                if length < best - 1e-9:
                    order, best, improved = trial, length, True
        if not improved:
            break
    return order

"""Chord lengths on the unit sphere from one point to many: the inner loop of demand-aware placement,
compiled with numba (``np.linalg.norm(u - v, axis=1)`` adds the squares in the same order, so the lengths are the
same to the bit; ``tests/test_travel.py`` checks it)."""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def chords_from(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """|u[i] − v| for points ``u`` (n × 3) and one point ``v`` (3,), all on the unit sphere."""
    out = np.empty(u.shape[0])
    for i in range(u.shape[0]):
        dx = u[i, 0] - v[0]
        dy = u[i, 1] - v[1]
        dz = u[i, 2] - v[2]
        out[i] = np.sqrt(dx * dx + dy * dy + dz * dz)
    return out

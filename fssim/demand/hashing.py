"""Counter-based uniforms compiled with numba: the loop of :meth:`fssim.demand.randomness.Streams.uniforms`.

Integer arithmetic modulo 2**64 and one exact conversion to float, so the uniforms are the same to the bit as
the numpy expression they replace (``tests/test_crn.py`` checks it); one pass instead of a dozen temporary arrays.
"""
from __future__ import annotations

import numba
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, nogil=True, inline="always")
def _mix(z):
    """SplitMix64 finaliser (Steele, Lea & Flood 2014)."""
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def hashed_uniforms(k0, k1, unit, index):
    """Uniform in (0, 1) of each (unit, index) pair under the stream key (k0, k1); ``unit`` and ``index`` int64."""
    n = max(unit.shape[0], index.shape[0])
    out = np.empty(n)
    one = np.uint64(1)
    scale = 2.0 ** -53
    for i in range(n):
        u = np.uint64(unit[i if unit.shape[0] > 1 else 0])
        x = np.uint64(index[i if index.shape[0] > 1 else 0])
        h = _mix(k0 + (u + one) * GOLDEN)
        h = _mix(h ^ (k1 + (x + one) * GOLDEN))
        out[i] = (np.float64(h >> np.uint64(11)) + 0.5) * scale
    return out

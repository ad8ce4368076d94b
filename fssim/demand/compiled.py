"""The demand stage's compiled loops (numba), each the same arithmetic in the same order as the numpy it replaces.

* :func:`hashed_uniforms`: the counter-based uniforms of :meth:`fssim.demand.randomness.Streams.uniforms`, integer
  arithmetic modulo 2**64 and one exact conversion to float (``tests/test_crn.py`` checks them against numpy);
* :func:`first_demarche` and :func:`further_demarches`: which démarches a visit handles, from the day's mix at the
  visit's uniforms (:func:`fssim.demand.arrivals._further_demarches` says the rule); sums run in order, as numpy's
  ``cumsum`` does, so the picks are the same (``tests/test_model.py`` checks them against the numpy rule).
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


@numba.njit(cache=True, nogil=True)
def first_demarche(u, mix_cum, day):
    """Index of each visit's first démarche: how many of the day's cumulative shares its uniform exceeds."""
    n, D = len(u), mix_cum.shape[1]
    out = np.empty(n, np.int16)
    for i in range(n):
        k = 0
        for q in range(D):
            if u[i] > mix_cum[day[i], q]:
                k += 1
        out[i] = k
    return out


@numba.njit(cache=True, nogil=True)
def further_demarches(mix, day, first, count, u, others):
    """Fill ``others`` (visits × (most − 1)) with each visit's further démarches: the j-th from the day's mix
    ``mix`` without the ones already drawn, at uniform ``u[j − 1, visit]``; never a démarche already drawn."""
    D = mix.shape[1]
    left, cum = np.empty(D), np.empty(D)
    for i in range(len(day)):
        if count[i] <= 1:
            continue
        for q in range(D):
            left[q] = mix[day[i], q]
        left[first[i]] = 0.0
        for j in range(1, count[i]):
            acc = 0.0
            for q in range(D):
                acc += left[q]
                cum[q] = acc
            target = u[j - 1, i] * cum[D - 1]
            last = D - 1
            for q in range(D - 1, -1, -1):  # the last démarche left (numpy: the first True from the end, else the end)
                if left[q] > 0:
                    last = q
                    break
            pick = 0
            for q in range(D):
                if target > cum[q]:
                    pick += 1
            pick = min(pick, last)
            others[i, j - 1] = pick
            left[pick] = 0.0

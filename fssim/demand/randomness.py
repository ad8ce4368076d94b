"""Random streams keyed by stable names (common random numbers).

Every stream is a numpy Generator seeded from ``SeedSequence(seed, spawn_key=(replication, site, stream))``
where names are turned into integers by a stable hash (not Python's salted ``hash``). So the draws of
site A do not depend on whether site B exists, on its staffing, on the order sites are simulated in, or
on how many workers run them: adding a site or changing staffing leaves every other draw unchanged.
Within a site, :class:`Streams` gives one stream per attribute of the citizens and counter-based uniforms
keyed by (demand unit, citizen index), so a citizen's draws do not depend on the other citizens either.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np


def stable_key(name: str | int) -> int:
    """A 32-bit integer from a name, identical on every machine and Python run."""
    if isinstance(name, int):
        return name
    return _name_key(name)


@lru_cache(maxsize=4096)
def _name_key(name: str) -> int:  # stream names recur at every site: hashed once
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=4).digest(), "little")


def stream(seed: int, replication: int, *names: str | int) -> np.random.Generator:
    """The Generator for (seed, replication, *names), e.g. ``stream(42, 0, "site-12", "arrivals")``."""
    key = (int(replication),) + tuple(stable_key(n) for n in names)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))


class Streams:
    """The named streams of one site or bus in one replication.

    ``uniforms(name, unit, index)`` is counter-based: the uniform of citizen ``index`` of demand unit ``unit``
    (an open day, a bus's stop visit) is a hash of the stream key and the pair, so it does not depend on how many other
    citizens there are nor on the order they are drawn in. That is what keeps a citizen's démarche, service
    time and decisions when appointments re-sort the day or the volume of the site changes.
    """

    def __init__(self, seed: int, replication: int, *names: str | int):
        self.seed = int(seed)
        self._spawn = (int(replication),) + tuple(stable_key(n) for n in names)

    @classmethod
    def of(cls, rng: np.random.Generator) -> "Streams":
        """The streams below an existing stream's key (``stream(seed, rep, site, "demand")``)."""
        ss = rng.bit_generator.seed_seq
        return cls(ss.entropy, *(int(k) for k in ss.spawn_key))  # keys are already integers

    def _seq(self, name: str) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed, spawn_key=self._spawn + (stable_key(name),))

    def uniforms(self, name: str, unit, index) -> np.ndarray:
        """Uniforms in (0, 1), one per (unit, index) pair, identical whatever the other pairs asked for."""
        from fssim.demand.compiled import hashed_uniforms  # numba: imported when a site first draws

        k0, k1 = self._seq(name).generate_state(2, np.uint64)
        unit, index = np.broadcast_arrays(np.asarray(unit, dtype=np.int64), np.asarray(index, dtype=np.int64))
        out = hashed_uniforms(k0, k1, unit.ravel(), index.ravel())
        return out.reshape(unit.shape) if unit.ndim else out[0]

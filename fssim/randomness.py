"""Random streams keyed by stable names (common random numbers).

Every stream is a numpy Generator seeded from ``SeedSequence(seed, spawn_key=(replication, site, stream))``
where names are turned into integers by a stable hash (not Python's salted ``hash``). So the draws of
site A do not depend on whether site B exists, on its staffing, on the order sites are simulated in, or
on how many workers run them: adding a site or changing staffing leaves every other draw unchanged.
"""
from __future__ import annotations

import hashlib

import numpy as np


def stable_key(name: str | int) -> int:
    """A 32-bit integer from a name, identical on every machine and Python run."""
    if isinstance(name, int):
        return name
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=4).digest(), "little")


def stream(seed: int, replication: int, *names: str | int) -> np.random.Generator:
    """The Generator for (seed, replication, *names), e.g. ``stream(42, 0, "site-12", "arrivals")``."""
    key = (int(replication),) + tuple(stable_key(n) for n in names)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))

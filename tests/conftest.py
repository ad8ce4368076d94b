"""Shared helpers: small scenarios built in code, and the shared data folder beside the repository."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fssim.config import config_from_dict


LONG_TEXT = 5_000


def pytest_assertrepr_compare(op, left, right):
    """A short explanation when an assertion compares long texts (a report's HTML): pytest's own diff of a
    megabyte string takes hours, which once made a single failing test look like a hung suite."""
    if isinstance(left, str) and isinstance(right, str) and max(len(left), len(right)) > LONG_TEXT:
        def head(s):
            return repr(s[:200]) + (f"… ({len(s):,} characters)" if len(s) > 200 else "")
        return [f"{head(left)} {op} {head(right)}: false"]
    return None

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FSSIM_DATA_DIR", REPO.parent / "shared" / "data"))


def queue_config(*, agents: int, rate_per_hour: float, service: dict, patience: dict | None,
                 days: int = 40, warmup_days: int = 2, replications: int = 10, seed: int = 7,
                 threshold: float = 15.0) -> dict:
    """One always-open site with constant Poisson arrivals and one démarche a visit: a textbook queue."""
    return {
        "name": "queue",
        "horizon": {"start": "2023-01-02", "days": days, "warmup_days": warmup_days},
        "seed": seed,
        "replications": replications,
        "holidays": {"closed": False},
        "demarches": [{"name": "any", "share": 1.0, "service": service}],
        "demand": {"rate_per_hour": rate_per_hour, "mix_shifts": []},
        "behaviour": {"patience": patience, "appointment_share": 0.0, "demarches_per_visit": {1: 1.0}},
        "outputs": {"wait_threshold_min": threshold},
        "sites": [{"id": "q", "always_open": True, "agents": agents}],
    }


def small_network(**site_overrides) -> dict:
    """Two ordinary sites over a month, every feature on (profiles, appointments, closing, returns)."""
    base = {
        "name": "small",
        "horizon": {"start": "2024-04-01", "days": 42},
        "seed": 11,
        "replications": 2,
        "demand": {"visits_per_open_day": 30},
        "sites": [
            {"id": "a", "agents": 2, "appointments": True},
            {"id": "b", "agents": {"mon": [3, 2], "tue": 2, "wed": 2, "thu": 2, "fri": [2, 1]},
             "hours": {d: "09:00-12:00 / 13:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}},
        ],
    }
    for k, v in site_overrides.items():
        base[k] = v
    return base


@pytest.fixture
def cfg_small():
    return config_from_dict(small_network())


def arrivals_of(cfg, site_index: int = 0, replication: int = 0):
    """The primary visits the demand stage draws for one listed site of ``cfg`` (no holidays closed)."""
    from fssim.engine.calendar import site_sessions
    from fssim.demand.arrivals import DemandModel, generate_arrivals
    from fssim.demand.profiles import profile_of
    from fssim.demand.randomness import stream

    site = cfg.sites[site_index]
    model = DemandModel(cfg)
    sessions = site_sessions(site, cfg.horizon, set())
    return generate_arrivals(model, site, sessions, profile_of(model, site, sessions),
                             stream(cfg.seed, replication, site.id, "demand"))

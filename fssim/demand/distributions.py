"""Duration distributions (service times, patience), validated from YAML and sampled with numpy.

A distribution is written in a config as a mapping with a ``dist`` key::

    {dist: lognormal, mean: 25, cv: 0.6}
    {dist: exponential, mean: 20}
    {dist: fixed, value: 10}
    {dist: triangular, min: 15, mode: 30, max: 60}
    {dist: empirical, values: [12, 18, 25, 40]}     # resampled with replacement
    {dist: empirical, file: durations.csv, column: minutes}

All durations are in minutes. ``ppf(u)`` (the quantile function) turns uniforms into durations: the
simulation draws one uniform per citizen and maps it through the distribution of the citizen's démarche,
so a different mix of démarches or one more citizen leaves every other citizen's duration unchanged.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator
from scipy.special import ndtri


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def ppf(self, u) -> np.ndarray:  # pragma: no cover - abstract
        """Quantile function: the duration at each cumulative probability in ``u`` (in (0, 1))."""
        raise NotImplementedError


class LogNormal(_Dist):
    """Log-normal given by its mean and coefficient of variation (the natural way to state a duration)."""

    dist: Literal["lognormal"]
    mean: PositiveFloat
    cv: PositiveFloat

    @property
    def expected(self) -> float:
        return self.mean

    def sample(self, rng, n):
        sigma2 = math.log1p(self.cv**2)
        mu = math.log(self.mean) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), n)

    def ppf(self, u):
        sigma2 = math.log1p(self.cv**2)
        mu = math.log(self.mean) - sigma2 / 2
        return np.exp(mu + math.sqrt(sigma2) * ndtri(np.asarray(u, dtype=float)))


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean: PositiveFloat

    @property
    def expected(self) -> float:
        return self.mean

    def sample(self, rng, n):
        return rng.exponential(self.mean, n)

    def ppf(self, u):
        return -self.mean * np.log1p(-np.asarray(u, dtype=float))


class Fixed(_Dist):
    dist: Literal["fixed"]
    value: float = Field(ge=0)

    @property
    def expected(self) -> float:
        return self.value

    def sample(self, rng, n):
        return np.full(n, float(self.value))

    def ppf(self, u):
        return np.full(np.shape(u), float(self.value))


class Triangular(_Dist):
    dist: Literal["triangular"]
    min: float = Field(ge=0)
    mode: float = Field(ge=0)
    max: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self):
        if not (self.min <= self.mode <= self.max) or self.min == self.max:
            raise ValueError("triangular needs min <= mode <= max and min < max")
        return self

    @property
    def expected(self) -> float:
        return (self.min + self.mode + self.max) / 3

    def sample(self, rng, n):
        return rng.triangular(self.min, self.mode, self.max, n)

    def ppf(self, u):
        u = np.asarray(u, dtype=float)
        a, c, b = self.min, self.mode, self.max
        left = (c - a) / (b - a)
        return np.where(u < left, a + np.sqrt(u * (b - a) * (c - a)), b - np.sqrt((1 - u) * (b - a) * (b - c)))


class Empirical(_Dist):
    """Resample observed durations: inline ``values`` or a CSV ``file`` with a ``column``."""

    dist: Literal["empirical"]
    values: list[Annotated[float, Field(ge=0)]] | None = None
    file: str | None = None
    column: str = "minutes"

    @model_validator(mode="after")
    def _one_source(self):
        if (self.values is None) == (self.file is None):
            raise ValueError("empirical needs exactly one of 'values' (a list of minutes) or 'file' (a CSV path)")
        if self.values is not None and len(self.values) == 0:
            raise ValueError("empirical 'values' is empty: give at least one duration in minutes")
        return self

    def data(self) -> np.ndarray:
        if self.values is not None:
            return np.asarray(self.values, dtype=float)
        return _read_durations(self.file, self.column)

    @property
    def expected(self) -> float:
        return float(self.data().mean())

    def sample(self, rng, n):
        return rng.choice(self.data(), n, replace=True)

    def ppf(self, u):
        """The empirical quantile (sorted values, each with probability 1/n): resampling with replacement."""
        values = np.sort(self.data())
        k = np.minimum((np.asarray(u, dtype=float) * len(values)).astype(np.int64), len(values) - 1)
        return values[k]


def _read_durations(file: str, column: str) -> np.ndarray:
    import pandas as pd

    from fssim.errors import InputError

    path = Path(file)
    if not path.exists():
        raise InputError("file not found; give a CSV with a column of durations in minutes", file=file)
    df = pd.read_csv(path)
    if column not in df.columns:
        raise InputError(f"no column {column!r} (columns: {', '.join(df.columns)}); set 'column'", file=file)
    vals = pd.to_numeric(df[column], errors="coerce").to_numpy(float)
    if np.isnan(vals).any() or (vals < 0).any() or len(vals) == 0:
        raise InputError(f"column {column!r} must hold non-negative numbers of minutes", file=file)
    return vals


Distribution = Annotated[Union[LogNormal, Exponential, Fixed, Triangular, Empirical], Field(discriminator="dist")]

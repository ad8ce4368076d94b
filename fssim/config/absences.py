"""The schema of agent absences and planned closures at fixed sites (buses have their own ``absences`` dates).

A network-wide block (``Config.absences``) applies to every fixed site, listed or built from a ``network``;
a site's own block (``Site.absences``) overrides it field by field: a field the site leaves out (None) is the
network's, and its ``closures`` add to the network's. The simulation reads the merged block through
:func:`absences_of`; what it does with it is :mod:`fssim.engine.absences`.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from fssim import defaults as D
from fssim.config.base import Share, _Model

BelowMinimum = Literal["close", "open_with_one"]


def _rate(v):
    """A probability per agent and open day: say so when it is not one (1.5, 15 for 15 %…)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and not 0 <= v <= 1:
        raise ValueError("not a probability: give the chance that one agent is absent on an open day, "
                         f"from 0 to 1 (e.g. {D.AGENT_DAILY_ABSENCE:.3f}, the sourced figure; 15 % is 0.15)")
    return v


def _dates(v):
    """Closure dates: each one a real date, written YYYY-MM-DD."""
    if not isinstance(v, list):
        raise ValueError("give a list of dates, e.g. [2024-08-14, 2024-12-24]")
    out = []
    for i, d in enumerate(v):
        if isinstance(d, dt.datetime):
            d = d.date()
        if isinstance(d, str):
            try:
                d = dt.date.fromisoformat(d.strip())
            except ValueError:
                raise ValueError(f"item {i + 1} ({d!r}) is not a date: write YYYY-MM-DD, e.g. 2024-08-14") from None
        if not isinstance(d, dt.date):
            raise ValueError(f"item {i + 1} ({d!r}) is not a date: write YYYY-MM-DD, e.g. 2024-08-14")
        out.append(d)
    return out


class Absences(_Model):
    """Agents absent at random and days a site is closed on purpose (network-wide defaults).

    Each open day, each agent of a fixed site is absent with probability ``agent_daily_rate`` (0: never, the
    default; the sourced figure is ``fssim.defaults.AGENT_DAILY_ABSENCE``). When absences leave fewer than
    ``minimum_agents`` agents (the label's 2), ``below_minimum: close`` closes the site that day (citizens who
    come are turned away and may come back another day), ``open_with_one`` opens with those present (closed
    only when nobody is). ``closures``: dates the site is closed, like a public holiday.
    """

    agent_daily_rate: Share = Field(0.0, description="probability that an agent is absent on an open day")
    closures: list[dt.date] = Field(default_factory=list, description="dates closed on purpose (YYYY-MM-DD)")
    below_minimum: BelowMinimum = Field("close", description="close, or open_with_one: open with the agents "
                                        "present when absences leave fewer than minimum_agents")
    minimum_agents: PositiveInt = Field(D.LABEL_MINIMUM_AGENTS, description="agents needed to open")

    _check_rate = field_validator("agent_daily_rate", mode="before")(_rate)
    _check_dates = field_validator("closures", mode="before")(_dates)

    @property
    def active(self) -> bool:
        """Does this block change anything (absences drawn or dates closed)?"""
        return self.agent_daily_rate > 0 or bool(self.closures)


class SiteAbsences(_Model):
    """A site's own absences: each field given overrides the network-wide ``absences``; closures add to its."""

    agent_daily_rate: Share | None = None
    closures: list[dt.date] = Field(default_factory=list)
    below_minimum: BelowMinimum | None = None
    minimum_agents: PositiveInt | None = None

    _check_rate = field_validator("agent_daily_rate", mode="before")(_rate)
    _check_dates = field_validator("closures", mode="before")(_dates)


def absences_of(network: Absences, site) -> Absences:
    """The absences in force at a fixed site: the network's, overridden by the site's own fields."""
    own: SiteAbsences | None = getattr(site, "absences", None)
    if own is None:
        return network
    given = {k: v for k, v in own.model_dump().items() if v is not None and k != "closures"}
    closures = sorted(set(network.closures) | set(own.closures))
    return network.model_copy(update={**given, "closures": closures})


__all__ = ["Absences", "SiteAbsences", "absences_of", "BelowMinimum"]

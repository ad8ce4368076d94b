"""The schema of a booking calendar: slots that fill days ahead, lead times, no-shows and reminders.

``behaviour.booking`` is the network default and a site's own ``booking`` block replaces it for that site;
either acts only at sites that offer appointments (``appointments: true``) and only with ``calendar: true``.
Off (the default), a booking is the same-day arrival moved to the start of its slot
(``behaviour.slot_minutes``, ``behaviour.appointment_desks``, ``behaviour.no_show``). The calendar itself is
:mod:`fssim.demand.booking`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from fssim import defaults as D
from fssim.config.base import Share, _Model
from fssim.demand.distributions import Distribution, LogNormal

#: the fields that mean something only with ``calendar: true``
CALENDAR_FIELDS = ("slot_minutes", "slots_per_interval", "reserved_agents", "lead_days", "horizon_days", "when_full",
                   "no_show_by_lead", "reminders", "reminder_effect", "follow_ups")


class Booking(_Model):
    """A site's appointment calendar (``calendar: true``), or none (the same-day slot rule).

    Citizens who want an appointment (``behaviour.appointment_share``) booked ``lead_days`` before the moment
    they want to be seen (their drawn arrival) and take the earliest slot at or after it that has room, within
    ``horizon_days`` of the day they booked. Each slot (``slot_minutes`` long, inside the opening sessions)
    takes ``slots_per_interval`` bookings, or one per agent of ``reserved_agents`` (never more than the agents
    on duty). When no slot has room within the horizon, ``when_full: walk_in`` makes the citizen a walk-in at
    their drawn time, ``next_free`` books the next free slot however far. No-shows follow the lead time
    (``no_show_by_lead``: from ``k`` days of lead on, that share), cut by ``reminder_effect`` with ``reminders``.
    """

    calendar: bool = Field(False, description="book through a calendar of slots days ahead (default: same-day slots)")
    slot_minutes: PositiveInt | None = Field(None, description="length of a slot (default: behaviour.slot_minutes)")
    slots_per_interval: PositiveInt | None = Field(
        None, description="bookings each slot takes (default: behaviour.appointment_desks); or give reserved_agents")
    reserved_agents: PositiveInt | None = Field(
        None, description="agents whose time is booked: each takes one booking per slot (capped by the agents on "
        "duty); the counter still calls booked citizens first with whichever agent is free")
    lead_days: Distribution = Field(
        default_factory=lambda: LogNormal(**D.BOOKING_LEAD_DAYS),
        description="days between booking and the wanted visit (whole days: the value rounded down, at most "
        "horizon_days)")
    horizon_days: PositiveInt = Field(D.BOOKING_HORIZON_DAYS, description="how many days ahead the calendar is open")
    when_full: Literal["walk_in", "next_free"] = Field(
        "walk_in", description="no slot with room within horizon_days: come as a walk-in at the drawn time, or "
        "take the next free slot beyond (a walk-in if none is left before the end of the simulated horizon)")
    no_show_by_lead: dict[NonNegativeInt, Share] = Field(
        default_factory=lambda: dict(D.NO_SHOW_BY_LEAD),
        description="no-show share by lead time: from that many days of lead on (0 must be given)")
    reminders: bool = Field(False, description="citizens are reminded of their appointment (SMS, e-mail)")
    reminder_effect: Share = Field(D.REMINDER_EFFECT, description="share of no-shows the reminders avoid")
    follow_ups: bool = Field(True, description="follow-up visits are booked through the calendar too")

    @field_validator("no_show_by_lead")
    @classmethod
    def _from_zero(cls, v: dict[int, float]) -> dict[int, float]:
        if 0 not in v:
            raise ValueError(f"no entry for 0 days (got {sorted(v)}); give the share for same-day bookings first, "
                             "e.g. {0: 0.05, 3: 0.12, 8: 0.18}")
        return dict(sorted(v.items()))

    @model_validator(mode="after")
    def _coherent(self):
        if self.slots_per_interval is not None and self.reserved_agents is not None:
            raise ValueError("reserved_agents: give slots_per_interval or reserved_agents, not both")
        if not self.calendar:
            fresh = type(self)(calendar=True)  # the defaults (a resolved config writes them all out)
            given = [f for f in CALENDAR_FIELDS if f in self.model_fields_set and getattr(self, f) != getattr(fresh, f)]
            if given:
                raise ValueError(f"calendar: {', '.join(given)} act only with calendar: true; set calendar: true "
                                 "or remove them")
        return self

    def no_show_share(self, lead):
        """No-show probability at each lead time (days), after reminders."""
        import numpy as np

        keys = np.array(list(self.no_show_by_lead), dtype=float)
        shares = np.array(list(self.no_show_by_lead.values()), dtype=float)
        p = shares[np.searchsorted(keys, np.asarray(lead, dtype=float), side="right") - 1]
        return p * (1.0 - self.reminder_effect) if self.reminders else p

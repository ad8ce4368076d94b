"""A site's booking calendar: slots inside its opening sessions, filled by citizens days ahead.

Demand is decided before the simulation (see :mod:`fssim.engine.simulation`), and so are the bookings of
first visits: :meth:`BookingCalendar.book` takes every appointment request of the horizon at once and gives
each its slot, in the order the requests were made. Each citizen who wants an appointment keeps the arrival
drawn for them as the moment they want to be seen; they booked ``lead`` whole days earlier (lead drawn from
``booking.lead_days`` on its own stream, ``booking_lead``, at most ``horizon_days``; so the citizens, their
démarches and their wanted times are the same with the calendar on or off, and demand keeps its weekday and
month profile, bookings made before the horizon's first day included). The request takes the slot the wanted
moment falls in (or the day's last slot before it), or the earliest slot after it with room, within
``horizon_days`` of the day it was made; otherwise ``when_full`` decides: a walk-in at the drawn time, or the
next free slot however far (a walk-in when none is left before the end of the simulated horizon).

Follow-ups are booked during the simulation (:meth:`BookingCalendar.follow_up`): the day the first visit is
served, for the landing moment the follow-up delay gives, in the slots the first visits left.

Why anchor the wanted moment on the drawn arrival rather than the request? The arrival profile is a profile
of visits; anchoring the request on it would shift a site's booked visits later by the lead and leave the
first days of the horizon without appointments.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fssim.config.booking import Booking
from fssim.engine.calendar import DAY, Session, session_list


def rule_of(site, behaviour) -> Booking:
    """The booking rule of a site: its own block, else the network's (``behaviour.booking``)."""
    own = getattr(site, "booking", None)
    return own if own is not None else behaviour.booking


def slots_of(sessions: list[Session], slot: float, per_slot: int | None, reserved: int | None):
    """(start, session index, capacity) of every slot: full slots of ``slot`` minutes from each session's start
    (a session shorter than a slot has one, at its start). Capacity: ``per_slot``, or ``reserved`` capped by
    the agents on duty when the slot starts."""
    starts, sess, cap = [], [], []
    for j, s in enumerate(sessions):
        n = max(1, int(np.floor((s.end - s.start) / slot + 1e-9)))
        t = s.start + slot * np.arange(n)
        starts.append(t)
        sess.append(np.full(n, j, dtype=np.int64))
        if reserved is None:
            cap.append(np.full(n, per_slot, dtype=np.int64))
        else:
            seg_start = np.array([a for a, _, _ in s.segments])
            agents = np.array([c for _, _, c in s.segments], dtype=np.int64)
            k = np.clip(np.searchsorted(seg_start, t, side="right") - 1, 0, len(agents) - 1)
            cap.append(np.minimum(agents[k], reserved))
    if not starts:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(starts), np.concatenate(sess), np.concatenate(cap)


@dataclass
class BookingCalendar:
    """The slots of one site over the horizon and how many bookings each has taken (a pure, mutable ledger)."""

    start: np.ndarray      # minutes from the horizon start, sorted
    session: np.ndarray    # index of the slot's session
    capacity: np.ndarray   # bookings the slot takes
    rule: Booking

    def __post_init__(self):
        self.day = np.floor(self.start / DAY).astype(np.int64)
        self.taken = np.zeros(len(self.start), dtype=np.int64)
        self._next = list(range(len(self.start) + 1))  # union-find: the first slot at or after i with room
        for i in np.flatnonzero(self.capacity <= 0):
            self._next[i] = i + 1

    @classmethod
    def of(cls, sessions: list[Session], rule: Booking, behaviour) -> "BookingCalendar":
        slot = rule.slot_minutes or behaviour.slot_minutes
        per = rule.slots_per_interval or behaviour.appointment_desks
        return cls(*slots_of(sessions, float(slot), per, rule.reserved_agents), rule)

    def _free(self, i: int) -> int:
        """The first slot at or after ``i`` with room (len(start) if none): path-halving union-find."""
        nxt = self._next
        while nxt[i] != i:
            nxt[i] = nxt[nxt[i]]
            i = nxt[i]
        return i

    def first_slot(self, t: float) -> int:
        """The slot moment ``t`` falls in, or the same day's last slot before it, or the next slot."""
        k = int(np.searchsorted(self.start, t, side="right")) - 1
        return k if k >= 0 and self.day[k] == int(t // DAY) else k + 1

    def take(self, booked_on: int, wanted: float) -> tuple[int, bool]:
        """Book one request made on day ``booked_on`` for moment ``wanted``: (slot or −1, within the horizon)."""
        k = self._free(self.first_slot(wanted))
        if k >= len(self.start):
            return -1, False
        within = self.day[k] <= booked_on + self.rule.horizon_days
        if not within and self.rule.when_full == "walk_in":
            return -1, False
        self.taken[k] += 1
        if self.taken[k] >= self.capacity[k]:
            self._next[k] = k + 1
        return k, bool(within)

    def book(self, wanted: np.ndarray, day: np.ndarray, lead_u: np.ndarray) -> dict[str, np.ndarray]:
        """Book the requests of citizens wanting moment ``wanted`` (on day ``day``), lead from ``lead_u``.

        Returns per request: ``slot`` (−1: no slot, the citizen comes as a walk-in), ``booked_on`` (day of the
        request), ``no_slot`` (no slot with room within the horizon) and ``lead`` (days from the request to the
        visit: the drawn lead, longer when slots are scarce)."""
        r = self.rule
        lead = np.clip(np.floor(r.lead_days.ppf(lead_u)), 0, r.horizon_days).astype(np.int64)
        booked_on = np.asarray(day, dtype=np.int64) - lead
        slot = np.full(len(wanted), -1, dtype=np.int64)
        within = np.zeros(len(wanted), dtype=bool)
        for i in np.lexsort((wanted, wanted - lead * DAY)):  # first asked, first booked
            slot[i], within[i] = self.take(int(booked_on[i]), float(wanted[i]))
        got = slot >= 0
        lead_now = np.where(got, self.day[np.maximum(slot, 0)] - booked_on, lead)
        return {"slot": slot, "booked_on": booked_on, "no_slot": ~within, "lead": lead_now}

    def follow_up(self, day: int, where: tuple[int, float] | None):
        """A follow-up booked on ``day`` for the landing ``where`` = (session, time): ((session, slot start),
        True) when a slot is taken, else (``where``, False): it comes as a walk-in."""
        if where is None or not self.rule.follow_ups:
            return where, False
        k, _ = self.take(day, where[1])
        if k < 0:
            return where, False
        return (int(self.session[k]), float(self.start[k])), True


def book_arrivals(site, behaviour, sessions, a: dict, wants: np.ndarray, draw):
    """Apply the site's calendar to its citizens ``a`` (arrays in drawn order, changed in place): booked ones
    move to their slot. ``sessions``: objects or arrays (:func:`fssim.engine.calendar.session_list`). Returns the
    calendar (kept for the follow-ups), or None when the site has none."""
    rule = rule_of(site, behaviour)
    if not rule.calendar:
        return None
    cal = BookingCalendar.of(session_list(sessions), rule, behaviour)
    idx = np.flatnonzero(wants)
    res = cal.book(a["time"][idx], a["day"][idx], draw("booking_lead")[idx])
    n = len(wants)
    got = idx[res["slot"] >= 0]
    a["booked"] = np.zeros(n, dtype=bool)
    a["booked"][got] = True
    a["time"] = a["time"].copy()
    a["time"][got] = cal.start[res["slot"][res["slot"] >= 0]]
    a["booked_on"] = np.full(n, np.iinfo(np.int32).min, dtype=np.int64)
    a["booked_on"][got] = res["booked_on"][res["slot"] >= 0]
    a["no_slot"] = np.zeros(n, dtype=bool)
    a["no_slot"][idx] = res["no_slot"]
    lead = np.zeros(n)
    lead[got] = res["lead"][res["slot"] >= 0]
    a["no_show_p"] = np.where(a["booked"], rule.no_show_share(lead), 0.0)
    return cal


def primary_bookings(arrivals) -> dict[int, int]:
    """Visit id → day the booking was made, for the booked first visits of a site with a calendar."""
    idx = np.flatnonzero(arrivals.booked)
    return dict(zip(idx.tolist(), arrivals.booked_on[idx].tolist()))


def visit_columns(plan) -> tuple[np.ndarray, np.ndarray]:
    """Per visit of a site's log: lead days (from the day booked to the visit's day; 0 for a same-day booking,
    NaN without a booking) and whether the citizen asked for an appointment and found no slot in the horizon."""
    log, a = plan.log, plan.arrivals
    n = len(log.time)
    lead = np.where(np.asarray(log.booked, dtype=bool), 0.0, np.nan) if n else np.zeros(0)
    no_slot = np.zeros(n, dtype=bool)
    booked_on = getattr(log, "booked_on", None)
    if booked_on:
        v = np.fromiter(booked_on.keys(), dtype=np.int64, count=len(booked_on))
        d = np.fromiter(booked_on.values(), dtype=np.int64, count=len(booked_on))
        lead[v] = np.floor(np.asarray(log.time, dtype=float)[v] / DAY) - d
    if getattr(a, "no_slot", None) is not None:
        no_slot[:len(a.no_slot)] = a.no_slot
    return lead, no_slot


def has_calendar(plans) -> bool:
    return any(getattr(p.arrivals, "calendar", None) is not None for p in plans)

"""The schema of channels and of a site's resources besides its agents.

A visit takes one *channel*: ``counter`` (an agent serves it, as always), ``self_service`` (the citizen uses a
self-service station — computer, scanner, printer — and an agent helps some of them for a few minutes),
``visio`` (a booked remote appointment with a partner in the site's visio room, in that partner's weekly
slots) or ``back_office`` (the agent takes the file at the counter and hands it to the partner, whose answer
comes days later and may bring the citizen back for a follow-up).

* :class:`Channels` (the config's ``channels`` block): how each channel is used, and which mix of channels the
  démarches without their own ``channels`` take (``mix: counter``, the default, keeps every visit at the
  counter; ``mix: facts`` the shares of :data:`fssim.defaults.CHANNEL_SHARES`).
* :class:`SelfService` and :class:`Visio` (a site's ``self_service`` and ``visio``): the stations and their
  hours, the visio rooms and their timetable per partner.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from fssim import defaults as D
from fssim.config.base import Share, Weekday, _Model, clock, parse_clock, parse_day_hours
from fssim.demand.distributions import Distribution, LogNormal

CHANNELS = ("counter", "self_service", "visio", "back_office")
Channel = Literal["counter", "self_service", "visio", "back_office"]


def channel_shares(v):
    """A démarche's ``channels``: channel → share, summing to 1 (the draw keeps this order)."""
    if v is None:
        return v
    total = sum(v.values())
    if not v or abs(total - 1) > 1e-6:
        raise ValueError(f"channels: shares sum to {total:.4f}; they must sum to 1, e.g. "
                         "{counter: 0.8, self_service: 0.1, back_office: 0.1}")
    return {c: v[c] for c in CHANNELS if c in v}


class SelfServiceUse(_Model):
    """How a citizen uses a self-service station [E, no published figure]: minutes at the station, the share
    who need an agent's help and the agent's minutes (a counter task, first come first served with the others)."""

    station_minutes: Distribution = Field(default_factory=lambda: LogNormal(**D.STATION_MINUTES))
    help_share: Share = D.STATION_HELP_SHARE
    help_minutes: Distribution = Field(default_factory=lambda: LogNormal(**D.STATION_HELP_MINUTES))


class VisioUse(_Model):
    """A visio appointment [E, facts §9.4]: one slot of ``slot_minutes``, booked ``booked_days`` ahead."""

    slot_minutes: PositiveInt = D.VISIO_SLOT_MINUTES
    booked_days: tuple[int, int] = D.VISIO_BOOKED_DAYS

    @model_validator(mode="after")
    def _ordered(self):
        lo, hi = self.booked_days
        if lo < 0 or lo > hi:
            raise ValueError("booked_days is [min, max] days ahead with 0 <= min <= max, e.g. [3, 15]")
        return self


class BackOffice(_Model):
    """A referral to the partner's back office [E, facts §9.4]: the answer comes after ``delay_days`` and
    brings the citizen back for a follow-up visit with probability ``return_share`` (in place of the
    démarche's own follow-up)."""

    delay_days: tuple[PositiveInt, PositiveInt] = D.BACK_OFFICE_DELAY_DAYS
    return_share: Share = D.BACK_OFFICE_RETURN_SHARE

    @model_validator(mode="after")
    def _ordered(self):
        if self.delay_days[0] > self.delay_days[1]:
            raise ValueError("delay_days is [min, max] with min <= max, e.g. [2, 14]")
        return self


class Channels(_Model):
    """Channels of the visits. ``mix``: the channel shares of démarches without their own ``channels``:
    ``counter`` (every visit at the counter, the default), ``facts`` (:data:`fssim.defaults.CHANNEL_SHARES`) or
    a mapping channel → share.
    A channel a site does not offer (no station open at the citizen's arrival, no visio slot of the partner
    before the horizon's end) falls back to the counter; buses serve every visit at the counter."""

    mix: str | dict[str, float] = Field(
        "counter", description="channel shares of démarches without their own: counter (all at the counter), "
        "facts (fssim.defaults.CHANNEL_SHARES) or a mapping channel → share summing to 1")
    self_service: SelfServiceUse = SelfServiceUse()
    visio: VisioUse = VisioUse()
    back_office: BackOffice = BackOffice()

    @field_validator("mix", mode="before")
    @classmethod
    def _mix(cls, v):
        if isinstance(v, str):
            if v not in ("counter", "facts"):
                raise ValueError(f"{v!r}: write counter (every visit at the counter), facts (the shares of facts "
                                 "§9.4) or a mapping such as {counter: 0.8, self_service: 0.1, back_office: 0.1}")
            return v
        if not isinstance(v, dict):
            raise ValueError("write counter, facts or a mapping channel → share")
        unknown = [k for k in v if k not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel(s) {unknown}; the channels are {', '.join(CHANNELS)}")
        bad = [k for k, x in v.items() if not isinstance(x, (int, float)) or isinstance(x, bool) or not 0 <= x <= 1]
        if bad:
            raise ValueError(f"{', '.join(bad)}: a share is a number between 0 and 1")
        return channel_shares({k: float(x) for k, x in v.items()})


class SelfService(_Model):
    """A site's self-service stations: ``stations`` of them, open at ``hours`` (default: the site's hours;
    only the part within the site's opening hours is used)."""

    stations: PositiveInt
    hours: dict[Weekday, str | list[str]] | None = None

    @field_validator("hours")
    @classmethod
    def _hours(cls, v):
        for day, text in (v or {}).items():
            try:
                parse_day_hours(text)
            except ValueError as e:
                raise ValueError(f"{day}: {e}") from None
        return v

    def windows(self, day: str, site_intervals) -> list[tuple[int, int]]:
        """Minutes of ``day`` when the stations are open: their hours within the site's intervals."""
        if self.hours is None:
            return [(a, b) for a, b, *_ in site_intervals]
        own = parse_day_hours(self.hours.get(day))
        return [(max(a, x), min(b, y)) for a, b in own for x, y, *_ in site_intervals if min(b, y) > max(a, x)]


class VisioSlot(_Model):
    """A weekly window of the visio room for one partner (a démarche of the catalogue): CAF Tuesday 9:00–12:00."""

    partner: str = Field(description="the démarche served in this window (its name in the catalogue: caf…)")
    weekday: Weekday
    start: str
    end: str

    @model_validator(mode="after")
    def _window(self):
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError(f"end: the window ends ({self.end}) before it starts ({self.start})")
        return self


class Visio(_Model):
    """A site's visio rooms (``rooms`` appointments at once) and their weekly timetable per partner."""

    rooms: PositiveInt = 1
    timetable: list[VisioSlot] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_overlap(self):
        for day in {s.weekday for s in self.timetable}:
            wins = sorted((parse_clock(s.start), parse_clock(s.end), s.partner) for s in self.timetable
                          if s.weekday == day)
            for (a1, b1, p1), (a2, b2, p2) in zip(wins, wins[1:]):
                if a2 < b1:
                    raise ValueError(f"timetable: {p1} {day} {clock(a1)}-{clock(b1)} and {p2} {clock(a2)}-"
                                     f"{clock(b2)} overlap; the rooms serve one window at a time: separate them")
        return self


def check_site_resources(site) -> None:
    """The visio windows of a site lie within its opening hours (the room is in the site, its citizens come in)."""
    if site.visio is None or site.always_open:
        return
    for k, s in enumerate(site.visio.timetable):
        a, b = parse_clock(s.start), parse_clock(s.end)
        if not any(x <= a and b <= y for x, y, _ in site.schedule.get(s.weekday, [])):
            raise ValueError(f"visio.timetable[{k}]: {s.partner} {s.weekday} {s.start}-{s.end} is outside the site's "
                             f"opening hours that day ({site.hours.get(s.weekday) or 'closed'}); move the window "
                             "into the opening hours or open the site then")


def check_channels(config) -> None:
    """Every visio partner is a démarche of the catalogue (how a visit finds its slots)."""
    names = [d.name for d in config.demarches]
    for i, site in enumerate(config.sites):
        for k, s in enumerate(site.visio.timetable if site.visio else []):
            if s.partner not in names:
                raise ValueError(f"sites[{i}].visio.timetable[{k}].partner: unknown démarche {s.partner!r}; a "
                                 f"partner is named by its démarche: {', '.join(names)}")


def shares_of(config, demarche) -> dict[str, float]:
    """The channel shares of a démarche: its own, else the config's ``channels.mix``."""
    if demarche.channels is not None:
        return demarche.channels
    mix = config.channels.mix
    return dict(mix) if isinstance(mix, dict) else dict(D.CHANNEL_SHARES) if mix == "facts" else {"counter": 1.0}


def uses_channels(config) -> bool:
    """Whether any visit can take another channel than the counter (else nothing of the channels runs)."""
    return any(shares_of(config, d).get("counter", 0.0) < 1.0 for d in config.demarches)

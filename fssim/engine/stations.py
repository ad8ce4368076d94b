"""Channels at a site: self-service stations, the visio room and back-office referrals, around the counter.

:meth:`ChannelPlan.build` decides each citizen's channel before the simulation, from their own uniforms
(:mod:`fssim.demand.channels`) and the démarche's shares (:func:`fssim.config.resources.shares_of`):

* ``self_service``: the citizen queues for a station (first come, first served, with their patience) and uses
  it for their station minutes; the stations are the servers of :func:`fssim.engine.counter.serve_session`
  (segments = stations open over the session), the same kernel as the agents. A share of them need help: an
  agent task of help minutes joining the agents' queue when the citizen sits down (one pass, stations then
  agents: waiting for help does not hold the station longer). No station open at the arrival: the counter.
* ``visio``: booked ``booked_days`` ahead into the first free slot of the démarche's partner in the site's
  visio timetable (``rooms`` appointments per slot), served in the slot by the partner (no agent, no wait);
  no free slot before the horizon's end: the counter at the arrival time.
* ``back_office``: served at the counter like any visit; the partner's answer after ``delay_days`` brings the
  citizen back for a follow-up with probability ``return_share`` (in place of the démarche's own follow-up),
  through the site process's follow-up mechanism (:mod:`fssim.engine.simulation`).

Later visits (returns, follow-ups) are at the counter. :meth:`ChannelPlan.serve` has the signature of
``serve_session`` and stands in for it at a site with channels; it logs per session the station-minutes open
and busy and the visio room-minutes timetabled and booked.
"""
from __future__ import annotations

import dataclasses
from bisect import bisect_left

import numpy as np

from fssim.clock import DAY, WEEKDAYS
from fssim.config.resources import CHANNELS, shares_of
from fssim.engine.calendar import staffed_minutes
from fssim.engine.counter import SERVED, serve_session
from fssim.demand.channels import COLUMN

COUNTER, SELF_SERVICE, VISIO, BACK_OFFICE = (CHANNELS.index(c) for c in CHANNELS)


def _whole_days(u: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.minimum(lo + (u * (hi - lo + 1)).astype(np.int64), hi).astype(np.int32)


def _weekday(config, day: int) -> str:
    return WEEKDAYS[(config.horizon.start.weekday() + day) % 7]


class ChannelPlan:
    """The channels of one site in one replication: each primary visit's channel, the stations' state and the
    resources' minutes per session."""

    def __init__(self, channel: np.ndarray, help_: np.ndarray, help_minutes: np.ndarray, stations: int,
                 station_segments: list, visio_minutes: list):
        self.channel = channel
        self._channel = channel.tolist()
        self.n = len(channel)
        self.help, self.help_minutes = help_.tolist(), help_minutes.tolist()
        self.station = [-1] * self.n          # which station served each self-service visit
        self.free = [-np.inf] * stations      # when each station is free of earlier sessions' citizens
        self.station_segments, self.visio_minutes = station_segments, visio_minutes
        self.session = 0
        # per session, aligned with the site log's sessions
        self.station_min: list[float] = []
        self.station_busy_min: list[float] = []
        self.visio_min: list[float] = []
        self.visio_busy_min: list[float] = []

    # ------------------------------------------------------------------ before the simulation

    @classmethod
    def build(cls, config, site, sessions, arrivals):
        """(arrivals with channels applied and re-sorted by time, plan), or (arrivals, None) for a site whose
        visits all stay at the counter."""
        a = arrivals
        if a.channel_u is None or getattr(site, "stops", None) is not None:
            return a, None
        U, n = a.channel_u, len(a)
        cum = np.array([np.cumsum([shares_of(config, d).get(c, 0.0) for c in CHANNELS]) for d in config.demarches])
        cum[:, -1] = 1.0
        channel = (U[:, COLUMN["channel"]][:, None] > cum[a.demarche]).sum(axis=1).astype(np.int8)
        ch = config.channels
        time, service, booked = a.time.copy(), a.service.copy(), a.booked.copy()
        patience, no_show = a.patience.copy(), a.no_show.copy()
        follow_up, delay = a.follow_up.copy(), a.follow_up_delay.copy()
        starts = np.array([s.start for s in sessions])
        # self-service: a station open when the citizen comes (their drawn time: no counter booking)
        segs = cls._station_segments(config, site, sessions)
        want = np.flatnonzero(channel == SELF_SERVICE)
        if len(want):
            t = a.drawn_time[want]
            j = np.searchsorted(starts, t, side="right") - 1
            ok = np.array([j[i] >= 0 and any(x <= t[i] < y for x, y, _ in segs[j[i]]) for i in range(len(want))],
                          dtype=bool)
            channel[want[~ok]] = COUNTER
            on = want[ok]
            time[on], booked[on], no_show[on] = a.drawn_time[on], False, False
            patience[on] = a.walk_in_patience[on]
            service[on] = ch.self_service.station_minutes.ppf(U[on, COLUMN["station_time"]])
        helped = (channel == SELF_SERVICE) & (U[:, COLUMN["station_help"]] < ch.self_service.help_share)
        help_minutes = np.where(helped, ch.self_service.help_minutes.ppf(U[:, COLUMN["station_help_time"]]), 0.0)
        # visio: the first free slot of the partner, booked days ahead
        visio_minutes = [0.0] * len(sessions)
        want = np.flatnonzero(channel == VISIO)
        got = np.zeros(n, dtype=bool)
        if site.visio is not None:
            slots, visio_minutes = cls._visio_slots(config, site, sessions)
            names = [d.name for d in config.demarches]
            lead = _whole_days(U[:, COLUMN["visio_lead"]], *ch.visio.booked_days)
            free = {p: [site.visio.rooms] * len(s) for p, s in slots.items()}
            for v in want:
                p = names[a.demarche[v]]
                if p not in slots:
                    continue
                k = bisect_left(slots[p], (a.day[v] + lead[v]) * DAY)
                while k < len(slots[p]) and free[p][k] == 0:
                    k += 1
                if k < len(slots[p]):
                    free[p][k] -= 1
                    got[v] = True
                    time[v], service[v], booked[v], no_show[v], patience[v] = (slots[p][k], ch.visio.slot_minutes,
                                                                             False, False, np.inf)
        channel[(channel == VISIO) & ~got] = COUNTER  # no slot of the partner left: the counter, as drawn
        # back office: the partner's answer may bring the citizen back
        bo = channel == BACK_OFFICE
        follow_up[bo] = U[bo, COLUMN["back_office_return"]] < ch.back_office.return_share
        delay[bo] = _whole_days(U[bo, COLUMN["back_office_delay"]], *ch.back_office.delay_days)
        new = dataclasses.replace(a, time=time, service=service, booked=booked, patience=patience, no_show=no_show,
                                  follow_up=follow_up, follow_up_delay=delay)
        order = np.argsort(time, kind="stable")
        if (order != np.arange(n)).any():
            new = dataclasses.replace(new, **{f.name: getattr(new, f.name)[order] for f in dataclasses.fields(new)
                                              if isinstance(getattr(new, f.name), np.ndarray)})  # not the calendar
            channel, helped, help_minutes = channel[order], helped[order], help_minutes[order]
        stations = site.self_service.stations if site.self_service else 0
        return new, cls(channel, helped, help_minutes, stations, segs, visio_minutes)

    @staticmethod
    def _station_segments(config, site, sessions) -> list:
        """Per session: (from, to, stations) segments when the stations are open."""
        ss = site.self_service
        if ss is None:
            return [()] * len(sessions)
        if site.always_open:
            return [((s.start, s.end, ss.stations),) for s in sessions]
        out = []
        for s in sessions:
            base = s.day * DAY
            day = _weekday(config, s.day)
            wins = ss.windows(day, site.schedule.get(day, []))
            out.append(tuple((max(base + x, s.start), min(base + y, s.end), ss.stations) for x, y in wins
                             if min(base + y, s.end) > max(base + x, s.start)))
        return out

    @staticmethod
    def _visio_slots(config, site, sessions):
        """Partner → sorted slot starts over the horizon (the site's open days), and per session the room-minutes
        of its visio windows."""
        from fssim.config.base import parse_clock

        length = config.channels.visio.slot_minutes
        slots: dict[str, list[float]] = {}
        minutes = [0.0] * len(sessions)
        if site.always_open:
            days = [(d, 0) for d in range(config.horizon.days)]
        else:
            days = [(s.day, j) for j, s in enumerate(sessions)]
        seen = set()
        for d, j in days:
            day = _weekday(config, d)
            base = d * DAY
            for w in site.visio.timetable:
                if w.weekday != day:
                    continue
                a, b = base + parse_clock(w.start), base + parse_clock(w.end)
                s = sessions[j]
                if not site.always_open and not (s.start <= a and b <= s.end):
                    continue  # the window belongs to another session of the day
                if (d, a) in seen:
                    continue
                seen.add((d, a))
                minutes[j] += (b - a) * site.visio.rooms
                k = a
                while k + length <= b + 1e-9:
                    slots.setdefault(w.partner, []).append(k)
                    k += length
        return {p: sorted(v) for p, v in slots.items()}, minutes

    # ------------------------------------------------------------------ during the simulation

    def closed(self) -> None:
        """A session whose site stays closed (its agents absent): stations and visio room closed too."""
        self.session += 1
        for minutes in (self.station_min, self.station_busy_min, self.visio_min, self.visio_busy_min):
            minutes.append(0.0)

    def serve(self, ids, time, service, patience, booked, segments, close, start, end, outcome, leave, agent, free,
              *, send_home: bool = True):
        """One session at a site with channels: visio slots, then the stations, then the agents (counter and
        back-office visits, and the help that self-service citizens ask for). Returns what
        :func:`serve_session` returns for the agents; citizens sent home from the stations are among those sent
        home."""
        j, self.session = self.session, self.session + 1
        chan, n = self._channel, self.n
        desk, station_ids, visio_busy = [], [], 0.0
        for v in ids:
            c = chan[v] if v < n else COUNTER
            if c == VISIO:
                start[v], end[v], leave[v], outcome[v] = time[v], time[v] + service[v], time[v] + service[v], SERVED
                visio_busy += service[v]
            elif c == SELF_SERVICE:
                station_ids.append(v)
            else:
                desk.append(v)
        seg = self.station_segments[j]
        home_s, station_busy = [], 0.0
        if seg:
            home_s, station_busy, _, _ = serve_session(station_ids, time, service, patience, booked, seg, close, start,
                                                       end, outcome, leave, self.station, self.free,
                                                       send_home=send_home)
        helps = [v for v in station_ids if outcome[v] == SERVED and self.help[v]]
        self.station_min.append(staffed_minutes(seg))
        self.station_busy_min.append(station_busy)
        self.visio_min.append(self.visio_minutes[j])
        self.visio_busy_min.append(visio_busy)
        if not helps:
            home, busy, over, carried = serve_session(desk, time, service, patience, booked, segments, close, start,
                                                      end, outcome, leave, agent, free, send_home=send_home)
            return home + home_s, busy, over, carried
        # the agents' queue: desk visits and help tasks (at the station start), local indices
        items = sorted([(time[v], 0, v) for v in desk] + [(start[v], 1, v) for v in helps])
        m = len(items)
        lt = [t for t, _, _ in items]
        ls = [service[v] if h == 0 else self.help_minutes[v] for _, h, v in items]
        lp = [patience[v] if h == 0 else np.inf for _, h, v in items]
        lb = [booked[v] if h == 0 else False for _, h, v in items]
        st, en, oc, lv, ag = [np.nan] * m, [np.nan] * m, [-1] * m, [np.nan] * m, [-1] * m
        home_l, busy, over, carried = serve_session(list(range(m)), lt, ls, lp, lb, segments, close, st, en, oc, lv,
                                                    ag, free, send_home=send_home)
        for i, (_, h, v) in enumerate(items):
            if h == 0:
                start[v], end[v], outcome[v], leave[v], agent[v] = st[i], en[i], oc[i], lv[i], ag[i]
            elif oc[i] == SERVED:
                agent[v] = ag[i]  # the agent who helped
        home = [items[i][2] for i in home_l if items[i][1] == 0]
        return home + home_s, busy, over, carried


def channel_codes(plan) -> np.ndarray:
    """The channel of every visit of a site's log (later visits at the counter)."""
    n = len(plan.log.time)
    out = np.full(n, COUNTER, dtype=np.int8)
    ch = getattr(plan, "channels", None)
    if ch is not None:
        out[:ch.n] = ch.channel
    return out


__all__ = ["ChannelPlan", "channel_codes", "CHANNELS", "COUNTER", "SELF_SERVICE", "VISIO", "BACK_OFFICE"]

"""KPI partials of one work unit: what a worker sends back instead of its visits.

A work unit (scenario, replication, shard of sites) produces up to millions of visits; the KPIs need only
additive sums per site (counts by outcome, sum of waits, waits over the threshold, service, staffed and
busy minutes within duty, overtime, open days, a bus's late minutes and timetabled minutes, actes of served visits,
agents absent and days closed for lack of agents, a booking calendar's requests, requests with no slot and lead
days — zeros and same-day leads without one) plus the waits' distribution for the median and P90. Since a site is never split
across shards, each site's own median and P90 are computed exactly in the worker. Network quantiles pool
every site of every shard, so each unit also sends a histogram of its waits at one-second resolution
(sparse: only the seconds that occur, zero waits apart; at most a few thousand pairs per unit, against
hundreds of thousands of visits). Quantiles from it are within one second of the exact ones (interpolated
inside the second, see :func:`histogram_quantiles`), and histograms add up exactly across shards, so the
result does not depend on the sharding, the backend or the number of workers. Shipping the visits instead
would cost ≈ 100 bytes a visit (1 GB per national replication) through the scheduler and the disk.

The KPIs come from these sums through the registry (:mod:`fssim.metrics.kpis`), as in :func:`fssim.metrics.tables.kpis`:
waits of served visits, arrivals = visits − no-shows, visits arriving before ``horizon.warmup_days`` left out.
"""
from __future__ import annotations

from fssim.clock import DAY, clock

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from fssim.metrics import kpis as registry
from fssim.config import Config
from fssim.engine.counter import GAVE_UP, NO_SHOW, SENT_HOME, SERVED, STILL_WAITING
from fssim.engine.stations import BACK_OFFICE, COUNTER, channel_codes
from fssim.defaults import WEEKDAYS
from fssim.demand.arrivals import BOOKED
from fssim.demand.booking import has_calendar, visit_columns

#: histogram resolution: bins per minute (one second)
BINS_PER_MIN = 60
#: additive fields (the registry's sums), then the per-row exact quantiles of the quantile KPIs
SUMS = tuple(s for s in registry.SUMS if s not in registry.GEOGRAPHY_SUMS)  # the access indicator: runs only
QUANTILE_KPIS = tuple(k.name for k in registry.quantile_kpis())
QUANTILES = tuple(k.quantile for k in registry.quantile_kpis())
FIELDS = SUMS + QUANTILE_KPIS
NETWORK = "network"


@dataclass
class UnitPartials:
    """Per (site, slot) sums and quantiles, and sparse wait histograms per group, of one work unit."""

    site_id: np.ndarray              # str, one per row
    slot: np.ndarray                 # str: '' for the whole site, or 'mon 09:00-12:00' per opening interval
    values: np.ndarray               # rows × FIELDS, float64
    groups: list[str]                # histogram groups ('network' unless asked otherwise)
    hist_group: np.ndarray           # int32 index into groups
    hist_bin: np.ndarray             # int64 seconds of wait
    hist_count: np.ndarray           # int64
    info: dict = field(default_factory=dict)  # visits simulated, wall time, worker pid and peak RSS

    def frame(self):
        import pandas as pd

        df = pd.DataFrame(self.values, columns=list(FIELDS))
        df.insert(0, "site_id", self.site_id.astype(str))
        df.insert(1, "slot", self.slot.astype(str))
        return df


def _slot_table(site, start: dt.date):
    """Per weekday (0 = Monday): interval starts/ends and labels, for mapping arrivals to opening intervals."""
    out = {}
    for w, day in enumerate(WEEKDAYS):
        iv = site.schedule.get(day, [])
        out[w] = (np.array([a for a, _, _ in iv], dtype=float), [f"{day} {clock(a)}-{clock(b)}" for a, b, _ in iv])
    return out, start.weekday()




def _slots_of(times: np.ndarray, site, start: dt.date) -> np.ndarray:
    """Label of the weekly opening interval each time falls in ('' for an always-open site)."""
    if site.always_open or len(times) == 0:
        return np.full(len(times), "", dtype=object)
    table, w0 = _slot_table(site, start)
    day = np.floor(times / DAY).astype(np.int64)
    minute = times - day * DAY
    wd = (w0 + day) % 7
    out = np.full(len(times), "", dtype=object)
    for w, (starts, labels) in table.items():
        on = wd == w
        if not on.any() or not len(starts):
            continue
        k = np.clip(np.searchsorted(starts, minute[on], side="right") - 1, 0, len(starts) - 1)
        out[on] = np.asarray(labels, dtype=object)[k]
    return out


def _slot_duty(st: np.ndarray, en: np.ndarray, agent: np.ndarray, site, start: dt.date, row_index: dict):
    """Agent-minutes of served visits within each opening interval where their agent is on duty (rows and
    minutes, to add up), and each visit's minutes outside duty (overtime). Same-day intervals only: a service
    never runs into the next day's opening hours."""
    table, w0 = _slot_table(site, start)
    day = np.floor(st / DAY).astype(np.int64)
    a0, a1 = st - day * DAY, en - day * DAY
    wd = (w0 + day) % 7
    inside = np.zeros(len(st))
    rows, minutes = [], []
    for w, name in enumerate(WEEKDAYS):
        on = np.flatnonzero(wd == w)
        if not len(on):
            continue
        for a, b, c in site.schedule.get(name, []):
            ov = np.clip(np.minimum(a1[on], b) - np.maximum(a0[on], a), 0.0, None) * (agent[on] < c)
            inside[on] += ov
            rows.append(np.full(len(on), row_index[(site.id, f"{name} {clock(a)}-{clock(b)}")], dtype=np.int64))
            minutes.append(ov)
    return rows, minutes, np.maximum(en - st - inside, 0.0)


def _group_quantiles(keys: np.ndarray, values: np.ndarray, n_keys: int, qs=QUANTILES) -> np.ndarray:
    """Exact linear-interpolation quantiles (numpy/pandas default) of ``values`` per integer key."""
    out = np.full((n_keys, len(qs)), np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, keys))
    k, v = keys[order], values[order]
    counts = np.bincount(k, minlength=n_keys)
    offsets = np.r_[0, np.cumsum(counts)[:-1]]
    has = counts > 0
    for j, q in enumerate(qs):
        h = (counts[has] - 1) * q
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, counts[has] - 1)
        a, b = v[offsets[has] + lo], v[offsets[has] + hi]
        out[has, j] = a + (h - lo) * (b - a)
    return out


def unit_partials(config: Config, plans: list, *, slots: bool = False,
                  groups: dict[str, str] | None = None) -> UnitPartials:
    """Partials of the site plans (with their logs) returned by :func:`fssim.engine.simulation.simulate_sites`.

    ``slots``: one row per site and weekly opening interval (visits by arrival time, staffed time by
    interval, busy time by service start) instead of one row per site. ``groups``: site → histogram group
    (default: every site in 'network').
    """
    thr = config.outputs.wait_threshold_min
    cut = config.horizon.warmup_days * DAY
    start = config.horizon.start
    row_site, row_slot, row_index = [], [], {}
    parts = {k: [] for k in ("row", "kind", "outcome", "wait", "service", "demarches", "lead", "no_slot")}
    srow, sstaffed, sbusy, sdays, sopen, sover, slate, sbus = [], [], [], [], [], [], [], []
    sabsent, sclosed = [], []  # agents absent and days closed for lack of agents (fssim.engine.absences)
    res = {k: [] for k in registry.RESOURCE_SUMS}  # (row, minutes) of the stations and visio rooms
    xrow, xbusy, xover = [], [], []  # split sites: busy and overtime from the visits, per opening interval
    group_names = [NETWORK] if groups is None else sorted(set(groups.values()))
    gindex = {g: i for i, g in enumerate(group_names)}
    site_group = []
    raw_visits = 0
    calendar = has_calendar(plans)

    def row_of(site_id: str, slot: str) -> int:
        key = (site_id, slot)
        if key not in row_index:
            row_index[key] = len(row_site)
            row_site.append(site_id)
            row_slot.append(slot)
            site_group.append(gindex[groups[site_id]] if groups is not None else 0)
        return row_index[key]

    for plan in plans:
        s, log = plan.site, plan.log
        split = slots and not plan.is_bus and not s.always_open
        n = len(log.time)
        raw_visits += n
        t = np.asarray(log.time, dtype=float)
        keep = t >= cut if cut > 0 else slice(None)
        t = t[keep]
        outcome = np.asarray(log.outcome, dtype=np.int8)[keep]
        st = np.asarray(log.start, dtype=float)[keep]
        if split:
            labels = _slots_of(t, s, start)
            # every opening interval gets a row, even one nobody came to
            for day in WEEKDAYS:
                for a, b, _ in s.schedule.get(day, []):
                    row_of(s.id, f"{day} {clock(a)}-{clock(b)}")
            rows = np.array([row_index[(s.id, lab)] for lab in labels], dtype=np.int64)
            served = outcome == SERVED
            if getattr(plan, "channels", None) is not None:  # agent time: counter and back-office visits only
                served &= np.isin(channel_codes(plan)[keep], (COUNTER, BACK_OFFICE))  # (help minutes: not split)
            if served.any():  # busy time within each interval; overtime on the interval service starts in
                sst = st[served]
                en = sst + np.asarray(log.service, dtype=float)[keep][served]
                who = np.asarray(log.agent, dtype=np.int64)[keep][served]
                r_in, m_in, over = _slot_duty(sst, en, who, s, start, row_index)
                xrow += r_in
                xbusy += m_in
                xrow.append(np.array([row_index[(s.id, lab)] for lab in _slots_of(sst, s, start)], dtype=np.int64))
                xbusy.append(np.zeros(len(sst)))
                xover += [np.zeros(len(m)) for m in m_in] + [over]
        else:
            r = row_of(s.id, "")
            rows = np.full(len(t), r, dtype=np.int64)
        parts["row"].append(rows)
        parts["kind"].append(np.asarray(log.kind, dtype=np.int8)[keep])
        parts["outcome"].append(outcome)
        parts["wait"].append(st - t)
        parts["service"].append(np.asarray(log.service, dtype=float)[keep])
        parts["demarches"].append(np.asarray(log.demarches, dtype=float)[keep])
        if calendar:  # a booking calendar's lead days and requests with no slot (same-day bookings: lead 0)
            lead, no_slot = visit_columns(plan) if plan.arrivals.calendar is not None else (np.zeros(n), np.zeros(
                n, dtype=bool))
            parts["lead"].append(np.nan_to_num(lead)[keep])
            parts["no_slot"].append(no_slot[keep])
        # sessions: staffed and busy agent-minutes, open days
        days = np.asarray(log.session_day, dtype=np.int64)
        on = days >= config.horizon.warmup_days
        absences = getattr(plan, "absences", None)
        if split:
            for i, sess in enumerate(plan.sessions):
                if sess.day < config.horizon.warmup_days:
                    continue
                if absences is not None and (absences.absent[i] or absences.closed[i]):
                    srow.append(row_index[(s.id, _slots_of(np.array([sess.start]), s, start)[0])])
                    sabsent.append(float(absences.absent[i]))
                    sclosed.append(float(absences.closed[i]))
                    for lst in (sstaffed, sbusy, sdays, sopen, sover, slate, sbus):
                        lst.append(0.0)
                wd = WEEKDAYS[(start.weekday() + sess.day) % 7]
                base = sess.day * DAY
                for a, b, c in sess.segments:
                    lab = f"{wd} {clock(int(round(a - base)))}-{clock(int(round(b - base)))}"
                    srow.append(row_index[(s.id, lab)])
                    sstaffed.append((b - a) * c)
                    sbusy.append(0.0)
                    sdays.append(1.0)
                    sopen.append(b - a)
                    sover.append(0.0)
                    slate.append(0.0)
                    sbus.append(0.0)
                    sabsent.append(0.0)
                    sclosed.append(0.0)
        else:
            r = row_index[(s.id, "")]
            staffed = np.asarray(log.session_staffed, dtype=float)[on]
            busy = np.asarray(log.session_busy, dtype=float)[on]
            srow.append(r)
            sstaffed.append(float(staffed.sum()))
            sbusy.append(float(busy.sum()))
            opened = np.asarray(log.session_open, dtype=float) > 0  # not a day closed for lack of agents
            sdays.append(float(len(np.unique(days[on & opened]))))
            # open minutes after the warm-up (an always-open site's one session is cut at the warm-up)
            cal = plan.calendar
            staffed_on = np.diff(cal.seg_ptr) > 0
            sopen.append(float(sum(np.maximum(0.0, cal.end - np.maximum(cal.start, cut))[staffed_on].tolist())))
            sabsent.append(float(absences.absent[on].sum()) if absences is not None else 0.0)
            sclosed.append(float(absences.closed[on].sum()) if absences is not None else 0.0)
            sover.append(float(np.asarray(log.session_overtime, dtype=float)[on].sum()))
            slate.append(float(np.asarray(log.session_late, dtype=float)[on].sum()))
            sbus.append(float(np.asarray(log.session_open, dtype=float)[on].sum()) if plan.is_bus else 0.0)
        ch = getattr(plan, "channels", None)
        if ch is not None:  # a split site's resource minutes go to its first interval's row
            r = row_index[(s.id, "")] if not split else min(row_index[k] for k in row_index if k[0] == s.id)
            for k in registry.RESOURCE_SUMS:
                res[k].append((r, float(np.asarray(getattr(ch, k), dtype=float)[on].sum())))
    n_rows = len(row_site)
    cat = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in parts.items()}
    rows = cat["row"].astype(np.int64)
    outcome = cat["outcome"].astype(np.int8)
    served = outcome == SERVED
    wait = np.where(served, cat["wait"], np.nan)
    vals = np.zeros((n_rows, len(FIELDS)))
    col = {f: i for i, f in enumerate(FIELDS)}

    def count(mask):
        return np.bincount(rows[mask], minlength=n_rows).astype(float)

    vals[:, col["visits"]] = np.bincount(rows, minlength=n_rows)
    for name, code in (("served", SERVED), ("gave_up", GAVE_UP), ("sent_home", SENT_HOME), ("no_show", NO_SHOW),
                       ("still_waiting", STILL_WAITING)):
        vals[:, col[name]] = count(outcome == code)
    is_booked = cat["kind"].astype(np.int8) == BOOKED
    vals[:, col["booked"]] = count(is_booked)
    vals[:, col["booking_requests"]] = vals[:, col["booked"]]  # without a calendar: no slot ever missing, lead 0
    if calendar:
        no_slot = cat["no_slot"].astype(bool)
        vals[:, col["booking_requests"]] = count(is_booked | no_slot)
        vals[:, col["no_slot"]] = count(no_slot)
        vals[:, col["lead_sum"]] = np.bincount(rows[is_booked], weights=cat["lead"][is_booked], minlength=n_rows)
    vals[:, col["wait_sum"]] = np.bincount(rows[served], weights=wait[served], minlength=n_rows)
    vals[:, col["wait_over"]] = count(served & (np.nan_to_num(wait, nan=-1.0) > thr))
    vals[:, col["service_sum"]] = np.bincount(rows[served], weights=cat["service"][served], minlength=n_rows)
    vals[:, col["actes"]] = np.bincount(rows[served], weights=cat["demarches"][served], minlength=n_rows)
    srow_a = np.asarray(srow, dtype=np.int64)
    vals[:, col["staffed_min"]] = np.bincount(srow_a, weights=np.asarray(sstaffed, float), minlength=n_rows)
    vals[:, col["open_days"]] = np.bincount(srow_a, weights=np.asarray(sdays, float), minlength=n_rows)
    vals[:, col["open_min"]] = np.bincount(srow_a, weights=np.asarray(sopen, float), minlength=n_rows)
    xrow_a = np.concatenate(xrow) if xrow else np.zeros(0, np.int64)
    for name, whole, split in (("busy_min", sbusy, xbusy), ("overtime_min", sover, xover)):
        vals[:, col[name]] = np.bincount(srow_a, weights=np.asarray(whole, float), minlength=n_rows)
        if xrow:
            vals[:, col[name]] += np.bincount(xrow_a, weights=np.concatenate(split), minlength=n_rows)
    vals[:, col["bus_late_min"]] = np.bincount(srow_a, weights=np.asarray(slate, float), minlength=n_rows)
    vals[:, col["bus_open_min"]] = np.bincount(srow_a, weights=np.asarray(sbus, float), minlength=n_rows)
    vals[:, col["absent_agent_days"]] = np.bincount(srow_a, weights=np.asarray(sabsent, float), minlength=n_rows)
    vals[:, col["absence_closure_days"]] = np.bincount(srow_a, weights=np.asarray(sclosed, float),
                                                       minlength=n_rows)
    for k, pairs in res.items():
        for r, minutes in pairs:
            vals[r, col[k]] += minutes
    q = _group_quantiles(rows[served], wait[served], n_rows, QUANTILES)
    for j, name in enumerate(QUANTILE_KPIS):
        vals[:, col[name]] = q[:, j]
    # sparse one-second histograms per group
    g = np.asarray(site_group, dtype=np.int64)[rows[served]] if n_rows else np.zeros(0, dtype=np.int64)
    w = wait[served]
    b = np.where(w <= 0, -1, np.floor(np.maximum(w, 0.0) * BINS_PER_MIN)).astype(np.int64)  # −1: no wait at all
    hg, hb, hc = merge_histograms(g, b, np.ones(len(b), dtype=np.int64))
    return UnitPartials(np.asarray(row_site, dtype=str), np.asarray(row_slot, dtype=str), vals, group_names,
                        hg.astype(np.int32), hb, hc, {"visits": int(raw_visits)})


def merge_histograms(group: np.ndarray, bins: np.ndarray, counts: np.ndarray):
    """Sum counts of equal (group, bin) pairs; returns sorted (group, bin, count) arrays."""
    if len(bins) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort((bins, group))
    g, b, c = group[order], bins[order], counts[order]
    first = np.r_[True, (g[1:] != g[:-1]) | (b[1:] != b[:-1])]
    idx = np.flatnonzero(first)
    return g[idx].astype(np.int64), b[idx].astype(np.int64), np.add.reduceat(c, idx).astype(np.int64)


def histogram_quantiles(bins: np.ndarray, counts: np.ndarray, qs=QUANTILES) -> list[float]:
    """Linear-interpolation quantiles (numpy's default) of waits given as one-second bins.

    Bin −1 holds waits of exactly 0; the n waits of bin k ≥ 0 are taken evenly spread over [k, k + 1)
    seconds (at the middles of n equal parts), so the estimate moves smoothly with the data instead of
    jumping from bin to bin; it is within one second of the exact quantile.
    """
    n = int(counts.sum())
    if n == 0:
        return [float("nan")] * len(qs)
    order = np.argsort(bins, kind="stable")
    bins, counts = bins[order], counts[order]
    cum = np.cumsum(counts)

    def value(i: int) -> float:  # the i-th smallest wait (0-based), in minutes
        k = int(np.searchsorted(cum, i, side="right"))
        if bins[k] < 0:
            return 0.0
        j = i - (cum[k] - counts[k])
        return float((bins[k] + (j + 0.5) / counts[k]) / BINS_PER_MIN)

    out = []
    for q in qs:
        h = (n - 1) * q
        lo = int(np.floor(h))
        hi = min(lo + 1, n - 1)
        a, b = value(lo), value(hi)
        out.append(a + (h - lo) * (b - a))
    return out


def kpis_from_sums(df, quantiles=None):
    """Every registered KPI (:mod:`fssim.metrics.kpis`) from summed partial columns of a DataFrame.

    ``quantiles``: KPI name → values for the quantile KPIs (e.g. the network's, from histograms); default
    the rows' own exact quantiles."""
    return registry.from_sums(df, quantiles)


__all__ = ["FIELDS", "SUMS", "UnitPartials", "unit_partials", "merge_histograms", "histogram_quantiles",
           "kpis_from_sums"]

"""Metrics: from the simulation's logs to plain tables, and KPIs with confidence intervals.

* :func:`visits_table` — one row per visit (site, first démarche and number of démarches, kind, arrival,
  service start and end, wait, outcome), the raw material of every other figure.
* :func:`sessions_table` / :func:`daily_table` — per site and date: opening and staffed time, agents'
  busy time within their duty windows and service time outside them (overtime: shortened breaks, late
  finishes), minutes a bus started its stops late, visit counts, waits, agents absent and whether the day was
  closed for lack of agents (:mod:`fssim.engine.absences`; a closed day has no open or staffed minute and is not
  an open day). Utilisation = busy / staffed ≤ 1.
* :func:`kpis` — KPIs per replication, for the network or by site, démarche, weekday, hour or month.
* :func:`summarise` — across replications: mean, standard deviation and a Student-t confidence interval.

A visit handles one or more démarches; an *acte* (the unit of the Baromètre) is one démarche handled, so
``actes`` sums the démarches of served visits. Waits are measured on served citizens (time from arrival to the start of service); ``time_in_queue``
covers everyone who queued (used for Little's law).
"""
from __future__ import annotations

from functools import lru_cache

from fssim.clock import DAY, WEEKDAYS

import numpy as np
import pandas as pd

from fssim.metrics import intervals
from fssim.metrics import kpis as registry
from fssim.metrics.geography import LEVELS, Geography, access_sums, text_codes
from fssim.config import Config
from fssim.engine.counter import OUTCOMES
from fssim.demand.arrivals import KINDS
from fssim.demand.booking import has_calendar, visit_columns
from fssim.engine.stations import CHANNELS, channel_codes

BREAKDOWNS = {"site": "site_id", "stop": "stop", "demarche": "demarche", "weekday": "weekday", "hour": "hour",
              "month": "month", "channel": "channel"}
WEEKDAY_NAMES = list(WEEKDAYS)
#: additive columns of the sessions table
SESSION_SUMS = ["open_min", "staffed_min", "busy_min", "overtime_min", "late_min"]
#: the sessions' absence columns (fssim.engine.absences, only when a site has absences) → the registry's sums
ABSENCE_COLUMNS = {"agents_absent": "absent_agent_days", "closed_absence": "absence_closure_days"}
#: the sessions' resource minutes (stations, visio rooms), columns only of runs whose sites use channels
RESOURCE_SUMS = ["station_min", "station_busy_min", "visio_min", "visio_busy_min"]


@lru_cache(maxsize=256)
def _dtype(categories: tuple) -> pd.CategoricalDtype:
    """A categorical dtype, made once per list of categories (checking them is most of a small table's time)."""
    return pd.CategoricalDtype(list(categories))


def visits_table(config: Config, runs: list[tuple[int, list]]) -> pd.DataFrame:
    """Concatenate the logs of several replications: ``runs`` is [(replication, [plan, …]), …]."""
    cols: dict[str, list] = {k: [] for k in (
        "replication", "site", "visit", "citizen", "demarche", "demarches", "kind", "attempt", "arrival", "start",
        "end", "leave", "service", "outcome", "agent", "stop", "commune", "channel")}
    site_ids: list[str] = []
    commune_index: dict[str, int] = {}
    site_index: dict[str, int] = {}
    stops: list[str] = [""]
    stop_index: dict[str, int] = {"": 0}
    for rep, plans in runs:
        for plan in plans:
            log = plan.log
            n = len(log.time)
            if log.site_id not in site_index:
                site_index[log.site_id] = len(site_ids)
                site_ids.append(log.site_id)
            codes = []
            for label in log.points:
                if label not in stop_index:
                    stop_index[label] = len(stops)
                    stops.append(label)
                codes.append(stop_index[label])
            codes = np.asarray(codes + [0], dtype=np.int32)  # index -1 (fixed site) → ""
            cols["stop"].append(codes[np.asarray(log.point, dtype=np.int32)] if n else np.zeros(0, np.int32))
            local = np.array([commune_index.setdefault(c, len(commune_index)) for c in log.communes] + [-1],
                             dtype=np.int32)
            cols["commune"].append(local[np.asarray(log.origin, dtype=np.int32)] if n else np.zeros(0, np.int32))
            cols["replication"].append(np.full(n, rep, dtype=np.int32))
            cols["site"].append(np.full(n, site_index[log.site_id], dtype=np.int32))
            cols["visit"].append(np.arange(n, dtype=np.int32))
            cols["citizen"].append(np.asarray(log.citizen, dtype=np.int32))
            cols["demarche"].append(np.asarray(log.demarche, dtype=np.int16))
            cols["demarches"].append(np.asarray(log.demarches, dtype=np.int8))
            cols["kind"].append(np.asarray(log.kind, dtype=np.int8))
            cols["attempt"].append(np.asarray(log.attempt, dtype=np.int8))
            cols["arrival"].append(np.asarray(log.time, dtype=float))
            cols["start"].append(np.asarray(log.start, dtype=float))
            cols["end"].append(np.asarray(log.end, dtype=float))
            cols["leave"].append(np.asarray(log.leave, dtype=float))
            cols["service"].append(np.asarray(log.service, dtype=float))
            cols["outcome"].append(np.asarray(log.outcome, dtype=np.int8))
            cols["agent"].append(np.asarray(log.agent, dtype=np.int16))
            cols["channel"].append(channel_codes(plan))
    a = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()}
    origin = pd.Timestamp(config.horizon.start)
    served = a["outcome"] == 0
    n = len(a["arrival"])  # the three moments converted at once: one pass through pandas
    moments = (origin + pd.to_timedelta(np.concatenate([a["arrival"], a["start"], a["end"]]), unit="min")).to_numpy(
        dtype="datetime64[ms]")
    wait = np.where(served, a["start"] - a["arrival"], np.nan)
    in_queue = np.where(served, wait, np.where(a["outcome"] == 3, 0.0, a["leave"] - a["arrival"]))

    def coded(codes, categories):  # the codes are built above, valid by construction
        return pd.Categorical.from_codes(codes, dtype=_dtype(tuple(categories)), validate=False)
    df = pd.DataFrame({
        "replication": a["replication"].astype(np.int32),
        "site_id": coded(a["site"].astype(np.int32), site_ids)
        if site_ids else pd.Categorical([]),
        "visit": a["visit"],
        "citizen": a["citizen"],
        "demarche": coded(a["demarche"].astype(np.int16), [d.name for d in config.demarches]),
        "demarches": a["demarches"].astype(np.int8),
        "kind": coded(a["kind"].astype(np.int8), list(KINDS)),
        "attempt": a["attempt"],
        "arrival": moments[:n],
        "service_start": moments[n:2 * n],
        "service_end": moments[2 * n:],
        "wait_min": wait,
        "time_in_queue_min": in_queue,
        "service_min": np.where(served, a["service"], np.nan),
        "outcome": coded(a["outcome"].astype(np.int8), list(OUTCOMES)),
        "agent": a["agent"].astype(np.int16),
        "stop": coded(a["stop"].astype(np.int32), stops),
        "commune": coded(a["commune"].astype(np.int32), list(commune_index)),
        "channel": coded(a["channel"].astype(np.int8), list(CHANNELS)),
    })
    if any(has_calendar(plans) for _, plans in runs):  # a booking calendar's columns (others keep their schema)
        lead, no_slot = zip(*(visit_columns(p) for _, plans in runs for p in plans))
        df["lead_days"] = np.concatenate(lead).astype(np.float32)
        df["no_slot"] = np.concatenate(no_slot)
    return df


def sessions_table(config: Config, runs: list[tuple[int, list]]) -> pd.DataFrame:
    """Per site (or bus stop) and open day: minutes open (the timetable's), agent-minutes staffed, busy within
    duty windows and in service outside them (overtime), minutes a bus started the stop late."""
    frames = []
    any_absences = any(getattr(p, "absences", None) is not None for _, plans in runs for p in plans)
    resources = any(getattr(p, "channels", None) is not None for _, plans in runs for p in plans)
    for rep, plans in runs:
        for plan in plans:
            log = plan.log
            if not log.session_day:
                continue
            labels = np.asarray(list(log.points) + [""], dtype=object)
            ch = getattr(plan, "channels", None)
            extra = {} if not resources else {k: getattr(ch, k) if ch is not None else 0.0 for k in RESOURCE_SUMS}
            frames.append(pd.DataFrame({
                "replication": rep, "site_id": log.site_id, "day": np.asarray(log.session_day, dtype=np.int32),
                "stop": labels[np.asarray(log.session_point, dtype=np.int32)],
                "open_min": log.session_open, "staffed_min": log.session_staffed, "busy_min": log.session_busy,
                "overtime_min": log.session_overtime, "late_min": log.session_late, **extra,
                **_absence_columns(plan, len(log.session_day), any_absences),
            }))
    if not frames:
        return pd.DataFrame(columns=["replication", "site_id", "date", "stop", *SESSION_SUMS])
    s = pd.concat(frames, ignore_index=True)
    s = s.groupby(["replication", "site_id", "day", "stop"], as_index=False, observed=True).sum()
    s[[c for c in ABSENCE_COLUMNS if c in s]] = s[[c for c in ABSENCE_COLUMNS if c in s]].astype(np.int64)
    s.insert(2, "date", pd.Timestamp(config.horizon.start) + pd.to_timedelta(s.pop("day"), unit="D"))
    return s


def _absence_columns(plan, n: int, wanted: bool) -> dict:
    """The absence columns of a plan's sessions (fssim.engine.absences), zeros for a site without absences;
    none at all when no site of the table has absences."""
    if not wanted:
        return {}
    a = getattr(plan, "absences", None)
    if a is None:
        return {c: np.zeros(n, np.int64) for c in ABSENCE_COLUMNS}
    return {"agents_absent": a.absent, "closed_absence": a.closed}


def daily_table(visits: pd.DataFrame, sessions: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per-site daily aggregates: capacity and busy time, visits by outcome, waits."""
    v = visits.assign(date=visits["arrival"].dt.normalize().astype("datetime64[ns]"))
    counts = (v.groupby(["replication", "site_id", "date", "outcome"], observed=True).size()
              .unstack("outcome", fill_value=0).reindex(columns=list(OUTCOMES), fill_value=0))
    served = v[v["outcome"] == "served"]
    g = served.assign(over=served["wait_min"] > threshold).groupby(["replication", "site_id", "date"],
                                                                    observed=True)
    waits = pd.DataFrame({"mean_wait_min": g["wait_min"].mean(), "p90_wait_min": g["wait_min"].quantile(0.9),
                          "share_wait_over": g["over"].mean()})
    sessions = sessions.assign(**{c: 0 for c in ABSENCE_COLUMNS if c not in sessions})  # 0: no absences
    d = sessions.groupby(["replication", "site_id", "date"], as_index=False, observed=True)[
        SESSION_SUMS + list(ABSENCE_COLUMNS)].sum()
    d["site_id"] = d["site_id"].astype(str)
    d["date"] = d["date"].astype("datetime64[ns]")
    d = d.set_index(["replication", "site_id", "date"])
    counts.index = counts.index.set_levels(counts.index.levels[1].astype(str), level=1)
    if len(waits):
        waits.index = waits.index.set_levels(waits.index.levels[1].astype(str), level=1)
    d = d.join(counts, how="left").join(waits, how="left")
    d[list(OUTCOMES)] = d[list(OUTCOMES)].fillna(0).astype(np.int64)
    d["visits"] = d[list(OUTCOMES)].sum(axis=1)
    d["utilisation"] = d["busy_min"] / d["staffed_min"]
    return d.reset_index()


def _add_time_keys(visits: pd.DataFrame) -> pd.DataFrame:
    arr = visits["arrival"]
    return visits.assign(
        weekday=pd.Categorical.from_codes(arr.dt.day_of_week.to_numpy(), categories=WEEKDAY_NAMES),
        hour=arr.dt.hour.astype(np.int16), month=arr.dt.month.astype(np.int16))


def _phase_of(dates: pd.Series, phase_starts) -> pd.Categorical:
    """The rollout phase of each date: ``phase_starts`` is a mapping start date → label, or a list of
    start dates (labelled by their ISO date); dates before the first start belong to the first phase."""
    items = phase_starts.items() if hasattr(phase_starts, "items") else ((d, None) for d in phase_starts)
    pairs = sorted((pd.Timestamp(d), str(lab) if lab else pd.Timestamp(d).date().isoformat()) for d, lab in items)
    starts = np.array([d for d, _ in pairs], dtype="datetime64[ns]")
    labels = [lab for _, lab in pairs]
    seen = {lab for lab in labels if labels.count(lab) > 1}
    labels = [f"{lab} ({d.date().isoformat()})" if lab in seen else lab for (d, _), lab in zip(pairs, labels)]
    idx = np.searchsorted(starts, dates.to_numpy().astype("datetime64[ns]"), side="right") - 1
    return pd.Categorical.from_codes(np.maximum(idx, 0), categories=labels)


#: the visits' sums that are counts: 0 (not NaN) for a group with sessions and no visit
COUNTS = (*OUTCOMES, "visits", "booked", "actes", "wait_over")


def _after_warmup(visits: pd.DataFrame, sessions: pd.DataFrame, cut: pd.Timestamp):
    """Visits arriving and sessions from ``cut`` on. A session spanning several days (an always-open site's
    single session, starting at midnight of its date) keeps its share after the cut: open and staffed time
    pro rata of the open time, busy time from the services after the cut."""
    visits_after = visits[visits["arrival"] >= cut]
    start = pd.to_datetime(sessions["date"])
    end = start + pd.to_timedelta(sessions["open_min"], unit="min")
    span = (start < cut) & (end > cut)
    kept = sessions[(start >= cut) | span].copy()
    if span.any():
        rows = kept.index[span[kept.index].to_numpy()]
        share = (end[rows] - cut) / (end[rows] - start[rows])
        served = visits[visits["wait_min"].notna() & visits["site_id"].astype(str).isin(
            set(kept.loc[rows, "site_id"].astype(str)))]
        before = ((served["service_end"].clip(upper=cut) - served["service_start"].clip(upper=cut))
                  .dt.total_seconds() / 60).clip(lower=0)
        keys = ["replication", "site_id"] + (["stop"] if "stop" in served and "stop" in kept else [])
        busy_before = before.groupby([served[k].astype(str) for k in keys], observed=True).sum()
        for r in rows:
            key = tuple(str(kept.at[r, k]) for k in keys)
            kept.at[r, "busy_min"] = max(0.0, kept.at[r, "busy_min"] - float(busy_before.get(key, 0.0)))
        kept.loc[rows, "open_min"] = kept.loc[rows, "open_min"] * share
        kept.loc[rows, "staffed_min"] = kept.loc[rows, "staffed_min"] * share
        kept.loc[rows, "date"] = cut
    return visits_after, kept


def area_of(communes: pd.Series, area: pd.Series) -> pd.Categorical:
    """Each visit's area (région, département, canton…) from its commune code, ``area`` mapping a code to its
    area: looked up once per distinct commune (the visits' commune column is categorical), not per visit."""
    codes, names = text_codes(communes)
    mapped = pd.Series(names).map(area)
    areas = pd.Index(np.sort(mapped.dropna().unique().astype(object)), dtype=object)
    return pd.Categorical.from_codes(areas.get_indexer(mapped.to_numpy(object))[codes], categories=areas)


def kpis(visits: pd.DataFrame, sessions: pd.DataFrame, by: str | None = None, *,
         threshold: float = 15.0, warmup_days: int = 0, origin=None, phase_starts=None,
         geography: Geography | None = None) -> pd.DataFrame:
    """KPIs per replication (and per group of ``by``: site, demarche, weekday, hour, month, or phase of a
    rollout when ``phase_starts`` gives the phase dates, see ``_phase_of``).

    The KPIs are those of :mod:`fssim.metrics.kpis`, from the sums of :func:`kpi_sums` (capacity KPIs only for the
    network, site, phase and stop). Rates whose denominator is 0 are NaN (the registry's ``undefined_when``
    says why)."""
    return registry.from_sums(kpi_sums(visits, sessions, by, threshold=threshold, warmup_days=warmup_days,
                                       origin=origin, phase_starts=phase_starts,
                                       geography=geography)).reset_index()


def kpi_sums(visits: pd.DataFrame, sessions: pd.DataFrame, by: str | None = None, *,
             threshold: float = 15.0, warmup_days: int = 0, origin=None, phase_starts=None,
             geography: Geography | None = None) -> pd.DataFrame:
    """The registry's sums (:data:`fssim.metrics.kpis.SUMS`) per replication and group of ``by``, and each group's
    exact wait quantiles under the quantile KPIs' names; the sessions' sums only for the network, site, phase
    and stop. Counts of a group with sessions and no visit are 0. ``open_days`` counts the days of a
    multi-day (always-open) session."""
    if warmup_days and origin is not None:
        visits, sessions = _after_warmup(visits, sessions, pd.Timestamp(origin) + pd.Timedelta(days=warmup_days))
    every = visits  # before grouping columns are added: the access indicator's shares are computed once for it
    keys = ["replication"]
    if by == "phase":
        visits = visits.assign(phase=_phase_of(visits["arrival"], phase_starts))
        sessions = sessions.assign(phase=_phase_of(sessions["date"], phase_starts))
        keys.append("phase")
    elif by in LEVELS:
        if geography is None:
            raise ValueError(f"the {by} scope needs the run's geography (where citizens live)")
        area = geography.communes.set_index("code")[LEVELS[by]].astype(str)
        visits = visits.assign(**{by: area_of(visits["commune"], area)})
        visits = visits[visits[by].notna()]
        site_area = pd.Series(geography.site_communes, dtype=object).map(area)
        sessions = sessions.assign(**{by: sessions["site_id"].astype(str).map(site_area)})
        keys.append(by)
    elif by is not None:
        if by not in BREAKDOWNS:
            raise ValueError(f"unknown breakdown {by!r}; choose among {sorted(BREAKDOWNS)}")
        col = BREAKDOWNS[by]
        if col in ("weekday", "hour", "month"):
            visits = _add_time_keys(visits)
        if by == "stop":
            visits = visits[visits["stop"] != ""]
        keys.append(col)
    # one grouping for everything: waits and service times are NaN except for served citizens, which
    # pandas' sum and quantile skip
    demarches = visits["demarches"] if "demarches" in visits else 1  # tables written before démarches
    served = visits["wait_min"].notna()
    visits = visits.assign(is_booked=visits["kind"] == "booked", over=visits["wait_min"] > threshold,
                           acts=np.where(served, demarches, 0))
    if "lead_days" in visits:
        visits = visits.assign(requested=visits["is_booked"] | visits["no_slot"],
                               booked_lead=visits["lead_days"].where(visits["is_booked"], 0.0).astype(float))
    g = visits.groupby(keys, observed=True)
    sums = g["outcome"].value_counts().unstack("outcome", fill_value=0).reindex(columns=list(OUTCOMES),
                                                                                fill_value=0)
    sums["visits"] = sums.sum(axis=1)
    sums["booked"] = g["is_booked"].sum()
    sums["actes"] = g["acts"].sum()
    sums["wait_over"] = g["over"].sum()
    sums["wait_sum"] = g["wait_min"].sum()
    sums["service_sum"] = g["service_min"].sum()
    if "lead_days" in visits:  # a booking calendar's sums
        sums["booking_requests"] = g["requested"].sum()
        sums["no_slot"] = g["no_slot"].sum()
        sums["lead_sum"] = g["booked_lead"].sum()
    quantile_kpis = registry.quantile_kpis()  # a group's exact quantiles, under the KPI's name (one sort for all)
    if quantile_kpis:
        q = g["wait_min"].quantile([k.quantile for k in quantile_kpis])
        for k in quantile_kpis:
            sums[k.name] = q.xs(k.quantile, level=-1)
    if by in LEVELS:  # the areas as text, as the sessions' (a visit's area is categorical, see area_of)
        sums.index = sums.index.set_levels(sums.index.levels[1].astype(str), level=1)
    if by in (None, "site", "phase", "stop", *LEVELS):
        sums = _with_capacity(sums, sessions, by)
    if geography is not None and (by is None or by in LEVELS) and "commune" in visits:
        sums = sums.join(access_sums(every, geography, threshold, by), how="outer")
        sums[list(COUNTS)] = sums[list(COUNTS)].fillna(0).astype(np.int64)
        booking = [c for c in registry.BOOKING_SUMS if c in sums]
        sums[booking] = sums[booking].fillna(0.0)
    return sums


def _with_capacity(sums: pd.DataFrame, sessions: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """The visits' sums joined with the sessions' (staffed, busy, overtime, bus late and timetabled minutes,
    open days) per replication and group; a group with sessions and no visit counts 0 visits."""
    extra = {"site": ["site_id"], "phase": ["phase"], "stop": ["stop"], **{k: [k] for k in LEVELS}}.get(by, [])
    ses = sessions.assign(site_id=sessions["site_id"].astype(str))
    if by == "stop":
        ses = ses[ses["stop"] != ""]
    s = ses.groupby(["replication"] + extra, observed=True)
    day_keys = ["replication", "site_id", "date"] + (["stop"] if by == "stop" else [])
    days = ses.groupby(day_keys + [k for k in extra if k not in day_keys], observed=True, as_index=False)[
        "open_min"].sum()
    opened = days["open_min"].to_numpy(float)  # 0: a day closed for lack of agents is not an open day
    days["n_days"] = np.where(opened > 0, np.maximum(1, np.ceil(opened / DAY - 1e-9)), 0).astype(np.int64)
    bus = ses.assign(bus_open_min=ses["open_min"].where(ses["stop"] != "", 0.0)).groupby(
        ["replication"] + extra, observed=True)
    cap = pd.DataFrame({"staffed_min": s["staffed_min"].sum(), "busy_min": s["busy_min"].sum(),
                        "open_days": days.groupby(["replication"] + extra, observed=True)["n_days"].sum(),
                        "overtime_min": s["overtime_min"].sum(), "bus_late_min": s["late_min"].sum(),
                        "bus_open_min": bus["bus_open_min"].sum(),
                        **{k: s[k].sum() for k in RESOURCE_SUMS if k in ses}})
    for col, name in ABSENCE_COLUMNS.items():  # only when a site of the run has absences
        if col in ses:
            cap[name] = s[col].sum()
    if by in ("site", "stop"):
        sums.index = sums.index.set_levels(sums.index.levels[1].astype(str), level=1)
    sums = sums.join(cap, how="outer")
    sums[list(COUNTS)] = sums[list(COUNTS)].fillna(0).astype(np.int64)
    booking = [c for c in registry.BOOKING_SUMS if c in sums]
    sums[booking] = sums[booking].fillna(0.0)
    sums[["wait_sum", "service_sum"]] = sums[["wait_sum", "service_sum"]].fillna(0.0)
    return sums


def summarise(per_rep: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Across replications: one row per (group, KPI) with mean, std, half-width and the Student-t interval."""
    keys = [c for c in per_rep.columns if c in ("site_id", "stop", "demarche", "weekday", "hour", "month", "phase",
                                                 "channel", *LEVELS)]
    value_cols = [c for c in per_rep.columns if c not in keys + ["replication"]]
    long = per_rep.melt(id_vars=["replication"] + keys, value_vars=value_cols, var_name="kpi")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return intervals.summarise(long, keys + ["kpi"], confidence=confidence)


RELIABLE_MIN_ARRIVALS = 100
"""A group (site, area, hour…) with fewer arrivals a replication on average is flagged ``reliable = False``:
its rates move by several points from one replication to the next (binomial s.e. of a 5 % rate at 100
arrivals: 2.2 points) and its quantiles rest on a handful of waits."""


def summary_table(visits: pd.DataFrame, sessions: pd.DataFrame, *, threshold: float, warmup_days: int = 0,
                  origin=None, confidence: float = 0.95, phase_starts=None,
                  geography: Geography | None = None) -> pd.DataFrame:
    """The run's summary: network KPIs and every breakdown, with confidence intervals across replications.

    ``phase_starts`` (start date → label, or dates) adds the ``phase`` scope when there are two phases or
    more. ``undefined`` counts the replications where a KPI has no value, ``undefined_when`` says why
    (the registry's ``undefined_when``): a rate over zero arrivals is NaN, not 0."""
    parts = []
    scopes = [None, *BREAKDOWNS] + (["phase"] if phase_starts is not None and len(phase_starts) > 1 else [])
    if geography is not None and "commune" in visits:
        scopes[2:2] = list(LEVELS)[::-1]  # network, site, région, département, canton, then the others
    if not (visits["stop"] != "").any():
        scopes.remove("stop")
    if "channel" not in visits or visits["channel"].nunique() < 2:
        scopes.remove("channel")  # every visit at the counter: no breakdown by channel
    for scope in scopes:
        per = kpis(visits, sessions, scope, threshold=threshold, warmup_days=warmup_days, origin=origin,
                   phase_starts=phase_starts, geography=geography)
        s = summarise(per, confidence)
        col = scope if scope in ("phase", *LEVELS) else BREAKDOWNS.get(scope)
        rows = per.groupby(col, observed=True).size() if col else pd.Series({"": len(per)})
        s.insert(0, "scope", scope or "network")
        s.insert(1, "key", s.pop(col).astype(str) if col else "")
        rows.index = rows.index.astype(str)
        s["undefined"] = (s["key"].map(rows).fillna(0).astype(np.int64) - s["n"]).clip(lower=0)
        why = s["kpi"].map(registry.undefined_when()).fillna("no value")
        s["undefined_when"] = np.where(s["undefined"] > 0, why, "")
        arrivals = s.loc[s["kpi"] == "arrivals"].set_index("key")["mean"]
        s["reliable"] = s["key"].map(arrivals).fillna(0.0).to_numpy() >= RELIABLE_MIN_ARRIVALS
        parts.append(s)
    return pd.concat(parts, ignore_index=True)

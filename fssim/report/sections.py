"""The report's core sections, each a function ``(run, t) -> Section | None`` (None: nothing to show).

Adding a section is one such function, listed in :data:`fssim.report.build.SECTIONS`, and, only when the
generic drawing of its blocks is not enough, one macro in ``templates/sections.html.j2``.
"""
from __future__ import annotations

from fssim.clock import DAY

import numpy as np
import pandas as pd

from fssim.metrics import kpis as kpi_registry
from fssim.config import Config, Site, Target
from fssim.metrics.tables import summarise
from fssim.report.blocks import Card, Cards, Grid, Heading, Note, Paragraph, Plot, Section, Table
from fssim.report.figures import bar_ci, daily_series, grouped_rates, heatmap, wait_ecdf, wait_histogram
from fssim.report.i18n import WEEKDAY_KEYS, Translator
from fssim.report.names import demarche_label, site_labels
from fssim.report.rundata import RunData
from fssim.report.attention import attention_blocks
from fssim.report.targets import evaluate_targets, overall_status

MAX_LISTED_SITES = 50
MAX_PLOTTED_SITES = 25
HEADLINE = ("visits_per_open_day", "mean_wait_min", "p90_wait_min", "share_wait_over_threshold",
            "abandonment_rate", "sent_home_rate", "utilisation", "population_served_within_targets")
NETWORK_TABLE = ("visits", "arrivals", "served", "booked", "gave_up", "sent_home", "no_show", "still_waiting",
                 "mean_wait_min", "median_wait_min", "p90_wait_min", "share_wait_over_threshold",
                 "mean_service_min", "abandonment_rate", "sent_home_rate", "no_show_rate", "staffed_min",
                 "busy_min", "utilisation", "open_days", "visits_per_open_day", "actes",
                 "population_served_within_targets", "absent_agent_days", "absence_closure_days")


# --------------------------------------------------------------------------- shared helpers

def ci_note(run: RunData, t: Translator) -> str:
    return t("ci.bars") if run.replications > 1 else t("ci.none")


def target_text(t: Translator, target: Target) -> str:
    """'Attente P90 ≤ 15 min' from the target's KPI and bounds, in the report's language."""
    parts = []
    if target.min is not None:
        parts.append(f"≥ {t.kpi_value(target.kpi, target.min, compact=True)}")
    if target.max is not None:
        parts.append(f"≤ {t.kpi_value(target.kpi, target.max, compact=True)}")
    return f"{t.kpi(target.kpi)} " + t.joiner.join(parts)


def target_line(run: RunData, t: Translator, kpi: str) -> tuple[float | None, str]:
    """The first target's bound on ``kpi`` (its max, else its min) and its text, for a dashed line."""
    for tg in run.config.targets:
        if tg.kpi == kpi:
            bound = tg.max if tg.max is not None else tg.min
            return bound, target_text(t, tg)
    return None, ""


def key_labels(scope: str, keys, t: Translator, run: RunData | None = None) -> list[str]:
    """What a chart shows for each key of a breakdown: names of sites and démarches, weekdays, months, hours."""
    if scope == "site" and run is not None:
        return site_labels(keys, run.sites)
    if scope == "demarche":
        return [demarche_label(str(k), t.lang, run.config.demarches if run is not None else ()) for k in keys]
    if scope == "weekday":
        return [t.weekday(k, short=True) for k in keys]
    if scope == "month":
        return [t.month(int(k), short=True) for k in keys]
    if scope == "hour":
        return [f"{int(k)} h" if t.lang == "fr" else f"{int(k):02d}:00" for k in keys]
    return [str(k) for k in keys]


def ordered(df: pd.DataFrame, scope: str) -> pd.DataFrame:
    """Breakdown rows in natural order: weekdays Monday first, hours and months by number."""
    if df.empty:
        return df
    if scope == "weekday":
        order = df["key"].map({k: i for i, k in enumerate(WEEKDAY_KEYS)})
    elif scope in ("hour", "month"):
        order = pd.to_numeric(df["key"], errors="coerce")
    else:
        return df
    return df.assign(_o=order.to_numpy()).sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)


def top_sites(df: pd.DataFrame, k: int = MAX_PLOTTED_SITES) -> pd.DataFrame:
    """The ``k`` sites with the highest mean (all of them when there are few)."""
    if len(df) <= k:
        return df
    return df.sort_values(["mean", "key"], ascending=[False, True], kind="stable").head(k)


def describe_distribution(dist, t: Translator) -> str:
    if dist is None:
        return t("dist.none")
    kind = dist.dist
    if kind == "lognormal":
        return t("dist.lognormal", mean=t.num(dist.mean), cv=t.num(dist.cv, 2))
    if kind == "exponential":
        return t("dist.exponential", mean=t.num(dist.mean))
    if kind == "fixed":
        return t("dist.fixed", value=t.num(dist.value))
    if kind == "triangular":
        return t("dist.triangular", min=t.num(dist.min), mode=t.num(dist.mode), max=t.num(dist.max))
    if dist.values is not None:
        return t("dist.empirical_values", n=len(dist.values))
    return t("dist.empirical_file", file=dist.file, column=dist.column)


def expected_minutes(dist) -> float:
    try:
        return float(dist.expected)
    except Exception:  # an empirical file that is not there any more: say nothing rather than fail
        return float("nan")


def hours_text(site: Site, t: Translator) -> str:
    """'lun.–ven. 09:00-12:00 / 14:00-16:45' from a site's weekly hours (equal consecutive days merged)."""
    if site.always_open:
        return t("site.always_open")
    from fssim.config import clock

    texts = []
    for day in WEEKDAY_KEYS:
        iv = site.schedule.get(day, [])
        texts.append(" / ".join(f"{clock(a)}-{clock(b)}" for a, b, _ in iv))
    parts, i = [], 0
    while i < 7:
        j = i
        while j + 1 < 7 and texts[j + 1] == texts[i]:
            j += 1
        if texts[i]:
            days = t.weekday(WEEKDAY_KEYS[i], True) + ("" if i == j else "–" + t.weekday(WEEKDAY_KEYS[j], True))
            parts.append(f"{days} {texts[i]}")
        i = j + 1
    return " ; ".join(parts) if t.lang == "fr" else "; ".join(parts)


def agents_text(site: Site, t: Translator) -> str:
    if isinstance(site.agents, int):
        return str(site.agents)
    counts = {day: [c for _, _, c in iv] for day, iv in site.schedule.items()}
    return ", ".join(f"{t.weekday(d, True)} {'/'.join(map(str, c))}" for d, c in counts.items())


# --------------------------------------------------------------------------- overview

def target_cards(cfg: Config, ev: pd.DataFrame, t: Translator) -> tuple[list[Card], list[str]]:
    """One card per target (a site-scope target shows its furthest site) and the targets' verdicts."""
    cards, verdicts = [], []
    for i, tg in enumerate(cfg.targets):
        rows = ev[ev["target"] == i]
        status = overall_status(rows["status"])
        verdicts.append(status)
        if tg.scope == "site":
            worst = rows.sort_values("mean", ascending=tg.max is None, kind="stable").iloc[0]
            npass = int((rows["status"] == "pass").sum())
            extra = t("target.sites_pass", k=npass, n=len(rows)) + " · " + t("target.worst_site", site=worst["key"])
        else:
            worst, extra = rows.iloc[0], ""
        label = t.status(status)
        if status == "no_interval":  # one replication: say what the point value says, and how to confirm it
            meets = bool(rows["mean_meets"].all())
            label = t("status.point_meets" if meets else "status.point_misses")
            extra = (extra + " " if extra else "") + t("status.more_replications")
            if not meets:
                status = "uncertain"
        title = target_text(t, tg) + (f" ({t('target.scope.site')})" if tg.scope == "site" else "")
        interval = t.kpi_interval(tg.kpi, worst["ci_low"], worst["ci_high"], worst["n"], worst["mean"])
        cards.append(Card(title=title, value=t.kpi_value(tg.kpi, worst["mean"]),
                          detail=t.colon(t("doc.ci95")) + interval, status=status, status_label=label,
                          extra=extra))
    return cards, verdicts


def target_table(cfg: Config, ev: pd.DataFrame, t: Translator) -> Table:
    labels = any(tg.label for tg in cfg.targets)
    rows = []
    for r in ev.itertuples(index=False):
        tg = cfg.targets[r.target]
        scope = t("target.scope.network") if r.scope == "network" else r.key
        rows.append([target_text(t, tg), scope, t.kpi_value(r.kpi, r.mean),
                     t.kpi_interval(r.kpi, r.ci_low, r.ci_high, r.n, r.mean), t.status(r.status)]
                    + ([tg.label] if labels else []))
    columns = [t("target.objective"), t("target.scope"), t("target.value"), t("kpis.ci"), t("target.status")]
    return Table(columns + ([t("target.config_label")] if labels else []), rows, title=t("overview.targets_table"),
                 numeric=(2, 3), css="targets")


def section_overview(run: RunData, t: Translator) -> Section:
    cfg = run.config
    lead = Paragraph(t("overview.lead", name=cfg.name, sites=len(run.sites), days=cfg.horizon.days,
                       start=t.date(cfg.horizon.start), reps=cfg.replications))
    blocks: list = []  # the answer first: verdicts, then the places that miss the targets
    ev = evaluate_targets(run.summary, cfg.targets)
    if cfg.targets:
        cards, verdicts = target_cards(cfg, ev, t)
        point = ev[ev["status"] == "no_interval"].groupby("target")["mean_meets"].all()
        if len(point) == len(verdicts):  # one replication: verdicts on the point values
            verdict = t("overview.verdict_point", nin=int(point.sum()), nout=int((~point).sum()), n=len(verdicts))
        else:
            verdict = t("overview.verdict", npass=verdicts.count("pass"), nfail=verdicts.count("fail"),
                        nunc=verdicts.count("uncertain"), n=len(verdicts))
        blocks += [Paragraph(verdict), Cards(cards), Note(t("overview.rule"))]
        blocks += attention_blocks(run, t, list(cfg.targets), target_text)
    else:
        blocks.append(Note(t("overview.no_targets")))
    blocks.append(lead)
    head = []
    for k in HEADLINE:
        r = run.network(k)
        if r is None or r["mean"] != r["mean"]:
            continue  # not measured in this run (e.g. no appointments)
        head.append(Card(title=t.kpi(k), value=t.kpi_value(k, r["mean"]),
                         detail=t.kpi_interval(k, r["ci_low"], r["ci_high"], r["n"], r["mean"])))
    if head:
        blocks += [Heading(t("overview.headline")), Cards(head)]
    if len(ev):
        blocks.append(target_table(cfg, ev, t))
    return Section("overview", t("overview.title"), blocks)


# --------------------------------------------------------------------------- scenario and assumptions

def _profile_text(values: dict, t: Translator, label) -> str:
    return ", ".join(f"{label(k)} {t.num(v, 2)}" for k, v in values.items())


def section_scenario(run: RunData, t: Translator) -> Section:
    cfg: Config = run.config
    blocks: list = []
    if cfg.description.strip():
        # the user's words, in whatever language they wrote them: labelled as theirs, never translated
        blocks.append(Paragraph(t.colon(t("scenario.description_as_written")) + cfg.description.strip()))
    else:
        blocks.append(Note(t("scenario.no_description")))
    end = cfg.horizon.end - pd.Timedelta(days=1)
    subdiv = t("scenario.subdiv", s=cfg.holidays.subdiv) if cfg.holidays.subdiv else ""
    volume_key = cfg.demand.volumes_given()[0]
    general = [
        [t("scenario.horizon"), t("scenario.horizon_value", days=cfg.horizon.days, start=t.date(cfg.horizon.start),
                                  end=t.date(end))],
        [t("scenario.warmup"), f"{cfg.horizon.warmup_days} {t('unit.days')}"],
        [t("scenario.seed"), str(cfg.seed)],
        [t("scenario.replications"), str(cfg.replications)],
        [t("scenario.holidays"), t("scenario.holidays_closed", subdiv=subdiv) if cfg.holidays.closed
         else t("scenario.holidays_open")],
        [t("scenario.threshold"), t.minutes(cfg.outputs.wait_threshold_min, 0)],
        [t("scenario.volume"), t(f"scenario.volume.{volume_key}", v=t.num(getattr(cfg.demand, volume_key), 1))],
    ]
    if volume_key != "rate_per_hour":
        general.append([t("scenario.profiles"), [
            t.colon(t("scenario.weekday_profile")) + _profile_text(cfg.demand.weekday, t, lambda k: t.weekday(k, True)),
            t.colon(t("scenario.month_profile"))
            + _profile_text(dict(enumerate(cfg.demand.month, 1)), t, lambda k: t.month(k, True)),
            t.colon(t("scenario.hour_profile")) + _profile_text(cfg.demand.hour, t, lambda k: f"{k} h"),
        ]])
    if cfg.demand.mix_shifts:
        general.append([t("scenario.mix_shifts"), [
            t("scenario.mix_shift", d=demarche_label(s.demarche, t.lang, cfg.demarches), f=t.num(s.factor, 2),
              a=s.start, b=s.end)
            for s in cfg.demand.mix_shifts]])
    blocks.append(Table([t("param"), t("value")], general, title=t("scenario.general"), css="params"))

    sites = run.sites[:MAX_LISTED_SITES]
    rows = [[s.id, s.name, s.commune or "", hours_text(s, t), t.num(s.weekly_hours(), 2) if not s.always_open else "—",
             agents_text(s, t), t("doc.yes") if s.appointments else t("doc.no"),
             f"{s.opens_on or '—'} / {s.closes_on or '—'}"] for s in sites]
    note = t("scenario.sites_more", n=len(run.sites), k=len(sites)) if len(run.sites) > len(sites) else ""
    blocks.append(Table([t("site.id"), t("site.name"), t("site.commune"), t("site.hours"), t("site.weekly_hours"),
                         t("site.agents"), t("site.appointments"), t("site.dates")], rows,
                        title=t("scenario.sites"), numeric=(4,), note=note))

    def follow_up(d) -> str:
        lo, hi = d.follow_up.delay_days
        return t.pct(d.follow_up.share) + (f" ({t('unit.days_range', a=lo, b=hi)})" if d.follow_up.share else "")

    rows = [[demarche_label(d.name, t.lang, cfg.demarches), d.partner, t.pct(d.share), describe_distribution(d.service, t),
             t.num(expected_minutes(d.service)), follow_up(d)] for d in cfg.demarches]
    blocks.append(Table([t("demarche.name"), t("demarche.partner"), t("demarche.share"), t("demarche.service"),
                         t("demarche.mean"), t("demarche.follow_up")], rows, title=t("scenario.demarches"),
                        numeric=(2, 4)))

    b = cfg.behaviour
    rows = [
        [t("beh.appointment_share"), t.pct(b.appointment_share)],
        [t("beh.slot_minutes"), t.minutes(b.slot_minutes, 0)],
        [t("beh.appointment_desks"), str(b.appointment_desks)],
        [t("beh.no_show"), t.pct(b.no_show)],
        [t("beh.patience"), describe_distribution(b.patience, t)],
        [t("beh.return_probability"), t.pct(b.return_probability)],
        [t("beh.return_delay_days"), t("unit.days_range", a=b.return_delay_days[0], b=b.return_delay_days[1])],
        [t("beh.max_returns"), str(b.max_returns)],
    ]
    blocks.append(Table([t("param"), t("value")], rows, title=t("scenario.behaviour"), css="params"))
    return Section("scenario", t("scenario.title"), blocks)


# --------------------------------------------------------------------------- KPI table

def section_kpis(run: RunData, t: Translator) -> Section:
    rows = []
    for k in NETWORK_TABLE:
        r = run.network(k)
        if r is None:
            continue
        rows.append([t.kpi(k), t.kpi_value(k, r["mean"]),
                     t.kpi_interval(k, r["ci_low"], r["ci_high"], r["n"], r["mean"])])
    blocks: list = [Table([t("kpis.kpi"), t("kpis.mean"), t("kpis.ci")], rows, numeric=(1, 2))]
    if len(run.sites) > 1:
        keys = ("p90_wait_min", "abandonment_rate", "sent_home_rate", "utilisation", "visits_per_open_day")
        s = run.summary[(run.summary["scope"] == "site") & run.summary["kpi"].isin(keys)]
        wide = s.pivot_table(index="key", columns="kpi", values="mean", aggfunc="first")
        worst_first = kpi_registry.get("p90_wait_min").direction == "higher"  # ascending when higher is better
        wide = wide.reindex(columns=list(keys)).sort_values("p90_wait_min", ascending=worst_first, kind="stable")
        shown = wide.head(MAX_LISTED_SITES)
        rows = [[str(site)] + [t.kpi_value(k, v) for k, v in zip(keys, vals)]
                for site, vals in zip(shown.index, shown.to_numpy())]
        note = t("scenario.sites_more", n=len(wide), k=len(shown)) if len(wide) > len(shown) else ""
        blocks.append(Table([t("site.id")] + [t.kpi(k) for k in keys], rows, title=t("kpis.by_site"),
                            numeric=tuple(range(1, len(keys) + 1)), note=note))
    return Section("kpis", t("kpis.title"), blocks, lead=t("kpis.lead"))


# --------------------------------------------------------------------------- waits

def breakdown_plot(run: RunData, t: Translator, scope: str, kpi: str, *, pid: str, caption: str,
                   axis_title: str, rate: bool = False, target: tuple = (None, "")) -> Plot | None:
    df = ordered(run.breakdown(scope, kpi), scope)
    if df.empty:
        return None
    by = t(f"by.{scope}")
    n_all = len(df)
    if scope == "site":
        df = top_sites(df)
        if len(df) < n_all:
            by += t("by.top", k=len(df), n=n_all)
    horizontal = scope in ("site", "demarche")
    fig = bar_ci(key_labels(scope, df["key"], t, run), df["mean"], df["ci_low"], df["ci_high"], t,
                 axis_title=axis_title, rate=rate, target=target[0], target_label=target[1],
                 horizontal=horizontal)
    height = max(300, 26 * len(df) + 110) if horizontal else 320
    return Plot(pid, fig, caption.replace("{by}", by), title=t("waits.by", by=by) if kpi == "p90_wait_min" else "",
                height=height)


def section_waits(run: RunData, t: Translator) -> Section:
    thr = run.threshold
    blocks: list = []
    if not run.has_visits:
        blocks.append(Note(t("waits.no_visits"), tone="warn"))
    else:
        waits = run.served_waits().to_numpy()
        if len(waits) == 0:
            blocks.append(Note(t("waits.no_served"), tone="warn"))
        else:
            hist, w = wait_histogram(waits, t, threshold=thr)
            zero = t.pct(float((waits <= 0).mean()))
            p90 = t.num(float(np.quantile(waits, 0.9)))
            share = t.pct(float((waits <= thr).mean()))
            blocks.append(Grid([
                Plot("fig-waits-hist", hist, t("waits.hist.caption", w=t.num(w, 0), zero=zero, thr=t.num(thr, 0)),
                     title=t("waits.hist")),
                Plot("fig-waits-ecdf", wait_ecdf(waits, t, threshold=thr),
                     t("waits.ecdf.caption", p90=p90, thr=t.num(thr, 0), share=share), title=t("waits.ecdf")),
            ]))
    target = target_line(run, t, "p90_wait_min")
    ci = ci_note(run, t)
    caption = (t("waits.by.caption", by="{by}", ci=ci, target=target[1]) if target[0] is not None
               else t("waits.by.caption_nt", by="{by}", ci=ci))
    plots = [breakdown_plot(run, t, scope, "p90_wait_min", pid=f"fig-p90-{scope}", caption=caption,
                            axis_title=t.kpi("p90_wait_min") + " (min)", target=target)
             for scope in ("site", "demarche", "weekday", "hour", "month")
             if scope != "site" or len(run.sites) > 1]  # one site: its P90 is the network's
    blocks.append(Grid([p for p in plots if p is not None]))
    return Section("waits", t("waits.title"), blocks, lead=t("waits.lead"))


# --------------------------------------------------------------------------- utilisation

def utilisation_by_weekday(daily: pd.DataFrame) -> pd.DataFrame:
    """Per weekday: busy ÷ staffed agent-minutes per replication, then mean and 95 % interval."""
    if daily.empty:
        return pd.DataFrame(columns=["weekday", "kpi", "mean", "ci_low", "ci_high", "n"])
    d = daily.assign(weekday=pd.Categorical.from_codes(pd.to_datetime(daily["date"]).dt.day_of_week.to_numpy(),
                                                       categories=list(WEEKDAY_KEYS)))
    g = d.groupby(["replication", "weekday"], observed=True)[["busy_min", "staffed_min"]].sum()
    per = (g["busy_min"] / g["staffed_min"]).rename("utilisation").reset_index()
    per["weekday"] = per["weekday"].astype(str)
    s = summarise(per)
    return s.rename(columns={"weekday": "key"})


def staffed_by_weekday_hour(config: Config, sites: list) -> np.ndarray:
    """Agent-minutes staffed over the horizon per (weekday, clock hour), all sites: a 7 × 24 array."""
    from fssim.engine.calendar import DAY, site_sessions
    from fssim.engine.simulation import closed_days

    closed = closed_days(config)
    from fssim.engine.calendar import bus_sessions

    segs = [seg for site in sites for s in site_sessions(site, config.horizon, closed) for seg in s.segments]
    segs += [seg for bus in config.buses for s in bus_sessions(bus, config.horizon, closed, set(bus.absences))
             for seg in s.segments]  # breakdown days are not known here: a small overestimate of staffing
    out = np.zeros((7, 24))
    if not segs:
        return out
    a, b, c = (np.array(x, dtype=float) for x in zip(*segs))
    multi = np.floor(a / DAY) != np.floor((b - 1e-9) / DAY)  # always-open sites: cut their segments at midnight
    if multi.any():
        pieces = [(max(x, d * DAY), min(y, (d + 1) * DAY), k) for x, y, k in zip(a[multi], b[multi], c[multi])
                  for d in range(int(x // DAY), int(np.ceil(y / DAY)))]
        pa, pb, pc = (np.array(v, dtype=float) for v in zip(*pieces))
        a, b, c = (np.concatenate([u[~multi], v]) for u, v in ((a, pa), (b, pb), (c, pc)))
    day = np.floor(a / DAY)
    wd = ((config.horizon.start.weekday() + day) % 7).astype(int)
    ma, mb = a - day * DAY, b - day * DAY
    for h in range(24):
        overlap = np.clip(np.minimum(mb, 60 * (h + 1)) - np.maximum(ma, 60 * h), 0, None) * c
        out[:, h] += np.bincount(wd, weights=overlap, minlength=7)
    return out


def busy_by_weekday_hour(run: RunData) -> np.ndarray:
    """Agent-minutes in service per (weekday, clock hour), summed over replications and sites: 7 × 24."""
    v = run.visits(["outcome", "service_start", "service_end"])
    v = v[v["outcome"].astype(str) == "served"]
    out = np.zeros((7, 24))
    if v.empty:
        return out
    origin = pd.Timestamp(run.config.horizon.start)
    a = ((v["service_start"] - origin) / pd.Timedelta(minutes=1)).to_numpy(float)
    b = ((v["service_end"] - origin) / pd.Timedelta(minutes=1)).to_numpy(float)
    day = np.floor(a / DAY)
    wd = ((origin.day_of_week + day) % 7).astype(int)
    ma, mb = a - day * DAY, b - day * DAY
    for h in range(24):
        overlap = np.clip(np.minimum(mb, 60 * (h + 1)) - np.maximum(ma, 60 * h), 0, None)
        out[:, h] += np.bincount(wd, weights=overlap, minlength=7)
    return out


def section_utilisation(run: RunData, t: Translator) -> Section:
    blocks: list = []
    ci = ci_note(run, t)
    plots = []
    if len(run.sites) > 1:
        p = breakdown_plot(run, t, "site", "utilisation", pid="fig-util-site",
                           caption=t("util.by_site.caption", ci=ci),
                           axis_title=t.kpi("utilisation"), rate=True)
        if p:
            plots.append(p)
    wd = utilisation_by_weekday(run.daily)
    if len(wd):
        wd = ordered(wd, "weekday")
        plots.append(Plot("fig-util-weekday", bar_ci(key_labels("weekday", wd["key"], t), wd["mean"], wd["ci_low"],
                                                     wd["ci_high"], t, axis_title=t.kpi("utilisation"), rate=True),
                          t("util.by_weekday.caption", ci=ci), height=320))
    if plots:
        blocks.append(Grid(plots))
    if run.has_visits:
        staffed = staffed_by_weekday_hour(run.config, run.sites) * run.replications
        busy = busy_by_weekday_hour(run)
        with np.errstate(invalid="ignore", divide="ignore"):
            util = np.where(staffed > 0, busy / staffed, np.nan)
        rows = [i for i in range(7) if np.isfinite(util[i]).any()]
        cols = [h for h in range(24) if np.isfinite(util[:, h]).any()]
        if rows and cols:
            z = pd.DataFrame(util[np.ix_(rows, cols)], index=[t.weekday(WEEKDAY_KEYS[i], True) for i in rows],
                             columns=key_labels("hour", cols, t))
            blocks.append(Plot("fig-util-heatmap", heatmap(z, t, colorbar=t.kpi("utilisation")),
                               t("util.heatmap.caption"), height=80 + 36 * len(rows)))
    else:
        blocks.append(Note(t("util.no_visits")))
    return Section("utilisation", t("util.title"), blocks, lead=t("util.lead"))


# --------------------------------------------------------------------------- abandonment

def section_abandonment(run: RunData, t: Translator) -> Section:
    ci = ci_note(run, t)
    plots = []
    for scope in ("hour", "demarche"):
        series = [(t.kpi(k), ordered(run.breakdown(scope, k), scope)) for k in ("abandonment_rate", "sent_home_rate")]
        if series[0][1].empty:
            continue
        keys = series[0][1]["key"]
        series = [(name, df.set_index("key").reindex(keys).reset_index()) for name, df in series]
        fig = grouped_rates(key_labels(scope, keys, t, run), series, t, axis_title="%")
        plots.append(Plot(f"fig-aband-{scope}", fig, t("aband.by.caption", by=t(f"by.{scope}"), ci=ci),
                          height=340))
    blocks = [Grid(plots)] if plots else []
    return Section("abandonment", t("aband.title"), blocks,
                   lead=t("aband.lead", p=t.pct(run.config.behaviour.return_probability, 0)))


# --------------------------------------------------------------------------- visits over the year

def section_daily(run: RunData, t: Translator) -> Section | None:
    d = run.daily
    if d.empty:
        return None
    arrivals = d["visits"] - d.get("no_show", 0)
    per = (d.assign(arrivals=arrivals).groupby(["replication", "date"])
           .agg(arrivals=("arrivals", "sum"), sites=("site_id", "size")).reset_index())
    per["per_site"] = per["arrivals"] / per["sites"]
    by_date = per.groupby("date")["per_site"].mean().sort_index()
    rolling = by_date.rolling(20, center=True, min_periods=1).mean()
    fig = daily_series(by_date.index.to_series(), by_date, rolling, t)
    return Section("daily", t("daily.title"), [Plot("fig-daily", fig, t("daily.caption"), height=340)])

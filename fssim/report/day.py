"""A day at a site: the queue, the agents at work and every citizen's wait, stepped through the day.

Built from the visits table (``visits.parquet``: arrival, service start and end, time in queue, outcome)
of one site, one date and one replication. At an instant τ a citizen is *in the queue* when
arrival ≤ τ < leave (leave = service start when served, arrival + time in queue otherwise: gave up, sent
home at closing), and an agent is *busy* when service start ≤ τ < service end; no-shows never came and count
nowhere. The figure is a plotly animation: full-day lines drawn once, and per frame (every
:data:`STEP_MIN` minutes, :data:`SHORT_STEP_MIN` for a short day) only who waits and who is served at τ, so
its JSON stays small.

Single-site runs get the section automatically (the busiest day of the first replication); any run on request
(``fssim report RUN_DIR --day-site SITE --day DATE``, :func:`choose_day`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pyarrow.parquet as pq
from plotly.subplots import make_subplots

from fssim.clock import WEEKDAYS
from fssim.clock import clock as hhmm
from fssim.errors import InputError
from fssim.report.blocks import Paragraph, Plot, Section
from fssim.report.figures import BLUE, GREY, LIGHT, ORANGE, _arr, _layout
from fssim.report.i18n import Translator, add_labels
from fssim.report.rundata import RunData

STEP_MIN = 10          # minutes between frames
SHORT_STEP_MIN = 5     # … when the day spans at most SHORT_DAY_MIN minutes (a bus's half-day stop)
SHORT_DAY_MIN = 240
LISTED = 12            # site ids named in an error message
COLUMNS = ["replication", "site_id", "arrival", "service_start", "service_end", "time_in_queue_min", "outcome",
           "agent"]

add_labels({
    "day.title": ("Une journée au guichet", "A day at the counter"),
    "day.lead": ("Site {site}, {weekday} {date} (réplication {rep}) : {why}. {visits} visite(s), {served} "
                 "servie(s), {gave_up} abandon(s), {sent_home} renvoi(s) à la fermeture ; jusqu'à {qmax} "
                 "personne(s) en attente (à {qat}), attente moyenne des personnes servies {wait}.",
                 "Site {site}, {weekday} {date} (replication {rep}): {why}. {visits} visit(s), {served} served, "
                 "{gave_up} gave up, {sent_home} sent home at closing; up to {qmax} citizen(s) waiting (at "
                 "{qat}), mean wait of those served {wait}."),
    "day.busiest": ("la journée la plus chargée de la première réplication", "the busiest day of the first "
                    "replication"),
    "day.requested": ("journée demandée", "the day asked for"),
    "day.caption": ("En haut, une ligne par arrivée : l'attente, de l'arrivée au début du service (bleu clair) "
                    "ou au départ (orange pâle : abandon ; rose : renvoyé à la fermeture), puis le service (gris). "
                    "En bas, personnes dans la file et agents occupés{duty}. Le bouton "
                    "▶ ou la glissière avancent par pas de {step} min : en couleur vive, qui attend et qui est "
                    "servi à cet instant.",
                    "Top, one line per arrival: the wait, from arrival to the start of service (light blue) or to "
                    "leaving (pale orange: gave up; pink: sent home at closing), then the service (grey). Bottom, "
                    "citizens in the queue and agents busy{duty}. The ▶ button or the slider "
                    "step through the day by {step} min: in bright colours, who waits and who is served at that "
                    "instant."),
    "day.duty_caption": (", agents en poste en pointillés", ", agents on duty dotted"),
    "day.citizens": ("Arrivées (ordre)", "Arrivals (order)"),
    "day.count": ("Nombre", "Count"),
    "day.queue": ("Dans la file", "In the queue"),
    "day.busy": ("Agents occupés", "Agents busy"),
    "day.duty": ("Agents en poste", "Agents on duty"),
    "day.waiting_now": ("Attend à cet instant", "Waiting now"),
    "day.serving_now": ("Servi à cet instant", "Being served now"),
    "day.play": ("▶ Lecture", "▶ Play"),
    "day.pause": ("❚❚ Pause", "❚❚ Pause"),
    "day.outcome.served": ("servi", "served"),
    "day.outcome.gave_up": ("abandon", "gave up"),
    "day.outcome.sent_home": ("renvoyé à la fermeture", "sent home at closing"),
    "day.outcome.still_waiting": ("encore en attente", "still waiting"),
    "day.hover": ("arrivée {a}, attente {w} min, {o}", "arrived {a}, waited {w} min, {o}"),
})


@dataclass(frozen=True)
class DayChoice:
    """The site, date and replication shown, and why that day (``busiest`` or ``requested``)."""

    site: str
    date: dt.date
    replication: int
    reason: str
    visits: int


def _listing(values: list[str]) -> str:
    head = ", ".join(values[:LISTED])
    return head + (f" … and {len(values) - LISTED} more (see daily.parquet)" if len(values) > LISTED else "")


def choose_day(run: RunData, site: str | None = None, day: str | dt.date | None = None) -> DayChoice:
    """The day to show: ``site`` (needed when the run has several) on ``day`` (default: its busiest day) in
    the first replication. InputError naming the valid sites or the open days when either is not in the run."""
    if run.daily.empty or not run.has_visits:
        raise InputError("a day at a site needs the visits of a run (visits.parquet and daily.parquet); give a "
                         "run directory written by `fssim run`, not an experiment's", file=str(run.path),
                         field="--day-site")
    daily = run.daily.assign(site_id=run.daily["site_id"].astype(str))
    counts = daily.groupby("site_id", observed=True)["visits"].sum().sort_values(ascending=False, kind="stable")
    sites = list(counts.index)
    if site is None:
        if len(sites) != 1:
            raise InputError(f"this run has {len(sites)} sites: choose one with --day-site, e.g. (busiest first) "
                             f"{_listing(sites)}", field="--day-site")
        site = sites[0]
    site = str(site)
    if site not in sites:
        raise InputError(f"no site {site!r} in this run; its sites (busiest first): {_listing(sites)}",
                         field="--day-site")
    rep = int(daily["replication"].min())
    mine = daily[(daily["site_id"] == site) & (daily["replication"] == rep)]
    dates = pd.to_datetime(mine["date"]).dt.date
    if day is None:
        order = mine.assign(_d=dates.to_numpy()).sort_values(["visits", "_d"], ascending=[False, True], kind="stable")
        best = order.iloc[0]
        return DayChoice(site, best["_d"], rep, "busiest", int(best["visits"]))
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day.strip())
        except ValueError:
            raise InputError(f"{day!r} is not a date; write YYYY-MM-DD, e.g. {dates.min().isoformat()}",
                             field="--day") from None
    start = run.config.horizon.start
    end = start + dt.timedelta(days=run.config.horizon.days - 1)
    if not start <= day <= end:
        raise InputError(f"{day.isoformat()} is outside the run's horizon ({start.isoformat()} to "
                         f"{end.isoformat()})", field="--day")
    open_days = sorted(set(dates))
    if day not in open_days:
        before = [d for d in open_days if d < day][-1:]
        after = [d for d in open_days if d > day][:1]
        near = " or ".join(d.isoformat() for d in before + after) or "none"
        raise InputError(f"site {site!r} was not open on {day.isoformat()} ({WEEKDAYS[day.weekday()]}) in the "
                         f"first replication; it has {len(open_days)} open days from {open_days[0].isoformat()} to "
                         f"{open_days[-1].isoformat()}; nearest: {near}", field="--day")
    return DayChoice(site, day, rep, "requested", int(mine.loc[(dates == day).to_numpy(), "visits"].sum()))


# --------------------------------------------------------------------------- the log of one day

def day_log(visits: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The visits of one day (no-shows left out) as minutes after midnight: arrival, start, end, leave
    (when the citizen left the queue), wait, outcome, agent; in order of arrival."""
    v = visits[visits["outcome"].astype(str) != "no_show"]
    midnight = pd.Timestamp(day)

    def minutes(col):
        return ((pd.to_datetime(v[col]) - midnight) / pd.Timedelta(minutes=1)).to_numpy(float)

    arrival = minutes("arrival")
    served = (v["outcome"].astype(str) == "served").to_numpy()
    start, end = minutes("service_start"), minutes("service_end")
    leave = np.where(served, start, arrival + v["time_in_queue_min"].to_numpy(float))
    # served by an agent: the counter and back-office channels (a station's or a visio's minutes are not)
    desk = v["channel"].astype(str).isin(["counter", "back_office"]).to_numpy() if "channel" in v else served
    log = pd.DataFrame({"arrival": arrival, "start": np.where(served, start, np.nan),
                        "end": np.where(served, end, np.nan), "leave": leave, "wait": leave - arrival,
                        "outcome": v["outcome"].astype(str).to_numpy(), "agent": v["agent"].to_numpy(),
                        "desk": desk | ~served})
    return log.sort_values("arrival", kind="stable").reset_index(drop=True)


def queue_length(log: pd.DataFrame, instants) -> np.ndarray:
    """Citizens waiting at each instant: arrival ≤ τ < leave."""
    tau = np.asarray(instants, dtype=float)[:, None]
    return ((log["arrival"].to_numpy()[None, :] <= tau) & (tau < log["leave"].to_numpy()[None, :])).sum(axis=1)


def agents_busy(log: pd.DataFrame, instants) -> np.ndarray:
    """Agents serving at each instant: service start ≤ τ < service end (citizens served by an agent only)."""
    tau = np.asarray(instants, dtype=float)[:, None]
    if "desk" in log:
        log = log[log["desk"].to_numpy(bool)]
    s, e = log["start"].to_numpy()[None, :], log["end"].to_numpy()[None, :]
    return ((s <= tau) & (tau < e)).sum(axis=1)


def day_window(log: pd.DataFrame, duty: list[tuple[int, int, int]]) -> tuple[float, float]:
    """From the first opening or arrival to the last closing, departure or end of service."""
    lo = [a for a, _, _ in duty] + [float(log["arrival"].min())] if len(log) else [a for a, _, _ in duty]
    hi = [b for _, b, _ in duty] + [float(np.nanmax(log[["leave", "end"]].to_numpy()))] if len(log) else \
        [b for _, b, _ in duty]
    return (min(lo), max(hi)) if lo else (540.0, 1020.0)


def frame_instants(window: tuple[float, float]) -> tuple[np.ndarray, int]:
    """The frames' instants: every step from the window's start (rounded down) to its end (rounded up)."""
    step = SHORT_STEP_MIN if window[1] - window[0] <= SHORT_DAY_MIN else STEP_MIN
    first = np.floor(window[0] / step) * step
    last = np.ceil(window[1] / step) * step
    return np.arange(first, last + step / 2, step), step


def _steps(times: np.ndarray, values: np.ndarray, window: tuple[float, float]) -> tuple[list, list]:
    x = np.concatenate([[window[0]], times, [window[1]]])
    y = np.concatenate([[0], values, [values[-1] if len(values) else 0]])
    return _arr(np.round(x, 2)), [int(v) for v in y]


def clock(t: Translator, minutes: float) -> str:
    """570 → '9 h 30' (fr) or '09:30' (en)."""
    text = hhmm(minutes)
    return f"{int(text[:2])} h {text[3:]}" if t.lang == "fr" else text


def _segments(x0, x1, y) -> tuple[list, list]:
    xs, ys = [], []
    for a, b, k in zip(x0, x1, y):
        xs += [round(float(a), 2), round(float(b), 2), None]
        ys += [int(k), int(k), None]
    return xs, ys


def _now(log: pd.DataFrame, tau: float) -> tuple[list, list, list, list]:
    """Segments of who waits (arrival → τ) and who is served (start → τ) at τ."""
    rank = np.arange(len(log))
    a, lv, s, e = (log[c].to_numpy() for c in ("arrival", "leave", "start", "end"))
    w = (a <= tau) & (tau < lv)
    b = (s <= tau) & (tau < e)
    wx, wy = _segments(a[w], np.full(w.sum(), tau), rank[w])
    sx, sy = _segments(s[b], np.full(b.sum(), tau), rank[b])
    return wx, wy, sx, sy


def day_figure(log: pd.DataFrame, duty: list[tuple[int, int, int]], t: Translator) -> go.Figure:
    """Two panels sharing the time axis: each citizen's wait and service (top), queue and agents (bottom);
    frames every few minutes update only the 'now' traces (indices 5–9)."""
    window = day_window(log, duty)
    instants, step = frame_instants(window)
    n = len(log)
    rank = np.arange(n)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.06)
    colours = {"served": LIGHT, "gave_up": "#f2c48d", "sent_home": "#e9a19b"}  # pale: 'now' is drawn bright
    # 0–2: waits by outcome; 3: services; 4: arrivals (hover)
    for outcome in ("served", "gave_up", "sent_home"):
        sel = (log["outcome"] == outcome) | ((outcome == "sent_home") & (log["outcome"] == "still_waiting"))
        xs, ys = _segments(log.loc[sel, "arrival"], log.loc[sel, "leave"], rank[sel.to_numpy()])
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=colours[outcome], width=3),
                                 name=t(f"day.outcome.{outcome}"), hoverinfo="skip"), row=1, col=1)
    sv = log["outcome"].to_numpy() == "served"
    xs, ys = _segments(log.loc[sv, "start"], log.loc[sv, "end"], rank[sv])
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#c9ced4", width=3), showlegend=False,
                             hoverinfo="skip"), row=1, col=1)
    hover = [t("day.hover", a=clock(t, a), w=t.num(w, 0), o=t(f"day.outcome.{o}"))
             for a, w, o in zip(log["arrival"], log["wait"], log["outcome"])]
    fig.add_trace(go.Scatter(x=_arr(log["arrival"].round(2)), y=[int(k) for k in rank], mode="markers",
                             marker=dict(color=GREY, size=4), showlegend=False, text=hover,
                             hovertemplate="%{text}<extra></extra>"), row=1, col=1)
    # 5–6: who waits / is served now; 7–8: the cursor in each panel; 9: values now
    wx, wy, sx, sy = _now(log, instants[0])
    fig.add_trace(go.Scatter(x=wx, y=wy, mode="lines", line=dict(color=ORANGE, width=6), hoverinfo="skip",
                             name=t("day.waiting_now")), row=1, col=1)
    fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", line=dict(color=BLUE, width=6), hoverinfo="skip",
                             name=t("day.serving_now")), row=1, col=1)
    q_all = queue_length(log, instants)
    b_all = agents_busy(log, instants)
    ymax = max([1, *(c for _, _, c in duty), int(q_all.max(initial=0)), int(b_all.max(initial=0))])
    qt = np.unique(np.concatenate([log["arrival"].to_numpy(), log["leave"].to_numpy()])) if n else np.zeros(0)
    bt = np.unique(log[["start", "end"]].to_numpy().ravel()) if n else np.zeros(0)
    bt = bt[np.isfinite(bt)]
    ymax = max(ymax, int(queue_length(log, qt).max(initial=0)), int(agents_busy(log, bt).max(initial=0)))
    fig.add_trace(go.Scatter(x=[instants[0]] * 2, y=[-1, max(n, 1)], mode="lines", showlegend=False,
                             line=dict(color=GREY, width=1), hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[instants[0]] * 2, y=[0, ymax + 0.5], mode="lines", showlegend=False,
                             line=dict(color=GREY, width=1), hoverinfo="skip"), row=2, col=1)
    fig.add_trace(go.Scatter(x=[instants[0]] * 2, y=[int(q_all[0]), int(b_all[0])], mode="markers+text",
                             marker=dict(color=[ORANGE, BLUE], size=9), text=[str(q_all[0]), str(b_all[0])],
                             textposition="middle right", showlegend=False, hoverinfo="skip"), row=2, col=1)
    # 10–12: queue, busy and on-duty lines over the whole day
    x, y = _steps(qt, queue_length(log, qt), window)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line_shape="hv", line=dict(color=ORANGE, width=2),
                             name=t("day.queue"), hovertemplate="%{y}<extra>" + t("day.queue") + "</extra>"),
                  row=2, col=1)
    x, y = _steps(bt, agents_busy(log, bt), window)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line_shape="hv", line=dict(color=BLUE, width=2),
                             name=t("day.busy"), hovertemplate="%{y}<extra>" + t("day.busy") + "</extra>"),
                  row=2, col=1)
    if duty:
        dx, dy = [window[0]], [0]
        for a, b, c in duty:
            dx += [a, b]
            dy += [c, 0]
        fig.add_trace(go.Scatter(x=dx, y=dy, mode="lines", line_shape="hv", line=dict(color=GREY, dash="dot"),
                                 name=t("day.duty"), hoverinfo="skip"), row=2, col=1)
    frames, steps = [], []
    for i, tau in enumerate(instants):
        wx, wy, sx, sy = _now(log, tau)
        name = f"f{i}"
        frames.append(go.Frame(name=name, traces=[5, 6, 7, 8, 9], data=[
            go.Scatter(x=wx, y=wy), go.Scatter(x=sx, y=sy), go.Scatter(x=[float(tau)] * 2),
            go.Scatter(x=[float(tau)] * 2), go.Scatter(x=[float(tau)] * 2, y=[int(q_all[i]), int(b_all[i])],
                                                       text=[str(q_all[i]), str(b_all[i])])]))
        steps.append(dict(method="animate", label=clock(t, tau), args=[[name], dict(
            mode="immediate", frame=dict(duration=0, redraw=False), transition=dict(duration=0))]))
    fig.frames = frames
    hours = np.arange(np.ceil(window[0] / 60) * 60, window[1] + 1, 60)
    fig.update_xaxes(range=[float(instants[0]), float(instants[-1])], tickvals=_arr(hours),
                     ticktext=[clock(t, h) for h in hours], showgrid=True, gridcolor="#f0f2f4")
    fig.update_yaxes(title_text=t("day.citizens"), autorange="reversed", showgrid=False, row=1, col=1)
    fig.update_yaxes(title_text=t("day.count"), range=[0, ymax + 0.5], dtick=1 if ymax <= 12 else None,
                     row=2, col=1)
    play = dict(frame=dict(duration=350, redraw=False), transition=dict(duration=0), fromcurrent=True,
                mode="immediate")
    _layout(fig, t, margin=dict(l=60, r=20, t=30, b=40), sliders=[dict(
        active=0, steps=steps, x=0.1, len=0.9, y=0, yanchor="top", pad=dict(t=40),
        currentvalue=dict(prefix="", visible=True, xanchor="left"))],
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0, y=0, xanchor="left",
                          yanchor="top", pad=dict(t=40, r=10), buttons=[
                              dict(label=t("day.play"), method="animate", args=[None, play]),
                              dict(label=t("day.pause"), method="animate", args=[[None], dict(
                                  mode="immediate", frame=dict(duration=0, redraw=False))])])])
    return fig


# --------------------------------------------------------------------------- the section

def read_day(run: RunData, choice: DayChoice) -> pd.DataFrame:
    """The visits of the chosen site, replication and date, read with filters (a national run stays cheap)."""
    path = run.path / "visits.parquet"
    lacking = [c for c in COLUMNS if c not in set(pq.read_schema(path).names)]
    if lacking:
        raise InputError(f"column(s) {lacking} missing; rerun with this fssim version", file=str(path))
    t0 = pd.Timestamp(choice.date)
    table = pq.read_table(path, columns=COLUMNS, filters=[
        ("replication", "=", choice.replication), ("site_id", "=", choice.site),
        ("arrival", ">=", t0), ("arrival", "<", t0 + pd.Timedelta(days=1))])
    return table.to_pandas()


def _duty(run: RunData, choice: DayChoice) -> list[tuple[int, int, int]]:
    site = next((s for s in run.sites if s.id == choice.site), None)
    if site is None or site.always_open:
        return []
    duty = list(site.schedule.get(WEEKDAYS[choice.date.weekday()], []))
    return duty if run.daily.empty else _after_absences(run.daily, choice, duty)


def _after_absences(daily: pd.DataFrame, choice: DayChoice, duty: list) -> list:
    """The timetable's agents less those absent that day (fssim.engine.absences; exact when the staffing is
    the same all day), none on a day closed for lack of agents."""
    if "agents_absent" not in daily:
        return duty
    row = daily[(daily["site_id"].astype(str) == choice.site) & (daily["replication"] == choice.replication)
                & (pd.to_datetime(daily["date"]).dt.date == choice.date)]
    if row.empty or not int(row["agents_absent"].iloc[0]):
        return duty
    if int(row["closed_absence"].iloc[0]):
        return []
    k = int(row["agents_absent"].iloc[0])
    return [(a, b, c - k) for a, b, c in duty if c > k]


def section_day(run: RunData, t: Translator) -> Section | None:
    """On request (``run.day``), or for a run of one site: its busiest day of the first replication."""
    choice = run.day
    if choice is None:
        if run.daily.empty or not run.has_visits or run.daily["site_id"].astype(str).nunique() != 1:
            return None
        if any(s.always_open for s in run.sites):
            return None  # one session over the whole horizon: no day to show
        choice = choose_day(run)
    log = day_log(read_day(run, choice), choice.date)
    duty = _duty(run, choice)
    fig = day_figure(log, duty, t)
    _, step = frame_instants(day_window(log, duty))
    qt = np.unique(log["arrival"].to_numpy())
    q = queue_length(log, qt)
    qmax = int(q.max(initial=0))
    served = log[log["outcome"] == "served"]
    site = next((s for s in run.sites if s.id == choice.site), None)
    label = f"{site.name} ({choice.site})" if site is not None and site.name else choice.site
    lead = t("day.lead", site=label, weekday=t.weekday(WEEKDAYS[choice.date.weekday()]),
             date=t.date(choice.date), rep=choice.replication + 1, why=t(f"day.{choice.reason}"),
             visits=t.int(len(log)), served=t.int(len(served)),
             gave_up=t.int((log["outcome"] == "gave_up").sum()), sent_home=t.int((log["outcome"] == "sent_home").sum()),
             qmax=t.int(qmax), qat=clock(t, float(qt[int(np.argmax(q))])) if qmax else "—",
             wait=t.minutes(float(served["wait"].mean()) if len(served) else np.nan))
    plot = Plot("fig-day", fig, t("day.caption", step=step, duty=t("day.duty_caption") if duty else ""), height=640)
    return Section("day", t("day.title"), [Paragraph(lead), plot])

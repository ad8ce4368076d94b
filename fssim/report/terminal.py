"""What ``fssim run`` prints: the network KPIs with their 95 % interval and the verdict on each target.

Numbers are written as the report writes them (:class:`fssim.report.i18n.Translator`: French thousands
separated by a narrow no-break space and a decimal comma, English ``1,234.5``), labels come from the KPI
registry, verdicts from :func:`fssim.report.targets.evaluate_targets` (with one replication, what the
simulated value says, as on the report's first screen). The table fits the terminal, 80 columns or 120:
labels wrap at spaces and no cell is cut.
"""
from __future__ import annotations

import os

import pandas as pd
from rich.table import Table
from rich.text import Text

from fssim.report.i18n import NNBSP, Translator, add_labels, check_lang
from fssim.report.targets import evaluate_targets, overall_status

#: why a KPI has no value (the registry's ``undefined_when``, in English), in French
UNDEFINED_FR = {
    "no citizen served": "aucun usager servi", "no arrivals": "aucune arrivée",
    "no booked visit": "aucune visite sur rendez-vous", "no appointment request": "aucune demande de rendez-vous",
    "no inhabitant": "aucun habitant", "no open day": "aucun jour d'ouverture",
    "no self-service station open": "aucun poste en libre-service ouvert",
    "no staffed time": "aucun temps d'agent", "no visio window": "aucun créneau visio",
}

#: verdict → rich style
STYLES = {"pass": "bold green", "fail": "bold red", "uncertain": "yellow", "no_interval": "dim", "missing": "dim"}
WORDS = {
    "title": ("{name} : indicateurs du réseau ({n} réplication{s}, IC à 95 %)",
              "{name}: network KPIs ({n} replication{s}, 95 % CI)"),
    "title_one": ("{name} : indicateurs du réseau (1 réplication)", "{name}: network KPIs (1 replication)"),
    "kpi": ("Indicateur", "KPI"), "mean": ("Moyenne", "Mean"), "ci": ("IC à 95 %", "95 % interval"),
    "target": ("Cible", "Target"), "verdict": ("Verdict", "Verdict"),
    "undefined": ("non défini", "undefined"),
    "one_rep": ("Une seule réplication : pas d'intervalle ; verdicts sur la valeur simulée, à confirmer avec "
                "--replications 5 ou plus.",
                "One replication: no interval; verdicts on the simulated value, to be confirmed with "
                "--replications 5 or more."),
    "sites": ("chaque site", "every site"),
    "site_line": ("{label} ({scope}) : {verdict} — {counts} ({n} sites)",
                  "{label} ({scope}): {verdict} — {counts} ({n} sites)"),
}

add_labels({
    "channel_counter": ("Guichet", "Counter"),
    "channel_self_service": ("Libre-service", "Self-service"),
    "channel_visio": ("Visio", "Visio"),
    "channel_back_office": ("Back-office", "Back office"),
    "channel_title": ("Visites par canal (moyenne par réplication)", "Visits by channel (mean per replication)"),
    "channel_head": ("Canal", "Channel"),
})
#: the columns of the table of visits by channel
CHANNEL_KPIS = ("visits", "served", "mean_wait_min", "p90_wait_min", "abandonment_rate")


def terminal_lang(lang: str | None = None) -> str:
    """The language of the terminal output: ``lang`` when given, else French when the user's locale is
    (LC_ALL, LC_NUMERIC or LANG starting with 'fr'), else English."""
    if lang:
        return check_lang(lang)
    for var in ("LC_ALL", "LC_NUMERIC", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


def _w(key: str, t: Translator, **fmt) -> str:
    text = WORDS[key][t.i]
    return text.format(**fmt) if fmt else text


def exact_value(t: Translator, kpi: str, x: float) -> str:
    """A target's bound as written in the config (0.12 min stays '0.12 min', 0.055 '5.5 %'), in the KPI's unit."""
    unit = t.kpi_unit(kpi)
    shown = 100 * x if unit == "rate" else x / 60 if unit == "agent_minutes" else x
    digits = next((d for d in range(4) if abs(round(shown, d) - shown) < 1e-9), 3)
    if unit == "rate":
        return t.num(shown, digits) + t.pct_suffix
    suffix = {"minutes": "min", "agent_minutes": "h"}.get(unit)
    return t.num(shown, digits) + (f"{NNBSP if t.lang == 'fr' else ' '}{suffix}" if suffix else "")


def bound_text(t: Translator, kpi: str, low, high) -> str:
    """'≤ 15 min', '≥ 80 %', '5 % – 10 %'."""
    have_low, have_high = low is not None and low == low, high is not None and high == high
    if have_low and have_high:
        return f"{exact_value(t, kpi, low)} – {exact_value(t, kpi, high)}"
    if have_high:
        return "≤ " + exact_value(t, kpi, high)
    return "≥ " + exact_value(t, kpi, low) if have_low else ""


def kpi_table(summary: pd.DataFrame, config, kpis: tuple[str, ...], *, lang: str = "en") -> Table:
    """Network KPIs (``kpis``, then any KPI a network target names), their mean, interval, target and verdict."""
    t = Translator(check_lang(lang), threshold=float(config.outputs.wait_threshold_min))
    net = summary[summary["scope"] == "network"].drop_duplicates("kpi").set_index("kpi")
    judged = evaluate_targets(summary, config.targets)
    network_targets = judged[judged["scope"] == "network"]
    shown = list(kpis) + [k for k in network_targets["kpi"] if k not in kpis]
    one = int(config.replications) == 1
    title = (_w("title_one", t, name=config.name) if one else
             _w("title", t, name=config.name, n=t.int(config.replications), s="s"))
    table = Table(title=t.typography(title),
                  title_justify="left", caption=t.typography(_w("one_rep", t)) if one else None,
                  caption_justify="left")
    # labels wrap at spaces (never inside a word); with one replication the interval column, which would say
    # "no interval" on every row, is left out and said once in the caption
    table.add_column(_w("kpi", t), min_width=18, ratio=1)
    table.add_column(_w("mean", t), justify="right")
    if not one:
        table.add_column(_w("ci", t), justify="right")
    table.add_column(_w("target", t), justify="right", no_wrap=True)
    table.add_column(_w("verdict", t))
    for k in dict.fromkeys(shown):
        if k not in net.index:
            continue
        r = net.loc[k]
        tg = network_targets[network_targets["kpi"] == k]
        bound = "\n".join(bound_text(t, k, m, x) for m, x in zip(tg["min"], tg["max"]))
        verdict = Text("\n".join(_verdict(t, st, meets) for st, meets in zip(tg["status"], tg["mean_meets"])),
                       style=_style(tg)) if len(tg) else ""
        if r["n"] == 0:  # a rate over an empty denominator: no value, said so rather than "nan"
            why = r.get("undefined_when") or ""  # the registry says why, in English
            if t.lang == "fr":
                why = UNDEFINED_FR.get(why, why)
            value = _w("undefined", t) + (f" ({why})" if one and why else "")
            table.add_row(*([t.kpi(k), value] + ([] if one else [why]) + [bound, verdict]))
            continue
        cells = [t.kpi(k), t.kpi_value(k, r["mean"])]
        if not one:
            cells.append(t.kpi_interval(k, r["ci_low"], r["ci_high"], r["n"], r["mean"]))
        table.add_row(*(cells + [bound, verdict]))
    return table


def _verdict(t: Translator, status: str, mean_meets: bool) -> str:
    """A target's verdict; with one replication, what the simulated value says ("outside target (1
    replication)"), as the report's first screen says it."""
    if status == "no_interval":
        return t("status.point_meets" if mean_meets else "status.point_misses")
    return t.status(status)


def _style(tg: pd.DataFrame) -> str:
    if (tg["status"] == "no_interval").all():
        return "green" if tg["mean_meets"].all() else "red"
    return STYLES.get(overall_status(tg["status"]), "")


def site_target_lines(summary: pd.DataFrame, config, *, lang: str = "en") -> list[Text]:
    """One line per site-scope target: its verdict (the worst site's) and how many sites meet it."""
    t = Translator(check_lang(lang), threshold=float(config.outputs.wait_threshold_min))
    judged = evaluate_targets(summary, config.targets)
    lines = []
    for _, rows in judged[judged["scope"] == "site"].groupby("target", sort=True):
        k = rows["kpi"].iloc[0]
        label = rows["label"].iloc[0] or f"{t.kpi(k)} {bound_text(t, k, rows['min'].iloc[0], rows['max'].iloc[0])}"
        status = overall_status(rows["status"])
        counts = ", ".join(t.colon(t.status(s)) + t.int(int((rows["status"] == s).sum())) for s in STYLES
                           if (rows["status"] == s).any())
        text = _w("site_line", t, label=label, scope=_w("sites", t), verdict=t.status(status), counts=counts,
                  n=t.int(len(rows)))
        lines.append(Text(t.typography(text), style=STYLES.get(status, "")))
    return lines


def channel_table(summary: pd.DataFrame, config, *, lang: str = "en") -> Table | None:
    """Visits, waits and abandonment by channel (counter, self-service, visio, back office), or None when every
    visit took the same channel (the summary then has no channel scope)."""
    rows = summary[summary["scope"] == "channel"]
    if rows["key"].nunique() < 2:
        return None
    t = Translator(check_lang(lang), threshold=float(config.outputs.wait_threshold_min))
    table = Table(title=t("channel_title"), title_justify="left")
    table.add_column(t("channel_head"), no_wrap=True, min_width=13)
    for k in CHANNEL_KPIS:  # headers wrap at spaces, so that the table fits 80 columns
        table.add_column(t.kpi(k), justify="right", overflow="fold")
    from fssim.config.resources import CHANNELS
    for channel in CHANNELS:
        r = rows[rows["key"] == channel].drop_duplicates("kpi").set_index("kpi")
        if r.empty:
            continue
        table.add_row(t(f"channel_{channel}"), *(t.kpi_value(k, r.loc[k, "mean"]) if k in r.index and r.loc[k, "n"] > 0
                                                 else _w("undefined", t) for k in CHANNEL_KPIS))
    return table

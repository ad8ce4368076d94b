"""Points d'attention: the places that miss the targets, by name, worst first, with their figures.

For each target, the sites, cantons, départements and régions whose mean misses it (the places where the
KPI is measured: sites where they are, areas where their citizens live), ordered by how far they are from
the bound, the furthest first. A place with few arrivals (summary column ``reliable`` false) is listed but
marked, since one bad week can put it there.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from fssim.config import Target
from fssim.report.i18n import Translator, add_labels
from fssim.report.names import area_names
from fssim.report.rundata import RunData

LEVELS = ("site", "canton", "departement", "region")
MAX_PER_LEVEL = 10


def place_name(level: str, key: str, run: RunData) -> tuple[str, str]:
    """(name, where) of a place: a site's name and its commune; an area's name and its code."""
    if level == "site":
        site = next((s for s in run.sites if s.id == key), None)
        if site is None:
            return key, ""
        commune = area_names("commune").get(site.commune or "", site.commune or "")
        return site.name or key, commune
    return area_names(level).get(key, key), key


def _misses(mean: pd.Series, t: Target) -> pd.Series:
    out = pd.Series(False, index=mean.index)
    if t.max is not None:
        out |= mean > t.max
    if t.min is not None:
        out |= mean < t.min
    return out


def _gap(mean: pd.Series, t: Target) -> pd.Series:
    """How far beyond the bound, in units of the bound (so that the worst comes first)."""
    bound = t.max if t.max is not None else t.min
    sign = 1.0 if t.max is not None else -1.0
    return sign * (mean - bound) / (abs(bound) if bound else 1.0)


def attention_points(run: RunData, targets: list[Target]) -> pd.DataFrame:
    """target, level, key, mean, ci_low, ci_high, n, reliable, arrivals: each place missing a target, worst
    first within each target and level (at most MAX_PER_LEVEL), plus ``missing``: how many in all."""
    s = run.summary
    rows = []
    arrivals = s[s["kpi"] == "arrivals"].set_index(["scope", "key"])["mean"]
    for i, tg in enumerate(targets):
        for level in LEVELS:
            sel = s[(s["scope"] == level) & (s["kpi"] == tg.kpi)]
            sel = sel[sel["mean"].notna()]
            if sel.empty:
                continue
            bad = sel[_misses(sel["mean"], tg)].copy()
            if bad.empty:
                continue
            bad["gap"] = _gap(bad["mean"], tg)
            bad = bad.sort_values(["gap", "key"], ascending=[False, True], kind="stable")
            total = len(bad)
            for r in bad.head(MAX_PER_LEVEL).itertuples(index=False):
                rows.append({"target": i, "level": level, "key": str(r.key), "mean": float(r.mean),
                             "ci_low": float(r.ci_low), "ci_high": float(r.ci_high), "n": int(r.n),
                             "reliable": bool(getattr(r, "reliable", True)),
                             "arrivals": float(arrivals.get((level, r.key), np.nan)),
                             "missing": total, "of": len(sel)})
    return pd.DataFrame(rows, columns=["target", "level", "key", "mean", "ci_low", "ci_high", "n", "reliable",
                                       "arrivals", "missing", "of"])


def attention_blocks(run: RunData, t: Translator, targets: list[Target], target_text) -> list:
    """The report blocks: one table per target with the places that miss it, or a line saying none does."""
    from fssim.report.blocks import Heading, Note, Table

    points = attention_points(run, targets)
    blocks: list = [Heading(t("attention.title"))]
    if points.empty:
        blocks.append(Note(t("attention.none")))
        return blocks
    for i, tg in enumerate(targets):
        part = points[points["target"] == i]
        if part.empty:
            continue
        rows = []
        for r in part.itertuples(index=False):
            name, where = place_name(r.level, r.key, run)
            flag = "" if r.reliable else t("attention.few_visits")
            rows.append([t(f"attention.level.{r.level}"), name, where, t.kpi_value(tg.kpi, r.mean),
                         t.kpi_interval(tg.kpi, r.ci_low, r.ci_high, r.n, r.mean),
                         t.int(r.arrivals) if r.arrivals == r.arrivals else "—", flag])
        counts = part.drop_duplicates("level")
        note = " ; ".join(t("attention.count", k=int(c.missing), n=int(c.of), level=t(f"attention.levels.{c.level}"))
                          for c in counts.itertuples(index=False))
        blocks.append(Table([t("attention.place"), t("attention.name"), t("attention.where"), t("target.value"),
                             t("kpis.ci"), t("attention.arrivals"), ""], rows,
                            title=t("attention.table", target=target_text(t, tg)), numeric=(3, 4, 5), note=note))
    blocks.append(Note(t("attention.rule")))
    return blocks


__all__ = ["attention_points", "attention_blocks", "place_name", "LEVELS"]


#: the words of this section, (French, English)
add_labels({
    "attention.title": ("Points d'attention", "Points of attention"),
    "attention.none": ("Aucun site ni aucun territoire ne manque les objectifs.",
                       "No site and no area misses the targets."),
    "attention.table": ("Lieux hors objectif — {target}", "Places outside the target — {target}"),
    "attention.place": ("Niveau", "Level"),
    "attention.name": ("Nom", "Name"),
    "attention.where": ("Commune ou code", "Commune or code"),
    "attention.arrivals": ("Arrivées", "Arrivals"),
    "attention.few_visits": ("peu de visites", "few visits"),
    "attention.count": ("{k} {level} sur {n}", "{k} {level} of {n}"),
    "attention.level.site": ("site", "site"),
    "attention.level.canton": ("canton", "canton"),
    "attention.level.departement": ("département", "département"),
    "attention.level.region": ("région", "région"),
    "attention.levels.site": ("sites", "sites"),
    "attention.levels.canton": ("cantons", "cantons"),
    "attention.levels.departement": ("départements", "départements"),
    "attention.levels.region": ("régions", "régions"),
    "attention.rule": ("Les sites sont pris là où ils sont, les cantons, départements et régions là où vivent "
                       "leurs usagers ; les pires d'abord (écart à l'objectif rapporté à l'objectif), dix au plus "
                       "par niveau. « Peu de visites » : moins de 100 arrivées par réplication, un chiffre que "
                       "quelques journées chargées suffisent à déplacer.",
                       "Sites are taken where they are, cantons, départements and régions where their citizens "
                       "live; worst first (distance to the target relative to the target), at most ten per "
                       "level. \"Few visits\": fewer than 100 arrivals a replication, a figure a few busy days "
                       "can move."),
})

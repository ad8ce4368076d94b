"""The report of an experiment answers it: which scenarios meet every target, what each costs, the cheapest
that meets them; then each scenario against the baseline, paired replication by replication; then every KPI.

Tables of an experiment's results directory (``fssim experiment``), all optional but the first:

* ``experiment.parquet``: per scenario and KPI — scenario, kpi, mean; optional ci_low, ci_high, n, scope
  (only ``network`` rows are used when present);
* ``sites.parquet``: per scenario, site and KPI, for targets of scope ``site``;
* ``differences.parquet`` (or, without it, ``replications.parquet``): scenario − baseline per KPI, paired;
* ``experiment.json``: the baseline, the unit ``costs`` and each scenario's ``resources`` (agents, sites, buses).

Verdicts are :mod:`fssim.report.targets`' (whole 95 % interval inside the target: met), on the baseline's
targets; a scenario meets every target when each of them is met (a site-scope target: at every site).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fssim.errors import InputError
from fssim.experiment.costs import CostSpec, cost
from fssim.experiment.stats import paired_differences
from fssim.metrics import kpis as kpi_registry
from fssim.report.extras import require_columns
from fssim.report.blocks import Grid, Heading, Note, Plot, Section, Table, plot_text
from fssim.report.figures import BLUE, GREY, LIGHT, _arr, _error, _layout, ref_line
from fssim.report.i18n import Translator, add_labels
from fssim.report.rundata import RunData
from fssim.report.sections import target_line, target_text
from fssim.report.targets import evaluate_targets, overall_status

EXPERIMENT_KPIS = ("p90_wait_min", "abandonment_rate", "sent_home_rate", "utilisation", "mean_wait_min")
DIFFERENCE_KPIS = ("mean_wait_min", "p90_wait_min", "abandonment_rate", "utilisation")

add_labels({
    "doc.title_experiment": ("Rapport d'expérience", "Experiment report"),
    "exp.title": ("Expérience « {name} »", "Experiment \"{name}\""),
    "exp.title_plain": ("Expériences", "Experiments"),
    "exp.lead": ("Comparaison des variantes simulées (mêmes nombres aléatoires pour toutes : les écarts "
                 "viennent des variantes, pas du hasard).",
                 "Comparison of the simulated variants (same random numbers for all: differences come from "
                 "the variants, not from chance)."),
    "exp.lead_full": ("{n} scénarios, {reps} réplication(s) chacun, mêmes nombres aléatoires pour tous (les "
                      "écarts viennent des scénarios, pas du hasard) ; référence : {baseline}.",
                      "{n} scenarios, {reps} replication(s) each, the same random numbers for all (differences "
                      "come from the scenarios, not from chance); baseline: {baseline}."),
    "exp.answer": ("Réponse", "Answer"),
    "exp.cheapest": ("Le scénario le moins coûteux qui atteint tous les objectifs : {s}, {c} par an{vs}.",
                     "The cheapest scenario meeting every target: {s}, {c} a year{vs}."),
    "exp.cheapest_vs": (" ({d} par rapport à la référence)", " ({d} against the baseline)"),
    "exp.meeting": ("Atteignent tous les objectifs : {names}.", "Meet every target: {names}."),
    "exp.cheapest_nocost": ("Atteignent tous les objectifs : {names} (coûts non disponibles).",
                            "Meet every target: {names} (costs not available)."),
    "exp.none": ("Aucun scénario n'atteint tous les objectifs avec certitude.",
                 "No scenario meets every target for sure."),
    "exp.uncertain": (" Incertains (davantage de réplications peuvent trancher) : {names}.",
                      " Uncertain (more replications may settle it): {names}."),
    "exp.no_targets": ("L'expérience ne fixe aucun objectif (clé « targets » de la configuration de base).",
                       "The experiment sets no target (key \"targets\" of the base configuration)."),
    "exp.verdicts": ("Objectifs et coût par scénario", "Targets and cost by scenario"),
    "exp.all_targets": ("Tous les objectifs", "Every target"),
    "exp.agents": ("Agents", "Agents"),
    "exp.sites": ("Sites", "Sites"),
    "exp.buses": ("Bus", "Buses"),
    "exp.cost": ("Coût annuel", "Yearly cost"),
    "exp.baseline_mark": (" (référence)", " (baseline)"),
    "exp.cheapest_mark": (" ★ le moins coûteux", " ★ cheapest"),
    "exp.cost_note": ("Coût = agents × {a} + sites × {s} + bus × {b} par an ({origin}) ; agents au guichet "
                      "(moyenne sur les heures d'ouverture, équipages des bus compris), sites et bus comptés au "
                      "prorata de leur ouverture sur l'horizon. Ces coûts unitaires classent les scénarios ; ce "
                      "ne sont pas un budget.",
                      "Cost = agents × {a} + sites × {s} + buses × {b} a year ({origin}); agents at the counter "
                      "(averaged over opening hours, bus crews included), sites and buses counted by the share of "
                      "the horizon they are open. These unit costs rank the scenarios; they are not a budget."),
    "exp.cost_default": ("valeurs par défaut, estimations [E] : voir fssim.experiment.costs, à remplacer dans le "
                         "bloc « costs » de l'expérience", "defaults, estimates [E]: see fssim.experiment.costs; "
                         "set yours in the experiment's \"costs\" block"),
    "exp.cost_given": ("coûts unitaires du bloc « costs » de l'expérience", "unit costs of the experiment's "
                       "\"costs\" block"),
    "exp.cost_missing": ("Coûts non disponibles : experiment.json ne donne pas les ressources de chaque scénario "
                         "(expérience lancée avec une version antérieure de fssim).",
                         "Costs not available: experiment.json does not give each scenario's resources (an "
                         "experiment run with an earlier fssim version)."),
    "exp.site_scope": ("{k} site(s) sur {n}", "{k} of {n} site(s)"),
    "exp.diff_title": ("Écarts avec la référence, appariés par réplication", "Differences with the baseline, "
                       "paired by replication"),
    "exp.diff_lead": ("Chaque réplication d'un scénario voit les mêmes habitants que celle de la référence : "
                      "l'écart est estimé réplication par réplication, ce qui donne un intervalle plus étroit "
                      "que la comparaison de deux moyennes indépendantes (colonne « non apparié ») dès que les "
                      "deux scénarios varient ensemble d'une réplication à l'autre.",
                      "Each replication of a scenario sees the same citizens as the baseline's: the difference "
                      "is estimated replication by replication, which gives a narrower interval than comparing "
                      "two independent means (column \"unpaired\") whenever the two scenarios vary together from "
                      "one replication to the next."),
    "exp.kpi": ("Indicateur", "KPI"),
    "exp.difference": ("Écart (IC 95 % apparié)", "Difference (paired 95 % CI)"),
    "exp.unpaired": ("Non apparié ±", "Unpaired ±"),
    "exp.significant": ("Significatif", "Significant"),
    "exp.diff_caption": ("{kpi} : écart de chaque scénario avec la référence ({baseline}) ; barre foncée : "
                         "intervalle à 95 % apparié, barre claire : intervalle non apparié (sans nombres aléatoires "
                         "communs). Un intervalle qui ne coupe pas 0 est un écart établi.",
                         "{kpi}: each scenario's difference with the baseline ({baseline}); dark bar: paired 95 % "
                         "interval, light bar: unpaired interval (without common random numbers). An interval "
                         "clear of 0 is an established difference."),
    "exp.rest": ("Chaque indicateur par scénario", "Each KPI by scenario"),
    "exp.caption": ("{kpi} par variante{ci}{target}.", "{kpi} by variant{ci}{target}."),
    "exp.left": (" Les variantes à gauche de la ligne d'objectif le respectent.",
                 " Variants left of the target line meet it."),
    "exp.right": (" Les variantes à droite de la ligne d'objectif le respectent.",
                  " Variants right of the target line meet it."),
    "exp.caption_nt": ("{kpi} par variante{ci}.", "{kpi} by variant{ci}."),
    "exp.better.lower": (" Plus la valeur est basse, mieux c'est.", " Lower is better."),
    "exp.better.higher": (" Plus la valeur est haute, mieux c'est.", " Higher is better."),
    "exp.target": (" ; objectif : {t}", "; target: {t}"),
    "exp.scenario": ("Variante", "Variant"),
})


def _table(run: RunData, name: str) -> pd.DataFrame | None:
    path = run.path / f"{name}.parquet"
    if not path.exists():
        return None
    try:
        return pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise InputError(f"not a readable Parquet file ({type(e).__name__}: {e})", file=str(path)) from None


# --------------------------------------------------------------------------- verdicts and costs

def _summary_rows(df: pd.DataFrame, scope: str, key) -> pd.DataFrame:
    """Rows in the shape of a run's summary (scope, key, kpi, mean, n, ci_low, ci_high)."""
    low = df["ci_low"] if "ci_low" in df else pd.Series(np.nan, index=df.index)
    n = df["n"] if "n" in df else np.where(low.notna(), 2, 1)  # an interval implies ≥ 2 replications
    return pd.DataFrame({"scope": scope, "key": key, "kpi": df["kpi"].astype(str).to_numpy(),
                         "mean": df["mean"].astype(float).to_numpy(), "n": np.asarray(n, dtype=int),
                         "ci_low": low.astype(float).to_numpy(),
                         "ci_high": (df["ci_high"] if "ci_high" in df else low).astype(float).to_numpy()})


def scenario_verdicts(summary: pd.DataFrame, sites: pd.DataFrame | None, targets) -> pd.DataFrame:
    """One row per scenario and target: the verdict (a site-scope target: its worst site's), the network
    value and interval, and for site targets how many sites meet it. ``summary``: experiment.parquet."""
    rows = []
    for s in dict.fromkeys(summary["scenario"].astype(str)):
        net = summary[summary["scenario"].astype(str) == s]
        parts = [_summary_rows(net, "network", "")]
        if sites is not None and len(sites):
            mine = sites[sites["scenario"].astype(str) == s]
            parts.append(_summary_rows(mine, "site", mine["site_id"].astype(str).to_numpy()))
        ev = evaluate_targets(pd.concat(parts, ignore_index=True), targets)
        for i, g in ev.groupby("target", sort=True):
            first = g.iloc[0]
            rows.append({"scenario": s, "target": int(i), "kpi": first["kpi"], "scope": first["scope"],
                         "status": overall_status(g["status"]), "mean": float(first["mean"]),
                         "ci_low": float(first["ci_low"]), "ci_high": float(first["ci_high"]),
                         "n": int(first["n"]), "sites": len(g) if first["scope"] == "site" else 0,
                         "sites_pass": int((g["status"] == "pass").sum()) if first["scope"] == "site" else 0})
    return pd.DataFrame(rows, columns=["scenario", "target", "kpi", "scope", "status", "mean", "ci_low", "ci_high",
                                       "n", "sites", "sites_pass"])


def every_target(verdicts: pd.DataFrame, order: list[str]) -> pd.Series:
    """Per scenario, the verdict on all its targets together: pass only when each one passes."""
    return pd.Series({s: overall_status(verdicts.loc[verdicts["scenario"] == s, "status"]) if
                      (verdicts["scenario"] == s).any() else "missing" for s in order})


def scenario_costs(manifest: dict, unit: CostSpec) -> pd.DataFrame | None:
    """Per scenario of experiment.json: agents, sites, buses (over the horizon) and their yearly cost; None when
    the manifest does not give every scenario's resources."""
    scen = manifest.get("scenarios") or []
    if not scen or any("resources" not in s for s in scen):
        return None
    return pd.DataFrame([{"scenario": str(s["name"]), **s["resources"], **cost(s["resources"], unit)}
                         for s in scen])


def cheapest_meeting(table: pd.DataFrame) -> str | None:
    """The scenario of least ``cost`` among those whose ``status`` is pass (the first listed on a tie), or None."""
    ok = table[(table["status"] == "pass") & table["cost"].notna()]
    if ok.empty:
        return None
    return str(ok.loc[ok["cost"].astype(float).idxmin(), "scenario"])


def unit_costs(manifest: dict) -> tuple[CostSpec, bool]:
    """The experiment's unit costs and whether they are the defaults."""
    given = (manifest.get("definition") or {}).get("costs")
    spec = CostSpec.model_validate(given) if isinstance(given, dict) else CostSpec()
    return spec, spec == CostSpec()


def paired_table(run: RunData, baseline: str | None) -> pd.DataFrame | None:
    """differences.parquet, or the paired differences computed from replications.parquet."""
    diffs = _table(run, "differences")
    if diffs is not None:
        return diffs
    reps = _table(run, "replications")
    if reps is None or baseline is None:
        return None
    require_columns(reps, ("scenario", "replication", "kpi", "value"), run, "replications")
    return paired_differences(reps, baseline)


# --------------------------------------------------------------------------- blocks

def _euros(t: Translator, x: float) -> str:
    if x != x:
        return "—"
    return (t.num(x / 1e6, 2) + (" M€" if t.lang == "fr" else " M€")) if abs(x) >= 1e6 else t.int(x) + " €"


def _value(t: Translator, kpi: str, mean, low, high) -> str:
    text = t.kpi_value(kpi, mean)
    if low == low and high == high:
        text += f" [{t.kpi_value(kpi, low)} – {t.kpi_value(kpi, high)}]"
    return text


def answer_blocks(run: RunData, t: Translator, df: pd.DataFrame, order: list[str], baseline: str | None) -> list:
    targets = list(run.config.targets)
    manifest = run.manifest.get("experiment") or {}
    unit, default = unit_costs(manifest)
    costs = scenario_costs(manifest, unit)
    blocks: list = []
    if not targets:
        blocks.append(Note(t("exp.no_targets")))
    sites = _table(run, "sites") if any(tg.scope == "site" for tg in targets) else None
    verdicts = scenario_verdicts(df, sites, targets) if targets else pd.DataFrame(columns=["scenario", "status"])
    overall = every_target(verdicts, order) if targets else pd.Series("missing", index=order)
    table = pd.DataFrame({"scenario": order, "status": overall.reindex(order).to_numpy()})
    table["cost"] = (costs.set_index("scenario")["cost"].reindex(order).to_numpy() if costs is not None
                     else np.nan)
    best = cheapest_meeting(table) if targets else None
    if targets:
        meeting = [s for s in order if overall[s] == "pass"]
        uncertain = [s for s in order if overall[s] in ("uncertain", "no_interval")]
        if best is not None:
            base_cost = table.set_index("scenario")["cost"].get(baseline, np.nan)
            c = float(table.set_index("scenario")["cost"][best])
            vs = t("exp.cheapest_vs", d=("+" if c - base_cost > 0 else "") + _euros(t, c - base_cost)) \
                if baseline is not None and best != baseline and base_cost == base_cost else ""
            text = t("exp.cheapest", s=best, c=_euros(t, c), vs=vs) + " " + t("exp.meeting", names=", ".join(meeting))
        elif meeting:
            text = t("exp.cheapest_nocost", names=", ".join(meeting))
        else:
            text = t("exp.none") + (t("exp.uncertain", names=", ".join(uncertain)) if uncertain else "")
        blocks.append(Note(text, tone="info" if meeting else "warn"))
    head = [t("exp.scenario")] + [target_text(t, tg) for tg in targets] + ([t("exp.all_targets")] if targets else [])
    if costs is not None:
        head += [t("exp.agents"), t("exp.sites"), t("exp.buses"), t("exp.cost")]
    cells = verdicts.set_index(["scenario", "target"]) if targets else None
    cidx = costs.set_index("scenario") if costs is not None else None
    rows = []
    for s in order:
        row = [s + (t("exp.baseline_mark") if s == baseline else "") + (t("exp.cheapest_mark") if s == best else "")]
        for i, tg in enumerate(targets):
            if (s, i) not in cells.index:
                row.append("—")
                continue
            v = cells.loc[(s, i)]
            first = _value(t, tg.kpi, v["mean"], v["ci_low"], v["ci_high"])
            if tg.scope == "site":
                first = t("exp.site_scope", k=t.int(v["sites_pass"]), n=t.int(v["sites"]))
            row.append([first, t.status(v["status"])])
        if targets:
            row.append(t.status(overall[s]))
        if cidx is not None:
            r = cidx.loc[s] if s in cidx.index else None
            row += (["—"] * 4 if r is None else [t.num(r["agents"], 1), t.num(r["sites"], 1), t.num(r["buses"], 1),
                                                 _euros(t, float(r["cost"]))])
        rows.append(row)
    blocks.append(Table(head, rows, title=t("exp.verdicts"), numeric=tuple(range(1, len(head)))))
    if costs is not None:
        blocks.append(Note(t("exp.cost_note", a=_euros(t, unit.agent), s=_euros(t, unit.site), b=_euros(t, unit.bus),
                             origin=t("exp.cost_default") if default else t("exp.cost_given"))))
    elif manifest:
        blocks.append(Note(t("exp.cost_missing"), tone="warn"))
    return blocks


def difference_plot(d: pd.DataFrame, kpi: str, t: Translator, baseline: str) -> Plot:
    rows = d[d["kpi"] == kpi]
    rate = t.kpi_unit(kpi) == "rate"
    scale = 100.0 if rate else 1.0
    y = [plot_text(s) for s in rows["scenario"]]
    mean = rows["mean"].to_numpy(float)
    un = rows["unpaired_half_width"].to_numpy(float) if "unpaired_half_width" in rows else np.full(len(rows), np.nan)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=_arr(mean * scale), y=y, mode="markers", marker=dict(color=LIGHT, size=1),
                             error_x=_error(mean, mean - un, mean + un, scale), hoverinfo="skip", showlegend=False))
    err = _error(mean, rows["ci_low"], rows["ci_high"], scale)
    if err:
        err.update(color=BLUE, thickness=2.5)
    fig.add_trace(go.Scatter(x=_arr(mean * scale), y=y, mode="markers", marker=dict(color=BLUE, size=9),
                             error_x=err, showlegend=False,
                             hovertemplate="%{y}: %{x:.2f}" + (t.pct_suffix if rate else "") + "<extra></extra>"))
    if fig.data[0].error_x is not None:
        fig.data[0].error_x.update(color=LIGHT, thickness=7, width=0)
    ref_line(fig, "x", 0.0, color=GREY, dash="solid", width=1)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=True, gridcolor="#f0f2f4")
    fig.update_xaxes(title_text="Δ " + t.kpi(kpi) + (" (min)" if t.kpi_unit(kpi) == "minutes" else ""),
                     ticksuffix=t.pct_suffix if rate else "", showgrid=True, gridcolor="#e6e9ed", zeroline=False)
    _layout(fig, t, showlegend=False)
    return Plot(f"fig-diff-{kpi}", fig, t("exp.diff_caption", kpi=t.kpi(kpi), baseline=baseline),
                height=max(220, 34 * len(rows) + 100))


def difference_blocks(run: RunData, t: Translator, baseline: str | None) -> list:
    d = paired_table(run, baseline)
    if d is None or d.empty:
        return []
    d = d.assign(scenario=d["scenario"].astype(str), kpi=d["kpi"].astype(str))
    baseline = baseline or str(d["baseline"].iloc[0])
    wanted = [tg.kpi for tg in run.config.targets] + list(DIFFERENCE_KPIS)
    kpis = [k for k in dict.fromkeys(wanted) if k in set(d["kpi"])][:4]
    blocks: list = [Heading(t("exp.diff_title")), Note(t("exp.diff_lead"))]
    blocks.append(Grid([difference_plot(d, k, t, baseline) for k in kpis]))
    rows = []
    for k in kpis:
        for r in d[d["kpi"] == k].itertuples(index=False):
            un = getattr(r, "unpaired_half_width", np.nan)
            rows.append([r.scenario, t.kpi(k), _value(t, k, r.mean, r.ci_low, r.ci_high),
                         "—" if un != un else t.kpi_value(k, un),
                         t("doc.yes") if getattr(r, "significant", False) else t("doc.no")])
    blocks.append(Table([t("exp.scenario"), t("exp.kpi"), t("exp.difference"), t("exp.unpaired"),
                         t("exp.significant")], rows, numeric=(2, 3)))
    return blocks


def experiment_plot(df: pd.DataFrame, kpi: str, run: RunData, t: Translator, order: list[str]) -> Plot:
    rows = df[df["kpi"] == kpi].set_index("scenario").reindex(order).dropna(subset=["mean"])
    rate = t.kpi_unit(kpi) == "rate"
    scale = 100.0 if rate else 1.0
    low = rows["ci_low"] if "ci_low" in rows else pd.Series(np.nan, index=rows.index)
    high = rows["ci_high"] if "ci_high" in rows else pd.Series(np.nan, index=rows.index)
    fig = go.Figure(go.Scatter(
        x=_arr(rows["mean"] * scale), y=[plot_text(s) for s in rows.index], mode="markers",
        marker=dict(color=BLUE, size=9), error_x=_error(rows["mean"], low, high, scale),
        hovertemplate="%{y}: %{x:.2f}" + (t.pct_suffix if rate else "") + "<extra></extra>"))
    bound, label = target_line(run, t, kpi)
    if bound is not None:
        ref_line(fig, "x", bound * scale, text=plot_text(label))
    fig.update_yaxes(type="category", autorange="reversed", showgrid=True, gridcolor="#f0f2f4")
    fig.update_xaxes(title_text=t.kpi(kpi) + (" (min)" if t.kpi_unit(kpi) == "minutes" else ""),
                     ticksuffix=t.pct_suffix if rate else "", showgrid=True, gridcolor="#e6e9ed", linecolor=GREY)
    _layout(fig, t, showlegend=False)
    ci = t("ci.bars") if np.isfinite(low.to_numpy(float)).any() else ""
    side = next((t("exp.left") if tg.max is not None else t("exp.right")
                 for tg in run.config.targets if tg.kpi == kpi), "")
    k = kpi_registry.find(kpi)
    better = t(f"exp.better.{k.direction}") if k and k.direction != "none" else ""  # said when no target line
    caption = (t("exp.caption", kpi=t.kpi(kpi), ci=ci, target=t("exp.target", t=label)) + side
               if bound is not None else t("exp.caption_nt", kpi=t.kpi(kpi), ci=ci) + better)
    return Plot(f"fig-exp-{kpi}", fig, caption, height=max(260, 34 * len(rows) + 110))


def kpi_blocks(run: RunData, t: Translator, df: pd.DataFrame, order: list[str]) -> list:
    wanted = [tg.kpi for tg in run.config.targets] + list(EXPERIMENT_KPIS)
    kpis = [k for k in dict.fromkeys(wanted) if k in set(df["kpi"])][:4]
    if not kpis:
        return []
    cells = df.set_index(["scenario", "kpi"])
    rows = []
    for s in order:
        row = [s]
        for k in kpis:
            r = cells.loc[(s, k)] if (s, k) in cells.index else None
            if r is None:
                row.append("—")
                continue
            r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
            row.append(_value(t, k, float(r["mean"]), float(r.get("ci_low", np.nan)), float(r.get("ci_high", np.nan))))
        rows.append(row)
    return [Grid([experiment_plot(df, k, run, t, order) for k in kpis]),
            Table([t("exp.scenario")] + [t.kpi(k) for k in kpis], rows, numeric=tuple(range(1, len(kpis) + 1)))]


def section_experiment(run: RunData, t: Translator) -> Section | None:
    """First in the report of an experiment: the answer, then the paired differences, then every KPI."""
    ex = run.extras.get("experiment")
    if ex is None:
        return None
    require_columns(ex, ("scenario", "kpi", "mean"), run, "experiment")
    df = ex[ex["scope"] == "network"] if "scope" in ex else ex
    df = df.assign(scenario=df["scenario"].astype(str), kpi=df["kpi"].astype(str))
    manifest = run.manifest.get("experiment") or {}
    names = [str(s["name"]) for s in manifest.get("scenarios", [])]
    order = [s for s in names if s in set(df["scenario"])] or list(dict.fromkeys(df["scenario"]))
    baseline = manifest.get("baseline")
    blocks = answer_blocks(run, t, df, order, baseline)
    blocks += difference_blocks(run, t, baseline) if manifest else []
    rest = kpi_blocks(run, t, df, order)
    if rest:
        blocks += [Heading(t("exp.rest"))] + rest
    if manifest:
        lead = ((manifest.get("definition") or {}).get("description") or "").strip()
        lead = (lead + " " if lead else "") + t("exp.lead_full", n=len(order), reps=manifest.get("replications", "—"),
                                                baseline=baseline)
        return Section("experiment", t("exp.title", name=manifest.get("name", "")), blocks, lead=lead)
    return Section("experiment", t("exp.title_plain"), blocks, lead=t("exp.lead"))

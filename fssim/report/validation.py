"""Validation in the open: the simulated network beside official observed activity.

Computations are pure functions returning DataFrames (tested on their own); :func:`section_validation` lays them
out. Observed figures come from the Baromètre files of the data directory (fssim.sources.barometre): actes by
département and month (IND-323) and labels by département and month. Without the data directory the section
says what is missing and how to get it, and still compares the spread of volume between sites with the
predecessor network's survey (a published figure, facts §11).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fssim.errors import InputError
from fssim.report.blocks import Note, Plot, Section, Table
from fssim.geo.territory import departement_of
from fssim.report.figures import BLUE, GREY, RED, _layout
from fssim.report.i18n import Translator, add_labels
from fssim.report.rundata import RunData

#: MSAP survey of 360 sites (Sénat; facts §11) [P]: mean 55 visits a week, median under 31, top decile over 121.
SURVEY = {"median_over_mean": 31 / 55, "p90_over_mean": 121 / 55, "source": "enquête MSAP, 360 sites (Sénat)"}
GAPS_SHOWN = 10


def simulated_by_departement(summary: pd.DataFrame, network: pd.DataFrame, days: int) -> pd.DataFrame:
    """dep, simulated (actes a year): each site's mean actes over replications, summed by its département's
    code and scaled from the horizon's ``days`` to 365."""
    site = summary[(summary["scope"] == "site") & (summary["kpi"] == "actes")]
    actes = site.set_index(site["key"].astype(str))["mean"].astype(float)
    net = network.assign(site_id=network["site_id"].astype(str))
    dep = net["dep"].astype(str) if "dep" in net else net["commune"].astype(str).map(departement_of)
    by_site = pd.DataFrame({"dep": dep.to_numpy(), "simulated": actes.reindex(net["site_id"]).fillna(0).to_numpy()})
    out = by_site.groupby("dep", sort=True)["simulated"].sum() * 365.0 / days
    return out.rename("simulated").reset_index()


def observed_year(departements: pd.DataFrame, year: int) -> tuple[pd.DataFrame, str, list]:
    """(dep, observed actes a year), the year used, its months: the months observed in ``year`` if any, else
    in the latest observed year; a year is 12 × the mean of its observed months (the file has a few months a
    year, not all)."""
    d = departements.dropna(subset=["actes"])
    years = sorted(set(d["month"].dt.year))
    if not years:
        raise InputError("the IND-323 file has no actes by département", field="actes")
    used = year if year in years else years[-1]
    part = d[d["month"].dt.year == used]
    months = sorted(set(part["month"]))
    out = (part.groupby("dep", sort=True)["actes"].mean() * 12).rename("observed").reset_index()
    return out, str(used), months


def compare(simulated: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """dep, observed, simulated, ratio (levels), share_ratio (each side's share of the départements in both),
    log_share_ratio; worst first by |log share ratio|."""
    t = simulated.merge(observed, on="dep", how="inner")
    t = t[(t["observed"] > 0)].copy()
    t["ratio"] = t["simulated"] / t["observed"]
    sim_share = t["simulated"] / t["simulated"].sum() if t["simulated"].sum() > 0 else np.nan
    t["share_ratio"] = sim_share / (t["observed"] / t["observed"].sum())
    t["log_share_ratio"] = np.log(np.maximum(t["share_ratio"].astype(float), 1e-9))
    return t.reindex(t["log_share_ratio"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def fit_of(table: pd.DataFrame) -> dict:
    """Log correlation and median |log error| of département shares (as fssim calibrate reports them)."""
    if len(table) < 3 or (table["simulated"] <= 0).any():
        return {"log_correlation": float("nan"), "median_abs_log_error": float("nan")}
    return {"log_correlation": float(np.corrcoef(np.log(table["observed"]), np.log(table["simulated"]))[0, 1]),
            "median_abs_log_error": float(table["log_share_ratio"].abs().median())}


def monthly_series(daily: pd.DataFrame, actes_per_visit: float) -> pd.DataFrame:
    """month, simulated actes (mean over replications; visits × the run's actes per visit)."""
    d = daily.assign(month=pd.to_datetime(daily["date"]).dt.to_period("M").dt.to_timestamp())
    reps = max(int(d["replication"].nunique()), 1) if "replication" in d else 1
    return (d.groupby("month")["visits"].sum() / reps * actes_per_visit).rename("simulated").reset_index()


def volume_spread(site_visits: pd.Series) -> dict:
    """Median and 90th percentile of visits a site, over the mean (the survey's figures)."""
    v = site_visits[site_visits > 0].astype(float)
    mean = float(v.mean()) if len(v) else float("nan")
    return {"sites": int(len(v)), "median_over_mean": float(v.median() / mean) if len(v) else float("nan"),
            "p90_over_mean": float(v.quantile(0.9) / mean) if len(v) else float("nan")}


def official_labels(labels: pd.DataFrame, deps: set[str]) -> pd.DataFrame:
    """month, labels: the official count of labelled France services of the simulated départements."""
    part = labels[labels["dep"].astype(str).isin(deps)]
    return part.groupby("month", sort=True)["labels"].sum().rename("labels").reset_index()


def observed_data(run: RunData):
    """(actes series, label series) from the run's data directory, or (None, None, reason)."""
    from fssim.sources.barometre import load_actes, load_labels
    from fssim.sources.datadir import resolve_data_dir

    try:
        folder = resolve_data_dir(run.config.data_dir, base=run.config.base_dir)
        if folder is None:
            return None, None, "no_data_dir"
        return load_actes(data_dir=folder), load_labels(data_dir=folder), None
    except InputError as e:
        return None, None, str(e)


# --------------------------------------------------------------------------- figures

def departement_scatter(table: pd.DataFrame, names: dict, t: Translator) -> go.Figure:
    fig = go.Figure()
    lo = float(min(table["observed"].min(), table["simulated"][table["simulated"] > 0].min()))
    hi = float(max(table["observed"].max(), table["simulated"].max()))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"color": GREY, "dash": "dot"},
                             name=t("validation.equal"), hoverinfo="skip"))
    labels = [f"{names.get(d, d)} ({d})" for d in table["dep"]]
    fig.add_trace(go.Scatter(x=table["observed"], y=table["simulated"], mode="markers", marker={"color": BLUE},
                             text=labels, name=t("validation.departements"),
                             hovertemplate="%{text}<br>" + t("validation.observed") + " %{x:,.0f}<br>"
                             + t("validation.simulated") + " %{y:,.0f}<extra></extra>"))
    _layout(fig, t, xaxis={"type": "log", "title": t("validation.observed_axis")},
            yaxis={"type": "log", "title": t("validation.simulated_axis")})
    return fig


def monthly_figure(sim: pd.DataFrame, obs: pd.DataFrame | None, t: Translator) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=sim["month"], y=sim["simulated"], mode="lines+markers", name=t("validation.simulated"),
                             line={"color": BLUE}))
    if obs is not None and len(obs):
        fig.add_trace(go.Scatter(x=obs["month"], y=obs["actes"], mode="markers", name=t("validation.observed"),
                                 marker={"color": RED, "size": 9, "symbol": "diamond"}))
    _layout(fig, t, yaxis={"title": t("validation.actes_month"), "rangemode": "tozero"})
    return fig


def labels_figure(labels: pd.DataFrame, rollout: pd.DataFrame | None, t: Translator) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=labels["month"], y=labels["labels"], mode="lines", name=t("validation.labels"),
                             line={"color": RED, "shape": "hv"}))
    if rollout is not None and {"date", "sites"} <= set(rollout.columns):
        r = rollout.sort_values("date")
        fig.add_trace(go.Scatter(x=pd.to_datetime(r["date"]), y=r["sites"], mode="lines+markers",
                                 name=t("validation.open_sites"), line={"color": BLUE, "shape": "hv"}))
    _layout(fig, t, yaxis={"title": t("validation.sites_axis"), "rangemode": "tozero"})
    return fig


# --------------------------------------------------------------------------- section

def section_validation(run: RunData, t: Translator) -> Section | None:
    """Only for network runs (network.parquet): simulated actes and sites beside the official figures."""
    net = run.extras.get("network")
    if net is None or not len(net):
        return None
    blocks: list = []
    visits = run.breakdown("site", "visits").set_index("key")["mean"]
    spread = volume_spread(visits)
    blocks.append(Table([t("validation.figure"), t("validation.simulated"), t("validation.survey")], [
        [t("validation.median_over_mean"), t.num(spread["median_over_mean"], 2), "< " + t.num(SURVEY["median_over_mean"], 2)],
        [t("validation.p90_over_mean"), t.num(spread["p90_over_mean"], 2), "> " + t.num(SURVEY["p90_over_mean"], 2)],
    ], title=t("validation.spread_table", source=SURVEY["source"]), numeric=(1, 2)))
    actes, labels, missing = observed_data(run)
    if actes is None:
        blocks.insert(0, Note(t("validation.no_data") if missing == "no_data_dir"
                              else t("validation.bad_data", error=missing)))
        return Section("validation", t("validation.title"), blocks)
    days = int(run.config.horizon.days)
    sim = simulated_by_departement(run.summary, net, days)
    obs, year, months = observed_year(actes.departements, run.config.horizon.start.year)
    table = compare(sim, obs)
    fit = fit_of(table)
    names = dict(zip(labels.labels["dep"].astype(str), labels.labels["name"].astype(str))) if "name" in labels.labels else {}
    blocks.insert(0, Note(t("validation.intro", year=year, months=", ".join(f"{t.month(m.month, short=True)} {m.year}" for m in months),
                            n=len(table), corr=t.num(fit["log_correlation"], 2),
                            err=t.num(fit["median_abs_log_error"], 2), scaled="" if days == 365 else
                            t("validation.scaled", days=days))))
    if len(table):
        blocks.insert(1, Plot("fig-validation-departements", departement_scatter(table, names, t),
                              t("validation.scatter_caption", year=year), height=460))
        rows = [[f"{names.get(r.dep, r.dep)} ({r.dep})", t.int(r.observed), t.int(r.simulated), t.num(r.ratio, 2),
                 t.num(r.share_ratio, 2)] for r in table.head(GAPS_SHOWN).itertuples(index=False)]
        blocks.insert(2, Table([t("validation.departement"), t("validation.observed"), t("validation.simulated"),
                                t("validation.ratio"), t("validation.share_ratio")], rows,
                               title=t("validation.gaps_table"), numeric=(1, 2, 3, 4)))
    deps = set(sim["dep"])
    national = len(deps) >= 90
    if run.daily is not None and len(run.daily):
        per_visit = run.network("actes_per_visit")
        sim_month = monthly_series(run.daily, float(per_visit["mean"]) if per_visit is not None else 1.0)
        obs_month = actes.national if national else actes.departements[actes.departements["dep"].isin(deps)].groupby(
            "month", as_index=False)["actes"].sum()
        blocks.append(Plot("fig-validation-months", monthly_figure(sim_month, obs_month, t),
                           t("validation.months_caption"), height=340))
    blocks.append(Plot("fig-validation-labels", labels_figure(official_labels(labels.labels, deps),
                                                              run.extras.get("rollout"), t),
                       t("validation.labels_caption"), height=340))
    return Section("validation", t("validation.title"), blocks)


#: the words of this section, (French, English)
add_labels({
    "validation.title": ("Validation : le réseau simulé face à l'activité observée",
                         "Validation: the simulated network against observed activity"),
    "validation.intro": ("Actes simulés par département comparés aux actes observés (Baromètre des résultats, "
                         "indicateur IND-323) de {year}, année = 12 × la moyenne des mois observés ({months}) ; "
                         "{n} départements dans les deux{scaled}. Parts des départements : corrélation des "
                         "logarithmes {corr}, erreur logarithmique absolue médiane {err} (fssim calibrate vise "
                         "0,9 et 0,2 en validation croisée).",
                         "Simulated actes by département against the observed actes (Baromètre des résultats, "
                         "indicator IND-323) of {year}, a year = 12 × the mean of the observed months ({months}); "
                         "{n} départements in both{scaled}. Département shares: log correlation {corr}, median "
                         "absolute log error {err} (fssim calibrate aims at 0.9 and 0.2 out of sample)."),
    "validation.scaled": (" ; horizon de {days} jours ramené à 365", "; a {days}-day horizon scaled to 365"),
    "validation.no_data": ("Pas de dossier de données : la comparaison avec l'activité observée (Baromètre des "
                           "résultats) et les labellisations officielles demande les fichiers du Baromètre "
                           "(`fssim data fetch`, ou data_dir dans la configuration). La dispersion des volumes "
                           "entre sites reste comparée à l'enquête publiée.",
                           "No data directory: comparing with observed activity (Baromètre des résultats) and "
                           "official labels needs the Baromètre files (`fssim data fetch`, or data_dir in the "
                           "config). The spread of volume between sites is still compared with the published "
                           "survey."),
    "validation.bad_data": ("Les fichiers du Baromètre n'ont pas pu être lus : {error}",
                            "The Baromètre files could not be read: {error}"),
    "validation.equal": ("simulé = observé", "simulated = observed"),
    "validation.departements": ("départements", "départements"),
    "validation.departement": ("Département", "Département"),
    "validation.observed": ("observé", "observed"),
    "validation.simulated": ("simulé", "simulated"),
    "validation.survey": ("enquête", "survey"),
    "validation.figure": ("Indicateur", "Figure"),
    "validation.observed_axis": ("actes observés par an", "observed actes a year"),
    "validation.simulated_axis": ("actes simulés par an", "simulated actes a year"),
    "validation.scatter_caption": ("Actes par an et par département, simulés contre observés ({year}), échelles "
                                   "logarithmiques : un point sur la diagonale est un département bien reproduit.",
                                   "Actes a year by département, simulated against observed ({year}), log axes: "
                                   "a point on the diagonal is a département the model reproduces."),
    "validation.gaps_table": ("Les plus grands écarts de part (simulé / observé)",
                              "Largest gaps in share (simulated / observed)"),
    "validation.ratio": ("Rapport des niveaux", "Ratio of levels"),
    "validation.share_ratio": ("Rapport des parts", "Ratio of shares"),
    "validation.actes_month": ("actes par mois", "actes a month"),
    "validation.months_caption": ("Actes par mois : simulés (ligne) et observés (losanges, mois publiés) sur les "
                                  "départements simulés : la saisonnalité et le niveau.",
                                  "Actes a month: simulated (line) and observed (diamonds, published months) over "
                                  "the simulated départements: seasonality and level."),
    "validation.labels": ("France services labellisées (officiel)", "Labelled France services (official)"),
    "validation.open_sites": ("sites ouverts simulés", "simulated open sites"),
    "validation.sites_axis": ("sites", "sites"),
    "validation.labels_caption": ("Labellisations officielles (Baromètre, départements simulés) et sites ouverts "
                                  "dans la simulation, par phase.",
                                  "Official labels (Baromètre, simulated départements) and the sites open in the "
                                  "simulation, by phase."),
    "validation.spread_table": ("Dispersion des volumes entre sites, rapportés à la moyenne ({source})",
                                "Spread of volume between sites, over the mean ({source})"),
    "validation.median_over_mean": ("Médiane / moyenne des visites par site", "Median / mean of visits a site"),
    "validation.p90_over_mean": ("Seuil du décile supérieur / moyenne", "Top-decile threshold / mean"),
})

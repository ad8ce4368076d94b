"""Words and numbers of the report in French (default) or English.

Every label of the report goes through :class:`Translator`: ``t("waits.title")``, ``t.kpi("p90_wait_min")``,
``t.num(1234.5)`` → ``1 234,5`` in French (comma decimal, narrow no-break space between thousands),
``1,234.5`` in English. Labels are kept side by side, (French, English), so a missing translation is
visible at a glance and tested.
"""
from __future__ import annotations

from fssim.clock import WEEKDAYS

import math
import re

from fssim.metrics import kpis as kpi_registry
from fssim.errors import InputError
from fssim.report.map_labels import MAP_LABELS

LANGS = ("fr", "en")
NNBSP = "\u202f"  # narrow no-break space: French thousands separator and space before %

FRENCH_SPACES = ((" :", "\u00a0:"), (" ;", NNBSP + ";"), (" !", NNBSP + "!"), (" ?", NNBSP + "?"),
                 (" %", NNBSP + "%"), ("« ", "«\u00a0"), (" »", "\u00a0»"))

# --------------------------------------------------------------------------- KPI names and units

# Views of the KPI registry (fssim.metrics.kpis), where each KPI's labels, unit and definition are written.
#: KPI → (French, English). ``{thr}`` is the wait threshold of the run, in minutes.
KPI_NAMES: dict[str, tuple[str, str]] = {k.name: (k.label_fr, k.label_en) for k in kpi_registry.REGISTRY}
#: What each KPI means (STRESS-DES 1.2), (French, English).
KPI_DEFINITIONS: dict[str, tuple[str, str]] = {k.name: k.definition for k in kpi_registry.REGISTRY if k.definition}

WEEKDAY_KEYS = WEEKDAYS
WEEKDAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
WEEKDAYS_SHORT = {
    "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}
MONTHS_SHORT = {
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}

# --------------------------------------------------------------------------- labels

_LABELS: dict[str, tuple[str, str]] = {
    # title block and navigation
    "doc.title": ("Rapport de simulation", "Simulation report"),
    "doc.subtitle": ("Réseau France services — modèle de simulation à événements discrets fssim",
                     "France services network — fssim discrete-event simulation model"),
    "doc.toc": ("Sommaire", "Contents"),
    "doc.scenario": ("Scénario", "Scenario"),
    "doc.run_created": ("Simulation réalisée le", "Simulation run on"),
    "doc.config_hash": ("Empreinte de la configuration (SHA-256)", "Configuration fingerprint (SHA-256)"),
    "doc.software": ("Logiciel", "Software"),
    "doc.footer": ("Rapport autonome : il s'ouvre sans connexion et contient la configuration complète "
                   "qui permet de le reproduire (section « Reproduire ce rapport »).",
                   "Self-contained report: it opens offline and holds the complete configuration needed to "
                   "reproduce it (section \"Reproducing this report\")."),
    "doc.appendix": ("Annexe", "Appendix"),
    "doc.unknown": ("non renseigné", "not recorded"),
    "doc.none": ("aucun", "none"),
    "doc.yes": ("oui", "yes"),
    "doc.no": ("non", "no"),
    "doc.and_more": ("… et {n} autres", "… and {n} more"),
    "doc.no_ci": ("pas d'intervalle (1 réplication)", "no interval (1 replication)"),
    "doc.ci95": ("IC 95 %", "95 % CI"),
    "doc.noscript": ("Les graphiques de ce rapport demandent JavaScript ; les tableaux restent lisibles sans.",
                     "The figures of this report need JavaScript; the tables remain readable without it."),
    "fig.prefix": ("Figure", "Figure"),
    "tab.prefix": ("Tableau", "Table"),
    # overview
    "overview.title": ("Synthèse", "Summary"),
    "overview.lead": ("{name} : {sites} site(s), {days} jours à partir du {start}, {reps} réplication(s). "
                      "Chaque réplication rejoue la période avec d'autres tirages aléatoires ; les intervalles "
                      "à 95 % mesurent l'incertitude due au hasard de la simulation, pas celle des hypothèses.",
                      "{name}: {sites} site(s), {days} days from {start}, {reps} replication(s). Each "
                      "replication replays the period with other random draws; the 95 % intervals measure the "
                      "uncertainty due to simulation randomness, not that of the assumptions."),
    "overview.verdict": ("Objectifs : {npass} atteint(s), {nfail} manqué(s), {nunc} incertain(s), sur {n}.",
                         "Targets: {npass} met, {nfail} missed, {nunc} uncertain, out of {n}."),
    "overview.verdict_point": ("Sur une seule réplication : {nin} dans l'objectif et {nout} hors objectif, sur {n} "
                               "(valeurs ponctuelles, sans intervalle de confiance).",
                               "On a single replication: {nin} within and {nout} outside the target, out of {n} "
                               "(point values, no confidence interval)."),
    "overview.no_targets": ("La configuration ne fixe aucun objectif (clé « targets »).",
                            "The configuration sets no target (key \"targets\")."),
    "overview.rule": ("Règle : « atteint » si tout l'intervalle de confiance à 95 % respecte l'objectif, "
                      "« manqué » si tout l'intervalle le manque, « incertain » sinon (davantage de "
                      "réplications peuvent trancher).",
                      "Rule: \"met\" if the whole 95 % confidence interval meets the target, \"missed\" if the "
                      "whole interval misses it, \"uncertain\" otherwise (more replications may settle it)."),
    "overview.headline": ("Chiffres clés", "Key figures"),
    "overview.targets_table": ("Détail des objectifs", "Targets in detail"),
    "target.objective": ("Objectif", "Target"),
    "target.value": ("Valeur simulée", "Simulated value"),
    "target.status": ("Verdict", "Verdict"),
    "target.scope": ("Portée", "Scope"),
    "target.scope.network": ("réseau", "network"),
    "target.scope.site": ("chaque site", "every site"),
    "target.sites_pass": ("{k} site(s) sur {n} atteignent l'objectif", "{k} of {n} site(s) meet the target"),
    "target.worst_site": ("site le plus éloigné : {site}", "furthest site: {site}"),
    "target.config_label": ("Libellé de la configuration", "Configuration label"),
    "status.pass": ("atteint", "met"),
    "status.fail": ("manqué", "missed"),
    "status.uncertain": ("incertain", "uncertain"),
    "status.no_interval": ("sans intervalle", "no interval"),
    "status.missing": ("non mesuré", "not measured"),
    "status.no_interval.note": ("Une seule réplication : aucun intervalle de confiance n'est disponible ; "
                                "la valeur ponctuelle {meets} l'objectif.",
                                "One replication: no confidence interval is available; the point value "
                                "{meets} the target."),
    "status.point_meets": ("dans l'objectif (1 réplication)", "within target (1 replication)"),
    "status.point_misses": ("hors objectif (1 réplication)", "outside target (1 replication)"),
    "status.more_replications": ("Verdict sur la seule valeur simulée : relancer avec au moins 5 réplications "
                                 "(replications: 5) pour le confirmer par un intervalle de confiance.",
                                 "Verdict on the single simulated value: rerun with at least 5 replications "
                                 "(replications: 5) to confirm it with a confidence interval."),
    "status.meets": ("respecte", "meets"),
    "status.misses": ("ne respecte pas", "misses"),
    # scenario
    "scenario.title": ("Scénario et hypothèses", "Scenario and assumptions"),
    "scenario.description": ("Description", "Description"),
    "scenario.description_as_written": ("Description de la configuration (telle qu'écrite)",
                                        "The configuration's description (as written)"),
    "scenario.no_description": ("La configuration ne contient pas de description.",
                                "The configuration has no description."),
    "scenario.general": ("Paramètres généraux", "General settings"),
    "scenario.horizon": ("Horizon", "Horizon"),
    "scenario.horizon_value": ("{days} jours, du {start} au {end} inclus", "{days} days, {start} to {end} inclusive"),
    "scenario.warmup": ("Période de chauffe exclue des indicateurs", "Warm-up excluded from the KPIs"),
    "scenario.seed": ("Graine aléatoire", "Random seed"),
    "scenario.replications": ("Réplications", "Replications"),
    "scenario.holidays": ("Jours fériés", "Public holidays"),
    "scenario.holidays_closed": ("fermé les jours fériés français{subdiv}", "closed on French public holidays{subdiv}"),
    "scenario.holidays_open": ("ouvert les jours fériés", "open on public holidays"),
    "scenario.subdiv": (" (dont fériés locaux : {s})", " (including local ones: {s})"),
    "scenario.threshold": ("Seuil d'attente des indicateurs", "Wait threshold of the KPIs"),
    "scenario.volume": ("Volume de la demande", "Demand volume"),
    "scenario.volume.visits_per_open_day": ("{v} visites par jour d'ouverture et par site",
                                            "{v} visits per open day and site"),
    "scenario.volume.visits_per_year": ("{v} visites par an et par site", "{v} visits per year and site"),
    "scenario.volume.rate_per_hour": ("{v} arrivées par heure d'ouverture (taux constant)",
                                      "{v} arrivals per open hour (constant rate)"),
    "scenario.profiles": ("Profils de la demande", "Demand profiles"),
    "scenario.weekday_profile": ("jour de la semaine", "day of week"),
    "scenario.month_profile": ("mois", "month"),
    "scenario.hour_profile": ("heure", "hour"),
    "scenario.mix_shifts": ("Variations saisonnières du motif", "Seasonal démarche-mix shifts"),
    "scenario.mix_shift": ("{d} × {f} du {a} au {b}", "{d} × {f} from {a} to {b}"),
    "scenario.sites": ("Sites", "Sites"),
    "scenario.sites_more": ("{n} sites au total ; les {k} premiers sont listés.",
                            "{n} sites in all; the first {k} are listed."),
    "site.id": ("Identifiant", "Id"),
    "site.name": ("Nom", "Name"),
    "site.commune": ("Commune", "Commune"),
    "site.hours": ("Horaires", "Opening hours"),
    "site.weekly_hours": ("Heures / semaine", "Hours / week"),
    "site.agents": ("Agents", "Agents"),
    "site.appointments": ("Rendez-vous", "Appointments"),
    "site.always_open": ("ouvert en continu (validation)", "always open (validation)"),
    "site.dates": ("Ouverture / fermeture", "Opens / closes"),
    "scenario.demarches": ("Catalogue des démarches", "Démarche catalogue"),
    "demarche.name": ("Démarche", "Démarche"),
    "demarche.partner": ("Partenaire", "Partner"),
    "demarche.share": ("Part des visites", "Share of visits"),
    "demarche.service": ("Durée d'entretien (min)", "Service time (min)"),
    "demarche.mean": ("Moyenne (min)", "Mean (min)"),
    "demarche.follow_up": ("Second rendez-vous", "Follow-up visit"),
    "dist.lognormal": ("log-normale, moyenne {mean}, CV {cv}", "log-normal, mean {mean}, CV {cv}"),
    "dist.exponential": ("exponentielle, moyenne {mean}", "exponential, mean {mean}"),
    "dist.fixed": ("fixe, {value}", "fixed, {value}"),
    "dist.triangular": ("triangulaire, {min} / {mode} / {max}", "triangular, {min} / {mode} / {max}"),
    "dist.empirical_values": ("empirique, {n} valeurs rééchantillonnées", "empirical, {n} values resampled"),
    "dist.empirical_file": ("empirique, fichier {file} (colonne {column})",
                            "empirical, file {file} (column {column})"),
    "dist.none": ("aucune (les usagers n'abandonnent jamais)", "none (citizens never give up)"),
    "scenario.behaviour": ("Comportement des usagers", "Citizens' behaviour"),
    "beh.appointment_share": ("Part des arrivées sur rendez-vous (sites qui en proposent)",
                              "Share of arrivals booked (at sites offering appointments)"),
    "beh.slot_minutes": ("Durée d'un créneau de rendez-vous", "Appointment slot length"),
    "beh.appointment_desks": ("Rendez-vous par créneau", "Appointments per slot"),
    "beh.no_show": ("Taux d'absence au rendez-vous", "No-show rate"),
    "beh.patience": ("Patience des usagers sans rendez-vous (min)", "Patience of walk-ins (min)"),
    "beh.return_probability": ("Probabilité de revenir après un renvoi à la fermeture",
                               "Probability of coming back after being sent home"),
    "beh.return_delay_days": ("Délai de retour", "Return delay"),
    "beh.max_returns": ("Nombre maximal de retours", "Maximum number of returns"),
    "beh.follow_up_delay": ("Délai du second rendez-vous", "Follow-up delay"),
    "unit.days_range": ("{a} à {b} jours", "{a} to {b} days"),
    "unit.min": ("min", "min"),
    "unit.h": ("h", "h"),
    "unit.days": ("jours", "days"),
    "param": ("Paramètre", "Parameter"),
    "value": ("Valeur", "Value"),
    # KPI table
    "kpis.title": ("Indicateurs du réseau", "Network KPIs"),
    "kpis.lead": ("Moyenne sur les réplications et intervalle de confiance à 95 % (loi de Student). "
                  "Les effectifs sont des totaux sur l'horizon ; les attentes portent sur les usagers servis.",
                  "Mean across replications and 95 % confidence interval (Student t). Counts are totals over "
                  "the horizon; waits are those of served citizens."),
    "kpis.kpi": ("Indicateur", "KPI"),
    "kpis.mean": ("Moyenne", "Mean"),
    "kpis.ci": ("Intervalle à 95 %", "95 % interval"),
    "kpis.by_site": ("Indicateurs par site", "KPIs by site"),
    # waits
    "waits.title": ("Temps d'attente", "Waiting times"),
    "waits.lead": ("Attente = temps entre l'arrivée et le début de l'entretien, pour les usagers servis.",
                   "Wait = time from arrival to the start of service, for served citizens."),
    "waits.hist": ("Distribution des attentes", "Distribution of waits"),
    "waits.axis": ("Attente (min)", "Wait (min)"),
    "waits.hist.caption": ("Part des usagers servis par tranche d'attente de {w} min (toutes réplications). "
                           "{zero} ont été reçus sans attendre et ne sont pas dessinés ; la dernière tranche "
                           "regroupe les attentes les plus longues ; la ligne verticale marque le seuil de "
                           "{thr} min. Plus la masse est à gauche, meilleur est l'accueil.",
                           "Share of served citizens by wait band of {w} min (all replications). {zero} were "
                           "seen without waiting and are not drawn; the last band gathers the longest waits; the "
                           "vertical line marks the {thr}-minute threshold. The more mass on the left, the "
                           "better the service."),
    "waits.ecdf": ("Attente cumulée", "Cumulative waits"),
    "waits.ecdf.caption": ("Part des usagers servis ayant attendu au plus x minutes. Lire à 90 % : "
                           "l'attente P90 est de {p90} min ; à {thr} min, {share} des usagers sont déjà reçus.",
                           "Share of served citizens who waited at most x minutes. Read at 90 %: the P90 "
                           "wait is {p90} min; at {thr} min, {share} of citizens have been called."),
    "waits.no_visits": ("Le fichier visits.parquet n'a pas été écrit (outputs.visits : false) : la distribution "
                        "détaillée des attentes n'est pas disponible ; les indicateurs par groupe ci-dessous "
                        "viennent du tableau de synthèse.",
                        "visits.parquet was not written (outputs.visits: false): the detailed distribution of "
                        "waits is not available; the breakdowns below come from the summary table."),
    "waits.no_served": ("Aucun usager servi : pas de distribution d'attente.",
                        "No citizen served: no wait distribution."),
    "waits.by": ("Attente P90 par {by}", "P90 wait by {by}"),
    "waits.by.caption": ("Attente P90 (min) par {by}{ci}. Les barres au-dessus de la ligne de l'objectif "
                         "({target}) signalent où l'attente se concentre.",
                         "P90 wait (min) by {by}{ci}. Bars above the target line ({target}) show where "
                         "waiting concentrates."),
    "waits.by.caption_nt": ("Attente P90 (min) par {by}{ci} : où l'attente se concentre.",
                            "P90 wait (min) by {by}{ci}: where waiting concentrates."),
    "ci.bars": (", avec l'intervalle de confiance à 95 % en barre d'erreur",
                ", with the 95 % confidence interval as error bars"),
    "ci.none": (" (une réplication : pas d'intervalle)", " (one replication: no interval)"),
    "by.site": ("site", "site"),
    "by.demarche": ("démarche", "démarche"),
    "by.weekday": ("jour de la semaine", "day of week"),
    "by.hour": ("heure d'arrivée", "hour of arrival"),
    "by.month": ("mois", "month"),
    "by.top": (" ({k} sites les plus élevés sur {n})", " ({k} highest of {n} sites)"),
    # utilisation
    "util.title": ("Occupation des agents", "Agent utilisation"),
    "util.lead": ("Occupation = temps passé en entretien ÷ temps d'agents en poste. Au-delà de 85 % environ, "
                  "les files s'allongent vite ; très en dessous, des agents attendent les usagers.",
                  "Utilisation = time spent serving ÷ staffed agent time. Above about 85 % queues grow fast; "
                  "far below, agents wait for citizens."),
    "util.by_site.caption": ("Taux d'occupation par site{ci}.", "Utilisation by site{ci}."),
    "util.by_weekday.caption": ("Taux d'occupation par jour de la semaine{ci} (depuis daily.parquet) : "
                                "les jours chargés appellent plus d'agents.",
                                "Utilisation by day of week{ci} (from daily.parquet): busy days call for more "
                                "agents."),
    "util.heatmap.caption": ("Taux d'occupation par jour et par heure (moyenne des réplications, tous sites) : "
                             "les cases foncées sont les heures où les agents sont saturés ; les cases vides "
                             "sont fermées.",
                             "Utilisation by day and hour (mean of replications, all sites): dark cells are "
                             "the hours when agents are saturated; empty cells are closed."),
    "util.no_visits": ("Sans visits.parquet, l'occupation heure par heure n'est pas calculée.",
                       "Without visits.parquet, hour-by-hour utilisation is not computed."),
    # abandonment
    "aband.title": ("Abandons et renvois à la fermeture", "Abandonment and citizens sent home"),
    "aband.lead": ("Un usager sans rendez-vous abandonne quand sa patience est épuisée ; ceux encore en file "
                   "à la fermeture sont renvoyés et reviennent un autre jour avec une probabilité de {p}.",
                   "A walk-in gives up when their patience runs out; those still queuing at closing are sent "
                   "home and come back another day with probability {p}."),
    "aband.by.caption": ("Taux d'abandon et de renvoi à la fermeture par {by}{ci} : "
                         "ce sont les usagers qui repartent sans avoir été reçus.",
                         "Abandonment and sent-home rates by {by}{ci}: the citizens who leave without being "
                         "seen."),
    # daily
    "daily.title": ("Fréquentation jour par jour", "Visits day by day"),
    "daily.caption": ("Visites par jour d'ouverture et par site ouvert (moyenne des réplications ; points : "
                      "chaque jour, ligne : moyenne glissante sur 20 jours d'ouverture). Les creux et pics "
                      "suivent les profils saisonniers de la demande ; les jours fériés sont fermés.",
                      "Visits per open day and open site (mean of replications; dots: each day, line: rolling "
                      "mean over 20 open days). Dips and peaks follow the seasonal demand profiles; public "
                      "holidays are closed."),
    "daily.visits": ("visites par site ouvert", "visits per open site"),
    "daily.rolling": ("moyenne glissante", "rolling mean"),
    "daily.day": ("jour", "day"),
    # coverage
    "coverage.title": ("Couverture du territoire", "Territorial coverage"),
    "coverage.caption": ("Communes colorées selon le temps de trajet jusqu'au site le plus proche, sur les "
                         "contours des départements (taille des points : population). Les points rouges sont "
                         "les communes éloignées.",
                         "Communes shaded by travel time to the nearest site, on the outlines of the "
                         "départements (dot size: population). Red dots are remote communes."),
    "coverage.table": ("Population selon le temps de trajet", "Population by travel time"),
    "coverage.within": ("à {m} min ou moins", "within {m} min"),
    "coverage.population": ("Population", "Population"),
    "coverage.share": ("Part", "Share"),
    "coverage.minutes": ("minutes", "minutes"),
    "coverage.no_outlines": ("Contours des départements indisponibles (fssim.geo.territory absent) : "
                             "communes seules.", "Département outlines unavailable (fssim.geo.territory missing): "
                             "communes only."),
    # rollout
    "rollout.title": ("Calendrier de déploiement", "Rollout timeline"),
    "rollout.caption": ("Sites ouverts cumulés (ligne) et ouvertures par date (barres) : le rythme du "
                        "déploiement et le nombre de sites à chaque date.",
                        "Cumulative open sites (line) and openings by date (bars): the pace of the rollout and "
                        "the number of sites at each date."),
    "rollout.cumulative": ("sites ouverts (cumul)", "open sites (cumulative)"),
    "rollout.opened": ("ouvertures", "openings"),
    "rollout.table": ("Phases du déploiement : sites ouverts, accès et cantons", "Rollout phases: open sites, "
                      "access and cantons"),
    "rollout.phase": ("Phase", "Phase"),
    "rollout.start": ("Début", "Start"),
    "rollout.sites": ("Sites ouverts", "Open sites"),
    "rollout.within": ("Population à {m} min ou moins", "Population within {m} min"),
    "rollout.cantons": ("Cantons avec un site", "Cantons with a site"),
    "rollout.pseudo": ("Pseudo-cantons avec un site (communes hors canton : Lyon, Martinique, Guyane…)",
                       "Pseudo-cantons with a site (communes outside any canton: Lyon, Martinique, Guyane…)"),
    # methodology
    "method.title": ("Méthode", "Method"),
    "reproduce.title": ("Reproduire ce rapport", "Reproducing this report"),
    "reproduce.lead": ("Ce fichier contient la configuration complète du scénario et le manifeste de la "
                       "simulation (balise script « fssim-config »). Avec la même version de fssim, la "
                       "commande suivante refait la simulation et redonne les mêmes chiffres :",
                       "This file holds the complete scenario configuration and the run manifest (script "
                       "element \"fssim-config\"). With the same fssim version, this command redoes the run "
                       "and gives the same figures:"),
    "reproduce.report": ("Puis, pour régénérer ce rapport à partir de la nouvelle simulation :",
                         "Then, to regenerate this report from the new run:"),
    "reproduce.manifest": ("Manifeste de la simulation", "Run manifest"),
    "reproduce.command": ("Commande d'origine", "Original command"),
    "reproduce.versions": ("Versions", "Versions"),
    "reproduce.timings": ("Durées de calcul", "Computing times"),
    "reproduce.rows": ("Visites simulées", "Visits simulated"),
    "reproduce.deferred": ("Visites reportées au-delà de l'horizon", "Visits deferred beyond the horizon"),
    "reproduce.files": ("Fichiers de la simulation", "Run files"),
    "reproduce.downloads": ("Les tableaux des indicateurs par niveau (moyenne et intervalle à 95 %), à ouvrir dans un "
                            "tableur (CSV, « ; » et virgule décimale) ; le classeur Excel s'obtient par :",
                            "The KPI tables by level (mean and 95 % interval), for a spreadsheet (CSV); the Excel "
                            "workbook comes from:"),
    # STRESS
    "stress.title": ("Liste de contrôle STRESS-DES", "STRESS-DES checklist"),
    "stress.lead": ("Recommandations pour rendre compte des études de simulation à événements discrets "
                    "(Monks et al., 2019, « Strengthening the reporting of empirical simulation studies: "
                    "Introducing the STRESS guidelines », Journal of Simulation 13(1):55-67). Chaque point est "
                    "rempli à partir de cette simulation ; ce qui n'est pas connu est signalé.",
                    "Reporting guidelines for discrete-event simulation studies (Monks et al., 2019, "
                    "\"Strengthening the reporting of empirical simulation studies: Introducing the STRESS "
                    "guidelines\", Journal of Simulation 13(1):55-67). Each item is filled from this run; "
                    "what is not known is said so."),
    "stress.item": ("Point", "Item"),
    "stress.topic": ("Thème", "Topic"),
    "stress.answer": ("Dans cette étude", "In this study"),
    "stress.missing": ("non renseigné", "not filled"),
}

_LABELS.update(MAP_LABELS)
LABELS: dict[str, dict[str, str]] = {lang: {k: v[i] for k, v in _LABELS.items()} for i, lang in enumerate(LANGS)}


def add_labels(pairs: dict[str, tuple[str, str]]) -> None:
    """Add a section's (French, English) labels, kept beside its code (e.g. fssim.report.day); a key may not
    take another text than it already has."""
    clash = [k for k, v in pairs.items() if k in _LABELS and _LABELS[k] != v]
    if clash:
        raise ValueError(f"labels {clash} already exist with another text")
    _LABELS.update(pairs)
    for i, lang in enumerate(LANGS):
        LABELS[lang].update({k: v[i] for k, v in pairs.items()})


def check_lang(lang: str) -> str:
    """The language code, or InputError naming the choices."""
    if lang not in LANGS:
        raise InputError(f"unknown report language {lang!r}; choose fr (default) or en", field="lang")
    return lang


class Translator:
    """Labels and number formatting for one language."""

    def __init__(self, lang: str = "fr", *, threshold: float = 15.0):
        self.lang = check_lang(lang)
        self.i = LANGS.index(lang)
        self.threshold = threshold

    def __call__(self, key: str, **fmt) -> str:
        text = LABELS[self.lang][key]
        return text.format(**fmt) if fmt else text

    # ---------------------------------------------------------------- numbers
    def num(self, x, digits: int = 1) -> str:
        """1234.56 → '1 234,6' (fr) or '1,234.6' (en); NaN → '—'."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "—"
        x = float(x)
        if round(x, digits) == 0:
            x = 0.0  # no "-0,0"
        text = f"{x:,.{digits}f}"
        if self.lang == "fr":
            text = text.replace(",", NNBSP).replace(".", ",")
        return text.replace("-", "−")

    def int(self, x) -> str:
        return self.num(x, 0)

    def pct(self, x, digits: int = 1) -> str:
        """0.045 → '4,5 %' (fr, narrow no-break space) or '4.5%' (en)."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "—"
        return self.num(100 * x, digits) + (NNBSP + "%" if self.lang == "fr" else "%")

    def minutes(self, x, digits: int = 1) -> str:
        return "—" if x is None or x != x else f"{self.num(x, digits)}{NNBSP if self.lang == 'fr' else ' '}min"

    def kpi_value(self, kpi: str, x, *, compact: bool = False) -> str:
        """A KPI value as its registry unit reads: minutes (min), a rate (%), agent-minutes (in hours), a decimal,
        or a count (days too); ``compact`` drops a zero decimal (target bounds)."""
        kind = self.kpi_unit(kpi)
        if kind == "minutes":
            return self.minutes(x, 0 if compact and x == round(x) else 1)
        if kind == "rate":
            return self.pct(x, 0 if compact and 100 * x == round(100 * x) else 1)
        if kind == "agent_minutes":
            return "—" if x is None or x != x else self.num(x / 60, 0) + f"{NNBSP if self.lang == 'fr' else ' '}h"
        if kind == "decimal":
            return self.num(x, 1)
        return self.num(x, 0)

    def kpi_interval(self, kpi: str, low, high, n, mean=0.0) -> str:
        """'13,3 min – 14,5 min'; '—' when the KPI was not measured; a note when there is one replication."""
        if mean is None or mean != mean or not n:
            return "—"
        if n < 2 or low != low or high != high:
            return self("doc.no_ci")
        return f"{self.kpi_value(kpi, low)} – {self.kpi_value(kpi, high)}"

    def typography(self, text: str) -> str:
        """French spacing: no-break spaces before : ; ! ? % and inside « », so they never start a line;
        English: '95%' with no space."""
        if self.lang != "fr":
            return re.sub(r"(\d) %", r"\1%", text)
        for a, b in FRENCH_SPACES:
            text = text.replace(a, b)
        return text

    @property
    def separators(self) -> str:
        """Plotly's layout.separators: decimal then thousands."""
        return "," + NNBSP if self.lang == "fr" else ".,"

    @property
    def pct_suffix(self) -> str:
        return NNBSP + "%" if self.lang == "fr" else "%"

    def colon(self, label: str) -> str:
        """'Label : ' in French (no-break space before the colon), 'Label: ' in English."""
        return f"{label}\u00a0: " if self.lang == "fr" else f"{label}: "

    @property
    def joiner(self) -> str:
        return " et " if self.lang == "fr" else " and "

    # ---------------------------------------------------------------- domain words
    def kpi(self, name: str) -> str:
        k = kpi_registry.find(name)
        if k is None:
            return name
        return k.label(self.lang).format(thr=self.num(self.threshold, 0))

    def kpi_definition(self, name: str) -> str | None:
        k = kpi_registry.find(name)
        return k.definition[self.i] if k and k.definition else None

    @staticmethod
    def kpi_unit(name: str) -> str:
        """The registry's unit of a KPI ("count" for a name it does not know)."""
        k = kpi_registry.find(name)
        return k.unit if k else "count"

    def weekday(self, key: str, short: bool = False) -> str:
        table = WEEKDAYS_SHORT if short else WEEKDAYS
        return table[self.lang][WEEKDAY_KEYS.index(key)] if key in WEEKDAY_KEYS else key

    def month(self, number: int, short: bool = False) -> str:
        return (MONTHS_SHORT if short else MONTHS)[self.lang][int(number) - 1]

    def date(self, value) -> str:
        """A date as '1 janvier 2024' (fr) or '1 January 2024' (en)."""
        import pandas as pd

        d = pd.Timestamp(value)
        day = "1er" if (self.lang == "fr" and d.day == 1) else str(d.day)
        return f"{day} {self.month(d.month)} {d.year}"

    def status(self, status: str) -> str:
        return self(f"status.{status}")

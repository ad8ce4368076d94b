"""The STRESS-DES checklist (Monks et al. 2019), filled from the run; what the run does not record is said so.

Sections of the guideline: 1 Objectives, 2 Logic, 3 Data, 4 Experimentation, 5 Implementation,
6 Code access. Answers come from the resolved config and the manifest (seed, replications, warm-up, run
length, versions, timings, data sources with checksums).
"""
from __future__ import annotations

from fssim.report.blocks import Paragraph, Section, Table
from fssim.report.i18n import KPI_DEFINITIONS, Translator
from fssim.report.rundata import RunData
from fssim.report.sections import describe_distribution, target_text

GROUPS = {
    "1": ("Objectifs", "Objectives"), "2": ("Logique", "Logic"), "3": ("Données", "Data"),
    "4": ("Expérimentation", "Experimentation"), "5": ("Mise en œuvre", "Implementation"),
    "6": ("Accès au code", "Code access"),
}


def stress_items(run: RunData, t: Translator) -> list[tuple[str, str, list[str]]]:
    """(item number, topic, answer lines) for every STRESS-DES item."""
    cfg, man = run.config, run.manifest
    fr = t.lang == "fr"

    def tr(a: str, b: str) -> str:
        return a if fr else b

    unknown = t("doc.unknown")
    items: list[tuple[str, str, list[str]]] = []

    def add(num, topic_fr, topic_en, lines):
        items.append((num, tr(topic_fr, topic_en), [x for x in lines if x]))

    # 1 Objectives
    purpose = cfg.description.strip() or tr(
        f"Scénario « {cfg.name} » : attente, abandons et occupation des agents pour ce dimensionnement.",
        f"Scenario \"{cfg.name}\": waits, abandonment and agent utilisation for this set-up.")
    add("1.1", "Objectif du modèle", "Purpose of the model", [purpose] + (
        [tr("Objectifs testés : ", "Targets tested: ") + "; ".join(target_text(t, tg) for tg in cfg.targets)]
        if cfg.targets else []))
    add("1.2", "Résultats du modèle", "Model outputs", [
        t.colon(t.kpi(k)) + d[t.i] for k, d in KPI_DEFINITIONS.items()] + [tr(
            f"Calculés par réplication sur tout l'horizon (hors {cfg.horizon.warmup_days} jour(s) de chauffe), "
            f"puis moyenne et intervalle de confiance de Student à 95 % sur les réplications ; seuil d'attente "
            f"{t.num(run.threshold, 0)} min.",
            f"Computed per replication over the whole horizon (excluding {cfg.horizon.warmup_days} warm-up day(s)), "
            f"then mean and 95 % Student t confidence interval across replications; wait threshold "
            f"{t.num(run.threshold, 0)} min.")])
    exp = run.extras.get("experiment")
    if exp is not None and "scenario" in exp:
        names = list(dict.fromkeys(exp["scenario"].astype(str)))
        aims = [tr(f"Comparaison de {len(names)} variantes : ", f"Comparison of {len(names)} variants: ")
                + ", ".join(names)]
    else:
        aims = [tr("Un seul scénario, sans plan d'expérience ni optimisation dans cette simulation.",
                   "A single scenario, no design of experiments or optimisation in this run.")]
    add("1.3", "Buts de l'expérimentation", "Experimentation aims", aims)

    # 2 Logic
    add("2.1", "Schéma du modèle", "Base model overview diagram", [tr(
        "Schéma du processus dans la section « Méthode » : arrivée → file d'attente → entretien → sortie, avec "
        "absence au rendez-vous, abandon et renvoi à la fermeture.",
        "Process diagram in the \"Method\" section: arrival → queue → service → exit, with no-shows, "
        "abandonment and citizens sent home at closing.")])
    add("2.2", "Logique du modèle", "Base model logic", [tr(
        "Décrite dans la section « Méthode » (calendrier, demande, guichet, retours) ; code : fssim/engine/calendar.py, "
        "demand.py, counter.py, simulation.py.",
        "Described in the \"Method\" section (calendar, demand, counter, returns); code: fssim/engine/calendar.py, "
        "demand.py, counter.py, simulation.py.")])
    add("2.3", "Logique des scénarios", "Scenario logic", [tr(
        "Les variantes modifient des champs de la configuration de base (voir « Expériences »).",
        "Variants change fields of the base configuration (see \"Experiments\").") if exp is not None else tr(
        "Sans objet : un seul scénario.", "Not applicable: a single scenario.")])
    beh = cfg.behaviour
    add("2.4", "Algorithmes", "Algorithms", [tr(
        "Arrivées : nombre de Poisson par jour ouvert, instants tirés par inversion du profil horaire ; "
        f"rendez-vous en créneaux de {beh.slot_minutes} min, {beh.appointment_desks} par créneau ; file : noyau "
        "exact à événements suivants (agents dans un tas des prochaines disponibilités), patience vérifiée à "
        "l'appel (exact en premier arrivé, premier servi).",
        "Arrivals: a Poisson number per open day, times drawn by inverting the hourly profile; appointments "
        f"in {beh.slot_minutes}-minute slots, {beh.appointment_desks} per slot; queue: exact next-event kernel "
        "(agents in a heap of next free times), patience checked when called (exact for first come, first "
        "served).")])
    add("2.5.1", "Entités", "Entities", [tr(
        "Usagers : démarche, type de visite (sans rendez-vous, rendez-vous, retour, second rendez-vous), "
        "tentative, instant d'arrivée, durée d'entretien, patience, absence, décisions de retour et de suivi.",
        "Citizens: démarche, kind of visit (walk-in, booked, return, follow-up), attempt, arrival time, service "
        "time, patience, no-show, return and follow-up decisions.")])
    add("2.5.2", "Activités", "Activities", [tr(
        f"Attente en file puis entretien avec un agent, d'une durée propre à chacune des {len(cfg.demarches)} "
        "démarches ; on entre en arrivant pendant une séance, on sort servi, en abandonnant ou renvoyé.",
        f"Queuing, then service by an agent with a time specific to each of the {len(cfg.demarches)} démarches; "
        "citizens enter by arriving during a session and leave served, giving up or sent home.")])
    agents = sorted({c for s in run.sites for iv in s.schedule.values() for _, _, c in iv}
                    | {int(s.agents) for s in run.sites if s.always_open})
    add("2.5.3", "Ressources", "Resources", [tr(
        f"Agents polyvalents de chaque site ({len(run.sites)} site(s)), nombre fixé par plage horaire : "
        f"{', '.join(map(str, agents))} ; utilisés par l'activité d'entretien.",
        f"Agents polyvalents of each site ({len(run.sites)} site(s)), a number per opening interval: "
        f"{', '.join(map(str, agents))}; used by the service activity.")])
    add("2.5.4", "Files", "Queues", [tr(
        "Une file par site : premier arrivé, premier servi ; usagers sur rendez-vous prioritaires à leur "
        f"créneau ; abandon quand la patience est épuisée ({describe_distribution(beh.patience, t)}) ; ni refus "
        "à l'entrée ni changement de file ; à la fermeture la file est vidée (renvoi).",
        "One queue per site: first come, first served; booked citizens first at their slot; reneging when "
        f"patience runs out ({describe_distribution(beh.patience, t)}); no balking or jockeying; at closing "
        "the queue is emptied (sent home).")])
    deferred = man.get("visits_deferred_beyond_horizon")
    add("2.5.5", "Entrées et sorties", "Entry and exit points", [tr(
        "Entrées : arrivées générées sur les heures d'ouverture (Poisson non homogène), retours et seconds "
        "rendez-vous ; sorties : servi, abandon, renvoyé, absent. Les visites reportées au-delà de l'horizon ne "
        f"sont pas simulées ({deferred if deferred is not None else unknown} ici).",
        "Entry: arrivals generated over opening hours (non-homogeneous Poisson), returns and follow-ups; exit: "
        "served, gave up, sent home, no-show. Visits deferred beyond the horizon are not simulated "
        f"({deferred if deferred is not None else unknown} here).")])

    # 3 Data
    sources = man.get("data_sources") or []
    if sources:
        lines = [f"{s.get('name', '?')} — {s.get('path', '?')} — SHA-256 {s.get('sha256', unknown)}" for s in sources]
    else:
        lines = [tr("Le manifeste ne déclare aucun fichier de données (clé data_sources).",
                    "The manifest declares no data file (key data_sources).")]
    files = [d.service.file for d in cfg.demarches if getattr(d.service, "file", None)]
    if files:
        lines.append(tr("Durées empiriques lues dans : ", "Empirical durations read from: ") + ", ".join(files)
                     + tr(" (sans empreinte dans le manifeste).", " (no checksum in the manifest)."))
    lines.append(tr("Valeurs par défaut : fssim/defaults.py, où chaque chiffre cite sa source (Cour des comptes "
                    "2024, rapports du Sénat, liste ANCT) ou est marqué estimation [E].",
                    "Defaults: fssim/defaults.py, where each figure cites its source (Cour des comptes 2024, Sénat "
                    "reports, the ANCT list) or is marked as an estimate [E]."))
    add("3.1", "Sources de données", "Data sources", lines)
    add("3.2", "Prétraitement", "Pre-processing", [tr(
        "Non détaillé dans le manifeste : voir la documentation de chaque source." if sources else
        "Sans objet : aucune donnée brute n'est lue par cette simulation.",
        "Not detailed in the manifest: see each source's documentation." if sources else
        "Not applicable: no raw data is read by this run.")])
    names = {"lognormal": tr("log-normale", "log-normal"), "exponential": tr("exponentielle", "exponential"),
             "fixed": tr("fixe", "fixed"), "triangular": tr("triangulaire", "triangular"),
             "empirical": tr("empirique", "empirical")}
    kinds = sorted({names[d.service.dist] for d in cfg.demarches})
    add("3.3", "Paramètres d'entrée", "Input parameters", [tr(
        "Tous les paramètres figurent dans « Scénario et hypothèses » et, complets, dans la configuration "
        f"embarquée dans ce fichier ; lois des durées d'entretien : {', '.join(kinds)}. Le choix des lois ne "
        "résulte pas d'un ajustement à des données observées (non renseigné).",
        "Every parameter is listed in \"Scenario and assumptions\" and, complete, in the configuration embedded "
        f"in this file; service-time distributions: {', '.join(kinds)}. The choice of distributions does not "
        "come from fitting observed data (not recorded).")])
    add("3.4", "Hypothèses", "Assumptions", [tr(
        "Valeurs marquées [E] dans fssim/defaults.py (profils de demande, durées, patience, absences, retours) ; "
        "aucun standard officiel d'attente n'existe : les objectifs sont ceux de la configuration.",
        "Values marked [E] in fssim/defaults.py (demand profiles, durations, patience, no-shows, returns); no "
        "official waiting standard exists: the targets are those of the configuration.")])

    # 4 Experimentation
    w = cfg.horizon.warmup_days
    always = [s.id for s in run.sites if s.always_open]
    terminating = [tr(
        "Système à terminaison quotidienne : les sites ferment chaque jour et la file est vidée à la fermeture ; "
        "chaque séance commence vide (condition initiale déterministe), aucune période de chauffe n'est donc "
        f"nécessaire (warmup_days = {w}).",
        "Terminating each day: sites close every day and the queue is emptied at closing; each session starts "
        f"empty (deterministic initial condition), so no warm-up is needed (warmup_days = {w}).")]
    init = terminating if not always else [tr(
        f"Site(s) ouvert(s) en continu (validation, système non terminal) : {', '.join(always)} ; période de "
        f"chauffe de {w} jour(s) exclue des indicateurs ; méthode de choix de sa durée non renseignée.",
        f"Always-open site(s) (validation, non-terminating): {', '.join(always)}; warm-up of {w} day(s) excluded "
        "from the KPIs; how its length was chosen is not recorded.")]
    if always and w == 0:
        init.append(tr("Attention : aucune période de chauffe alors qu'un site est ouvert en continu.",
                       "Warning: no warm-up although a site is always open."))
    add("4.1", "Initialisation", "Initialisation", init)
    open_days = run.network("open_days")
    add("4.2", "Durée de simulation", "Run length", [tr(
        f"{cfg.horizon.days} jours, du {t.date(cfg.horizon.start)} au {t.date(cfg.horizon.end)} exclu ; unité de "
        "temps : la minute" + (f" ; {t.int(open_days['mean'])} jours d'ouverture (site × jour) par réplication."
                               if open_days is not None else "."),
        f"{cfg.horizon.days} days, {t.date(cfg.horizon.start)} to {t.date(cfg.horizon.end)} exclusive; time unit: "
        "the minute" + (f"; {t.int(open_days['mean'])} open site-days per replication."
                        if open_days is not None else "."))])
    reps = cfg.replications
    add("4.3", "Estimation", "Estimation approach", [tr(
        f"{reps} réplication(s) indépendante(s) (flux aléatoires distincts par réplication, graine {cfg.seed}) ; "
        "intervalles de Student à 95 % ; nombre de réplications fixé par la configuration, sans procédure "
        "séquentielle de précision.",
        f"{reps} independent replication(s) (distinct random streams per replication, seed {cfg.seed}); 95 % "
        "Student t intervals; number of replications set by the configuration, no sequential precision "
        "procedure.")] + ([tr("Une seule réplication : aucun intervalle de confiance n'est disponible.",
                               "One replication: no confidence interval is available.")] if reps < 2 else []))

    # 5 Implementation
    v = man.get("versions") or {}
    soft = ", ".join(f"{k} {val}" for k, val in v.items()) or unknown
    osname = man.get("platform") or tr("système d'exploitation non enregistré dans le manifeste",
                                       "operating system not recorded in the manifest")
    add("5.1", "Logiciel", "Software or programming language", [soft, str(osname)])
    add("5.2", "Tirages aléatoires", "Random sampling", [tr(
        f"Générateur PCG64 de NumPy ; un flux par (graine {cfg.seed}, réplication, site, nom du flux), dérivé par "
        "SeedSequence : nombres aléatoires communs entre scénarios.",
        f"NumPy PCG64 generator; one stream per (seed {cfg.seed}, replication, site, stream name), derived with "
        "SeedSequence: common random numbers across scenarios.")])
    add("5.3", "Exécution", "Model execution", [tr(
        "Interaction de processus SimPy (un processus par site), chaque séance servie par un noyau exact à "
        "événements suivants ; priorité aux rendez-vous ; sites simulés par lots, en série, avec des résultats "
        "indépendants du découpage ; pas de calcul parallèle ou distribué.",
        "SimPy process interaction (one process per site), each session served by an exact next-event kernel; "
        "booked citizens first; sites simulated in shards, serially, with results independent of the split; no "
        "parallel or distributed computing.")])
    tm = man.get("timings_s") or {}
    hw = man.get("machine") or {}
    hw_fr = (f"matériel : {hw.get('processor')}, {hw.get('cpus')} processeurs logiques, {hw.get('memory_gb')} Go"
             if hw else "matériel non enregistré")
    hw_en = (f"hardware: {hw.get('processor')}, {hw.get('cpus')} logical CPUs, {hw.get('memory_gb')} GB"
             if hw else "hardware not recorded")
    add("5.4", "Système", "System specification", [tr(
        f"Temps de calcul : simulation {t.num(tm.get('simulation'), 1)} s, total {t.num(tm.get('total'), 1)} s "
        f"(manifeste) ; {hw_fr}.",
        f"Computing time: simulation {t.num(tm.get('simulation'), 1)} s, total {t.num(tm.get('total'), 1)} s "
        f"(manifest); {hw_en}.")])

    # 6 Code access
    add("6.1", "Partage du modèle", "Computer model sharing statement", [tr(
        f"fssim {v.get('fssim', unknown)} ; ce rapport embarque la configuration résolue (empreinte "
        f"{man.get('config_sha256', unknown)}) et le manifeste : « fssim rerun » refait la simulation. Adresse "
        "publique du code et DOI : non renseignés.",
        f"fssim {v.get('fssim', unknown)}; this report embeds the resolved configuration (fingerprint "
        f"{man.get('config_sha256', unknown)}) and the manifest: \"fssim rerun\" redoes the run. Public code "
        "address and DOI: not recorded.")])
    return items


def section_stress(run: RunData, t: Translator) -> Section:
    rows = [[num, f"{GROUPS[num[0]][t.i]} — {topic}", lines] for num, topic, lines in stress_items(run, t)]
    table = Table([t("stress.item"), t("stress.topic"), t("stress.answer")], rows, css="stress")
    return Section("stress", t("stress.title"), [Paragraph(t("stress.lead")), table], appendix=True)

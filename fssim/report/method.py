"""The methodology section: how the model works, in plain words, with this run's own settings."""
from __future__ import annotations

from fssim.report.blocks import Bullets, Flow, Heading, Note, Paragraph, Section
from fssim.report.i18n import KPI_DEFINITIONS, Translator
from fssim.report.rundata import RunData

#: (heading, paragraph) per topic, French then English; {fields} come from the run.
TEXTS: dict[str, tuple[str, str]] = {
    "lead": ("fssim est un modèle de simulation à événements discrets (SimPy) du réseau France services : "
             "des usagers arrivent selon leur démarche, le jour, l'heure et la saison, attendent au guichet, "
             "sont reçus par des agents polyvalents, abandonnent, sont renvoyés à la fermeture et reviennent, "
             "ou reviennent pour un second rendez-vous.",
             "fssim is a discrete-event simulation model (SimPy) of the France services network: citizens "
             "arrive by démarche, weekday, hour and season, queue at a counter, are served by agents "
             "polyvalents, give up, are sent home at closing and come back, or return for a follow-up."),
    "flow.arrival": ("Arrivée", "Arrival"),
    "flow.arrival.detail": ("sans rendez-vous, sur rendez-vous, retour, second rendez-vous",
                            "walk-in, booked, return, follow-up"),
    "flow.queue": ("File d'attente", "Queue"),
    "flow.queue.detail": ("premier arrivé, premier servi ; rendez-vous prioritaires à leur créneau",
                          "first come, first served; booked citizens first at their slot"),
    "flow.service": ("Entretien", "Service"),
    "flow.service.detail": ("avec un agent polyvalent, durée selon la démarche",
                            "with an agent polyvalent, time by démarche"),
    "flow.exit": ("Sortie", "Exit"),
    "flow.exit.detail": ("usager servi ; second rendez-vous pour {fu} des démarches en moyenne",
                         "citizen served; a follow-up visit for {fu} of démarches on average"),
    "flow.no_show": ("absence au rendez-vous ({p})", "no-show ({p})"),
    "flow.gave_up": ("abandon quand la patience est épuisée", "gives up when patience runs out"),
    "flow.sent_home": ("renvoyé à la fermeture, revient un autre jour ({p})", "sent home at closing, comes back "
                       "another day ({p})"),
    "calendar.h": ("Calendrier", "Calendar"),
    "calendar": ("Chaque site a ses séances d'ouverture sur l'horizon : horaires hebdomadaires (plusieurs plages "
                 "par jour), fermeture {holidays} et hors de ses dates d'ouverture. Le nombre d'agents est "
                 "constant dans chaque plage. Le temps est compté en minutes.",
                 "Each site has its opening sessions over the horizon: weekly hours (several intervals a day), "
                 "closed {holidays} and outside its opening dates. The number of agents is constant within each "
                 "interval. Time is counted in minutes."),
    "holidays.closed": ("les jours fériés", "on public holidays"),
    "holidays.open": ("jamais les jours fériés (ils sont ouverts ici)", "never on public holidays (open here)"),
    "demand.h": ("Demande", "Demand"),
    "demand": ("Les arrivées suivent un processus de Poisson non homogène sur les heures d'ouverture : un "
               "nombre de Poisson par jour, modulé par jour de la semaine, mois et heure, puis des instants tirés "
               "selon le profil horaire. Les attributs de chaque usager (démarche, rendez-vous, absence, durée "
               "d'entretien, patience, retour, second rendez-vous) sont tirés à l'avance dans le flux aléatoire "
               "propre au site.",
               "Arrivals follow a non-homogeneous Poisson process over opening hours: a Poisson number per day, "
               "modulated by weekday, month and hour, then times drawn from the hourly profile. Each citizen's "
               "attributes (démarche, booking, no-show, service time, patience, return, follow-up) are drawn up "
               "front from the site's own random stream."),
    "counter.h": ("Guichet", "Counter"),
    "counter": ("Chaque séance est servie par un noyau exact de file multi-serveurs à événements discrets, "
                "piloté par le processus SimPy du site : premier arrivé, premier servi pour les usagers sans "
                "rendez-vous, usagers sur rendez-vous reçus en priorité à leur créneau ; abandon quand la "
                "patience est épuisée ; agents qui prennent et quittent leur poste selon les plages, sans "
                "interrompre un entretien ; à la fermeture, les entretiens en cours se terminent et les usagers "
                "encore en file sont renvoyés.",
                "Each session is served by an exact next-event multi-server queue kernel, run by the site's SimPy "
                "process: first come, first served for walk-ins, booked citizens first at their slot; reneging "
                "when patience runs out; agents coming on and off duty with the intervals, never interrupting a "
                "service; at closing, services in progress finish and citizens still queuing are sent home."),
    "random.h": ("Hasard et réplications", "Randomness and replications"),
    "random": ("Les tirages viennent de flux PCG64 de NumPy indexés par (graine, réplication, site, nom du "
               "flux) : nombres aléatoires communs. Changer les effectifs d'un site ne change ni les usagers qui "
               "s'y présentent ni les tirages des autres sites, et les résultats ne dépendent pas du découpage "
               "des sites en lots. Graine {seed}, {reps} réplication(s) ; chaque indicateur est calculé par "
               "réplication, puis moyenné avec un intervalle de confiance de Student à 95 %.",
               "Draws come from NumPy PCG64 streams keyed by (seed, replication, site, stream name): common "
               "random numbers. Changing a site's staffing changes neither the citizens who come to it nor the "
               "draws of other sites, and results do not depend on how sites are split into shards. Seed {seed}, "
               "{reps} replication(s); each KPI is computed per replication, then averaged with a 95 % Student t "
               "confidence interval."),
    "kpis.h": ("Indicateurs", "KPIs"),
    "validation.h": ("Validation", "Validation"),
    "validation": ("La suite de tests de fssim compare le modèle à la théorie des files d'attente : attente "
                   "moyenne et probabilité d'attendre plus de t minutes d'Erlang C (M/M/c), part d'abandon et "
                   "probabilité d'attente d'Erlang A (M/M/c+M), loi de Little ; elle vérifie aussi la "
                   "conservation des usagers, la fermeture, le déterminisme, les nombres aléatoires communs, "
                   "les calendriers et les profils de demande (tests/test_queueing.py, tests/test_model.py).",
                   "fssim's test suite compares the model with queueing theory: Erlang C (M/M/c) mean wait and "
                   "probability of waiting more than t minutes, Erlang A (M/M/c+M) abandonment share and "
                   "probability of waiting, Little's law; it also checks conservation of citizens, closing, "
                   "determinism, common random numbers, calendars and demand profiles (tests/test_queueing.py, "
                   "tests/test_model.py)."),
    "limits": ("Les intervalles mesurent l'aléa de la simulation, pas l'incertitude des hypothèses : les "
               "valeurs marquées [E] (estimations) dans fssim/defaults.py, notamment les durées d'entretien, la "
               "patience et les profils de demande, gagneraient à être confrontées à des données observées.",
               "The intervals measure simulation randomness, not the uncertainty of the assumptions: the values "
               "marked [E] (estimates) in fssim/defaults.py, notably service times, patience and demand "
               "profiles, would gain from being checked against observed data."),
}


def m(t: Translator, key: str, **fmt) -> str:
    text = TEXTS[key][t.i]
    return text.format(**fmt) if fmt else text


def process_flow(run: RunData, t: Translator) -> Flow:
    cfg = run.config
    fu = sum(d.share * d.follow_up.share for d in cfg.demarches)
    beh = cfg.behaviour
    exits = {0: [m(t, "flow.no_show", p=t.pct(beh.no_show, 0))]}
    queue_exits = []
    if beh.patience is not None:
        queue_exits.append(m(t, "flow.gave_up"))
    if not all(s.always_open for s in run.sites):
        queue_exits.append(m(t, "flow.sent_home", p=t.pct(beh.return_probability, 0)))
    exits[1] = queue_exits
    return Flow([(m(t, "flow.arrival"), m(t, "flow.arrival.detail")),
                 (m(t, "flow.queue"), m(t, "flow.queue.detail")),
                 (m(t, "flow.service"), m(t, "flow.service.detail")),
                 (m(t, "flow.exit"), m(t, "flow.exit.detail", fu=t.pct(fu, 0)))], exits)


def section_methodology(run: RunData, t: Translator) -> Section:
    cfg = run.config
    holidays = m(t, "holidays.closed") if cfg.holidays.closed else m(t, "holidays.open")
    definitions = [t.colon(t.kpi(k)) + d[t.i] for k, d in KPI_DEFINITIONS.items()]
    blocks = [
        Paragraph(m(t, "lead")),
        process_flow(run, t),
        Heading(m(t, "calendar.h")), Paragraph(m(t, "calendar", holidays=holidays)),
        Heading(m(t, "demand.h")), Paragraph(m(t, "demand")),
        Heading(m(t, "counter.h")), Paragraph(m(t, "counter")),
        Heading(m(t, "random.h")), Paragraph(m(t, "random", seed=cfg.seed, reps=cfg.replications)),
        Heading(m(t, "kpis.h")), Bullets(definitions),
        Heading(m(t, "validation.h")), Paragraph(m(t, "validation")),
        Note(m(t, "limits")),
    ]
    return Section("methodology", t("method.title"), blocks)

"""The KPI registry: one entry per KPI, the single place where a KPI is defined.

Each :class:`Kpi` gives its name, French and English labels, unit, whether lower or higher is better, how
it combines across sites and opening intervals, its formula from additive sums (:data:`SUMS`), and when it
is undefined. Both engines compute their KPIs through :func:`from_sums`: the run tables
(:func:`fssim.metrics.tables.kpis`, sums per group of visits and sessions) and the experiment partials
(:func:`fssim.experiment.partials.kpis_from_sums`, sums sent back by the workers). The targets, the
experiments, the report and the terminal tables take their KPI names, labels and units from here.

Quantile KPIs (median and P90 wait) cannot come from sums: each engine computes them from the pooled
waits (exact per group in the run tables and per site in the workers, from one-second histograms for an
experiment's network) at the entry's ``quantile``; they are registered like the others so that every list
of KPIs is this one. Across replications every KPI is summarised the same way: mean, standard deviation and
Student-t interval (:func:`fssim.metrics.tables.summarise`).

Adding a KPI computed from existing sums is one entry of :data:`REGISTRY`; a KPI needing a new sum also
needs that sum in both engines (:func:`fssim.metrics.tables.kpis` and :func:`fssim.experiment.partials.unit_partials`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pandas as pd

#: additive sums per group (site, opening interval, breakdown key…) that KPI formulas read
SUMS: dict[str, str] = {
    "visits": "visits, whatever their outcome",
    "served": "visits whose service started",
    "gave_up": "visits that left the queue before being called (patience ran out)",
    "sent_home": "visits still queuing at closing",
    "no_show": "booked visits whose citizen did not come",
    "still_waiting": "visits still queuing at the end of the horizon",
    "booked": "visits on appointment",
    "wait_sum": "sum of the waits of served visits (min)",
    "wait_over": "served visits that waited longer than the wait threshold",
    "service_sum": "sum of the service times of served visits (min)",
    "staffed_min": "agent-minutes staffed",
    "busy_min": "agent-minutes in service within the agents' duty windows",
    "open_days": "open site-days",
    "open_min": "minutes open (the timetable's)",
    "overtime_min": "agent-minutes in service outside the duty windows",
    "bus_late_min": "minutes a bus started its stops late",
    "bus_open_min": "minutes of the buses' timetabled stops",
    "actes": "démarches handled by served visits",
    "absent_agent_days": "agent-days absent on open days (fssim.engine.absences)",
    "absence_closure_days": "site-days closed because absences left too few agents",
    "booking_requests": "citizens who asked for an appointment (booked visits, and walk-ins who found no slot)",
    "no_slot": "appointment requests that found no slot with room within the calendar's horizon",
    "lead_sum": "sum of the booking lead days of booked visits (day booked to day of the visit; 0 same-day)",
    "station_min": "station-minutes open (self-service stations × minutes)",
    "station_busy_min": "station-minutes in use by citizens, within the stations' hours",
    "visio_min": "room-minutes of the visio timetable (rooms × minutes of the partners' windows)",
    "visio_busy_min": "room-minutes of visio appointments held",
    "population": "inhabitants of the communes of the group (where citizens live)",
    "population_served": "Σ over communes of population × [road minutes ≤ T] × share of arrivals served within "
                         "the wait threshold (fssim.metrics.geography)",
}
#: sums that need the run's geography (where citizens live): KPIs reading them exist only with it
GEOGRAPHY_SUMS = ("population", "population_served")
#: sums of agent absences: in a run's tables only when a site of the run has absences (``absences``), so that a
#: scenario without them keeps its tables; the experiment partials always have them (0 without absences)
ABSENCE_SUMS = ("absent_agent_days", "absence_closure_days")
#: sums of a booking calendar (fssim.demand.booking): in the run tables only when a site books through one (the
#: other runs keep their tables), always in the experiment partials
BOOKING_SUMS = ("booking_requests", "no_slot", "lead_sum")
#: sums of the resources besides agents (fssim.engine.stations): run tables have them only when a site uses channels
RESOURCE_SUMS = ("station_min", "station_busy_min", "visio_min", "visio_busy_min")
UNITS = ("count", "days", "minutes", "agent_minutes", "rate", "decimal")
DIRECTIONS = ("lower", "higher", "none")
#: how a KPI combines across sites and opening intervals (never a mean of the sites' values)
AGGREGATIONS = {
    "sum": "sum of the sites' values",
    "ratio": "ratio of the summed numerator and denominator",
    "quantile": "quantile of the pooled samples (waits of served visits)",
}
LANGS = ("fr", "en")


@dataclass(frozen=True)
class Kpi:
    """One KPI. ``formula`` maps sums (a DataFrame, a dict of Series or of numbers) to its values and reads
    only ``inputs``; a quantile KPI has no formula but the ``quantile`` of the waits of served visits.
    ``label_fr``/``label_en`` may hold ``{thr}``, the run's wait threshold in minutes."""

    name: str
    label_fr: str
    label_en: str
    unit: str                                   # one of UNITS: how values read and are shown
    direction: str                              # one of DIRECTIONS: which way is better
    aggregation: str                            # one of AGGREGATIONS
    inputs: tuple[str, ...] = ()
    formula: Callable[[Any], Any] | None = None
    quantile: float | None = None
    undefined_when: str = ""                    # why the value can be NaN ('' : never)
    definition: tuple[str, str] | None = None   # what it means (French, English), for the report's method

    def __post_init__(self):
        for field, value, allowed in (("unit", self.unit, UNITS), ("direction", self.direction, DIRECTIONS),
                                      ("aggregation", self.aggregation, tuple(AGGREGATIONS))):
            if value not in allowed:
                raise ValueError(f"KPI {self.name}: {field} {value!r} is not one of {', '.join(allowed)}")
        if (self.aggregation == "quantile") != (self.formula is None) or \
                (self.aggregation == "quantile") != (self.quantile is not None):
            raise ValueError(f"KPI {self.name}: a quantile KPI has a quantile and no formula, others a formula")
        unknown = [s for s in self.inputs if s not in SUMS]
        if unknown:
            raise ValueError(f"KPI {self.name}: unknown sum(s) {unknown}; sums are {', '.join(SUMS)}")

    def label(self, lang: str = "fr") -> str:
        return (self.label_fr, self.label_en)[LANGS.index(lang)]

    def of(self, sums: Mapping):
        """Values from sums (columns of a DataFrame, or a mapping of numbers)."""
        if self.formula is None:
            raise ValueError(f"KPI {self.name} is a quantile of the waits: it does not come from sums")
        return self.formula(sums)


def _ratio(num, den):
    """num / den, NaN where den is 0 or missing: a rate over nothing is undefined, neither 0 nor infinite."""
    if hasattr(den, "where"):
        return num / den.where(den > 0)
    return num / den if den > 0 else float("nan")


def _zero_if_nan(x):
    return x.fillna(0.0) if hasattr(x, "fillna") else (0.0 if x != x else x)


def _arrivals(s):
    return s["visits"] - s["no_show"]


def _count(name: str, fr: str, en: str, direction: str = "none", definition=None) -> Kpi:
    """A KPI that is one of the sums itself."""
    return Kpi(name, fr, en, "count", direction, "sum", (name,), lambda s: s[name], definition=definition)


_SERVED = "no citizen served"

REGISTRY: tuple[Kpi, ...] = (
    _count("visits", "Visites", "Visits"),
    Kpi("arrivals", "Arrivées (hors absences au RDV)", "Arrivals (excluding no-shows)", "count", "none", "sum",
        ("visits", "no_show"), _arrivals,
        definition=("visites moins absences au rendez-vous, sur tout l'horizon",
                    "visits minus no-shows, over the whole horizon")),
    _count("served", "Usagers servis", "Citizens served",
           definition=("usagers dont l'entretien a commencé", "citizens whose service started")),
    _count("gave_up", "Abandons", "Gave up", "lower"),
    _count("sent_home", "Renvoyés à la fermeture", "Sent home at closing", "lower"),
    _count("no_show", "Absences au rendez-vous", "No-shows", "lower"),
    _count("still_waiting", "Encore en attente en fin d'horizon", "Still waiting at the end of the horizon", "lower"),
    _count("booked", "Visites sur rendez-vous", "Booked visits"),
    _count("actes", "Actes (démarches traitées)", "Actes (démarches handled)",
           definition=("somme des démarches des visites servies (unité du Baromètre : une visite peut en traiter "
                       "plusieurs)", "sum of the démarches of served visits (the Baromètre's unit: a visit may "
                       "handle several)")),
    Kpi("actes_per_visit", "Actes par visite servie", "Actes per served visit", "decimal", "none", "ratio",
        ("actes", "served"), lambda s: _ratio(s["actes"], s["served"]), undefined_when=_SERVED,
        definition=("actes ÷ usagers servis", "actes ÷ citizens served")),
    Kpi("mean_wait_min", "Attente moyenne", "Mean wait", "minutes", "lower", "ratio",
        ("wait_sum", "served"), lambda s: _ratio(s["wait_sum"], s["served"]), undefined_when=_SERVED,
        definition=("moyenne, sur les usagers servis, du temps entre l'arrivée et le début de l'entretien",
                    "mean over served citizens of the time from arrival to the start of service")),
    Kpi("median_wait_min", "Attente médiane", "Median wait", "minutes", "lower", "quantile", quantile=0.5,
        undefined_when=_SERVED, definition=("médiane de ce même temps", "median of the same time")),
    Kpi("p90_wait_min", "Attente P90", "P90 wait", "minutes", "lower", "quantile", quantile=0.9,
        undefined_when=_SERVED,
        definition=("90ᵉ centile de ce même temps : 90 % des usagers servis ont attendu moins",
                    "90th percentile of the same time: 90 % of served citizens waited less")),
    Kpi("share_wait_over_threshold", "Part attendant plus de {thr} min", "Share waiting over {thr} min", "rate",
        "lower", "ratio", ("wait_over", "served"), lambda s: _ratio(s["wait_over"], s["served"]),
        undefined_when=_SERVED,
        definition=("part des usagers servis ayant attendu plus que le seuil",
                    "share of served citizens who waited longer than the threshold")),
    Kpi("mean_service_min", "Durée moyenne d'entretien", "Mean service time", "minutes", "none", "ratio",
        ("service_sum", "served"), lambda s: _ratio(s["service_sum"], s["served"]), undefined_when=_SERVED),
    Kpi("abandonment_rate", "Taux d'abandon", "Abandonment rate", "rate", "lower", "ratio",
        ("gave_up", "visits", "no_show"), lambda s: _ratio(s["gave_up"], _arrivals(s)), undefined_when="no arrivals",
        definition=("usagers partis avant d'être reçus (patience épuisée) ÷ arrivées",
                    "citizens who left before being called (patience ran out) ÷ arrivals")),
    Kpi("sent_home_rate", "Taux de renvoi à la fermeture", "Sent-home rate", "rate", "lower", "ratio",
        ("sent_home", "visits", "no_show"), lambda s: _ratio(s["sent_home"], _arrivals(s)),
        undefined_when="no arrivals",
        definition=("usagers encore en file à la fermeture ÷ arrivées",
                    "citizens still queuing at closing ÷ arrivals")),
    Kpi("no_show_rate", "Taux d'absence au rendez-vous", "No-show rate", "rate", "lower", "ratio",
        ("no_show", "booked"), lambda s: _ratio(s["no_show"], s["booked"]), undefined_when="no booked visit",
        definition=("absences ÷ visites sur rendez-vous", "no-shows ÷ booked visits")),
    Kpi("mean_booking_lead_days", "Délai moyen de rendez-vous (jours)", "Mean booking lead time (days)", "decimal",
        "lower", "ratio",
        ("lead_sum", "booked"), lambda s: _ratio(s["lead_sum"], s["booked"]), undefined_when="no booked visit",
        definition=("jours entre la prise du rendez-vous et la visite, en moyenne sur les visites sur rendez-vous",
                    "days from booking to visit, averaged over booked visits")),
    Kpi("no_slot_share", "Demandes de RDV sans créneau dans l'horizon", "Booking requests with no slot in horizon",
        "rate", "lower", "ratio", ("no_slot", "booking_requests"),
        lambda s: _ratio(s["no_slot"], s["booking_requests"]), undefined_when="no appointment request",
        definition=("demandes de rendez-vous sans créneau libre dans l'horizon du calendrier ÷ demandes",
                    "appointment requests with no free slot within the calendar's horizon ÷ requests")),
    Kpi("staffed_min", "Temps d'agents en poste", "Staffed agent time", "agent_minutes", "none", "sum",
        ("staffed_min",), lambda s: s["staffed_min"]),
    Kpi("busy_min", "Temps d'agents occupés", "Busy agent time", "agent_minutes", "none", "sum",
        ("busy_min",), lambda s: s["busy_min"]),
    Kpi("open_days", "Jours d'ouverture (site × jour)", "Open days (site × day)", "days", "none", "sum",
        ("open_days",), lambda s: s["open_days"]),
    Kpi("utilisation", "Taux d'occupation des agents", "Agent utilisation", "rate", "none", "ratio",
        ("busy_min", "staffed_min"), lambda s: _ratio(s["busy_min"], s["staffed_min"]),
        undefined_when="no staffed time",
        definition=("temps d'entretien des agents pendant leur service ÷ temps d'agents en poste",
                    "agents' service time while on duty ÷ staffed agent time")),
    Kpi("visits_per_open_day", "Visites par jour d'ouverture", "Visits per open day", "decimal", "none", "ratio",
        ("visits", "no_show", "open_days"), lambda s: _ratio(_arrivals(s), s["open_days"]),
        undefined_when="no open day",
        definition=("arrivées ÷ jours d'ouverture (site × jour)", "arrivals ÷ open site-days")),
    Kpi("overtime_min", "Temps d'entretien hors service des agents", "Agents' service time off duty",
        "agent_minutes", "lower", "sum", ("overtime_min",), lambda s: s["overtime_min"],
        definition=("temps d'entretien hors des heures de service de l'agent (pause raccourcie, fin tardive)",
                    "service time outside the agent's duty hours (shortened break, late finish)")),
    Kpi("bus_late_min", "Retard des bus aux arrêts", "Bus late starts at stops", "minutes", "lower", "sum",
        ("bus_late_min",), lambda s: s["bus_late_min"],
        definition=("minutes d'arrêt perdues : le bus arrive après l'heure prévue (trajet depuis l'arrêt "
                    "précédent ou la base)", "stop minutes lost: the bus arrives after the scheduled start "
                    "(drive from the previous stop or the base)")),
    Kpi("population_served_within_targets", "Population servie dans les objectifs",
        "Population served within targets", "rate", "higher", "ratio", ("population_served", "population"),
        lambda s: _ratio(s["population_served"], s["population"]), undefined_when="no inhabitant",
        definition=("part des habitants à moins de T min de route de leur point d'accès et dont les visites ont "
                    "commencé dans le seuil d'attente (par commune : population × [trajet ≤ T] × part de ses "
                    "arrivées servies dans le seuil)", "share of inhabitants within T road minutes of their "
                    "access point whose visits started within the wait threshold (per commune: population × "
                    "[travel ≤ T] × share of its arrivals served within the threshold)")),
    Kpi("absent_agent_days", "Jours d'absence d'agents", "Agent-days absent", "days", "none", "sum",
        ("absent_agent_days",), lambda s: s["absent_agent_days"],
        definition=("jours d'ouverture × agents absents ce jour-là (congés, formation, maladie)",
                    "open days × agents absent that day (leave, training, sickness)")),
    Kpi("absence_closure_days", "Fermetures faute d'agents (site × jour)", "Days closed for lack of agents "
        "(site × day)", "days", "lower", "sum", ("absence_closure_days",), lambda s: s["absence_closure_days"],
        definition=("jours prévus ouverts où les absences laissent moins d'agents que le minimum : le site ferme, "
                    "les usagers venus repartent", "planned open days when absences leave fewer agents than the "
                    "minimum: the site closes, citizens who come are turned away")),
    Kpi("station_utilisation", "Taux d'occupation des postes en libre-service", "Self-service station utilisation",
        "rate", "none", "ratio", ("station_busy_min", "station_min"),
        lambda s: _ratio(s["station_busy_min"], s["station_min"]), undefined_when="no self-service station open",
        definition=("temps d'usage des postes en libre-service (ordinateur, scanner, imprimante) ÷ temps d'ouverture "
                    "des postes", "time the self-service stations (computer, scanner, printer) are in use ÷ their "
                    "open time")),
    Kpi("visio_utilisation", "Taux d'occupation des créneaux visio", "Visio slot utilisation", "rate", "none",
        "ratio", ("visio_busy_min", "visio_min"), lambda s: _ratio(s["visio_busy_min"], s["visio_min"]),
        undefined_when="no visio window",
        definition=("rendez-vous visio tenus ÷ créneaux ouverts aux partenaires (salle × minutes)",
                    "visio appointments held ÷ the partners' windows (room × minutes)")),
    # 0 where there is no bus: nothing lost
    Kpi("bus_lost_share", "Part du temps des bus perdue en retards", "Share of bus time lost to late starts",
        "rate", "lower", "ratio", ("bus_late_min", "bus_open_min"),
        lambda s: _zero_if_nan(_ratio(s["bus_late_min"], s["bus_open_min"])),
        definition=("retards des bus ÷ durée prévue de leurs arrêts", "bus late starts ÷ scheduled stop time")),
)


# --------------------------------------------------------------------------- look-ups (read REGISTRY each call)

def names() -> tuple[str, ...]:
    """Every KPI name, in the registry's order (the order of the tables' columns)."""
    return tuple(k.name for k in REGISTRY)


def find(name: str) -> Kpi | None:
    return next((k for k in REGISTRY if k.name == name), None)


def get(name: str) -> Kpi:
    k = find(name)
    if k is None:
        raise KeyError(unknown(name))
    return k


def unknown(name: str) -> str:
    """The message for a KPI name that is not registered, listing the valid ones."""
    return f"unknown KPI {name!r}; choose among {', '.join(names())}"


#: the optional features and the sums only they produce: a KPI reading one of them is in a run's tables only when
#: the run has the feature (so that a scenario without it keeps its tables); the experiment partials always have
#: the features' sums (0 without them), except the geography's (runs only)
OPTIONAL_SUMS = {"geography": GEOGRAPHY_SUMS, "absences": ABSENCE_SUMS, "booking": BOOKING_SUMS,
                 "resources": RESOURCE_SUMS}


def optional_kpis(*features: str) -> tuple[str, ...]:
    """KPIs that need the sums of ``features`` (:data:`OPTIONAL_SUMS`; all features when none is named)."""
    sums = {s for f in (features or OPTIONAL_SUMS) for s in OPTIONAL_SUMS[f]}
    return tuple(k.name for k in REGISTRY if set(k.inputs) & sums)


def quantile_kpis() -> tuple[Kpi, ...]:
    """The KPIs that are quantiles of the waits of served visits, in registry order."""
    return tuple(k for k in REGISTRY if k.aggregation == "quantile")


def undefined_when() -> dict[str, str]:
    """KPI → what leaves it undefined (NaN), for the KPIs that can be."""
    return {k.name: k.undefined_when for k in REGISTRY if k.undefined_when}


def from_sums(sums, quantiles: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every KPI whose inputs are in ``sums`` (a DataFrame of summed columns, or a mapping of numbers), as
    columns in registry order, on the index of ``sums``.

    Quantile KPIs come from ``quantiles`` (name → values) when given there, else from a column of ``sums``
    of their own name (a group's exact quantile), else are left out; so are KPIs lacking an input (e.g.
    staffed time in a breakdown by démarche)."""
    if not isinstance(sums, pd.DataFrame):
        sums = pd.DataFrame([dict(sums)])
    quantiles = quantiles or {}
    out = pd.DataFrame(index=sums.index)
    for k in REGISTRY:
        if k.formula is None:
            if k.name in quantiles:
                out[k.name] = quantiles[k.name]
            elif k.name in sums:
                out[k.name] = sums[k.name]
        elif all(s in sums for s in k.inputs):
            out[k.name] = k.of(sums)
    return out


__all__ = ["Kpi", "REGISTRY", "SUMS", "UNITS", "DIRECTIONS", "AGGREGATIONS", "names", "find", "get", "unknown",
           "quantile_kpis", "optional_kpis", "undefined_when", "from_sums", "OPTIONAL_SUMS", "GEOGRAPHY_SUMS",
           "ABSENCE_SUMS", "BOOKING_SUMS", "RESOURCE_SUMS"]

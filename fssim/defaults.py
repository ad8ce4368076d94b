"""Calibrated defaults, each with its source in ``../shared/reference/france-services-facts.md``.

Tags follow that file: [P] published figure, [D] derived from the ANCT open list, [E] estimate
(no published source; a placeholder exposed as a parameter). The section numbers (§) point to the
facts file. Nothing here is read at run time from the shared folder: the figures are copied as
numbers with their citation, so fssim runs on a machine without it.
"""

from fssim.clock import WEEKDAYS, WORKDAYS  # noqa: E402,F401 (re-exported for the defaults below)

#: Démarche catalogue (§9.3). Shares: top five [P] (Cour des comptes 2024), the rest [E];
#: service times [E] (no published figure: log-normal, mean in minutes, CV).
#: Follow-up visits (§9.4): 7 % of requests need a second visit after 7–21 days [E], concentrated
#: here on the démarches described as multi-visit (Assurance retraite "often 2–3 visits").
DEMARCHES = [
    # name, partner, share, mean, cv, follow-up share
    ("france_titres", "France Titres (ANTS, ministère de l'Intérieur)", 0.19, 25.0, 0.6, 0.06),
    ("caf", "CAF (CNAF)", 0.16, 22.0, 0.7, 0.06),
    ("assurance_maladie", "Assurance Maladie (CNAM)", 0.16, 18.0, 0.7, 0.05),
    ("dgfip", "DGFiP (impôts)", 0.15, 25.0, 0.6, 0.05),
    ("assurance_retraite", "Assurance Retraite (CNAV)", 0.14, 40.0, 0.8, 0.20),
    ("france_travail", "France Travail", 0.07, 20.0, 0.7, 0.05),
    ("msa", "MSA", 0.03, 25.0, 0.7, 0.06),
    ("justice", "Justice", 0.02, 15.0, 0.8, 0.03),
    ("la_poste", "La Poste", 0.02, 8.0, 0.6, 0.0),
    ("energie_logement", "Énergie et logement (chèque énergie, MaPrimeRénov')", 0.02, 20.0, 0.7, 0.05),
    ("autres", "Autres partenaires, orientation et information", 0.04, 10.0, 0.8, 0.0),
]

#: Display names of the catalogue's démarches (French, English), for reports and exports; a config may give
#: its own ``label``.
DEMARCHE_LABELS = {
    "france_titres": ("Titres : identité, passeport, permis, carte grise",
                      "ID cards, passports, driving licences, registration"),
    "caf": ("Allocations familiales (CAF)", "Family benefits (CAF)"),
    "assurance_maladie": ("Assurance Maladie", "Health insurance (Assurance Maladie)"),
    "dgfip": ("Impôts (DGFiP)", "Taxes (DGFiP)"),
    "assurance_retraite": ("Retraite (Assurance Retraite)", "Pensions (Assurance Retraite)"),
    "france_travail": ("Emploi (France Travail)", "Employment (France Travail)"),
    "msa": ("Protection sociale agricole (MSA)", "Farmers' social security (MSA)"),
    "justice": ("Justice", "Justice"),
    "la_poste": ("Services postaux (La Poste)", "Postal services (La Poste)"),
    "energie_logement": ("Énergie et logement", "Energy and housing"),
    "autres": ("Autres démarches, orientation", "Other procedures, guidance"),
}

#: Démarches handled per visit (§11) [P/D]: the MSAP network (2017) counted more than 2 M people and 3 M
#: démarches in a year, ≈ 1.5 démarches per visitor. Only the mean is published; the split over 1, 2 and 3
#: démarches is [E], chosen to give that mean exactly (0.62 + 2 × 0.26 + 3 × 0.12 = 1.50).
DEMARCHES_PER_VISIT = {1: 0.62, 2: 0.26, 3: 0.12}

#: Agent time of each further démarche of a visit, as a share of its own service time [E]: the citizen is
#: already greeted, identified and seated with their papers, so only the démarche itself is repeated (no
#: published figure; 1 would make service times add up).
EXTRA_DEMARCHE_FACTOR = 0.7

#: Follow-up delay in days (§9.4: "return after 7–21 days") [E].
FOLLOW_UP_DELAY_DAYS = (7, 21)

#: Day-of-week multipliers (§9.2) [E]. Sunday is closed everywhere in the ANCT list.
WEEKDAY_FACTORS = {"mon": 1.15, "tue": 1.05, "wed": 0.95, "thu": 1.0, "fri": 0.9, "sat": 0.7, "sun": 0.7}

#: Monthly seasonality, January..December (§9.2) [E], normalised to mean 1.
MONTH_FACTORS = [1.05, 1.0, 1.0, 1.15, 1.25, 1.1, 0.8, 0.65, 1.1, 1.05, 1.0, 0.85]

#: Hour-of-day weights (§9.2) [E]: morning ≈ 55 % with a peak 9:30–11:00, afternoon ≈ 45 % with a peak
#: 14:00–15:30. Weights per clock hour; only the open part of each hour receives arrivals.
HOUR_WEIGHTS = {
    7: 0.3, 8: 0.7, 9: 1.3, 10: 1.5, 11: 1.0, 12: 0.6, 13: 0.7,
    14: 1.3, 15: 1.2, 16: 0.8, 17: 0.5, 18: 0.3, 19: 0.2,
}

#: Seasonal démarche-mix shifts (§9.2) [E, anchored on published campaign dates]:
#: (démarche, first day MM-DD, last day MM-DD, factor on its share before renormalising).
MIX_SHIFTS = [
    ("dgfip", "04-15", "06-10", 2.0),   # income-tax campaign
    ("dgfip", "09-01", "10-31", 1.3),   # tax notices, taxe foncière
    ("france_titres", "03-01", "06-30", 1.3),  # passports before summer
    ("caf", "08-01", "09-30", 1.2),     # back-to-school allowance, student housing aid
]

#: Demand model fitted on the observed actes by département and month (Baromètre IND-323, facts §11) [D]:
#: a site's actes a month = exp(level + growth_per_year × years since ``epoch``) × weekly hours / 30
#: × (1 − exp(−(age in months + 0.5) / ramp_months)) × exp(density factor of its commune, dense = 0)
#: × the month factor (fssim.demand.calibration, fssim.demand.catchment). Fitted numbers, not data: refit with
#: ``fssim calibrate --data-dir ../shared/data --out calibration.json`` and copy ``parameters`` here.
DEMAND_CALIBRATION = {
    "epoch": "2023-01-01",
    "parameters": {
        "density_intermediaire": 0.4241,   # s.e. 0.23
        "density_peu_dense": -0.09497,       # s.e. 0.18
        "density_tres_peu_dense": -0.08425,  # s.e. 0.35
        "ramp_months": 38.09,               # s.e. 41.5 (the ramp-up is the least certain term)
        "level": 6.25739,                   # log actes a month of a dense 30 h/week site at maturity in 2023
        "growth_per_year": -0.007393,      # the 2022–2024 growth is carried by the ramp-up of new sites
    },
    "provenance": {
        "command": "fssim calibrate --data-dir ../shared/data",
        "fitted_on": "2026-12-02",
        "observations": "402 (département, month) cells: 67 départements × "
                        "6 months 2022-05 … 2024-01",
        "sources": {
            "france-services-2024-08.csv": "be53291e3eeb224707ab5ade8f308cba5c94b2f1d63fdaee12f43d52697b78c7",
            "barometre-ind323-actes-france-services.csv": "ccf10c57a4488221e1909009a719d0c7b632af74ad4e78fb7b49bffeae748c97",
            "barometre-labellisations-france-services-departements.csv": "fd805e1ce2e10c8290b4f6a5fdb0e94ed79f15ad8e46b48ac1d021655e68e307",
        },
        "fit": "département shares, 5-fold CV: median |log error| 0.202 (population rule "
               "0.470), log correlation 0.814 "
               "(population rule 0.494)",
    },
}

#: Mean démarches per visit of the default split above (1.5): actes = visits × this.
ACTES_PER_VISIT = sum(k * p for k, p in DEMARCHES_PER_VISIT.items())

#: Mean requests per site per open day in 2023 (§2, §9.2): 9 M ÷ ≈2,700 sites ÷ ≈235 days ≈ 14 [E from P].
VISITS_PER_OPEN_DAY = 14.0

#: Network volume in 2023 (§2) [P]: ≈ 9 million requests.
NETWORK_REQUESTS_2023 = 9_000_000

#: Walk-in patience (§9.4) [E]: triangular 15 / 30 / 60 minutes.
PATIENCE = {"dist": "triangular", "min": 15.0, "mode": 30.0, "max": 60.0}

#: Appointments (§9.2) [D/E]: 35 % of sites offer booking; at those, 40 % of arrivals are booked in
#: 30-minute slots. No-show rate: no published figure; 10 % is an [E] placeholder.
APPOINTMENT_SHARE_WHEN_OFFERED = 0.40
SLOT_MINUTES = 30
NO_SHOW = 0.10

#: Booking calendar (``booking: {calendar: true}``, fssim.demand.booking). Lead time from the booking to the
#: visit [E]: log-normal, mean 5 days, CV 1 (§9.4 gives "booked 3–15 days ahead" for partner appointments;
#: France services books its own slots closer). Calendar open this many days ahead [E].
BOOKING_LEAD_DAYS = {"dist": "lognormal", "mean": 5.0, "cv": 1.0}
BOOKING_HORIZON_DAYS = 14
#: No-show share by lead time, without reminders (lead ≥ key days → share) [E, anchored on §11 [P]: social-
#: services appointments had ≈ 25 % no-shows before online booking and reminders, 6 % after; Doctolib 3.3 %].
#: Same-day bookings rarely miss; the longest leads reach the 25 % of the pre-reminder era.
NO_SHOW_BY_LEAD = {0: 0.05, 1: 0.08, 3: 0.12, 8: 0.18, 15: 0.25}
#: Share of no-shows that SMS/e-mail reminders avoid [E]: §11 [P] reports 25 % → 6 % (−76 %) for reminders
#: together with online booking and cancellation; half of it is credited to the reminders alone.
REMINDER_EFFECT = 0.5

#: Citizens sent home at closing come back another open day with this probability [E], after a
#: delay of 1–7 days [E].
RETURN_PROBABILITY = 0.7
RETURN_DELAY_DAYS = (1, 7)

#: Waiting-time KPI threshold (§9.4): "share waiting > 15 min" [E].
WAIT_THRESHOLD_MIN = 15.0
#: the programme's promise: a France services less than 30 minutes from every home [P]
ACCESS_MINUTES = 30.0

#: Opening hours (§9.5) [D]: median posted 29 h/week = 9:00–12:00 + 14:00–16:45, Monday to Friday.
DEFAULT_HOURS = {d: "09:00-12:00 / 14:00-16:45" for d in WORKDAYS}

#: Agents at the counter (§9.5): rural 2.2, peri-urban 2.5, QPV 4.5 headcount [P]; 2 present [P label rule].
DEFAULT_AGENTS = 2

#: Yearly running cost per site in euros (§5.4, §9.5) [P, IGA 2020].
SITE_COST_EUR = {"rural": 93_843, "periurbain": 101_479, "qpv": 200_131, "la_poste": 150_000, "mean": 110_000}

#: A bus crew's day [E]: it leaves the base at 8:00 and is back by 17:30 (no published figure).
BUS_CREW_HOURS = ("08:00", "17:30")

#: Demand at a bus stop (§9.6) [P anecdote / E]: ≈250 requests a month per bus ≈ 6 per half-day stop.
BUS_VISITS_PER_STOP = 6.0

#: Yearly cost of one agent polyvalent at the counter [E]: La Poste-hosted sites cost ≈150 k€ a year, two
#: thirds of it staff, for 2–2.5 agents (§5.4, §9.5) → ≈40 k€ per agent.
AGENT_COST_EUR = 40_000.0

#: Agents present needed for a site to open (§9.5, label rule "≥ 2 agents present") [P].
LABEL_MINIMUM_AGENTS = 2

#: Probability that one agent is absent on an open day (leave, training, sickness) (§9.5, "Agent absences":
#: 15 % of open days with one agent absent) [E]. Read as P(at least one of the site's agents absent) = 0.15
#: at a site of 2 agents (the label's minimum, and rural headcount 2.2, §9.5), with agents absent
#: independently: 1 − (1 − p)² = 0.15, so p = 1 − √0.85 ≈ 0.0780 (≈ 17 absent days a year per agent over
#: ≈ 220 open days). Reading "exactly one absent" instead (2p(1 − p) = 0.15) gives p ≈ 0.0813. Off by default
#: (``absences.agent_daily_rate: 0``): a scenario switches it on with this figure (configs/absences.yaml).
AGENT_DAILY_ABSENCE = 1 - 0.85 ** 0.5
#: Channels of a visit (§4, §9.4), the shares taken by ``channels.mix: facts``: 82 % of requests are handled on
#: site [P, Cour 2024], 18–20 % need a follow-up [P], split [E] as a partner back-office referral 10 %, a
#: second visit 7 % (the démarches' own follow-up) and a visio appointment with a partner 2–3 %. The part of the
#: on-site 82 % done by the citizen at a self-service station (with an agent's help or not) has no published
#: figure: 10 % is [E]. Off by default (``mix: counter``): every visit at the counter.
CHANNEL_SHARES = {"counter": 0.775, "self_service": 0.10, "visio": 0.025, "back_office": 0.10}

#: Self-service station use [E, no published figure]: minutes at the station (log-normal), share of citizens
#: needing an agent's help and the agent's minutes.
STATION_MINUTES = {"dist": "lognormal", "mean": 20.0, "cv": 0.8}
STATION_HELP_SHARE = 0.5
STATION_HELP_MINUTES = {"dist": "lognormal", "mean": 6.0, "cv": 0.7}

#: Visio appointment with a partner (§9.4) [E]: a 30-minute slot booked 3–15 days ahead.
VISIO_SLOT_MINUTES = 30
VISIO_BOOKED_DAYS = (3, 15)

#: Back-office referral (§9.4) [E]: the partner answers in 2–10 working days (≈ 2–14 calendar days); the share
#: of answers that bring the citizen back to the site (documents to sign, a decision to explain) is [E] 50 %.
BACK_OFFICE_DELAY_DAYS = (2, 14)
BACK_OFFICE_RETURN_SHARE = 0.5

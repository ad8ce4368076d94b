"""Design the rotation of buses France services: which villages, which half-day, how often.

`RotationDesign` (PySAL spopt style: built from data, `.solve()`, results as attributes) plans `n_buses`
buses that each stop in one village in the morning and another in the afternoon:

1. **Bases** — given, or chosen greedily among the fixed sites (a bus is run by a France services structure
   and leaves from it): the site from which a bus could reach the most people not yet within `max_minutes`
   of a fixed site. Only when no site reaches anyone more is a commune used as a base.
2. **Stops** — a greedy maximal covering (Church & ReVelle 1974) among the candidate communes (by default
   those beyond `max_minutes` of every fixed site) that some base with room can reach in time: each step adds
   the stop bringing the most people within `max_minutes` of an access point; once everyone reachable is
   covered, the candidates reaching the most such people come next. Then a balanced assignment (scipy's
   `linear_sum_assignment`, each base copied as many times as a bus has stops) gives every bus its quota with
   the least driving from its base. We chose covering-then-assignment over k-means on population-weighted
   coordinates because the goal is a covering one (people within T minutes): k-means pulls stops to centres
   of mass of population, often already served by a fixed site, and knows nothing of what a crew can reach
   from its base in a day.
3. **Order** — a closed tour from the base through the bus's stops: nearest neighbour, then 2-opt.
4. **Slots** — a bus has `stops_per_day × len(days)` half-day slots a week over a cycle of `weeks_in_cycle`
   weeks. The stops serving most people (their catchment: communes beyond reach of a fixed site whose nearest
   stop they are) are visited every week; the others share a slot, one week each (fortnightly with a 2-week
   cycle). Slots follow the tour, so the stops of a day are neighbours on it.
5. **Travel** — on every day of the cycle the crew leaves the base at `crew_hours[0]`, drives to each stop
   before its window opens, takes `lunch_minutes` in the longest gap between windows, and is back at
   `crew_hours[1]`: the road minutes from the previous stop (or the base) must fit in the time left. A day
   that does not fit is first tried the other way round; then the stop that breaks it is dropped (reported
   in `dropped`), and empty slots are refilled with candidates that fit.

Travel between stops uses the same model as coverage (a `fssim.geo.travel.RoadModel`, or any object with its
`.minutes`). Crew hours and lunch are [E]; the facts file (§9.6) gives 2 stops a day, 9:00–12:00 and
14:00–16:30 [D/P], weekly for the 5–10 main stops and fortnightly or monthly for the others, 15–30
communes per bus [P].
"""

from __future__ import annotations

from fssim.clock import WORKDAYS

import numpy as np
import pandas as pd

from fssim import defaults as D
from fssim.config import Bus, Recurrence, Stop, clock, parse_clock
from fssim.geo.coverage import check_communes
from fssim.defaults import WEEKDAYS
from fssim.errors import InputError
from fssim.network.buses import buses_yaml
from fssim.network.covering import coverage_matrix
from fssim.network.rotation_stops import StopSelection
from fssim.network.rotation_timetable import RotationTimetable
from fssim.network.tour import has_minutes
from fssim.geo.travel import RoadModel, check_points, codes_of, travel_times

DEFAULT_DAYS = WORKDAYS
DEFAULT_WINDOWS = (("09:00", "12:00"), ("14:00", "16:30"))
DEFAULT_CREW_HOURS = D.BUS_CREW_HOURS  # [E] a crew day: leave the base at 8:00, back by 17:30
DEFAULT_LUNCH_MINUTES = 45  # [E] the crew's lunch break, taken in the longest gap between windows


# --------------------------------------------------------------------------- the design problem

class RotationDesign(StopSelection, RotationTimetable):
    """Plan `n_buses` bus rotations that bring the most people within `max_minutes` of an access point.

    communes: territory communes (code, name, dep, canton, lat, lon, population, density_class).
    fixed_sites: sites already open (DataFrame with site_id, lat, lon[, commune]) or commune codes; None = none.
    candidates: commune codes where a bus may stop; default every commune beyond `max_minutes` of every fixed site.
    crew_hours: when the crew leaves and is back at the base ([E] 8:00–17:30); lunch_minutes: its break,
    taken in the longest gap between windows ([E] 45 min).
    stops_per_day, stop_windows: one window per stop of the day ([P]/[D] facts §9.6: 9:00–12:00, 14:00–16:30).
    days: weekdays the bus runs. weeks_in_cycle: length of the rotation; the least visited stops come once a cycle.
    weekly_stops: stops visited every week, per bus (default: half the weekly slots — the facts' "5–10 main
    stops"); the other slots rotate over the cycle. Each bus stops in at most
    weekly_stops + (slots − weekly_stops) × weeks_in_cycle communes (15 with the defaults).
    model: travel model with `.minutes` (RoadModel by default), for coverage and for driving between stops.
    base: commune code of every bus's base, or one per bus; default: chosen among the fixed sites (see 1.).

    After `.solve()` (None before): `buses` (list of fssim.config.Bus, generated=True; rotating stops recur every
    `weeks_in_cycle` weeks counted from the Recurrence anchor, 2024-01-01), `stops` (one row per Stop: bus,
    commune, population, catchment_population, weekday, window, recurrence, minutes_from_previous — from the
    base for the day's first stop, the longest over the weeks of the cycle),
    `timetable` (every leg of every day of the cycle, with the minutes it takes and the minutes available),
    `dropped` (stops removed from a day, the reason, and `moved` when the refill put them in another slot),
    `uncovered` (communes beyond max_minutes of both fixed sites and stops), `bases` (bus, base, lat, lon,
    kind: a given base, a fixed site or a commune), `covered_population` (people within max_minutes of a stop,
    each counted once), `added_population` (of whom beyond max_minutes of every fixed site),
    `population_beyond_fixed`, `n_stops`, `n_communes`, `warnings`; `to_yaml()` gives the buses for a scenario.
    """

    def __init__(self, communes: pd.DataFrame, *, n_buses: int, fixed_sites=None, max_minutes: float = 30,
                 candidates=None, crew_hours=DEFAULT_CREW_HOURS, stops_per_day: int = 2, days=DEFAULT_DAYS,
                 stop_windows=DEFAULT_WINDOWS, weeks_in_cycle: int = 2, weekly_stops: int | None = None,
                 lunch_minutes: float = DEFAULT_LUNCH_MINUTES, model=RoadModel(), base=None,
                 bus_prefix: str = "bus"):
        check_communes(communes)
        check_points(communes, "communes", "code")
        if "density_class" not in communes.columns:
            raise InputError("missing column 'density_class' in the communes table", field="density_class")
        if isinstance(n_buses, bool) or int(n_buses) != n_buses or n_buses < 1:
            raise InputError(f"n_buses must be a whole number ≥ 1, got {n_buses!r}", field="n_buses")
        if not max_minutes > 0:
            raise InputError(f"max_minutes must be > 0, got {max_minutes!r}", field="max_minutes")
        if not has_minutes(model):
            raise InputError("bus rotations need a travel model with .minutes between any two points (e.g. "
                             "fssim.geo.travel.RoadModel); a commune → site travel matrix cannot time the drive "
                             "between two stops", field="model")
        if int(weeks_in_cycle) != weeks_in_cycle or weeks_in_cycle < 1:
            raise InputError(f"weeks_in_cycle must be a whole number ≥ 1, got {weeks_in_cycle!r}",
                             field="weeks_in_cycle")
        self.communes = communes.reset_index(drop=True)
        self.n_buses = int(n_buses)
        self.max_minutes = float(max_minutes)
        self.model = model
        self.weeks = int(weeks_in_cycle)
        self.bus_prefix = bus_prefix
        self.days = self._days(days)
        self.windows = self._windows(stop_windows, stops_per_day)
        self.stops_per_day = len(self.windows)
        self.crew = self._crew(crew_hours)
        gaps = [b2 - e1 for (_, e1), (b2, _) in zip(self.windows, self.windows[1:])]
        if not 0 <= lunch_minutes <= max(gaps, default=lunch_minutes):
            raise InputError(f"lunch_minutes ({lunch_minutes}) must be ≥ 0 and fit in the longest gap between "
                             f"stop windows ({max(gaps, default=0)} min)", field="lunch_minutes")
        self.lunch_minutes = float(lunch_minutes)
        # the crew lunches in the longest gap between windows (or not at all with one window a day)
        self._lunch_at = (self.windows[int(np.argmax(gaps))][1] + 0.5) if gaps else None
        self.slots_per_week = self.stops_per_day * len(self.days)
        if weekly_stops is None:
            weekly_stops = self.slots_per_week // 2 if self.weeks > 1 else self.slots_per_week
        if int(weekly_stops) != weekly_stops or not 0 <= weekly_stops <= self.slots_per_week:
            raise InputError(f"weekly_stops must be between 0 and {self.slots_per_week} (the weekly slots), "
                             f"got {weekly_stops!r}", field="weekly_stops")
        self.weekly_stops = int(weekly_stops) if self.weeks > 1 else self.slots_per_week
        self.capacity = self.weekly_stops + (self.slots_per_week - self.weekly_stops) * self.weeks
        self.warnings: list[str] = []

        c = self.communes
        self._codes = codes_of(c["code"])
        self._row = pd.Series(np.arange(len(c)), index=pd.Index(self._codes, dtype=object))
        self._row = self._row[~self._row.index.duplicated()]
        self._lat, self._lon = c["lat"].to_numpy(float), c["lon"].to_numpy(float)
        self._dens = c["density_class"].to_numpy(dtype=object)
        self._pop = pd.to_numeric(c["population"]).to_numpy(float)
        self._names = c["name"].astype(str).to_numpy(dtype=object) if "name" in c else self._codes
        self.fixed_sites = self._fixed(fixed_sites)
        self._candidate_rows = self._candidates(candidates)
        self._bases_given = self._bases(base)
        # results, set by solve()
        self.buses: list[Bus] | None = None
        self.stops = self.timetable = self.dropped = self.uncovered = self.bases = None  # DataFrames
        self.covered_population = self.added_population = self.population_beyond_fixed = None
        self.n_stops = self.n_communes = None

    # --- inputs -------------------------------------------------------------------------------------------
    @staticmethod
    def _days(days) -> tuple[str, ...]:
        days = tuple(days)
        bad = [d for d in days if d not in WEEKDAYS]
        if not days or bad or len(set(days)) != len(days):
            raise InputError(f"days must be distinct weekdays among {list(WEEKDAYS)}, got {list(days)}", field="days")
        return tuple(sorted(days, key=WEEKDAYS.index))

    @staticmethod
    def _windows(windows, stops_per_day) -> list[tuple[int, int]]:
        try:
            out = [(parse_clock(a), parse_clock(b)) for a, b in windows]
        except (ValueError, TypeError) as exc:
            raise InputError(f"stop windows are pairs of times ('09:00', '12:00'): {exc}", field="stop_windows") \
                from None
        if len(out) != stops_per_day:
            raise InputError(f"stops_per_day is {stops_per_day} but {len(out)} stop windows are given; give one "
                             f"window per stop of the day", field="stop_windows")
        for (a, b), (c, _) in zip(out, out[1:] + [(10 ** 6, 0)]):
            if b <= a or c < b:
                raise InputError(f"stop windows must be in order, each ending before the next starts: {windows}",
                                 field="stop_windows")
        return out

    def _crew(self, crew_hours) -> tuple[int, int]:
        try:
            a, b = (parse_clock(x) for x in crew_hours)
        except (ValueError, TypeError) as exc:
            raise InputError(f"crew_hours is a pair of times ('08:00', '17:30'): {exc}", field="crew_hours") from None
        if a > self.windows[0][0] or b < self.windows[-1][1]:
            raise InputError(f"crew_hours {crew_hours} must include every stop window "
                             f"({clock(self.windows[0][0])}–{clock(self.windows[-1][1])})", field="crew_hours")
        return a, b

    def _fixed(self, fixed) -> pd.DataFrame:
        cols = ["site_id", "lat", "lon", "commune"]
        if fixed is None:
            return pd.DataFrame({c: pd.Series(dtype=object if c in ("site_id", "commune") else float) for c in cols})
        if isinstance(fixed, pd.DataFrame):
            check_points(fixed, "fixed sites", "site_id")
            out = pd.DataFrame({"site_id": codes_of(fixed["site_id"]), "lat": fixed["lat"].to_numpy(float),
                                "lon": fixed["lon"].to_numpy(float)})
            out["commune"] = codes_of(fixed["commune"]) if "commune" in fixed else None
            return out
        codes = codes_of(list(fixed))
        unknown = [x for x in codes if x not in self._row.index]
        if unknown:
            raise InputError(f"fixed site commune(s) {unknown[:5]} are not communes of the territory",
                             field="fixed_sites")
        rows = self._row.reindex(codes).to_numpy()
        return pd.DataFrame({"site_id": codes, "lat": self._lat[rows], "lon": self._lon[rows], "commune": codes})

    def _candidates(self, candidates) -> np.ndarray:
        if candidates is None:
            return None  # resolved in solve(): needs the fixed sites' minutes
        ids = codes_of(candidates["code"] if isinstance(candidates, pd.DataFrame) else list(candidates))
        unknown = [x for x in ids if x not in self._row.index]
        if unknown:
            raise InputError(f"{len(unknown)} candidate(s) are not communes of the territory (e.g. {unknown[:5]}); "
                             f"give INSEE codes, zero-padded", field="candidates")
        return np.unique(self._row.reindex(ids).to_numpy().astype(np.int64))

    def _bases(self, base):
        if base is None:
            return None
        codes = [base] * self.n_buses if isinstance(base, str) else list(base)
        if len(codes) != self.n_buses:
            raise InputError(f"give one base per bus ({self.n_buses}), or one for all; got {len(codes)}", field="base")
        codes = list(codes_of(codes))
        unknown = [x for x in codes if x not in self._row.index]
        if unknown:
            raise InputError(f"base commune(s) {unknown} are not communes of the territory", field="base")
        return [int(self._row[x]) for x in codes]

    # --- solving ------------------------------------------------------------------------------------------
    def solve(self) -> "RotationDesign":
        """Choose bases and stops, split, order and time them; see the class docstring for the attributes."""
        self.warnings = []
        T = self.max_minutes
        fixed = self.fixed_sites
        if len(fixed):
            self._fixed_minutes = travel_times(self.communes, fixed, self.model).nearest_minutes
        else:
            self._fixed_minutes = np.full(len(self.communes), np.inf)
        beyond = self._fixed_minutes > T
        self._w = np.where(beyond, self._pop, 0.0)
        cand = self._candidate_rows if self._candidate_rows is not None else np.flatnonzero(beyond)
        self._cand = np.asarray(cand, np.int64)
        a = coverage_matrix(self.communes, self._lat[self._cand], self._lon[self._cand], T, self.model)
        self._a = a.tocsc()
        self._at = a.T.tocsr()
        self._reach_pop = np.asarray(self._at @ self._w).ravel()  # people beyond fixed sites each candidate reaches
        self._count = np.zeros(len(self.communes), np.int32)  # how many chosen stops cover each commune
        self._used = np.zeros(len(self._cand), bool)
        self._dropped_rows: list[dict] = []
        if len(self._cand) == 0:
            self.warnings.append("no candidate commune: every commune is within reach of a fixed site")

        self._reach = (self.windows[0][0] - self.crew[0], self.crew[1] - self.windows[-1][1])
        bases = self._choose_bases() if self._bases_given is None else [self._point(r, "given")
                                                                         for r in self._bases_given]
        reach = self._reach_matrix(bases)  # buses × candidates
        n_out = int((~reach.any(axis=0)).sum())
        if n_out:
            self.warnings.append(f"{n_out} candidate(s) are too far from every base to be a stop (more than "
                                 f"{self._reach[0]:.0f} min out or {self._reach[1]:.0f} min back)")
        chosen, labels = self._greedy(bases, reach)
        labels = self._balance(bases, reach, chosen, labels)
        self._catch = self._catchment(chosen)  # weekly stops: the chosen stops serving the most people
        self._plans = [self._plan_bus(b, bases[b], [j for j, g in zip(chosen, labels) if g == b], reach[b])
                       for b in range(self.n_buses)]
        self._refill()
        self._finish()
        return self

    def _bus_id(self, b: int) -> str:
        return f"{self.bus_prefix}-{b + 1}"

    # --- results ------------------------------------------------------------------------------------------
    def _finish(self) -> None:
        spd, W = self.stops_per_day, self.weeks
        buses, stop_rows, tt_rows = [], [], []
        all_stops = sorted({j for p in self._plans for l in p["lines"] for j in l["members"] if j is not None})
        catch = self._catchment(all_stops)
        base_rows = []
        for plan in self._plans:
            bid, base = self._bus_id(plan["bus"]), plan["base"]
            base_rows.append({"bus": bid, "base": base["code"], "lat": base["lat"], "lon": base["lon"],
                              "kind": base["kind"]})
            stops = []
            for i, line in enumerate(plan["lines"]):
                d, pos = divmod(i, spd)
                a, b = self.windows[pos]
                for w, j in enumerate(line["members"]):
                    if j is None or (line["weekly"] and w > 0):
                        continue
                    r = self._cand[j]
                    every = Recurrence(weeks=1) if line["weekly"] or W == 1 else Recurrence(weeks=W, phase=w)
                    stops.append(Stop(commune=self._codes[r], name=str(self._names[r]), lat=float(self._lat[r]),
                                      lon=float(self._lon[r]), weekday=self.days[d], start=clock(a), end=clock(b),
                                      every=every))
                    prev = [self._day_legs(plan, plan["lines"][d * spd:(d + 1) * spd], ww) for ww in
                            (range(W) if line["weekly"] else [w])]
                    into = [leg[2] for legs in prev for leg in legs[:-1] if leg[4] == pos] or [np.nan]
                    stop_rows.append({"bus": bid, "commune": self._codes[r], "name": self._names[r],
                                      "population": int(self._pop[r]), "catchment_population": int(round(catch[j])),
                                      "weekday": self.days[d], "window": f"{clock(a)}-{clock(b)}",
                                      "recurrence": every.label(), "weeks": every.weeks,
                                      "phase": every.phase, "minutes_from_previous": round(max(into), 1)})
            for w in range(W):
                for d in range(len(self.days)):
                    day_lines = plan["lines"][d * spd:(d + 1) * spd]
                    legs = self._day_legs(plan, day_lines, w)
                    inv = {v: k for k, v in plan["node_of"].items()}
                    for k, (frm, to, m, avail, pos) in enumerate(legs):
                        last = k == len(legs) - 1
                        window = "return" if last else f"{clock(self.windows[pos][0])}-{clock(self.windows[pos][1])}"
                        tt_rows.append({
                            "bus": bid, "week": w + 1, "weekday": self.days[d],
                            "window": window,
                            "from": "base" if frm == 0 else self._codes[self._cand[inv[frm]]],
                            "to": "base" if to == 0 else self._codes[self._cand[inv[to]]],
                            "travel_minutes": round(float(m), 1), "available_minutes": float(avail),
                            "fits": bool(m <= avail + 1e-9)})
            if stops:
                buses.append(Bus(id=bid, name=f"Bus {plan['bus'] + 1} (designed)", base=base["code"],
                                 base_lat=base["lat"], base_lon=base["lon"], agents=2, stops=stops, generated=True))
            else:
                self.warnings.append(f"{bid} has no stop and is left out")
        self.buses = buses
        self.bases = pd.DataFrame(base_rows, columns=["bus", "base", "lat", "lon", "kind"])
        self.stops = pd.DataFrame(stop_rows, columns=[
            "bus", "commune", "name", "population", "catchment_population", "weekday", "window", "recurrence",
            "weeks", "phase", "minutes_from_previous"])
        self.timetable = pd.DataFrame(tt_rows, columns=["bus", "week", "weekday", "window", "from", "to",
                                                        "travel_minutes", "available_minutes", "fits"])
        self.dropped = pd.DataFrame(self._dropped_rows, columns=["bus", "commune", "name", "population", "reason"])
        final = set(self.stops["commune"])
        self.dropped["moved"] = self.dropped["commune"].isin(final)  # back in another slot by the refill
        # coverage of the final stops
        used = np.array(all_stops, np.int64)
        near_stop = np.full(len(self.communes), np.inf)
        if len(used):
            pts = pd.DataFrame({"site_id": [f"s{j}" for j in used], "lat": self._lat[self._cand[used]],
                                "lon": self._lon[self._cand[used]]})
            near_stop = travel_times(self.communes, pts, self.model).nearest_minutes
        T = self.max_minutes
        by_stop = near_stop <= T
        by_fixed = self._fixed_minutes <= T
        self.covered_population = int(round(self._pop[by_stop].sum()))
        self.added_population = int(round(self._pop[by_stop & ~by_fixed].sum()))
        self.population_beyond_fixed = int(round(self._pop[~by_fixed].sum()))
        keep = ~by_stop & ~by_fixed
        c = self.communes
        self.uncovered = pd.DataFrame({
            "code": self._codes[keep], "name": self._names[keep],
            "dep": codes_of(c["dep"])[keep], "canton": codes_of(c["canton"])[keep],
            "population": self._pop[keep].astype(np.int64),
            "minutes_fixed": self._fixed_minutes[keep], "minutes_stop": near_stop[keep],
        }).sort_values(["population", "code"], ascending=[False, True], kind="stable").reset_index(drop=True)
        self.n_stops = len(self.stops)
        self.n_communes = len(all_stops)

    def to_yaml(self, header: str = "") -> str:
        """The designed buses as the `buses:` block of a scenario file (with an optional comment header)."""
        return buses_yaml(self.buses, header=header)

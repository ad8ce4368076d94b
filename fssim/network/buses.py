"""Real buses France services from the ANCT list, with generated stops (the open data has none).

The ANCT list gives, for each bus ("Bus_équivalent") or itinerant service ("Itinérante"), the coordinates of
its base and its posted weekly hours, never where it stops. `buses_from_anct` turns each into a
`fssim.config.Bus` with a plausible rotation around the base, flagged ``generated=True``, and returns a table
of everything it generated so every output can say so:

- one stop per posted interval (weekday, start, end); an interval of `split_minutes` or more (a whole day
  posted as one block, e.g. 09:30–16:30) is split into a morning and an afternoon stop with `travel_gap`
  minutes between them to drive [E; facts §9.6: "one commune in the morning, another in the afternoon",
  15–30 min between stops taken out of opening time];
- a bus with no posted hours gets the facts' timetable: 2 stops a day, 9:00–12:00 and 14:00–16:30,
  Monday to Friday [D/P, facts §9.6];
- stop communes are drawn (without replacement, seeded per bus) among the communes within
  `max_minutes_from_base` road minutes of the base, with weight population × (minutes to the nearest fixed
  site / 30)², so populous villages far from any fixed site are favoured [E];
- when the hours give more stops than open days, there are as many main stops as open days, visited every
  week (the most populous communes drawn), and the other slots rotate: fortnightly (2 communes share a slot)
  or monthly (4 communes, the 1st … 4th such weekday of the month) [P/E, facts §9.6: weekly main stops,
  fortnightly or monthly others; 15–30 communes per bus];
- the slots, in weekly order, follow a nearest-neighbour + 2-opt tour from the base, so the stops of a day
  are neighbours.
"""

from __future__ import annotations

from fssim.clock import WORKDAYS

import numpy as np
import pandas as pd
import yaml

from fssim.config import Bus, Recurrence, Stop, clock
from fssim.geo.coverage import check_communes
from fssim.defaults import WEEKDAYS
from fssim.errors import InputError
from fssim.network.tour import minutes_matrix, solve_tour
from fssim.geo.travel import RoadModel, TravelMatrix, codes_of, travel_times

MOBILE_FORMATS = ("bus", "itinerante")
FIXED_FORMATS = ("fixe", "fixe_antenne", "multisites")
DEFAULT_TIMETABLE = {d: [(540, 720), (840, 990)] for d in WORKDAYS}
"""Facts §9.6: 2 stops a day, 9:00–12:00 and 14:00–16:30, Monday to Friday."""
MAX_COMMUNES = 30  # facts §9.6: 15–30 communes per bus [P]

TABLE_COLUMNS = ["bus_id", "bus_name", "format", "dep", "base", "hours_source", "weekday", "start", "end",
                 "split", "commune", "commune_name", "every", "population", "minutes_from_base",
                 "minutes_to_fixed_site", "status", "detail"]


def _sites_table(site_list) -> pd.DataFrame:
    sites = getattr(site_list, "sites", site_list)
    if not isinstance(sites, pd.DataFrame):
        raise InputError("give a SiteList (fssim.sources.anct.load_anct) or its sites table", field="site_list")
    need = ["site_id", "name", "dep", "commune", "lat", "lon", "hours", "format"]
    missing = [c for c in need if c not in sites.columns]
    if missing:
        raise InputError(f"missing column(s) {missing} in the sites table (see fssim.sources.anct.SiteList)",
                         field=missing[0])
    return sites


def posted_stops(calendar: dict | None, *, split_minutes: float | None = 300, travel_gap: int = 30
                 ) -> tuple[list[tuple[str, int, int, bool]], str]:
    """(weekday, start, end, split) slots from a weekly calendar, and 'posted' or 'default'.

    Intervals of at least `split_minutes` are cut in two around their middle (rounded to 15 min), with
    `travel_gap` minutes to drive; each half must last 90 min or more, else the interval stays whole.
    """
    calendar = calendar or {}
    slots = []
    for day in WEEKDAYS:
        for a, b in sorted(calendar.get(day) or []):
            if split_minutes is not None and b - a >= split_minutes:
                mid = int(round((a + b) / 2 / 15)) * 15
                first, second = (a, mid - travel_gap // 2), (mid + travel_gap - travel_gap // 2, b)
                if first[1] - first[0] >= 90 and second[1] - second[0] >= 90:
                    slots += [(day, *first, True), (day, *second, True)]
                    continue
            slots.append((day, a, b, False))
    if slots:
        return slots, "posted"
    return [(d, a, b, False) for d, iv in DEFAULT_TIMETABLE.items() for a, b in iv], "default"


def buses_from_anct(site_list, communes: pd.DataFrame, model=RoadModel(), *, seed: int = 0,
                    formats=MOBILE_FORMATS, rotation: str = "fortnightly", max_minutes_from_base: float = 25.0,
                    split_minutes: float | None = 300) -> tuple[list[Bus], pd.DataFrame]:
    """Buses of the ANCT list (formats bus and itinerante) with generated stops, and the table of what was
    generated (one row per stop; a bus that could not be given stops has one row with status 'skipped').

    Only buses of the territory are taken: base commune in `communes`, or the site's département among the
    communes' (a bus based just across the border). `rotation`: 'fortnightly' or 'monthly' for the non-main
    stops. Deterministic given `seed`; each bus draws from its own stream (seed, site id), so adding a bus
    leaves the others unchanged.
    """
    check_communes(communes)
    if rotation not in ("fortnightly", "monthly"):
        raise InputError(f"rotation must be 'fortnightly' or 'monthly', got {rotation!r}", field="rotation")
    if isinstance(model, TravelMatrix) or not hasattr(model, "minutes"):
        raise InputError("generating stops needs a travel model with .minutes (e.g. RoadModel)", field="model")
    sites = _sites_table(site_list)
    com = communes.reset_index(drop=True)
    codes = codes_of(com["code"])
    deps = set(codes_of(com["dep"]))
    site_commune = codes_of(sites["commune"])
    site_dep = codes_of(sites["dep"])
    in_territory = np.isin(site_commune, codes) | np.isin(site_dep, list(deps))
    fmt = sites["format"].astype(str).to_numpy()
    mobile = sites[np.isin(fmt, list(formats)) & in_territory].copy()
    fixed = sites[np.isin(fmt, list(FIXED_FORMATS))].dropna(subset=["lat", "lon"])
    if len(fixed):
        to_fixed = travel_times(com, fixed[["site_id", "lat", "lon"]], model).nearest_minutes
    else:
        to_fixed = np.full(len(com), np.inf)
    pop = pd.to_numeric(com["population"]).to_numpy(float)
    weight = pop * (np.minimum(to_fixed, 60.0) / 30.0) ** 2
    names = com["name"].astype(str).to_numpy(dtype=object) if "name" in com else codes
    dens = com["density_class"].to_numpy(dtype=object)
    lat, lon = com["lat"].to_numpy(float), com["lon"].to_numpy(float)
    row_of = {c: i for i, c in enumerate(codes)}

    buses, rows = [], []
    for s in mobile.itertuples(index=False):
        sid = str(s.site_id)
        base_row = row_of.get(str(s.commune))
        skipped = {"bus_id": sid, "bus_name": s.name, "format": s.format, "dep": s.dep, "base": s.commune,
                   "status": "skipped"}
        if not (np.isfinite(s.lat) and np.isfinite(s.lon)):
            rows.append({**skipped, "detail": "the base has no coordinates"})
            continue
        base_dens = dens[base_row] if base_row is not None else "peu_dense"
        slots, source = posted_stops(s.hours if isinstance(s.hours, dict) else None, split_minutes=split_minutes)
        from_base = np.asarray(model.minutes([s.lat], [s.lon], [base_dens], lat, lon)).ravel()
        open_days = len({d for d, *_ in slots})
        n_slots = len(slots)
        n_main = open_days if n_slots > open_days else n_slots
        per_line = 2 if rotation == "fortnightly" else 4
        n_lines_rot = n_slots - n_main
        while n_main + n_lines_rot * per_line > MAX_COMMUNES:  # keep within the facts' 15–30 communes
            n_main, n_lines_rot = n_main + 1, n_lines_rot - 1
        wanted = n_main + n_lines_rot * per_line
        radius, pool = max_minutes_from_base, np.zeros(0, np.int64)
        for factor in (1.0, 1.5, 2.0):  # widen the circle when too few communes lie within it
            radius = max_minutes_from_base * factor
            pool = np.flatnonzero((from_base <= radius) & (weight > 0))
            if len(pool) >= wanted:
                break
        if len(pool) == 0:
            rows.append({**skipped, "detail": f"no populated commune within {radius:.0f} min of the base"})
            continue
        detail = "" if radius == max_minutes_from_base else f"circle widened to {radius:.0f} min"
        if len(pool) < wanted:  # fewer communes than slots: the main stops take the extra slots
            while n_main + n_lines_rot * per_line > len(pool) and n_lines_rot > 0:
                n_main, n_lines_rot = n_main + 1, n_lines_rot - 1
            n_main = min(n_main, len(pool))
            wanted = min(len(pool), n_main + n_lines_rot * per_line)
            detail = (detail + "; " if detail else "") + f"only {len(pool)} communes around the base"
        site_key = int(sid) if sid.isdigit() else int.from_bytes(sid.encode()[:8], "little")
        rng = np.random.default_rng([seed, site_key])
        p = weight[pool] / weight[pool].sum()
        drawn = pool[rng.choice(len(pool), size=wanted, replace=False, p=p)]
        drawn = drawn[np.lexsort((codes[drawn], -pop[drawn]))]  # most populous first
        main = list(drawn[:n_main])
        # visit order: a tour from the base through every drawn commune
        t = minutes_matrix(model, np.r_[s.lat, lat[drawn]], np.r_[s.lon, lon[drawn]],
                           np.r_[np.array([base_dens], dtype=object), dens[drawn]])
        tour = [int(drawn[i - 1]) for i in solve_tour(t, 0)]
        main_set = set(int(x) for x in main)
        lines, group = [], []
        for r in tour:
            if r in main_set:
                lines.append([r])
            else:
                group.append(r)
                if len(group) == per_line:
                    lines.append(group)
                    group = []
        if group:
            lines.append(group)
        lines = lines[:n_slots]
        stops = []
        for (day, a, b, split), members in zip(slots, lines):
            for k, r in enumerate(members):
                if len(members) == 1 and r in main_set:
                    every = Recurrence(weeks=1)
                elif rotation == "fortnightly":
                    every = Recurrence(weeks=2, phase=k)
                else:
                    every = Recurrence(nth=k + 1)
                stops.append(Stop(commune=codes[r], name=str(names[r]), lat=float(lat[r]), lon=float(lon[r]),
                                  weekday=day, start=clock(a), end=clock(b), every=every))
                rows.append({"bus_id": sid, "bus_name": s.name, "format": s.format, "dep": s.dep,
                             "base": s.commune, "hours_source": source, "weekday": day, "start": clock(a),
                             "end": clock(b), "split": split, "commune": codes[r], "commune_name": names[r],
                             "every": every.describe(), "population": int(pop[r]),
                             "minutes_from_base": round(float(from_base[r]), 1),
                             "minutes_to_fixed_site": round(float(to_fixed[r]), 1), "status": "generated",
                             "detail": detail})
        opens = pd.Timestamp(s.labelled_on).date() if "labelled_on" in mobile and pd.notna(s.labelled_on) else None
        buses.append(Bus(id=sid, name=str(s.name), base=str(s.commune), base_lat=float(s.lat), base_lon=float(s.lon),
                         agents=2, stops=stops, opens_on=opens, generated=True))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return buses, table


def bus_record(bus: Bus) -> dict:
    """A bus as a plain mapping for a scenario file: only the fields that matter, `every` in short form."""
    out = {"id": bus.id, "name": bus.name}
    for k in ("base", "base_lat", "base_lon"):
        v = getattr(bus, k)
        if v is not None:
            out[k] = round(v, 5) if isinstance(v, float) else v
    out["agents"] = bus.agents
    if bus.opens_on:
        out["opens_on"] = bus.opens_on.isoformat()
    out["generated"] = bus.generated
    out["stops"] = [{
        "commune": st.commune, "name": st.name,
        **({"lat": round(st.lat, 5), "lon": round(st.lon, 5)} if st.lat is not None and st.lon is not None else {}),
        "weekday": st.weekday, "start": st.start, "end": st.end, "every": st.every.short_form(),
    } for st in bus.stops]
    return out


class _CodeDumper(yaml.SafeDumper):
    """Quotes text made of digits ('09261', '2024-08', '09:00'): other YAML readers may take it for a number."""


def _str(dumper, value: str):
    style = '"' if value and set(value) <= set("0123456789-:.") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_CodeDumper.add_representer(str, _str)


def dump_yaml(data) -> str:
    """YAML in the style of configs/: block lists, short mappings inline, codes quoted, accents kept."""
    return yaml.dump(data, Dumper=_CodeDumper, sort_keys=False, allow_unicode=True, width=120,
                     default_flow_style=None)


def buses_yaml(buses: list[Bus], header: str = "") -> str:
    """The `buses:` block of a scenario file, preceded by `header` as comment lines."""
    text = dump_yaml({"buses": [bus_record(b) for b in buses]})
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + text

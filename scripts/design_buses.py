#!/usr/bin/env python3
"""Design K bus rotations for a département and print them as YAML (the `buses:` block, or a whole scenario).

The communes are the embedded territory's (fssim.geo.territory), or a CSV/Parquet given with --communes; the fixed
sites are the ANCT list's fixed formats (Fixe, Fixe_antenne(s), Multisites) in the département, read from the
data directory. Stops are chosen by fssim.network.rotation.RotationDesign among the communes beyond --max-minutes of
every fixed site. Figures (population beyond reach, covered by the buses, bus-or-site comparison) go to
standard error.

Usage (from the repository root)::

    python scripts/design_buses.py 58 --buses 2                          # the buses: block
    python scripts/design_buses.py 58 --buses 2 --real-bases --scenario > configs/bus-rotation.yaml
    python scripts/design_buses.py 58 --buses 2 --compare 225000         # and the bus-or-site table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from fssim.sources.anct import load_anct
from fssim.geo.bus_coverage import BusCosts, compare_bus_or_site, coverage_with_buses
from fssim.network.buses import FIXED_FORMATS, MOBILE_FORMATS, bus_record, dump_yaml
from fssim.errors import InputError
from fssim.network.rotation import RotationDesign
from fssim.geo.travel import RoadModel


def load_communes(dep: str, path: str | None) -> pd.DataFrame:
    if path:
        p = Path(path)
        com = pd.read_parquet(p) if p.suffix in (".parquet", ".pq") else pd.read_csv(p, dtype={"code": str, "dep": str,
                                                                                                "canton": str})
    else:
        from fssim.geo.territory import load_territory

        com = load_territory().subset(deps=[dep]).communes
    com = com[com["dep"].astype(str) == dep].reset_index(drop=True)
    if com.empty:
        raise InputError(f"no commune in département {dep!r}", field="dep")
    return com


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dep", help="département code, e.g. 58")
    ap.add_argument("--buses", type=int, default=2, help="number of buses to design")
    ap.add_argument("--max-minutes", type=float, default=30.0, help="coverage threshold T (minutes)")
    ap.add_argument("--weeks", type=int, default=2, help="weeks in the rotation cycle (2: fortnightly)")
    ap.add_argument("--real-bases", action="store_true",
                    help="base the buses where the département's real buses are based (ANCT list), when as many")
    ap.add_argument("--scenario", action="store_true", help="print a whole scenario file, not only buses:")
    ap.add_argument("--compare", type=float, default=None, metavar="EUR",
                    help="also compare buses with fixed sites for this yearly budget (to standard error)")
    ap.add_argument("--snapshot", default="2024-08")
    ap.add_argument("--communes", default=None, help="communes table (CSV/Parquet) instead of the territory")
    args = ap.parse_args(argv)
    dep = args.dep.zfill(2) if args.dep.isdigit() else args.dep

    com = load_communes(dep, args.communes)
    sites = load_anct(args.snapshot).sites
    here = sites[(sites["dep"] == dep) & sites["commune"].isin(set(com["code"]))]
    fixed = here[here["format"].isin(FIXED_FORMATS)][["site_id", "lat", "lon", "commune"]].copy()
    fixed["site_id"] = fixed["site_id"].astype(str)
    real = here[here["format"].isin(MOBILE_FORMATS)]
    base = None
    if args.real_bases:
        if len(real) != args.buses:
            raise InputError(f"--real-bases: the list has {len(real)} bus(es) in {dep}, not {args.buses}",
                             field="--buses")
        base = [str(c) for c in real["commune"]]
    model = RoadModel()
    T = args.max_minutes
    design = RotationDesign(com, n_buses=args.buses, fixed_sites=fixed, max_minutes=T, weeks_in_cycle=args.weeks,
                            base=base, model=model, bus_prefix=f"bus-{dep}").solve()
    if args.real_bases:  # the real services' names: these are their rotations as designed here
        for b in design.buses:
            b.name = f"{real['name'].iloc[int(b.id.rsplit('-', 1)[1]) - 1]} (designed stops)"
    cov = coverage_with_buses(com, fixed, design.buses, thresholds=(int(T),), model=model)
    pop = int(com["population"].sum())
    freq = cov.population_only_bus_by_frequency.set_index("threshold").loc[int(T)]
    figures = [
        f"département {dep}: {len(com)} communes, {pop:,} inhabitants, {len(fixed)} fixed sites, "
        f"{len(real)} real bus(es) in the {args.snapshot} list",
        f"beyond {T:g} min of every fixed site: {design.population_beyond_fixed:,} inhabitants",
        f"brought within {T:g} min of a stop by {len(design.buses)} designed bus(es), {design.n_communes} stop "
        f"communes: {design.added_population:,} (weekly {freq['weekly']:,}, fortnightly {freq['fortnightly']:,}, "
        f"monthly {freq['monthly']:,})",
        f"cantons with no fixed site reached by a stop: {len(cov.cantons_only_bus)} of "
        f"{cov.cantons_total - cov.cantons_with_site} without a site",
        f"stops dropped because the day's driving did not fit: {len(design.dropped)}",
    ] + [f"warning: {w}" for w in design.warnings]
    for line in figures:
        print(line, file=sys.stderr)

    cmd = f"python scripts/design_buses.py {dep} --buses {args.buses} --max-minutes {T:g} --weeks {args.weeks}" + \
        (" --real-bases" if args.real_bases else "") + (" --scenario" if args.scenario else "")
    names = com.set_index("code")["name"]
    bases = "; ".join(f"{b['bus']} based in {names.get(b['base'], b['base'])} ({b['base']}, {b['kind']})"
                      for b in design.bases.to_dict("records"))
    header = [
        f"{len(design.buses)} bus(es) France services designed by fssim.network.rotation.RotationDesign for département {dep}:",
        f"stops among the communes beyond {T:g} min of every fixed site of the ANCT list ({args.snapshot}), chosen",
        "by greedy maximal covering, split between buses by balanced assignment, ordered by a nearest-neighbour +",
        "2-opt tour from the base, 2 stops a day (9:00-12:00, 14:00-16:30) Monday to Friday, weekly for the main",
        f"stops and every {args.weeks} weeks for the others; crew 8:00-17:30 with 45 min lunch, driving times from",
        "fssim.geo.travel.RoadModel. These stops are a design, not the real buses' (the open data has none):",
        "generated: true.",
        bases + ".",
        *figures[:4],
        f"Regenerate: {cmd} > <file>",
    ]
    if args.scenario:
        scenario = {
            "name": f"bus-rotation-{dep}",
            "description": (f"Département {dep}: its fixed France services (ANCT list {args.snapshot}, fixed formats) "
                            f"and {len(design.buses)} buses France services with designed rotations (stops generated "
                            f"by fssim.network.rotation, see the header)."),
            "horizon": {"start": "2024-01-01", "days": 364},
            "seed": 2024,
            "replications": 5,
            "territory": {"departements": [dep]},
            "network": {"source": "anct", "snapshot": args.snapshot},
            "buses": [bus_record(b) for b in design.buses],
        }
        body = dump_yaml(scenario)
    else:
        body = dump_yaml({"buses": [bus_record(b) for b in design.buses]})
    sys.stdout.write("".join(f"# {line}\n" for line in header) + body)

    if args.compare is not None:
        table = compare_bus_or_site(com, fixed, budget_eur=args.compare, max_minutes=T, model=model,
                                    design={"weeks_in_cycle": args.weeks})
        print(f"\nbus or site for {args.compare:,.0f} € a year (bus ≈ {BusCosts().yearly():,.0f} €/yr [E]):",
              file=sys.stderr)
        print(table.to_string(index=False), file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)

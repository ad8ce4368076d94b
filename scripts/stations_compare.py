"""Waits and abandonment of configs/full-service-site.yaml with one and with two self-service stations.

    PYTHONPATH=$PWD python scripts/stations_compare.py [--replications 5]

Same seed and random numbers for both (common random numbers): only the number of stations differs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import fssim
from fssim.config import load_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "full-service-site.yaml"
KPIS = ("mean_wait_min", "p90_wait_min", "abandonment_rate", "utilisation", "station_utilisation")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--replications", type=int, default=5)
    args = p.parse_args()
    base = load_config(CONFIG)
    print(f"{'stations':>8} {'scope':<22} " + " ".join(f"{k:>20}" for k in KPIS))
    for stations in (1, 2):
        site = base.sites[0]
        cfg = base.model_copy(update={"sites": [site.model_copy(update={
            "self_service": site.self_service.model_copy(update={"stations": stations})})]})
        res = fssim.simulate(cfg, replications=args.replications)
        s = res.summary
        for scope, key in (("network", ""), ("channel", "self_service"), ("channel", "counter")):
            rows = s[(s["scope"] == scope) & (s["key"] == key)].set_index("kpi")
            cells = []
            for k in KPIS:
                if k in rows.index and rows.loc[k, "n"] > 0:
                    r = rows.loc[k]
                    cells.append(f"{r['mean']:.3f} [{r['ci_low']:.3f},{r['ci_high']:.3f}]")
                else:
                    cells.append("—")
            print(f"{stations:>8} {scope + ' ' + key:<22} " + " ".join(f"{c:>20}" for c in cells))


if __name__ == "__main__":
    main()

"""What the ``fssim experiment``, ``fssim staffing`` and ``fssim bench national`` commands print (rich tables),
kept here so that fssim/cli.py stays a thin layer: it calls the Python API and prints these."""
from __future__ import annotations

import math

from rich.table import Table

#: KPIs shown in the terminal (every KPI is in experiment.parquet)
SHOWN = ("arrivals", "mean_wait_min", "p90_wait_min", "share_wait_over_threshold", "abandonment_rate",
         "sent_home_rate", "utilisation")


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.4g}"


def experiment_table(result, kpis=SHOWN) -> Table:
    """One row per scenario: each KPI's mean and 95 % interval; the baseline marked."""
    s = result.summary
    exp = result.experiment
    baseline = result.manifest.get("baseline")
    n = result.manifest.get("replications")
    t = Table(title=f"{result.manifest.get('name', 'experiment')}: network KPIs ({n} replications, "
                    f"{int(100 * result.manifest.get('confidence', 0.95))} % intervals, common random numbers)")
    t.add_column("scenario")
    shown = [k for k in kpis if k in set(s["kpi"])]
    for k in shown:
        t.add_column(k, justify="right")
    order = [x.name for x in exp.scenarios] if exp is not None else list(dict.fromkeys(s["scenario"]))
    idx = s.set_index(["scenario", "kpi"])
    for name in order:
        cells = []
        for k in shown:
            r = idx.loc[(name, k)]
            hw = r["half_width"]
            cells.append(_num(r["mean"]) + ("" if hw != hw else f" ± {_num(hw)}"))
        t.add_row(name + (" (baseline)" if name == baseline else ""), *cells)
    return t


def differences_table(result, kpis=("mean_wait_min", "p90_wait_min", "abandonment_rate")) -> Table:
    """Scenario − baseline, paired by replication: difference, interval, and the unpaired half-width."""
    d = result.differences
    t = Table(title=f"difference with the baseline ({result.manifest.get('baseline')}), paired by replication")
    for c in ("scenario", "KPI", "difference", "95 % interval", "unpaired ±"):
        t.add_column(c, justify="left" if c in ("scenario", "KPI") else "right")
    for r in d[d["kpi"].isin(kpis)].itertuples(index=False):
        iv = "–" if r.half_width != r.half_width else f"{_num(r.ci_low)} – {_num(r.ci_high)}"
        t.add_row(r.scenario, r.kpi, _num(r.mean) + (" *" if r.significant else ""), iv, _num(r.unpaired_half_width))
    return t


def staffing_table(problem, limit: int = 30) -> Table:
    """The sites whose staffing changes (at most ``limit``), then the totals in the caption."""
    df = problem.staffing
    changed = df[df["agents_after"].astype(float) != df["agents_before"].astype(float)]
    t = Table(title=f"staffing for {', '.join(problem.totals['targets'])} "
                    f"(upper {int(100 * problem.confidence)} % bound, {problem.replications} replications)")
    cols = ["site_id"] + (["slot"] if "slot" in df.columns else []) + ["agents_before", "agents_erlang",
                                                                       "agents_after"]
    kcols = [f"{x.kpi}_before" for x in problem.targets] + [x.kpi for x in problem.targets]
    for c in cols + kcols:
        t.add_column(c, justify="left" if c in ("site_id", "slot") else "right")
    for _, r in changed.head(limit).iterrows():
        t.add_row(*[str(r[c]) if c in ("site_id", "slot") else _num(float(r[c])) for c in cols + kcols])
    tot = problem.totals
    t.caption = (f"{tot['sites']} sites, {len(changed)} rows changed; agents {tot['agents_before']:.1f} → "
                 f"{tot['agents_after']:.1f}; agent cost {tot['agent_cost_before_eur']:,.0f} € → "
                 f"{tot['agent_cost_after_eur']:,.0f} € a year at {tot['cost_per_agent_year_eur']:,.0f} € per "
                 f"agent-year [E]; {tot['sites_infeasible']} sites cannot meet the target within max_agents")
    return t


def resumed_line(problem) -> str:
    """'resumed: 412 of 930 units from DIR/units': what a staffing search read back from its folder."""
    u = problem.units
    return f"resumed: {u['reused']:,} of {u['total']:,} units from {problem.store_dir / 'units'}"


def bench_text(res: dict) -> str:
    """One readable line for ``fssim bench national`` without --json."""
    return (f"{res['visits']:,} visits in {res['wall_s']:.1f} s on {res['workers']} worker(s): "
            f"{res['visits_per_s']:,.0f} visits/s, peak {res['peak_rss_mb']:,.0f} MB per worker "
            f"(build {res['build_s']:.1f} s, worker start {res['startup_s']:.1f} s, "
            f"{res['worker_cpu_s']:.0f} CPU-s in units, load average {res['load_average']:.1f}); "
            f"workload: {res['workload']}")

"""The smallest staffing that meets a wait target, site by site (or per opening interval).

``StaffingProblem(config, target=["p90_wait_min<=15", "abandonment_rate<=0.05"]).solve()``:

1. simulate the scenario as it is (``replications`` replications): each site's KPIs before, its arrival
   rate (arrivals, returns and follow-ups included, per open minute) and mean service time;
2. start from queueing theory: the smallest c whose Erlang C (M/M/c) P(wait > t) and mean wait, and Erlang A
   abandonment with the config's mean patience, meet the targets (square-root staffing when no target is
   analytic);
3. confirm by simulation and adjust one agent at a time: a site meets the target when the one-sided upper
   confidence bound of each KPI (``confidence``, Student-t across replications) is at most its ``max`` (lower
   bound at least its ``min``); meeting at c and failing at c − 1 (or c at ``min_agents``) ends the search.

Sites are independent once demand is assigned, and every candidate sees the same citizens (common random
numbers), so all sites move together, round after round. With ``per_interval=True`` the unit is a weekly
opening interval ('mon 09:00-12:00'): its visits are those arriving in it, and a final round checks the
whole timetable together. Results: ``staffing`` (one row per site, or per site and interval), ``totals``
(agents and cost before and after), ``rounds`` (every evaluation).

Resuming: with ``store_dir`` every unit (round, replication, shard) is saved as it finishes under
``<store_dir>/units/`` (:class:`fssim.experiment.store.UnitStore`, the experiments' store, one folder per
round), keyed by the config with its seed, the shard's sites with their candidate agents, the replication and
the search's settings (targets, confidence, replications, agent bounds, per interval). The search is
deterministic, so a rerun on the same folder replays the finished rounds from disk and goes on where it stopped;
a unit of another staffing, seed or search is never reused (its key differs: it is simulated again).

Cost: agents at the counter × ``cost_per_agent_year`` (default 40,000 € [E]: no published figure for an
agent's loaded yearly cost; derived from La Poste-hosted sites, ≈150 k€ a year of which two-thirds staff
cost [P, facts §5.4], for 2 to 2.5 agents [P, facts §5.3]; compare with a site's running cost, 93,843 €
(rural) to 200,131 € (QPV) a year [P, IGA 2020] in :data:`fssim.defaults.SITE_COST_EUR`). An
interval-staffed site counts the mean number of agents over its opening hours.
"""
from __future__ import annotations

from fssim.files import write_json, write_parquet

from fssim.clock import clock

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fssim.metrics import kpis as kpi_registry
from fssim.config import Config, Site, Target
from fssim.experiment.costs import mean_agents
from fssim.defaults import AGENT_COST_EUR, SITE_COST_EUR, WEEKDAYS
from fssim.demand.arrivals import mean_visit_service
from fssim.errors import InputError
from fssim.engine.queueing import erlang_a, erlang_c_mean_wait, erlang_c_wait_exceeds, square_root_staffing
from fssim.experiment.execute import Executor, Job
from fssim.scenario import shards_of
from fssim.experiment.partials import kpis_from_sums
from fssim.experiment.stats import lower_bound, upper_bound
from fssim.experiment.store import UnitStore, sites_digest, unit_key

#: [E] yearly cost of one agent at the counter (fssim.defaults.AGENT_COST_EUR, where its basis is given)
COST_PER_AGENT_YEAR = AGENT_COST_EUR
_TARGET = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|<|>)\s*([0-9.eE+-]+)\s*(%?)\s*$")


def parse_target(text: str | Target | dict) -> Target:
    """'p90_wait_min<=15', 'abandonment_rate<=5%', 'utilisation>=0.6' (or a Target / mapping) → Target."""
    if isinstance(text, Target):
        return text
    if isinstance(text, dict):
        try:
            return Target(**text)
        except Exception as e:  # pydantic ValidationError
            raise InputError(f"target {text!r}: {e}", field="target") from None
    m = _TARGET.match(str(text))
    if not m:
        raise InputError(f"{text!r} is not a target: write KPI<=VALUE or KPI>=VALUE, e.g. p90_wait_min<=15 or "
                         "abandonment_rate<=5%", field="--target")
    kpi, op, value, pct = m.groups()
    if kpi_registry.find(kpi) is None:
        raise InputError(f"{kpi_registry.unknown(kpi)} (in {text!r})", field="--target")
    v = float(value) / (100 if pct else 1)
    return Target(kpi=kpi, **({"max": v} if op.startswith("<") else {"min": v}), label=str(text).strip())


def _label(t: Target) -> str:
    return t.label or " and ".join(x for x in (f"{t.kpi} ≤ {t.max:g}" if t.max is not None else "",
                                               f"{t.kpi} ≥ {t.min:g}" if t.min is not None else "") if x)


def erlang_staffing(rate: float, mean_service: float, targets: list[Target], *, threshold: float,
                    mean_patience: float | None, min_agents: int = 1, max_agents: int = 50) -> int:
    """Smallest c in [min_agents, max_agents] whose M/M/c (or M/M/c+M for abandonment) values meet every
    analytic target: p90_wait_min (P(wait > max) ≤ 10 %), share_wait_over_threshold, mean_wait_min,
    abandonment_rate, utilisation ≤ max. Other targets are left to the simulation."""
    if rate <= 0 or mean_service <= 0:
        return min_agents
    a = rate * mean_service
    analytic = [t for t in targets if t.kpi in ("p90_wait_min", "share_wait_over_threshold", "mean_wait_min",
                                                  "abandonment_rate", "utilisation") and t.max is not None]
    if not analytic:
        return min(max(min_agents, square_root_staffing(rate, mean_service)), max_agents)
    for c in range(max(min_agents, 1), max_agents + 1):
        if a >= c:
            continue
        ok = True
        for t in analytic:
            if t.kpi == "p90_wait_min":
                ok &= erlang_c_wait_exceeds(c, rate, mean_service, t.max) <= 0.10
            elif t.kpi == "share_wait_over_threshold":
                ok &= erlang_c_wait_exceeds(c, rate, mean_service, threshold) <= t.max
            elif t.kpi == "mean_wait_min":
                ok &= erlang_c_mean_wait(c, rate, mean_service) <= t.max
            elif t.kpi == "utilisation":
                ok &= a / c <= t.max
            elif t.kpi == "abandonment_rate":
                if mean_patience and math.isfinite(mean_patience):  # else nobody gives up
                    ok &= erlang_a(c, rate, mean_service, mean_patience)["abandonment"] <= t.max
        if ok:
            return c
    return max_agents


def _slot_parts(label: str) -> tuple[str, int, int]:
    day, span = label.split(" ")
    a, b = span.split("-")
    return day, int(a[:2]) * 60 + int(a[3:]), int(b[:2]) * 60 + int(b[3:])


def _with_agents(site: Site, agents) -> Site:
    """A copy of the site with ``agents`` (int, or {slot label: n} per opening interval)."""
    d = site.model_dump()
    if isinstance(agents, dict):
        per_day = {}
        for day in WEEKDAYS:
            iv = site.schedule.get(day, [])
            if iv:
                per_day[day] = [int(agents.get(f"{day} {clock(a)}-{clock(b)}", c)) for a, b, c in iv]
        d["agents"] = per_day
    else:
        d["agents"] = int(agents)
    return Site.model_validate(d)


def _agents_text(site: Site) -> str:
    if isinstance(site.agents, int):
        return str(site.agents)
    return " ; ".join(f"{d} {'/'.join(str(c) for _, _, c in iv)}" for d, iv in site.schedule.items())


@dataclass
class StaffingProblem:
    """Smallest staffing per site (or per opening interval) meeting ``target`` with ``confidence``.

    After ``.solve()`` (None before): ``staffing`` (one row per site, or site and slot: agents before, from
    Erlang C and after, feasible, each target's KPI before and after with its confidence bounds, costs),
    ``rounds`` (every evaluation of the search) and ``totals`` (agents and costs before and after).
    ``store_dir``: a results folder where every unit is kept, so that solving again there resumes (see the
    module's docstring); ``units`` then says how many units the search had, simulated and reused.
    """

    config: Config
    target: list = field(default_factory=list)   # Target objects or 'kpi<=value' strings; default: config.targets
    confidence: float = 0.95
    replications: int = 5
    min_agents: int = 2       # the label requires 2 agents present (fssim.config.AgentsByDensity); 1 to search freely
    max_agents: int = 12
    per_interval: bool = False
    cost_per_agent_year: float = COST_PER_AGENT_YEAR
    sites: list[str] | None = None   # only these site ids (default: every fixed site)
    workers: int | None = 0
    scheduler: object = None
    max_rounds: int = 30
    store_dir: str | Path | None = None   # results folder: units kept under <store_dir>/units (resumable)

    # results
    units: dict | None = field(default=None, init=False)  # {"total", "computed", "reused"} after .solve()
    staffing: pd.DataFrame | None = field(default=None, init=False)
    totals: dict | None = field(default=None, init=False)
    rounds: pd.DataFrame | None = field(default=None, init=False)

    def __post_init__(self):
        if isinstance(self.target, (str, Target, dict)):
            self.target = [self.target]
        self.targets = [parse_target(t) for t in self.target] if self.target else list(self.config.targets)
        if not self.targets:
            raise InputError("give at least one target, e.g. p90_wait_min<=15", field="target")
        if self.replications < 2:
            raise InputError("at least 2 replications are needed for a confidence bound", field="replications")
        if not 1 <= self.min_agents <= self.max_agents:
            raise InputError(f"min_agents ({self.min_agents}) must be between 1 and max_agents ({self.max_agents})",
                             field="min_agents")
        if self.store_dir is not None:
            self.store_dir = Path(self.store_dir)
        self._store: UnitStore | None = None

    # ------------------------------------------------------------------ stored units

    def _open_store(self) -> None:
        """Claim ``store_dir`` (new, empty or fssim's: never a folder of someone else's files) and open its units."""
        self.units = {"total": 0, "computed": 0, "reused": 0}
        self._store = None
        if self.store_dir is None:
            return
        from fssim.run import claim_output_dir

        claim_output_dir(self.store_dir, kind="staffing")
        self._store = UnitStore(self.store_dir)
        self._store.clean_temporary()
        self._config_digest = self.config.digest()

    def unit_options(self) -> dict:
        """What a stored unit's key holds besides the config, the shard's sites and the replication: the unit's
        options and the search it belongs to, so that units are replayed only by the same search."""
        return {"slots": bool(self.per_interval),
                "staffing": {"targets": [t.model_dump(mode="json", exclude={"label"}) for t in self.targets],
                             "confidence": float(self.confidence), "replications": int(self.replications),
                             "min_agents": int(self.min_agents), "max_agents": int(self.max_agents),
                             "sites": sorted(self.sites) if self.sites is not None else None}}

    # ------------------------------------------------------------------ simulation of candidate staffing

    def _evaluate(self, ex: Executor, sites: list[Site], round_: int = 0) -> pd.DataFrame:
        """Per (site, slot, replication): KPI values for the given sites (simulated as they are, or read from
        the store when this round's unit was already kept there)."""
        if self.units is None:
            self.units = {"total": 0, "computed": 0, "reused": 0}
        store = self._store
        options = self.unit_options() if store is not None else None
        jobs, frames = [], {}
        for key, shard in shards_of(sites, 150).items():
            digest = sites_digest(shard) if store is not None else None
            for r in range(self.replications):
                self.units["total"] += 1
                path = ukey = None
                if store is not None:
                    path = store.path(f"staffing round {round_}", r, key)
                    ukey = unit_key(self._config_digest, digest, r, options)
                    got = store.load(path, ukey)
                    if got is not None:
                        frames[(key, r)] = got.frame().assign(replication=r)
                        self.units["reused"] += 1
                        continue
                jobs.append(Job(self.config, shard, r, slots=self.per_interval, tag=(key, r, path, ukey)))

        def on_result(job: Job, p) -> None:
            key, r, path, ukey = job.tag
            if path is not None:
                store.save(path, ukey, p)  # at once: an interrupted round keeps its finished units
            self.units["computed"] += 1
            frames[(key, r)] = p.frame().assign(replication=r)

        ex.run(jobs, on_result)
        df = pd.concat([frames[k] for k in sorted(frames)], ignore_index=True)
        k = kpis_from_sums(df)
        k.insert(0, "site_id", df["site_id"])
        k.insert(1, "slot", df["slot"])
        k.insert(2, "replication", df["replication"])
        k["rate"] = (df["visits"] - df["no_show"]) / df["open_min"].where(df["open_min"] > 0)
        k["open_min"] = df["open_min"]
        return k

    def _judge(self, per_rep: pd.DataFrame) -> pd.DataFrame:
        """Per (site, slot): mean and confidence bound of each target KPI, and whether all targets are met."""
        rows = []
        for (sid, slot), g in per_rep.groupby(["site_id", "slot"], sort=False):
            row = {"site_id": sid, "slot": slot, "met": True}
            for t in self.targets:
                v = g[t.kpi].to_numpy(float)
                v = v[~np.isnan(v)]
                row[t.kpi] = float(v.mean()) if len(v) else float("nan")
                if len(v) == 0:  # nobody served / arrived: nothing to wait for
                    continue
                if t.max is not None:
                    ub = upper_bound(v, self.confidence) if len(v) > 1 else float("inf")
                    row[f"{t.kpi}_upper"] = ub
                    row["met"] &= bool(ub <= t.max)
                if t.min is not None:
                    lb = lower_bound(v, self.confidence) if len(v) > 1 else float("-inf")
                    row[f"{t.kpi}_lower"] = lb
                    row["met"] &= bool(lb >= t.min)
            rows.append(row)
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ the search

    def solve(self) -> "StaffingProblem":
        from fssim.scenario import build_scenario

        self._open_store()  # a folder that is not fssim's is refused before the network is built
        scenario = build_scenario(self.config)
        sites = [s for s in scenario.sites if self.sites is None or s.id in set(self.sites)]
        if self.sites is not None:
            missing = sorted(set(self.sites) - {s.id for s in sites})
            if missing:
                raise InputError(f"unknown site ids {missing[:5]}", field="sites")
        if not sites:
            raise InputError("no fixed site to staff in this scenario", field="sites")
        by_id = {s.id: s for s in sites}
        thr = self.config.outputs.wait_threshold_min
        pat = self.config.behaviour.patience
        mean_patience = pat.expected if pat is not None else None
        history = []
        with Executor(workers=self.workers, scheduler=self.scheduler) as ex:
            # round 0: as configured
            before_rep = self._evaluate(ex, sites, 0)
            before = self._judge(before_rep)
            history.append(before.assign(round=0, agents=[self._agents_of(by_id[s], sl) for s, sl in
                                                          zip(before["site_id"], before["slot"])]))
            stats0 = before_rep.groupby(["site_id", "slot"], sort=False).agg(
                rate=("rate", "mean"), service=("mean_service_min", "mean"))
            fallback_service = mean_visit_service(self.config)
            units = list(zip(before["site_id"], before["slot"]))
            start, cand, known, done = {}, {}, {}, {}
            for u in units:
                rate, service = stats0.loc[u, "rate"], stats0.loc[u, "service"]
                service = service if service == service and service > 0 else fallback_service
                rate = rate if rate == rate else 0.0
                c0 = erlang_staffing(rate, service, self.targets, threshold=thr, mean_patience=mean_patience,
                                     min_agents=self.min_agents, max_agents=self.max_agents)
                start[u], cand[u], known[u] = c0, c0, {}
            r, confirmed = 0, not self.per_interval
            while r < self.max_rounds:
                r += 1
                todo = [u for u in units if u not in done]
                if not todo:
                    if confirmed:
                        break
                    # per interval: the whole timetable of every site together, once searches are over
                    verdict = self._round(ex, sorted({u[0] for u in units}), by_id, cand, history, r)
                    failed = [u for u in units if not verdict.get(u, True) and cand[u] < self.max_agents]
                    for u in failed:  # one more agent there, never back below the failed value
                        known[u] = {cand[u]: False}
                        cand[u] += 1
                        done.pop(u)
                    confirmed = not failed
                    continue
                verdict = self._round(ex, sorted({u[0] for u in todo}), by_id, cand, history, r)
                for u in todo:
                    c, ok = cand[u], verdict.get(u, True)
                    known[u][c] = ok
                    if ok and c - 1 >= self.min_agents and (c - 1) not in known[u]:
                        cand[u] = c - 1          # meets: try one fewer
                    elif ok:
                        done[u] = c              # meets, and one fewer fails (or is below the minimum)
                    elif known[u].get(c + 1):
                        cand[u] = done[u] = c + 1  # fails, and one more is known to meet
                    elif c + 1 <= self.max_agents:
                        cand[u] = c + 1          # fails: try one more
                    else:
                        done[u] = c              # fails even at max_agents: infeasible, reported
        self.rounds = pd.concat(history, ignore_index=True)
        self._results(sites, before, start, cand)
        return self

    def _agents_of(self, site: Site, slot: str) -> int | float:
        if slot == "" or site.always_open:
            return mean_agents(site) if not isinstance(site.agents, int) else site.agents
        day, a, b = _slot_parts(slot)
        for x, y, c in site.schedule.get(day, []):
            if x == a and y == b:
                return c
        return float("nan")

    def _round(self, ex, site_ids, by_id, cand, history, r) -> dict:
        trial = []
        for sid in site_ids:
            if self.per_interval and not by_id[sid].always_open:
                trial.append(_with_agents(by_id[sid], {sl: c for (s, sl), c in cand.items() if s == sid}))
            else:
                trial.append(_with_agents(by_id[sid], cand[(sid, "")]))
        judged = self._judge(self._evaluate(ex, trial, r))
        history.append(judged.assign(round=r, agents=[cand[(s, sl)] for s, sl in zip(judged["site_id"],
                                                                                    judged["slot"])]))
        return {(s, sl): bool(m) for s, sl, m in zip(judged["site_id"], judged["slot"], judged["met"])}

    def _results(self, sites, before, start, cand):
        hist = self.rounds
        last = hist[hist["round"] > 0]
        rows = []
        for _, b in before.iterrows():
            u = (b["site_id"], b["slot"])
            site = next(s for s in sites if s.id == u[0])
            c = cand[u]
            ev = last[(last["site_id"] == u[0]) & (last["slot"] == u[1]) & (last["agents"] == c)]
            ev = ev.iloc[-1] if len(ev) else None
            row = {"site_id": u[0], "name": site.name, "commune": site.commune, "slot": u[1],
                   "agents_before": self._agents_of(site, u[1]), "agents_erlang": start[u], "agents_after": c,
                   "feasible": bool(ev is not None and ev["met"])}
            for t in self.targets:
                row[f"{t.kpi}_before"] = b[t.kpi]
                row[t.kpi] = ev[t.kpi] if ev is not None else np.nan
                for side in ("upper", "lower"):
                    col = f"{t.kpi}_{side}"
                    if ev is not None and col in ev.index:
                        row[col] = ev[col]
            rows.append(row)
        df = pd.DataFrame(rows)
        if not self.per_interval:
            df = df.drop(columns=["slot"])
            df["cost_before_eur"] = df["agents_before"].astype(float) * self.cost_per_agent_year
            df["cost_after_eur"] = df["agents_after"].astype(float) * self.cost_per_agent_year
            site_agents_before = df.set_index("site_id")["agents_before"].astype(float)
            site_agents_after = df.set_index("site_id")["agents_after"].astype(float)
        else:
            # mean agents over the opening hours, weighted by each interval's length
            lengths = df["slot"].map(lambda s: (lambda d, a, b: b - a)(*_slot_parts(s)) if s else 1.0)
            w = df.assign(w=lengths, bw=lengths * df["agents_before"].astype(float),
                          aw=lengths * df["agents_after"].astype(float)).groupby("site_id", sort=False)
            site_agents_before = w["bw"].sum() / w["w"].sum()
            site_agents_after = w["aw"].sum() / w["w"].sum()
        self.staffing = df
        n = len(site_agents_before)
        before_cost = float(site_agents_before.sum() * self.cost_per_agent_year)
        after_cost = float(site_agents_after.sum() * self.cost_per_agent_year)
        self.totals = {
            "sites": n, "targets": [_label(t) for t in self.targets], "confidence": self.confidence,
            "replications": self.replications, "agents_before": round(float(site_agents_before.sum()), 3),
            "agents_after": round(float(site_agents_after.sum()), 3),
            "sites_meeting_before": int(before.groupby("site_id")["met"].all().sum()),
            "sites_infeasible": int((~df.groupby("site_id")["feasible"].all()).sum()),
            "cost_per_agent_year_eur": self.cost_per_agent_year,
            "agent_cost_before_eur": before_cost, "agent_cost_after_eur": after_cost,
            "agent_cost_change_eur": after_cost - before_cost,
            "network_running_cost_eur": n * SITE_COST_EUR["mean"],  # [P, IGA 2020] mean site cost, for scale
            "rounds": int(self.rounds["round"].max()),
        }

    def save(self, out):
        """Write ``staffing.parquet`` (the table), ``staffing_rounds.parquet`` (every evaluation) and
        ``staffing.json`` (totals and settings) into the folder ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, df in (("staffing", self.staffing), ("staffing_rounds", self.rounds)):
            write_parquet(out / f"{name}.parquet", df)
        meta = {**self.totals, "config": self.config.name, "config_sha256": self.config.digest(),
                "per_interval": self.per_interval, "min_agents": self.min_agents, "max_agents": self.max_agents,
                "units": self.units}
        write_json(out / "staffing.json", meta)
        return out

    def totals_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{k: (", ".join(v) if isinstance(v, list) else v) for k, v in self.totals.items()}])

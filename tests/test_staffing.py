"""The staffing optimiser against Erlang C, its search and costs; and common random numbers making a
staffing comparison's paired interval narrower than the unpaired one."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from fssim.config import config_from_dict
from fssim.errors import InputError
from fssim.experiment import run_experiment
from fssim.experiment.staffing import COST_PER_AGENT_YEAR, StaffingProblem, erlang_staffing, parse_target
from fssim.engine.queueing import erlang_c_wait_exceeds

from conftest import queue_config

# M/M/c with 12 arrivals an hour and 10-minute exponential service (offered load 2): P90 of the wait is
# 14.9 min with 3 agents and 2.8 min with 4, so "P90 wait ≤ 8 min" needs exactly 4 agents.
RATE, SERVICE = 12 / 60, 10.0


def mmc_config(agents: int, days: int = 30):
    return config_from_dict(queue_config(agents=agents, rate_per_hour=60 * RATE,
                                         service={"dist": "exponential", "mean": SERVICE}, patience=None,
                                         days=days, warmup_days=1, replications=1, seed=3))


def test_theory_of_the_case():
    assert erlang_c_wait_exceeds(3, RATE, SERVICE, 8.0) > 0.15
    assert erlang_c_wait_exceeds(4, RATE, SERVICE, 8.0) < 0.05


def test_erlang_start_is_the_smallest_analytic_staffing():
    t = [parse_target("p90_wait_min<=8")]
    assert erlang_staffing(RATE, SERVICE, t, threshold=15, mean_patience=None, min_agents=1) == 4
    # brute force over c for another target
    t = [parse_target("share_wait_over_threshold<=2%")]
    want = next(c for c in range(3, 20) if erlang_c_wait_exceeds(c, RATE, SERVICE, 15) <= 0.02)
    assert erlang_staffing(RATE, SERVICE, t, threshold=15, mean_patience=None, min_agents=1) == want
    # the minimum is respected, and an unreachable target stops at the maximum
    assert erlang_staffing(RATE, SERVICE, [parse_target("p90_wait_min<=8")], threshold=15, mean_patience=None,
                           min_agents=6) == 6
    assert erlang_staffing(RATE, SERVICE, [parse_target("mean_wait_min<=0")], threshold=15, mean_patience=None,
                           min_agents=1, max_agents=7) == 7


@pytest.mark.parametrize("start", [1, 8])
def test_simulation_finds_the_known_minimum(start):
    """From an unstable start (1 agent) or an overstaffed one (8), the search ends at 4: met at 4 with the
    upper confidence bound, failed at 3."""
    p = StaffingProblem(mmc_config(start), target="p90_wait_min<=8", min_agents=1, replications=4).solve()
    row = p.staffing.iloc[0]
    assert row["agents_before"] == start and row["agents_erlang"] == 4 and row["agents_after"] == 4
    assert row["feasible"] and row["p90_wait_min_upper"] <= 8.0 and row["p90_wait_min"] < 4.5
    tried = p.rounds[p.rounds["round"] > 0].set_index("agents")["met"]
    assert tried.loc[4] and not tried.loc[3]
    assert p.totals["agents_after"] == 4 and p.totals["agent_cost_after_eur"] == 4 * COST_PER_AGENT_YEAR
    assert p.totals["sites_meeting_before"] == (1 if start == 8 else 0)


def test_per_interval_staffing_follows_the_load(tmp_path):
    """A site whose mornings are three times busier than its afternoons gets more agents in the morning."""
    cfg = config_from_dict({
        "name": "peaks", "horizon": {"start": "2024-03-04", "days": 28}, "seed": 8, "holidays": {"closed": False},
        "demarches": [{"name": "any", "share": 1.0, "service": {"dist": "exponential", "mean": 15}}],
        "demand": {"visits_per_open_day": 60, "mix_shifts": [], "hour": {9: 3, 10: 3, 11: 3, 14: 1, 15: 1, 16: 1},
                   "weekday": {"mon": 1, "tue": 1, "wed": 1, "thu": 1, "fri": 1}},
        "behaviour": {"appointment_share": 0.0},
        "sites": [{"id": "s", "agents": 3, "hours": {d: "09:00-12:00 / 14:00-17:00"
                                                      for d in ("mon", "tue", "wed", "thu", "fri")}}]})
    p = StaffingProblem(cfg, target=["p90_wait_min<=15"], min_agents=1, replications=3, per_interval=True).solve()
    s = p.staffing.set_index("slot")
    assert len(s) == 10 and s["feasible"].all()
    morning = s.loc[[f"{d} 09:00-12:00" for d in ("mon", "tue", "wed", "thu", "fri")], "agents_after"]
    afternoon = s.loc[[f"{d} 14:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")], "agents_after"]
    assert morning.min() > afternoon.max()
    assert (s["p90_wait_min_upper"] <= 15).all()
    # the site's cost counts the mean number of agents over its hours
    assert p.totals["agents_after"] == pytest.approx((morning.sum() + afternoon.sum()) / 10)
    out = p.save(tmp_path / "staffing")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "staffing.parquet"), p.staffing)
    assert json.loads((out / "staffing.json").read_text())["agents_after"] == p.totals["agents_after"]


def test_targets_parse_and_bad_ones_are_explained():
    t = parse_target("abandonment_rate<=5%")
    assert t.kpi == "abandonment_rate" and t.max == pytest.approx(0.05) and t.min is None
    assert parse_target("utilisation >= 0.6").min == 0.6
    with pytest.raises(InputError, match="unknown KPI"):
        parse_target("p99_wait<=3")
    with pytest.raises(InputError, match="KPI<=VALUE"):
        parse_target("wait under 15")
    with pytest.raises(InputError, match="at least 2 replications"):
        StaffingProblem(mmc_config(2), target="p90_wait_min<=8", replications=1)


def test_common_random_numbers_narrow_the_staffing_comparison(tmp_path):
    """3 against 4 agents at a loaded counter (M/M/c with exponential patience): replication by replication
    both scenarios see the same citizens, so their KPIs move together and the paired interval of the
    difference is narrower than the unpaired (Welch) one; for the number served, far narrower."""
    base = queue_config(agents=3, rate_per_hour=60 * RATE, service={"dist": "exponential", "mean": SERVICE},
                        patience={"dist": "exponential", "mean": 20}, days=10, warmup_days=1, replications=1,
                        seed=1)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump({
        "base": "base.yaml", "factors": {"sites[*].agents": [3, 4]}, "replications": 8}))
    res = run_experiment(tmp_path / "exp.yaml", tmp_path / "out", workers=0)
    d = res.differences.set_index("kpi")
    for kpi in ("mean_wait_min", "p90_wait_min", "abandonment_rate", "served"):
        assert d.loc[kpi, "half_width"] < d.loc[kpi, "unpaired_half_width"], kpi
    assert d.loc["served", "half_width"] < 0.5 * d.loc["served", "unpaired_half_width"]
    reps = res.replications[res.replications["kpi"] == "mean_wait_min"].pivot(
        index="replication", columns="scenario", values="value")
    assert np.corrcoef(reps["agents=3"], reps["agents=4"])[0, 1] > 0.5  # the mechanism: positive correlation
    assert d.loc["mean_wait_min", "ci_high"] < 0  # 4 agents: significantly shorter waits
    # the primary arrivals are the same citizens: the difference in arrivals is exactly zero
    assert d.loc["arrivals", "mean"] == 0 and d.loc["arrivals", "half_width"] == 0

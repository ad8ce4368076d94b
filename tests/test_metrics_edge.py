"""KPIs at the edges: an always-open site with a warm-up, a site with no demand, undefined rates labelled."""
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import queue_config
from fssim.cli import app
from fssim.config import config_from_dict
from fssim.metrics.tables import kpis
from fssim.run import simulate

SERVICE = {"dist": "exponential", "mean": 20}


@pytest.fixture(scope="module")
def always_open():
    return simulate(queue_config(agents=2, rate_per_hour=3, service=SERVICE, patience=None, days=8, warmup_days=2,
                                 replications=2))


def test_always_open_site_keeps_its_capacity_after_the_warm_up(always_open):
    res = always_open
    cfg = res.config
    net = res.network()
    days_after = cfg.horizon.days - cfg.horizon.warmup_days
    assert net.loc["staffed_min", "mean"] == pytest.approx(2 * days_after * 1440)
    assert net.loc["open_days", "mean"] == days_after
    # busy time after the cut = the services' minutes after the cut, whatever started before
    cut = pd.Timestamp(cfg.horizon.start) + pd.Timedelta(days=cfg.horizon.warmup_days)
    v = res.visits[res.visits["outcome"] == "served"]
    end = pd.Timestamp(cfg.horizon.end)  # busy time is time on duty: a service running past the end is overtime
    after = ((v["service_end"].clip(upper=end) - v["service_start"].clip(lower=cut)).dt.total_seconds() / 60
             ).clip(lower=0)
    busy = after.groupby(v["replication"]).sum()
    per = kpis(res.visits, res.sessions, threshold=15.0, warmup_days=cfg.horizon.warmup_days,
               origin=cfg.horizon.start).set_index("replication")
    assert per["busy_min"].to_numpy() == pytest.approx(busy.to_numpy(), rel=1e-3)
    assert per["utilisation"].to_numpy() == pytest.approx(busy.to_numpy() / (2 * days_after * 1440), rel=1e-3)
    arrivals = res.visits[res.visits["arrival"] >= cut].groupby("replication").size()
    assert per["visits_per_open_day"].to_numpy() == pytest.approx(arrivals.to_numpy() / days_after)


def test_site_without_demand_counts_zero_and_its_rates_are_undefined():
    cfg = config_from_dict({
        "name": "quiet", "horizon": {"start": "2024-04-01", "days": 14}, "seed": 3, "replications": 2,
        "demand": {"visits_per_open_day": 20},
        "sites": [{"id": "busy", "agents": 2},
                  {"id": "empty", "agents": 2, "demand": {"schedule": [{"start": "2024-04-01", "visits_per_year": 0}]}}],
    })
    res = simulate(cfg)
    assert not (res.visits["site_id"] == "empty").any()
    by_site = kpis(res.visits, res.sessions, "site").set_index(["site_id", "replication"])
    per = by_site.loc["empty"]
    for k in ("served", "gave_up", "visits", "arrivals", "booked"):
        assert (per[k] == 0).all(), k
    assert (per["open_days"] == by_site.loc["busy", "open_days"]).all() and (per["utilisation"] == 0).all()
    assert per["abandonment_rate"].isna().all() and per["mean_wait_min"].isna().all()
    s = res.summary
    row = s[(s["scope"] == "site") & (s["key"] == "empty")].set_index("kpi")
    assert row.loc["served", "mean"] == 0 and row.loc["served", "undefined"] == 0
    assert row.loc["abandonment_rate", "undefined"] == 2
    assert row.loc["abandonment_rate", "undefined_when"] == "no arrivals"
    assert np.isnan(row.loc["abandonment_rate", "mean"])
    busy = s[(s["scope"] == "site") & (s["key"] == "busy")].set_index("kpi")
    assert busy.loc["abandonment_rate", "undefined"] == 0 and busy.loc["abandonment_rate", "undefined_when"] == ""


def test_cli_table_says_why_a_rate_is_undefined(tmp_path):
    import yaml

    p = tmp_path / "queue.yaml"  # no appointments: the no-show rate has no booked visit to divide by
    p.write_text(yaml.safe_dump(queue_config(agents=2, rate_per_hour=3, service=SERVICE, patience=None, days=5,
                                             replications=2)))
    res = CliRunner().invoke(app, ["run", str(p), "--out", str(tmp_path / "run"), "--lang", "en"])
    assert res.exit_code == 0, res.output
    line = [x for x in res.output.splitlines() if "No-show rate" in x][0]
    assert "undefined" in line and "no booked visit" in line and "nan" not in line.lower()

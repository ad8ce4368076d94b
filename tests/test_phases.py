"""Rollout phases of a placed network: one phase per opening date (none at the catchment reference date),
the config's labels in the rollout table and the summary, and per-phase KPIs equal to KPIs of the phase's days."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fssim.config import config_from_dict
from fssim.metrics.tables import kpis
from fssim.run import simulate

PHASES = [{"date": "2022-01-03", "sites": 4, "label": "wave 1"}, {"date": "2022-01-31", "sites": 8, "label": "wave 2"}]


def placed(**kw):
    """Eight sites placed in the Ardennes, opened in two waves; the catchments are scaled on a day of the
    first wave that is not a phase date."""
    cfg = {"name": "placed-08", "horizon": {"start": "2022-01-03", "days": 56}, "seed": 5, "replications": 2,
           "territory": {"departements": ["08"]},
           "network": {"source": "placement", "placement": {"n_sites": 8, "max_minutes": 30}, "phases": PHASES},
           "catchment": {"model": "population", "annual_visits": 9_000_000, "reference_date": "2022-01-28"},
           "outputs": {"visits": True}}
    cfg.update(kw)
    return config_from_dict(cfg)


@pytest.fixture(scope="module")
def run():
    return simulate(placed())


def test_one_rollout_row_per_phase_with_its_label(run):
    ro = run.tables["rollout"]
    assert list(ro["date"]) == [pd.Timestamp(p["date"]) for p in PHASES]  # no row at the reference date
    assert list(ro["phase"]) == [p["label"] for p in PHASES]
    assert list(ro["sites"]) == [p["sites"] for p in PHASES]
    assert list(ro["opened"]) == [4, 4]
    for col in ("cantons_total", "cantons_with_site", "pseudo_cantons_total", "pseudo_cantons_with_site"):
        assert col in ro


def test_summary_phase_scope_uses_the_labels(run):
    s = run.summary
    assert set(s.loc[s["scope"] == "phase", "key"]) == {p["label"] for p in PHASES}
    # phase starts given as plain dates are labelled by their date
    starts = list(run.tables["rollout"]["date"])
    per = kpis(run.visits, run.sessions, "phase", phase_starts=starts)
    assert sorted(per["phase"].astype(str).unique()) == [d.date().isoformat() for d in starts]
    assert np.isfinite(per["utilisation"]).all()


def test_kpis_by_phase_equal_kpis_of_each_phase_days(run):
    starts = [pd.Timestamp(p["date"]) for p in PHASES]
    ends = starts[1:] + [pd.Timestamp(run.config.horizon.end)]
    by_phase = kpis(run.visits, run.sessions, "phase", phase_starts=run.tables["rollout"].set_index("date")["phase"])
    by_phase = by_phase.set_index(["phase", "replication"])
    compared = 0
    for p, a, b in zip(PHASES, starts, ends):
        v = run.visits[(run.visits["arrival"] >= a) & (run.visits["arrival"] < b)]
        ses = run.sessions[(run.sessions["date"] >= a) & (run.sessions["date"] < b)]
        direct = kpis(v, ses).set_index("replication")
        assert direct["arrivals"].min() > 0
        for rep, row in direct.iterrows():
            got = by_phase.loc[(p["label"], rep)]
            for k, value in row.items():
                assert got[k] == pytest.approx(value, nan_ok=True), (p["label"], rep, k)
                compared += 1
    assert compared > 40
    # the phases split the network's visits: counts add up
    net = kpis(run.visits, run.sessions).set_index("replication")
    assert (by_phase.groupby("replication")["visits"].sum() == net["visits"]).all()


def test_phase_labels_follow_the_phase_in_force():
    from fssim.scenario import phase_labels

    cfg = placed(network={"source": "placement", "placement": {"n_sites": 8},
                          "phases": [{"date": "2021-12-01", "sites": 3, "label": "pilot"},
                                     {"date": "2022-01-17", "sites": 5},
                                     {"date": "2022-02-07", "sites": 8, "label": "pilot"}]})
    days = [dt.date(2022, 1, 3), dt.date(2022, 1, 17), dt.date(2022, 2, 7)]
    # the horizon starts within the pilot; an unlabelled phase is named by its date; labels stay unique
    assert phase_labels(cfg, days) == ["pilot (2022-01-03)", "2022-01-17", "pilot (2022-02-07)"]
    assert phase_labels(placed(network={"source": "placement", "placement": {"n_sites": 8}}),
                        days[:1]) == ["2022-01-03"]


def test_report_shows_the_phases_and_their_cantons(run, tmp_path):
    from fssim.report import write_report

    out = run.save(tmp_path / "run")
    html = write_report(out, tmp_path / "report.html", lang="en").read_text(encoding="utf-8")
    ro = run.tables["rollout"]
    assert "Rollout phases" in html
    for r in ro.itertuples():
        assert r.phase in html and f"{r.cantons_with_site} / {r.cantons_total}" in html

"""The report's validation section: simulated actes, sites and volumes beside the official figures."""
import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATA
from fssim.report import validation as V
from fssim.report.i18n import Translator


def test_compare_ranks_départements_by_their_gap_in_share():
    sim = pd.DataFrame({"dep": ["01", "02", "03", "04"], "simulated": [100.0, 200.0, 300.0, 50.0]})
    obs = pd.DataFrame({"dep": ["01", "02", "03", "05"], "observed": [100.0, 100.0, 600.0, 10.0]})
    t = V.compare(sim, obs)
    assert list(t["dep"]) == ["02", "03", "01"]  # 04 and 05 are not in both
    assert t.loc[t["dep"] == "02", "share_ratio"].item() == pytest.approx((200 / 600) / (100 / 800))
    assert t.loc[t["dep"] == "01", "ratio"].item() == pytest.approx(1.0)
    same = V.fit_of(V.compare(obs.rename(columns={"observed": "simulated"}), obs))
    assert same["log_correlation"] == pytest.approx(1.0) and same["median_abs_log_error"] == pytest.approx(0.0)


def test_observed_year_is_the_simulated_one_or_else_the_latest():
    d = pd.DataFrame({"dep": ["01", "01", "01"], "month": pd.to_datetime(["2022-05-01", "2023-01-01", "2023-06-01"]),
                      "actes": [10.0, 20.0, 40.0]})
    table, year, months = V.observed_year(d, 2022)
    assert year == "2022" and table["observed"].item() == 120.0 and len(months) == 1
    table, year, months = V.observed_year(d, 2030)
    assert year == "2023" and table["observed"].item() == 12 * 30.0


def test_volume_spread_gives_the_survey_figures():
    v = pd.Series([1.0] * 9 + [11.0])  # mean 2
    s = V.volume_spread(v)
    assert s["median_over_mean"] == pytest.approx(0.5) and s["p90_over_mean"] == pytest.approx(np.quantile(v, 0.9) / 2)


def test_simulated_actes_by_département_sum_the_sites_and_scale_to_a_year():
    summary = pd.DataFrame({"scope": ["site", "site", "site", "network"], "key": ["a", "b", "c", ""],
                            "kpi": ["actes"] * 4, "mean": [10.0, 20.0, 5.0, 35.0]})
    network = pd.DataFrame({"site_id": ["a", "b", "c"], "commune": ["01001", "01002", "97411"]})
    out = V.simulated_by_departement(summary, network, days=73).set_index("dep")["simulated"]
    assert out["01"] == pytest.approx(30 * 5) and out["974"] == pytest.approx(25)


@pytest.fixture(scope="module")
def network_run(tmp_path_factory):
    from fssim.config import config_from_dict
    from fssim.report.rundata import load_run_dir
    from fssim.run import simulate

    cfg = config_from_dict({"name": "val-48", "horizon": {"start": "2024-01-01", "days": 28}, "seed": 3,
                            "territory": {"departements": ["48", "12"]}, "data_dir": str(SHARED_DATA),
                            "network": {"source": "anct", "snapshot": "2024-08"}})
    out = simulate(cfg).save(tmp_path_factory.mktemp("run") / "r")
    return load_run_dir(out)


def test_the_section_compares_the_run_with_the_observed_actes_and_labels(network_run):
    s = V.section_validation(network_run, Translator("en"))
    kinds = [b.kind for b in s.flat()]
    assert kinds.count("plot") == 3 and kinds.count("table") == 2
    gaps = [b for b in s.flat() if b.kind == "table"][0]
    assert {r[0] for r in gaps.rows} == {"Aveyron (12)", "Lozère (48)"}
    intro = list(s.flat())[0].text
    assert "2024" in intro and "28-day horizon scaled to 365" in intro


def test_without_the_data_directory_the_section_says_what_is_missing(network_run, monkeypatch):
    monkeypatch.setattr(V, "observed_data", lambda run: (None, None, "no_data_dir"))
    s = V.section_validation(network_run, Translator("fr"))
    kinds = [b.kind for b in s.flat()]
    assert kinds[0] == "note" and "fssim data fetch" in list(s.flat())[0].text
    assert kinds.count("table") == 1 and kinds.count("plot") == 0  # the survey comparison still shows


def test_the_report_of_a_network_run_has_the_section(network_run):
    from fssim.report.build import render_report
    html = render_report(network_run, lang="en")
    assert 'id="validation"' in html and "fig-validation-departements" in html

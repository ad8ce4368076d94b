"""What `fssim run` prints (verdicts, locale numbers, 120 columns, phases) and its worker processes."""
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from rich.cells import cell_len

import fssim
from fssim.config import config_from_dict
from fssim.errors import InputError
from fssim.report.i18n import Translator
from fssim.report.targets import evaluate_targets
from fssim.report.terminal import kpi_table, site_target_lines, terminal_lang

from conftest import REPO, small_network

LONG = "every site keeps its P90 wait under a minute, as the département's service charter promises to citizens"


def config_with_targets() -> dict:
    cfg = small_network()
    cfg["targets"] = [{"kpi": "p90_wait_min", "max": 15}, {"kpi": "utilisation", "min": 0.9},
                      {"kpi": "mean_wait_min", "max": 0.125}, {"kpi": "actes_per_visit", "min": 1.2},
                      {"kpi": "p90_wait_min", "max": 1, "scope": "site", "label": LONG}]
    return cfg


def test_workers_give_identical_tables(tmp_path):
    cfg = config_from_dict(small_network(replications=3))
    one = fssim.simulate(cfg, workers=1, shard_size=1)
    two = fssim.simulate(cfg, workers=2, shard_size=1)
    assert one.manifest["execution"]["backend"] == "inline"
    assert two.manifest["execution"] == {"backend": "processes", "workers": 2}
    assert len(one.visits) > 1000 and one.visits["site_id"].nunique() == 2
    pd.testing.assert_frame_equal(one.summary, two.summary)
    pd.testing.assert_frame_equal(one.visits, two.visits)
    pd.testing.assert_frame_equal(one.daily, two.daily)
    one.save(tmp_path / "one")
    two.save(tmp_path / "two")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one" / "summary.parquet"),
                                  pd.read_parquet(tmp_path / "two" / "summary.parquet"))


def test_workers_must_not_be_negative():
    with pytest.raises(InputError, match="workers"):
        fssim.simulate(small_network(), workers=-1)


def test_terminal_language_follows_the_option_then_the_locale(monkeypatch):
    for var in ("LC_ALL", "LC_NUMERIC", "LANG"):
        monkeypatch.delenv(var, raising=False)
    assert terminal_lang() == "en"
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert terminal_lang() == "fr" and terminal_lang("en") == "en"
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    assert terminal_lang() == "en"


def test_kpi_table_shows_the_verdicts_of_the_targets():
    from rich.console import Console

    result = fssim.simulate(config_with_targets())
    judged = evaluate_targets(result.summary, result.config.targets).set_index("kpi")
    console = Console(width=120, record=True, color_system=None)
    console.print(kpi_table(result.summary, result.config, ("arrivals", "p90_wait_min"), lang="en"))
    for line in site_target_lines(result.summary, result.config, lang="en"):
        console.print(line)
    text = console.export_text()
    t = Translator("en")
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") >= 5}
    # a target on a KPI outside the printed list adds its row; each row shows its bound and verdict
    assert {"Arrivals (excluding no-shows)", "P90 wait", "Agent utilisation", "Actes per served visit"} <= set(rows)
    assert "≥ 90%" in rows["Agent utilisation"] and t.status(judged.loc["utilisation", "status"]) in \
        rows["Agent utilisation"]
    assert "≤ 0.125 min" in rows["Mean wait"]  # the bound as written, not rounded
    assert t.status(judged.loc["p90_wait_min"].query("scope == 'network'")["status"].iloc[0]) in rows["P90 wait"]
    sites = judged.loc["p90_wait_min"].query("scope == 'site'")
    assert len(sites) == 2 and "(every site)" in text and "(2 sites)" in text


def test_run_prints_within_120_columns_in_french(tmp_path):
    cfg_file = tmp_path / "small.yaml"
    cfg_file.write_text(yaml.safe_dump(config_with_targets(), allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "COLUMNS": "120", "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-m", "fssim.cli", "run", str(cfg_file), "--out", str(tmp_path / "run"),
                          "--lang", "fr", "--workers", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = (res.stdout + res.stderr).splitlines()
    assert max(cell_len(line) for line in lines) <= 120, [line for line in lines if cell_len(line) > 120]
    assert "…" not in res.stdout + res.stderr
    summary = pd.read_parquet(tmp_path / "run" / "summary.parquet")
    net = summary[summary["scope"] == "network"].set_index("kpi")["mean"]
    t = Translator("fr")
    assert net["arrivals"] >= 1000 and t.int(net["arrivals"]) in res.stdout  # '1 839': narrow no-break space
    assert "\u202f" in t.int(net["arrivals"])
    assert t.kpi_value("mean_wait_min", net["mean_wait_min"]) in res.stdout and "," in t.kpi_value(
        "mean_wait_min", net["mean_wait_min"])
    for k in ("arrivals", "p90_wait_min", "utilisation", "visits_per_open_day", "actes_per_visit"):
        assert t.kpi(k) in res.stdout, k
    assert "Indicateur" in res.stdout and "Verdict" in res.stdout
    words = " ".join(res.stdout.split())  # the long target label may wrap, never be cut
    assert LONG in words and "(chaque site)" in words
    assert "shards" in res.stderr and "done" in res.stderr and "0:00" in res.stderr
    man = yaml.safe_load((tmp_path / "run" / "manifest.json").read_text())
    assert man["execution"] == {"backend": "processes", "workers": 2}


def test_one_replication_at_80_columns_says_the_point_verdict_and_cuts_no_word():
    """A CI log or a small terminal is 80 columns: labels wrap at spaces, never inside a word, and with one
    replication the verdict is what the simulated value says (as on the report's first screen)."""
    from rich.console import Console

    cfg = config_with_targets()
    cfg["replications"] = 1
    result = fssim.simulate(cfg)
    console = Console(width=80, record=True, color_system=None)
    console.print(kpi_table(result.summary, result.config, ("arrivals", "p90_wait_min", "abandonment_rate",
                                                             "no_show_rate"), lang="en"))
    text = console.export_text()
    assert max(cell_len(line) for line in text.splitlines()) <= 80
    header = next(line for line in text.splitlines() if "KPI" in line and "┃" in line)
    assert header.rstrip().endswith("┃")  # the header row keeps its right border: nothing cropped
    cells = [c.strip() for line in text.splitlines() for c in line.split("│")[1:-1] if c.strip()]
    words = set(" ".join(cells).split())
    for label in ("Arrivals (excluding no-shows)", "Abandonment rate", "Agent utilisation"):
        assert set(label.split()) <= words, label  # every word of the label whole in some cell
    judged = evaluate_targets(result.summary, result.config.targets)
    p90 = judged[(judged["kpi"] == "p90_wait_min") & (judged["scope"] == "network")].iloc[0]
    assert p90["status"] == "no_interval"
    said = "within target (1 replication)" if p90["mean_meets"] else "outside target (1 replication)"
    assert said in " ".join(text.replace("│", " ").split())
    assert "95 % interval" not in text and "CI" not in text and "One replication: no interval" in text


def test_progress_is_told_each_phase():
    seen = []
    fssim.simulate(small_network(replications=2), progress=lambda d, n, label: seen.append((d, n, label)))
    labels = [s[2] for s in seen]
    assert labels[0] == "building the network" and labels[-1] == "computing the KPI tables"
    counted = [s for s in seen if s[1]]
    assert counted[-1][0] == counted[-1][1] == 2 and any("replication 2/2" in s[2] for s in counted)


def test_every_reason_for_an_undefined_kpi_is_said_in_french():
    """The terminal says why a KPI has no value in the user's language: each reason of the registry has its
    French words, and the French table shows them."""
    from rich.console import Console
    from fssim.metrics import kpis as registry
    from fssim.report.terminal import UNDEFINED_FR

    reasons = {k.undefined_when for k in registry.REGISTRY if k.undefined_when}
    assert reasons <= set(UNDEFINED_FR), reasons - set(UNDEFINED_FR)
    result = fssim.simulate({"name": "sans-rdv", "horizon": {"start": "2024-04-01", "days": 7}, "replications": 2,
                             "demand": {"visits_per_open_day": 8}, "sites": [{"id": "a", "agents": 1}]})
    assert result.network().loc["no_show_rate", "n"] == 0  # no booked visit: the no-show rate has no value
    console = Console(width=120, record=True, color_system=None)
    console.print(kpi_table(result.summary, result.config, ("no_show_rate",), lang="fr"))
    text = console.export_text()
    assert "non défini" in text and "aucune visite sur rendez-vous" in text and "no booked visit" not in text

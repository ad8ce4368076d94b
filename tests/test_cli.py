"""The command line: run directory contents, overrides, exit codes and messages."""
import json

import pandas as pd
import yaml
from typer.testing import CliRunner

from fssim.cli import app
from fssim.run import load_run

from conftest import REPO, small_network

runner = CliRunner()


def test_run_writes_tables_config_and_manifest(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(REPO / "configs" / "one-site.yaml"), "--out", str(out),
                              "--replications", "2", "--seed", "5", "-q"])
    assert res.exit_code == 0, res.output
    for name in ("visits.parquet", "daily.parquet", "summary.parquet", "config.yaml", "manifest.json"):
        assert (out / name).exists(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["replications"] == 2
    assert manifest["versions"]["simpy"]
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["seed"] == 5 and len(resolved["demarches"]) == 11
    run = load_run(out)
    assert run.manifest["config_sha256"] == run.config.digest()
    visits = pd.read_parquet(out / "visits.parquet")
    assert set(visits["replication"]) == {0, 1}
    daily = pd.read_parquet(out / "daily.parquet")
    # daily aggregates add up to the visits table
    assert daily["visits"].sum() == len(visits)
    assert not (tmp_path / "run.partial").exists()


def test_bad_config_exits_2_with_message(tmp_path):
    data = small_network()
    data["sites"][0]["agents"] = -2
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "bad.yaml" in res.output and "sites[0].agents" in res.output and "negative" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x").exists()  # no partial output


def test_missing_file_and_bad_argument_exit_2(tmp_path):
    res = runner.invoke(app, ["run", str(tmp_path / "none.yaml")])
    assert res.exit_code == 2 and "file not found" in res.output
    res = runner.invoke(app, ["run", str(REPO / "configs" / "one-site.yaml"), "--replications", "0"])
    assert res.exit_code == 2


def test_validate_and_schema():
    res = runner.invoke(app, ["validate", str(REPO / "configs" / "busy-urban-site.yaml")])
    assert res.exit_code == 0 and "valid" in res.output
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0 and "sites" in json.loads(res.output)["properties"]


def test_bench_site_json_line():
    res = runner.invoke(app, ["bench", "site", "--json", "--visits", "2000"])
    assert res.exit_code == 0, res.output
    figures = json.loads(res.output.strip().splitlines()[-1])
    assert set(figures) == {"visits_per_s", "baseline_visits_per_s", "ratio", "visits", "python_kernel_visits_per_s",
                            "python_kernel_ratio", "ratio_range", "rounds"}
    assert figures["visits"] >= 2000 and figures["visits_per_s"] > 0 and figures["rounds"] == 3
    low, high = figures["ratio_range"]
    assert 0 < low <= figures["ratio"] <= high


def test_validate_and_run_print_notes_about_adjusted_defaults(tmp_path):
    data = small_network()
    data["demarches"] = [{"name": "caf", "share": 1, "service": {"dist": "fixed", "value": 10}}]
    p = tmp_path / "own-catalogue.yaml"
    p.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["validate", str(p)])
    assert res.exit_code == 0, res.output
    assert "note:" in res.output and "default seasonal shifts" in res.output
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "r"), "-q", "--replications", "1"])
    assert res.exit_code == 0, res.output
    assert any("seasonal" in n for n in json.loads((tmp_path / "r" / "manifest.json").read_text())["notes"])

"""Output folders and files: fssim never deletes or overwrites what it did not write (unless --force, which says
what it replaces), refuses a target of the wrong kind, and never leaves partial output under the final name."""
import json

import pytest
from typer.testing import CliRunner

from fssim.cli import app
from fssim.errors import InputError
from fssim.run import check_output, simulate

from conftest import small_network

runner = CliRunner()
TINY = """name: tiny
horizon: {start: 2024-04-01, days: 7}
replications: 1
demand: {visits_per_open_day: 4}
sites: [{id: a, agents: 1}]
"""


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY, encoding="utf-8")
    return p


@pytest.fixture
def users_folder(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.docx").write_text("years of work")
    return d


@pytest.fixture
def run_dir(tmp_path, tiny):
    out = tmp_path / "run"
    assert runner.invoke(app, ["run", str(tiny), "--out", str(out), "-q"]).exit_code == 0
    return out


@pytest.fixture
def report_file(tmp_path, run_dir):
    out = tmp_path / "report.html"
    assert runner.invoke(app, ["report", str(run_dir), "--out", str(out)]).exit_code == 0
    return out


def commands(kind, tiny, target, run_dir=None, report_file=None):
    """Every command that writes, aimed at ``target``."""
    return {
        "run": ["run", str(tiny), "--out", str(target), "-q"],
        "rerun": ["rerun", str(report_file), "--out", str(target)],
        "staffing": ["staffing", str(tiny), "--out", str(target), "--replications", "2", "--workers", "0"],
        "data fetch": ["data", "fetch", "--cache", str(target), "--source", f"x={tiny.as_uri()}"],
    }[kind]


WRITERS = ["run", "rerun", "staffing", "data fetch"]


@pytest.mark.parametrize("kind", WRITERS)
def test_a_users_folder_is_never_touched(kind, tiny, users_folder, run_dir, report_file):
    res = runner.invoke(app, commands(kind, tiny, users_folder, run_dir, report_file))
    assert res.exit_code == 2, res.output
    assert "not written by fssim" in res.output and "thesis.docx" in res.output and "--force" in res.output
    assert sorted(p.name for p in users_folder.iterdir()) == ["thesis.docx"]


@pytest.mark.parametrize("kind", ["run", "rerun"])
def test_force_replaces_and_says_what(kind, tiny, users_folder, run_dir, report_file):
    res = runner.invoke(app, commands(kind, tiny, users_folder, run_dir, report_file) + ["--force"])
    assert res.exit_code == 0, res.output
    assert "replacing" in res.output and "thesis.docx" in res.output
    assert (users_folder / "manifest.json").exists() and not (users_folder / "thesis.docx").exists()


def test_experiment_refuses_a_users_folder(tmp_path, tiny, users_folder):
    exp = tmp_path / "exp.yaml"
    exp.write_text("base: tiny.yaml\nfactors: {\"sites[*].agents\": [1, 2]}\nreplications: 2\n", encoding="utf-8")
    res = runner.invoke(app, ["experiment", str(exp), "--out", str(users_folder), "--workers", "0", "-q"])
    assert res.exit_code == 2 and "not written by fssim" in res.output
    assert sorted(p.name for p in users_folder.iterdir()) == ["thesis.docx"]
    # its own results folder is fssim's: running again (resuming) is accepted
    out = tmp_path / "results"
    for _ in range(2):
        res = runner.invoke(app, ["experiment", str(exp), "--out", str(out), "--workers", "0", "-q"])
        assert res.exit_code == 0, res.output


def test_report_never_overwrites_a_users_file(tmp_path, run_dir, report_file):
    notes = tmp_path / "notes.html"
    notes.write_text("<p>my notes</p>")
    res = runner.invoke(app, ["report", str(run_dir), "--out", str(notes)])
    assert res.exit_code == 2 and "not written by fssim" in res.output
    assert notes.read_text() == "<p>my notes</p>"
    assert runner.invoke(app, ["report", str(run_dir), "--out", str(report_file)]).exit_code == 0  # fssim's own
    res = runner.invoke(app, ["report", str(run_dir), "--out", str(notes), "--force"])
    assert res.exit_code == 0 and "replacing" in res.output
    res = runner.invoke(app, ["report", str(run_dir), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "this is a folder" in res.output


def test_out_that_is_a_file_or_under_a_file(tmp_path, tiny):
    for target, expect in ((tiny, "this is a file, not a folder"), (tiny / "sub", "is a file, so nothing")):
        res = runner.invoke(app, ["run", str(tiny), "--out", str(target), "-q"])
        assert res.exit_code == 2 and expect in res.output, res.output
        assert "Traceback" not in res.output


def test_python_save_follows_the_same_rule(tmp_path, users_folder):
    result = simulate(small_network())
    with pytest.raises(InputError, match="not written by fssim"):
        result.save(users_folder)
    assert result.save(users_folder, force=True) == users_folder
    assert check_output(users_folder) is None  # now an fssim run directory


def test_fssim_folders_and_empty_folders_are_reused(tmp_path, tiny, run_dir, users_folder):
    assert runner.invoke(app, ["run", str(tiny), "--out", str(run_dir), "-q", "--seed", "3"]).exit_code == 0
    assert json.loads((run_dir / "manifest.json").read_text())["seed"] == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(app, ["run", str(tiny), "--out", str(empty), "-q"]).exit_code == 0
    assert runner.invoke(app, ["run", str(tiny), "--out", str(users_folder), "-q"]).exit_code == 2
    # nothing but the folders is left beside them (no .partial, no .old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "mine", "run", "tiny.yaml"]


def test_a_failed_save_leaves_the_previous_run_intact(tmp_path, monkeypatch):
    result = simulate(small_network())
    out = result.save(tmp_path / "run")
    first = (out / "manifest.json").read_text()

    def broken(self, tmp):
        (tmp / "daily.parquet").write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(result), "_write", broken)
    with pytest.raises(InputError, match="No space left"):
        result.save(out)
    assert (out / "manifest.json").read_text() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_calibrate_never_overwrites_a_users_file(tmp_path, monkeypatch):
    """The calibration file follows the same rule: a user's file is refused before any fitting."""
    mine = tmp_path / "calibration.json"
    mine.write_text('{"my": "own notes"}', encoding="utf-8")
    called = []
    monkeypatch.setattr("fssim.demand.calibration.calibrate", lambda *a, **k: called.append(1))
    res = runner.invoke(app, ["calibrate", "--out", str(mine)])
    assert res.exit_code == 2 and "not written by fssim" in res.output, res.output
    assert mine.read_text(encoding="utf-8") == '{"my": "own notes"}' and not called
    from fssim.run import is_fssim_output
    written = tmp_path / "fitted.json"
    written.write_text('{\n  "generator": "fssim calibrate",\n  "parameters": {}\n}\n', encoding="utf-8")
    assert is_fssim_output(written)

"""A staffing search kept in a results folder: every unit saved as it finishes, a rerun on the same folder
replays the finished rounds from disk and simulates only what is missing, with exactly the same result; a
unit of another staffing, seed or target is never reused; the CLI says what it reused and never touches a
folder of someone else's files."""
import shutil

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import fssim.experiment.execute as execute
from fssim.cli import app
from fssim.config import config_from_dict
from fssim.errors import InputError
from fssim.experiment.staffing import StaffingProblem

from conftest import queue_config

runner = CliRunner()
TARGET = "p90_wait_min<=8"
REPS = 3


def three_sites(seed: int = 3) -> dict:
    """Three always-open M/M/c counters in two départements (two shards), over- and understaffed: the search
    takes three rounds (as configured, the Erlang start, one agent fewer)."""
    d = queue_config(agents=1, rate_per_hour=12, service={"dist": "exponential", "mean": 10.0}, patience=None,
                     days=20, warmup_days=1, replications=1, seed=seed)
    d["sites"] = [
        {"id": "a", "always_open": True, "agents": 6, "commune": "08105", "demand": {"multiplier": 1.0}},
        {"id": "b", "always_open": True, "agents": 1, "commune": "08105", "demand": {"multiplier": 0.5}},
        {"id": "c", "always_open": True, "agents": 3, "commune": "51454", "demand": {"multiplier": 2.0}},
    ]
    return d


def solve(store_dir=None, *, seed: int = 3, target: str = TARGET) -> StaffingProblem:
    return StaffingProblem(config_from_dict(three_sites(seed)), target=target, min_agents=1, replications=REPS,
                           store_dir=store_dir).solve()


@pytest.fixture(scope="module")
def plain() -> StaffingProblem:
    """The search without a store: the reference every stored or resumed search must equal."""
    return solve()


@pytest.fixture
def simulated(monkeypatch):
    """Counts the units actually simulated (the executor's run_job, in this process with workers=0); set
    ``fail_at`` to make that call raise KeyboardInterrupt, as Ctrl-C does."""
    calls = {"n": 0, "fail_at": None}
    real = execute.run_job

    def counting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == calls["fail_at"]:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(execute, "run_job", counting)
    return calls


def same_result(a: StaffingProblem, b: StaffingProblem) -> None:
    pd.testing.assert_frame_equal(a.staffing, b.staffing)
    pd.testing.assert_frame_equal(a.rounds, b.rounds)
    pd.testing.assert_frame_equal(a.totals_frame(), b.totals_frame())
    assert a.totals == b.totals


def stored(folder) -> list:
    return sorted((folder / "units").rglob("*.npz"))


def test_the_case_takes_three_rounds_over_two_shards(plain):
    assert plain.totals["rounds"] == 2 and sorted(set(plain.rounds["round"])) == [0, 1, 2]
    assert plain.units == {"total": 3 * 2 * REPS, "computed": 3 * 2 * REPS, "reused": 0}
    assert plain.staffing.set_index("site_id")["agents_after"].to_dict() == {"a": 4, "b": 3, "c": 6}


def test_a_stored_search_equals_the_plain_one_and_a_rerun_replays_it(tmp_path, plain, simulated):
    first = solve(tmp_path / "out")
    same_result(first, plain)
    assert first.units == plain.units and simulated["n"] == 18
    assert len(stored(tmp_path / "out")) == 18  # one file per (round, shard, replication)
    again = solve(tmp_path / "out")
    same_result(again, plain)
    assert again.units == {"total": 18, "computed": 0, "reused": 18} and simulated["n"] == 18  # nothing simulated


def test_an_interrupted_search_resumes_where_it_stopped(tmp_path, plain, simulated):
    """Ctrl-C at the second unit of round 2: rounds 0 and 1 (12 units) and one unit of round 2 are on disk; the
    rerun simulates the 5 missing units only and finds the same staffing, rounds and totals."""
    simulated["fail_at"] = 2 * 2 * REPS + 2
    with pytest.raises(KeyboardInterrupt):
        solve(tmp_path / "out")
    assert len(stored(tmp_path / "out")) == 2 * 2 * REPS + 1
    assert not [p for p in (tmp_path / "out" / "units").rglob("*") if p.is_file() and p.suffix != ".npz"]
    simulated.update(n=0, fail_at=None)
    resumed = solve(tmp_path / "out")
    same_result(resumed, plain)
    assert resumed.units == {"total": 18, "computed": 5, "reused": 13}
    assert simulated["n"] == 5 < 18


def test_a_unit_of_another_staffing_is_never_reused(tmp_path, plain, simulated):
    """Round 2's files replaced by round 1's (same shards, replications, config and search, other agents): their
    keys do not match the candidates of round 2, so round 2 is simulated again, with the same result."""
    solve(tmp_path / "out")
    folders = {p.name.split("-")[0]: p for p in (tmp_path / "out" / "units").iterdir()}
    for f in folders["staffing_round_1"].iterdir():
        shutil.copyfile(f, folders["staffing_round_2"] / f.name)
    simulated["n"] = 0
    again = solve(tmp_path / "out")
    same_result(again, plain)
    assert again.units["computed"] == 2 * REPS == simulated["n"] and again.units["reused"] == 12


@pytest.mark.parametrize("change", ["seed", "target"])
def test_another_seed_or_target_reuses_nothing(tmp_path, simulated, change):
    solve(tmp_path / "out")
    other = solve(tmp_path / "out", **({"seed": 4} if change == "seed" else {"target": "p90_wait_min<=9"}))
    assert other.units["reused"] == 0 and other.units["computed"] == other.units["total"]
    # and it equals the same search without a store
    same_result(other, solve(**({"seed": 4} if change == "seed" else {"target": "p90_wait_min<=9"})))


def test_units_written_by_worker_processes_replay_in_this_process(tmp_path, plain):
    """The key does not depend on where a unit ran: units from 2 local processes are all reused inline."""
    p = StaffingProblem(config_from_dict(three_sites()), target=TARGET, min_agents=1, replications=REPS,
                        store_dir=tmp_path / "out", workers=2).solve()
    same_result(p, plain)
    again = solve(tmp_path / "out")
    same_result(again, plain)
    assert again.units["computed"] == 0


def test_a_folder_of_someone_elses_files_is_refused(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work")
    with pytest.raises(InputError, match="not written by fssim"):
        solve(mine)
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.docx"]


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(three_sites()), encoding="utf-8")
    return path


def staffing(config_file, out):
    return runner.invoke(app, ["staffing", str(config_file), "--out", str(out), "--target", TARGET, "--min-agents",
                               "1", "--replications", str(REPS), "--workers", "0"])


def test_cli_resumes_and_says_how_many_units_it_reused(tmp_path, config_file, plain, simulated):
    out = tmp_path / "out"
    first = staffing(config_file, out)
    assert first.exit_code == 0, first.output
    assert "resumed:" not in first.output
    table = pd.read_parquet(out / "staffing.parquet")
    pd.testing.assert_frame_equal(table, plain.staffing)
    again = staffing(config_file, out)
    assert again.exit_code == 0, again.output
    assert f"resumed: 18 of 18 units from {out / 'units'}" in " ".join(again.output.split())
    pd.testing.assert_frame_equal(pd.read_parquet(out / "staffing.parquet"), table)
    assert simulated["n"] == 18


def test_cli_resumes_an_interrupted_run(tmp_path, config_file, plain, simulated):
    """A run stopped in round 2 leaves units and fssim's mark but no staffing table; the same command on the
    same folder is accepted, simulates the rest only and writes the same table."""
    out = tmp_path / "out"
    simulated["fail_at"] = 2 * 2 * REPS + 2
    stopped = staffing(config_file, out)  # Ctrl-C: click aborts, exit code 130 (1 before click 8.2)
    assert stopped.exit_code in (1, 130), stopped.output
    assert not (out / "staffing.parquet").exists() and len(stored(out)) == 13
    simulated.update(n=0, fail_at=None)
    res = staffing(config_file, out)
    assert res.exit_code == 0, res.output
    assert "resumed: 13 of 18 units" in " ".join(res.output.split()) and simulated["n"] == 5
    pd.testing.assert_frame_equal(pd.read_parquet(out / "staffing.parquet"), plain.staffing)


def test_cli_refuses_a_folder_it_did_not_write(tmp_path, config_file, simulated):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work")
    res = staffing(config_file, mine)
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "not written by fssim" in text and str(mine) in text and "choose a new folder" in text
    assert "Traceback" not in res.output and simulated["n"] == 0
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.docx"]
    assert (mine / "thesis.docx").read_text() == "years of work"

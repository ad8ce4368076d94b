"""Bad command-line arguments: every command (enumerated from the app, so a new one cannot be forgotten) exits
with code 2 and a message, never a traceback, for a bad argument and for an InputError raised inside it."""
import pytest
import typer.main
from typer.testing import CliRunner

from fssim.cli import app
from fssim.errors import InputError

from conftest import REPO

runner = CliRunner()
ONE_SITE = str(REPO / "configs" / "one-site.yaml")
EXPERIMENT = str(REPO / "experiments" / "bus-or-site.yaml")


def leaf_commands(command=None, prefix=()):
    """Every runnable command path, e.g. ('run',), ('bench', 'site')."""
    command = command or typer.main.get_command(app)
    subs = getattr(command, "commands", None)
    if not subs:
        yield prefix
        return
    for name, sub in subs.items():
        yield from leaf_commands(sub, prefix + (name,))


COMMANDS = sorted(leaf_commands())


def fail(*_, **__):
    raise InputError("planted error; the fix", field="x")


# command → arguments that are wrong and the text the message must show (at least one case per command)
BAD_ARGUMENTS = {
    ("run",): (["run", ONE_SITE, "--replications", "0"], "--replications"),
    ("validate",): (["validate"], "Missing argument"),
    ("schema",): (["schema", "extra"], "extra"),
    ("coverage",): (["coverage", ONE_SITE, "--date", "2024-13-01"], "not a date"),
    ("report",): (["report", "--lang"], "--lang"),
    ("rerun",): (["rerun", "--out"], "--out"),
    ("export",): (["export", ".", "--format", "pdf"], "choose xlsx or csv"),
    ("experiment",): (["experiment", EXPERIMENT, "--workers", "-1"], "--workers"),
    ("staffing",): (["staffing", ONE_SITE, "--replications", "1"], "--replications"),
    ("bench", "national"): (["bench", "national", "--workers", "-1"], "--workers"),
    ("bench", "staffing"): (["bench", "staffing", "--replications", "1"], "--replications"),
    ("bench", "site"): (["bench", "site", "--visits", "-3"], "--visits"),
    ("bench", "import"): (["bench", "import", "--runs", "0"], "--runs"),
    ("data", "fetch"): (["data", "fetch", "--source", "no-equal-sign"], "NAME=URL"),
    ("calibrate",): (["calibrate", "--folds", "1"], "--folds"),
    ("explore",): (["explore", ONE_SITE, "--port", "70000"], "--port"),
}
# command → (arguments, the function it calls that is made to raise InputError)
PLANTED = {
    ("run",): (["run", ONE_SITE, "-q"], "fssim.run.simulate"),
    ("validate",): (["validate", ONE_SITE], "fssim.config.load_config"),
    ("schema",): (["schema"], "fssim.config.Config.model_json_schema"),
    ("coverage",): (["coverage", ONE_SITE], "fssim.scenario.network_coverage"),
    ("report",): (["report", "somewhere"], "fssim.report.write_report"),
    ("rerun",): (["rerun", "report.html"], "fssim.report.rerun"),
    ("export",): (["export", "somewhere"], "fssim.report.export.export_run"),
    ("experiment",): (["experiment", EXPERIMENT, "-q"], "fssim.experiment.run_experiment"),
    ("staffing",): (["staffing", ONE_SITE], "fssim.experiment.staffing.StaffingProblem.solve"),
    ("bench", "national"): (["bench", "national"], "fssim.experiment.bench.bench_national"),
    ("bench", "staffing"): (["bench", "staffing"], "fssim.experiment.bench.bench_staffing"),
    ("bench", "site"): (["bench", "site"], "fssim.experiment.bench_site.bench_site"),
    ("bench", "import"): (["bench", "import"], "fssim.experiment.bench_import.bench_import"),
    ("data", "fetch"): (["data", "fetch"], "fssim.sources.fetch.fetch"),
    ("calibrate",): (["calibrate", "--out", "cal.json"], "fssim.demand.calibration.calibrate"),
    ("explore",): (["explore", ONE_SITE, "--no-browser"], "fssim.explore.start"),
}
# numbers and addresses that used to run (for ever, or into a traceback) instead of being refused
NEW_CASES = [
    (["run", ONE_SITE, "--seed", "-1"], "--seed"),
    (["run", ONE_SITE, "--replications", "1000000000"], "--replications"),
    (["validate", "."], "folder, not a file"),
    (["experiment", EXPERIMENT, "--workers", "100000"], "--workers"),
    (["experiment", EXPERIMENT, "--scheduler", "garbage"], "not a Dask scheduler address"),
    (["experiment", EXPERIMENT, "--scheduler", "tcp://host:notaport"], "tcp://HOST:PORT"),
    (["staffing", ONE_SITE, "--min-agents", "5", "--max-agents", "3"], "--min-agents"),
    (["staffing", ONE_SITE, "--scheduler", "tcp://:8786"], "not a Dask scheduler address"),
    (["staffing", ONE_SITE, "--cost-per-agent-year", "-5"], "--cost-per-agent-year"),
    (["data", "fetch", "--timeout", "0"], "--timeout"),
    (["explore", ONE_SITE, "--lang", "de", "--no-browser"], "de"),
]


def exits_2(args, expect) -> str | None:
    """None if the command exits with 2, shows ``expect`` and no traceback; else what went wrong."""
    res = runner.invoke(app, args)
    if res.exit_code != 2 or "Traceback" in res.output or expect not in res.output:
        return f"{' '.join(args)}: exit {res.exit_code}, {res.exception!r}, output {res.output[-300:]!r}"
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return f"{' '.join(args)}: {res.exception!r}"
    return None


def test_every_command_maps_bad_arguments_and_input_errors_to_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert set(COMMANDS) == set(BAD_ARGUMENTS) == set(PLANTED), "give every command its bad-input cases"
    problems = []
    for command in COMMANDS:
        problems.append(exits_2([*command, "--no-such-option"], "No such option"))
        problems.append(exits_2(*BAD_ARGUMENTS[command]))
        args, target = PLANTED[command]
        with monkeypatch.context() as m:
            m.setattr(target, fail)
            problems.append(exits_2(args, "planted error; the fix"))
    assert [p for p in problems if p] == []


@pytest.mark.parametrize("args, expect", NEW_CASES, ids=lambda x: " ".join(x[2:] if x[0] != "validate" else x)
                         if isinstance(x, list) else None)
def test_bad_argument_exits_2_with_a_message(args, expect, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert exits_2(args, expect) is None


def test_error_without_a_file_names_the_command_input(tmp_path, monkeypatch):
    monkeypatch.setattr("fssim.scenario.network_coverage", fail)
    res = runner.invoke(app, ["coverage", ONE_SITE])
    assert res.exit_code == 2 and "one-site.yaml: x: planted error" in res.output, res.output

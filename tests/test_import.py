"""``import fssim`` and ``fssim --help`` stay light: the heavy libraries load only when a command or a public
name needs them (``fssim/__init__.py`` resolves its names on first use). What is checked is which modules a
fresh process has loaded, not seconds: ``fssim bench import`` prints the times."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import typer.main

import fssim
from fssim.cli import app

from conftest import REPO

#: what neither ``import fssim`` nor ``fssim --help`` may load (seconds of start-up between them)
HEAVY = ("pandas", "numpy", "simpy", "scipy", "plotly", "pyarrow", "yaml")
#: ``import fssim`` does not load pydantic either (typer itself loads it to render a command's options)
HEAVY_FOR_IMPORT = HEAVY + ("pydantic",)


def python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120)


def loaded_after(code: str, *args: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    done = python(f"{code}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))",
                  *args)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_fssim_loads_no_heavy_library():
    loaded = loaded_after("import fssim; fssim.__version__; dir(fssim)")
    assert "fssim" in loaded
    assert loaded.isdisjoint(HEAVY_FOR_IMPORT), sorted(loaded & set(HEAVY_FOR_IMPORT))


def test_a_public_name_loads_what_it_needs_on_first_use():
    loaded = loaded_after("import fssim; fssim.simulate")
    assert {"pandas", "numpy", "pydantic"} <= loaded  # the lazy names are really the models and tables
    assert loaded_after("from fssim import Config") >= {"pydantic"}


def help_run(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """``fssim ARGS --help`` in a fresh process, as the console script runs it: its output and loaded packages."""
    code = ("import sys\nsys.argv = ['fssim', *sys.argv[1:]]\nfrom fssim.cli import app\n"
            "try:\n    app()\nexcept SystemExit as e:\n    code = e.code\n"
            "import json\nprint('EXIT', code)\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = python(code, *args, "--help")
    assert done.returncode == 0, done.stderr
    *text, exit_line, modules = done.stdout.splitlines()
    assert exit_line == "EXIT 0", done.stdout[-500:]
    return "\n".join(text), set(json.loads(modules))


def test_fssim_help_lists_every_command_without_heavy_libraries():
    text, loaded = help_run()
    commands = typer.main.get_command(app).commands
    assert len(commands) >= 10
    missing = [name for name in commands if name not in text]
    assert missing == [], missing
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_help_loads_no_heavy_library():
    for args in (["run"], ["staffing"], ["bench", "import"]):
        text, loaded = help_run(*args)
        assert "--help" in text and "Usage" in text, text
        assert loaded.isdisjoint(HEAVY), (args, sorted(loaded & set(HEAVY)))


def test_the_console_script_module_exits_0_on_help():
    done = subprocess.run([sys.executable, "-m", "fssim.cli", "--help"], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "calibrate" in done.stdout and "bench" in done.stdout  # every command, even those declared last


def test_lazy_names_are_the_modules_objects():
    from fssim.config import Config, load_config
    from fssim.run import RunResult, load_run, simulate

    assert (fssim.Config, fssim.load_config, fssim.RunResult, fssim.load_run, fssim.simulate) == \
        (Config, load_config, RunResult, load_run, simulate)
    assert set(fssim.__all__) <= set(dir(fssim))
    assert fssim.config.load_config is load_config  # a subpackage after a bare `import fssim`, as before
    try:
        fssim.no_such_name
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("fssim.no_such_name did not raise AttributeError")


def test_simulate_after_a_bare_import_in_a_fresh_process():
    done = python("import fssim\nr = fssim.simulate({'name': 'x', 'horizon': {'start': '2024-03-04', 'days': 3},"
                  " 'seed': 1, 'demand': {'visits_per_open_day': 5}, 'sites': [{'id': 's', 'agents': 2}]})\n"
                  "print(len(r.visits) > 0, type(r).__name__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "RunResult"]

"""The package's layout: rooms by stage, few top-level modules, no import cycle between modules."""
import ast
from pathlib import Path

from conftest import REPO

PKG = REPO / "fssim"
STAGES = ("sources", "geo", "network", "demand", "engine", "metrics", "experiment", "report")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, known: set[str], *, inside_functions: bool = False) -> set[str]:
    """fssim modules imported at module level (imports inside functions are lazy and may point back), or
    anywhere in the module with `inside_functions`."""
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in (ast.walk(tree) if inside_functions else tree.body):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fssim"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
    return out


def graph(inside_functions: bool = False) -> dict[str, set[str]]:
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    known = set(files)
    return {m: {d for d in top_level_imports(p, known, inside_functions=inside_functions) if d in known and d != m}
            for m, p in files.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `g` (a package importing its own modules does not count), or None."""
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(g[m]):
            if d.startswith(m + "."):
                continue
            if state.get(d) == 1:
                return path + [m, d]
            if d not in state:
                found = visit(d, path + [m])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state:
            found = visit(m, [])
            if found:
                return found
    return None


def test_each_stage_is_a_subpackage_and_the_top_level_keeps_a_few_modules():
    for stage in STAGES:
        assert (PKG / stage / "__init__.py").exists(), stage
        assert ast.get_docstring(ast.parse((PKG / stage / "__init__.py").read_text())), f"{stage}: say what enters and leaves"
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 10, top


def test_no_import_cycle_between_modules():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_network_modules_do_not_point_back_even_inside_functions():
    """Within fssim.network no cycle even through imports inside functions: the rotation design writes its buses
    with fssim.network.buses, imported at module level, and buses needs nothing from rotation."""
    g = graph(inside_functions=True)
    network = {m: {d for d in deps if d.startswith("fssim.network.")} for m, deps in g.items()
               if m.startswith("fssim.network.")}
    cycle = find_cycle(network)
    assert cycle is None, "import cycle: " + " → ".join(cycle)
    assert "fssim.network.buses" in graph()["fssim.network.rotation"]


MAX_LINES = 520


def test_no_module_is_over_the_line_limit():
    lines = {p.relative_to(REPO).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in PKG.rglob("*.py")}
    over = {p: n for p, n in lines.items() if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}; split them into modules of one idea each"


def test_simpy_runs_the_model_only_in_the_engine():
    users = {module_name(p) for p in PKG.rglob("*.py") if "import simpy" in p.read_text(encoding="utf-8")}
    # the site benchmark's idiomatic SimPy baseline is the one exception, by design
    assert {u for u in users if not u.startswith("fssim.engine")} <= {"fssim.experiment.bench_site"}, users


def test_the_clock_vocabulary_is_defined_once():
    """Weekdays, minutes per day and HH:MM formatting live in fssim.clock only."""
    import re
    texts = {p: p.read_text(encoding="utf-8") for p in PKG.rglob("*.py") if p.name != "clock.py"}
    weekdays = [p for p, t in texts.items() if '"mon", "tue", "wed"' in t and "Literal[" not in t]
    assert not weekdays, weekdays
    hhmm = [p for p, t in texts.items() if re.search(r"// 60:02d\}:\{", t)]
    assert not hhmm, hhmm
    day = [p for p, t in texts.items() if re.search(r"^DAY = 1440", t, re.M)]
    assert not day, day


def sources_containing(pattern: str) -> list[str]:
    import re
    return sorted(module_name(p) for p in PKG.rglob("*.py") if re.search(pattern, p.read_text(encoding="utf-8")))


def test_one_student_t_summary_and_one_sharder():
    """The Student-t summary across replications and the grouping of sites into shards each have one home."""
    assert sources_containing(r'agg\(mean="mean", std="std", n="count"\)') == ["fssim.metrics.intervals"]
    assert sources_containing(r"^def shards_of\(|^def shard_key\(|    def shards\(") == ["fssim.scenario"]


def test_one_density_to_agents_rule():
    """Agents by density class come from AgentsByDensity.of only (unknown or missing class: peu_dense)."""
    from fssim.config.network import AgentsByDensity
    rule = AgentsByDensity(dense=5, peu_dense=3)
    assert [rule.of(c) for c in ("dense", "tres_peu_dense", None, float("nan"), "unknown")] == [5, 2, 3, 3, 3]
    assert sources_containing(r"agents\.model_dump\(\)") == []

"""Command line: a thin layer over the Python API (``fssim.simulate`` and friends).

Bad input exits with code 2 and a message naming the file, the field and the fix.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from fssim.limits import MAX_REPLICATIONS
from fssim.defaults import AGENT_COST_EUR
from fssim.errors import InputError

#: more local worker processes than this is a typo, not a machine
MAX_WORKERS = 512

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="fssim: simulate the France services network (sites, agents, démarches, coverage).")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures.")
app.add_typer(bench_app, name="bench")
data_app = typer.Typer(no_args_is_help=True, help="Reference data: download the official sources.")
app.add_typer(data_app, name="data")
err = Console(stderr=True)
out = Console()


FORCE_HELP = "replace the output even if fssim did not write it (what it replaces is printed)"


@contextmanager
def user_errors(file: Path | str | None = None):
    """Turn InputError (and a failing disk or network: OSError) into a clear message and exit code 2, never a
    traceback; an error that names no file gets ``file``, the input the command was given."""
    try:
        yield
    except InputError as e:
        if file is not None and not e.file:
            from fssim.run import with_file
            e = with_file(e, str(file))
        _fail(str(e))
    except OSError as e:
        where = f"{e.filename}: " if e.filename else (f"{file}: " if file else "")
        _fail(f"{where}{e.strerror or e}; check the path, its permissions and the free space (or the network)")


def _fail(message: str):
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _say(note: str | None) -> None:
    """A note or warning for the user, on stderr (never mixed with --json output)."""
    if note:
        err.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)


class _Counter(ProgressColumn):
    """'12/40 shards': the phase's counter with its unit; nothing for a phase without one."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        if not task.total:
            return Text("")
        return Text(f"{int(task.completed):,}/{int(task.total):,} {self.unit}", style="progress.download")


@contextmanager
def progress_bar(enabled: bool = True, unit: str = "units"):
    """A rich progress bar with labelled phases, a counter in ``unit`` and an estimated time remaining; yields a
    callback (done, total, label): ``total`` 0 for a phase without a counter (the bar then pulses)."""
    if not enabled:
        yield None
        return
    cols = [TextColumn("{task.description}"), BarColumn(bar_width=30), _Counter(unit), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*cols, console=err, transient=False) as p:
        task = p.add_task("starting", total=None)

        counted = [0]  # the last phase's total: the final line says how many units were done

        def update(done: int, total: int, label: str) -> None:
            p.update(task, completed=done, description=label)
            p.tasks[0].total = total or None  # (update cannot unset a total)
            counted[0] = total or counted[0]

        yield update
        p.tasks[0].total = p.tasks[0].completed = counted[0] or None
        p.update(task, description="done")


#: network KPIs ``fssim run`` prints (every KPI is in summary.parquet), with any KPI a target names
RUN_KPIS = ("arrivals", "served", "mean_wait_min", "median_wait_min", "p90_wait_min", "share_wait_over_threshold",
            "abandonment_rate", "sent_home_rate", "no_show_rate", "mean_booking_lead_days", "no_slot_share",
            "utilisation", "visits_per_open_day", "absence_closure_days", "station_utilisation", "visio_utilisation")
# (a booking calendar's KPIs only when a site has one, absence closures only in runs with agent absences, the
# stations' and visio room's only at sites with them)


@app.command()
def run(
    config: Path = typer.Argument(..., help="scenario YAML file (see configs/)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="run directory (default: runs/<scenario name>)"),
    seed: Optional[int] = typer.Option(None, min=0, help="override the config's seed"),
    replications: Optional[int] = typer.Option(None, min=1, max=MAX_REPLICATIONS,
                                               help="override the config's replications"),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, max=MAX_WORKERS,
                                          help="local worker processes (default: one per CPU for a big run; "
                                               "0 = this process); results are the same whatever N"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler tcp://HOST:PORT"),
    lang: Optional[str] = typer.Option(None, "--lang", help="fr or en: KPI labels and numbers (default: from "
                                                            "the locale, LANG)"),
    report: bool = typer.Option(False, "--report", help="also write report.html in the run directory"),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar, no table"),
):
    """Simulate a scenario and write its run directory (Parquet tables, resolved config, manifest)."""
    from fssim.config import load_config
    from fssim.experiment.design import scheduler_address
    from fssim.run import check_output, simulate

    with user_errors(config):
        scheduler = scheduler_address(scheduler)
        from fssim.report.i18n import check_lang
        if lang is not None:
            check_lang(lang)  # a typo is refused before simulating, not after
        cfg = load_config(config)
        for n in cfg.notes:
            _say(n)
        target = out_dir or Path("runs") / cfg.name
        _say(check_output(target, force=force))  # before simulating: refuse early, not after an hour
        with progress_bar(not quiet, unit="shards") as cb:
            result = simulate(cfg, seed=seed, replications=replications, progress=cb, workers=workers,
                              scheduler=scheduler)
            result.manifest["command"] = "fssim " + " ".join(sys.argv[1:])
            if cb:
                cb(0, 0, "writing the run directory")
            target = result.save(target, force=force)
            if report:
                from fssim.report import write_report
                if cb:
                    cb(0, 0, "writing the report")
                write_report(target, target / "report.html", lang=lang or "fr")
    if not quiet:
        from fssim.report.terminal import channel_table, kpi_table, site_target_lines, terminal_lang
        shown = terminal_lang(lang)
        out.print(kpi_table(result.summary, result.config, RUN_KPIS, lang=shown))
        by_channel = channel_table(result.summary, result.config, lang=shown)
        if by_channel is not None:
            out.print(by_channel)
        for line in site_target_lines(result.summary, result.config, lang=shown):
            out.print(line)
    if report:
        out.print(f"report written to [bold]{escape(str(target / 'report.html'))}[/]", highlight=False, soft_wrap=True)
    out.print(f"run written to [bold]{escape(str(target))}[/] ({len(result.visits):,} visits)", highlight=False,
              soft_wrap=True)


@app.command()
def validate(config: Path = typer.Argument(..., help="scenario YAML file")):
    """Check a scenario file without running it."""
    from fssim.config import load_config

    from fssim.geo.travel import check_matrix_file

    with user_errors(config):
        cfg = load_config(config)
        check_matrix_file(cfg)  # a missing or malformed travel matrix is caught here, not at run time
    for n in cfg.notes:
        _say(n)
    network = f", network from {cfg.network.source}" if cfg.network else ""
    out.print(f"{config}: valid ({len(cfg.sites)} sites listed{network}, {len(cfg.buses)} buses, "
              f"{len(cfg.demarches)} démarches, {cfg.horizon.days} days from {cfg.horizon.start})")


@app.command()
def schema():
    """Print the JSON schema of scenario files (every field, default and description)."""
    from fssim.config import Config

    with user_errors():
        schema_json = json.dumps(Config.model_json_schema())
    out.print_json(schema_json)


@app.command()
def coverage(
    config: Path = typer.Argument(..., help="scenario YAML file"),
    date: Optional[str] = typer.Option(None, help="date of the rollout calendar (YYYY-MM-DD); default: end of horizon"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON line"),
):
    """Population within 10, 20, 30 minutes of a site, and cantons with a site, for a network on a date."""
    import datetime as dt

    from fssim.config import load_config
    from fssim.scenario import network_coverage

    with user_errors(config):
        cfg = load_config(config)
        day = None
        if date:
            try:
                day = dt.date.fromisoformat(date)
            except ValueError:
                raise InputError(f"--date {date!r} is not a date; write YYYY-MM-DD") from None
        cov = network_coverage(cfg, day)
    if as_json:
        print(cov.to_json_line())
        return
    out.print(_coverage_table(cfg.name, cov))
    for n in cov.notes:
        err.print(f"note: {n}", highlight=False)


def _coverage_table(name: str, cov) -> Table:
    """The coverage figures as a table; with buses (fssim.geo.bus_coverage), the stops and who only they reach."""
    t = Table(title=f"{name}: coverage on {cov.date.date() if cov.date is not None else 'all dates'}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("sites open", f"{len(cov.sites):,}")
    buses = getattr(cov, "n_buses", None)
    if buses is not None:
        t.add_row("buses running", f"{buses:,} ({len(cov.stops):,} stop places)")
    t.add_row("population", f"{cov.population_total:,}")
    for th, share in cov.share_within.items():
        t.add_row(f"share within {th} min" + (" (site or stop)" if buses is not None else ""), f"{share:.1%}")
        if buses is not None:
            t.add_row(f"  only by bus within {th} min", f"{cov.population_only_bus[th]:,}")
    t.add_row("cantons with a site", f"{cov.cantons_with_site:,} / {cov.cantons_total:,}")
    if buses is not None:
        t.add_row("cantons reached only by bus", f"{len(cov.cantons_only_bus):,}")
    if cov.pseudo_cantons_total:
        t.add_row("pseudo-cantons with a site (communes outside any canton)",
                  f"{cov.pseudo_cantons_with_site:,} / {cov.pseudo_cantons_total:,}")
    t.add_row(f"communes beyond {max(cov.thresholds)} min", f"{len(cov.beyond):,}")
    return t


@data_app.command("fetch")
def data_fetch(cache: Path = typer.Option(Path(".fssim-cache"), help="folder where downloads are kept"),
               timeout: float = typer.Option(30.0, min=0.1, max=3600, help="seconds per download"),
               source: Optional[list[str]] = typer.Option(
                   None, "--source", help="NAME=URL to fetch instead of the official sources (repeatable)"),
               force: bool = typer.Option(False, "--force", help=FORCE_HELP)):
    """Download the current official site list and the territory sources into a cache, with checksums."""
    from fssim.sources.fetch import fetch
    from fssim.run import claim_output_dir

    with user_errors(cache):
        _say(claim_output_dir(cache, force=force, kind="data cache"))
        sources = None
        if source:
            bad = [s for s in source if "=" not in s]
            if bad:
                raise InputError(f"--source {bad[0]!r}: write NAME=URL, e.g. liste=https://…/liste.csv")
            sources = dict(s.split("=", 1) for s in source)
        table = fetch(cache, sources, timeout=timeout)
    t = Table(title=f"fetched into {cache}")
    for c in ("name", "status", "bytes", "sha256"):
        t.add_column(c)
    for r in table.itertuples(index=False):
        t.add_row(r.name, r.status, f"{r.bytes:,}", r.sha256[:16] + "…")
    out.print(t)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="run directory written by `fssim run`"),
           out_file: Optional[Path] = typer.Option(None, "--out", help="HTML file (default: RUN_DIR/report.html)"),
           lang: str = typer.Option("fr", help="fr or en"),
           day_site: Optional[str] = typer.Option(None, "--day-site", help="show a day at this site (animated queue "
                                                  "and agents; automatic for a run of one site)"),
           day: Optional[str] = typer.Option(None, "--day", help="that day, YYYY-MM-DD (default: the site's "
                                             "busiest day of the first replication)"),
           force: bool = typer.Option(False, "--force", help=FORCE_HELP)):
    """Write a self-contained HTML report of a run (opens offline)."""
    from fssim.report import write_report
    from fssim.run import check_output

    with user_errors(run_dir):
        target = out_file if out_file is not None else run_dir / "report.html"
        _say(check_output(target, force=force, kind="file"))
        path = write_report(run_dir, target, lang=lang, day_site=day_site, day=day)
    out.print(f"report written to [bold]{path}[/]", highlight=False)


@app.command()
def export(run_dir: Path = typer.Argument(..., help="run directory written by `fssim run` (or `fssim experiment`)"),
           fmt: str = typer.Option("xlsx", "--format", help="xlsx (one sheet per level) or csv (one file per level)"),
           out_path: Optional[Path] = typer.Option(None, "--out",
                                                   help="file or folder (default: RUN_DIR/export.xlsx or RUN_DIR/export-csv)"),
           lang: str = typer.Option("fr", help="fr or en: headers, and for csv ';' and decimal comma (fr)"),
           force: bool = typer.Option(False, "--force", help=FORCE_HELP)):
    """The run's KPI tables (mean and 95 % interval) by level, for a spreadsheet: network, régions, départements,
    cantons, sites, stops, démarches, months, weekdays, hours, phases."""
    from fssim.report.export import check_target, default_out, export_run

    with user_errors(run_dir):
        if fmt not in ("xlsx", "csv"):
            raise InputError(f"unknown format {fmt!r}; choose xlsx or csv", field="--format")
        target = out_path if out_path is not None else default_out(run_dir, fmt)
        _say(check_target(target, fmt, force=force, run_dir=run_dir))
        path = export_run(run_dir, fmt, target, lang=lang, force=force)
    out.print(f"export written to [bold]{escape(str(path))}[/]", highlight=False)


@app.command()
def rerun(report_file: Path = typer.Argument(..., help="an HTML report written by fssim"),
          out_dir: Path = typer.Option(Path("runs/rerun"), "--out", help="run directory to write"),
          force: bool = typer.Option(False, "--force", help=FORCE_HELP)):
    """Redo the run embedded in a report (same config, same seed, same numbers)."""
    from fssim.report import rerun as rerun_report
    from fssim.run import allow_replacing, check_output

    with user_errors(report_file):
        _say(check_output(out_dir, force=force))
        with allow_replacing(out_dir if force else None):
            result = rerun_report(report_file, out_dir)
    out.print(f"rerun written to [bold]{out_dir}[/] ({len(result.visits):,} visits)", highlight=False)


@app.command()
def experiment(
    file: Path = typer.Argument(..., help="experiment YAML file (see experiments/)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="results directory (default: runs/<experiment name>)"),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, max=MAX_WORKERS,
                                          help="local worker processes (default: one per CPU; 0 = this process)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786"),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Run an experiment: scenarios × replications, common random numbers, intervals, paired differences (resumable)."""
    from fssim.experiment import load_experiment, run_experiment
    from fssim.experiment.commands import differences_table, experiment_table
    from fssim.experiment.design import scheduler_address
    from fssim.run import claim_output_dir

    with user_errors(file):
        scheduler = scheduler_address(scheduler)
        exp = load_experiment(file)
        target = out_dir or Path("runs") / exp.name
        _say(claim_output_dir(target, force=force, kind="experiment"))  # a resumed experiment is fssim's
        with progress_bar(not quiet) as cb:
            res = run_experiment(exp, target, workers=workers, scheduler=scheduler, progress=cb)
    if not quiet:
        out.print(experiment_table(res))
        out.print(differences_table(res))
    u = res.manifest["units"]
    out.print(f"results written to [bold]{res.path}[/] ({u['computed']} units computed, {u['reused']} reused)",
              highlight=False)


@app.command()
def staffing(
    config: Path = typer.Argument(..., help="scenario YAML file"),
    target: Optional[list[str]] = typer.Option(None, "--target",
                                               help="KPI<=VALUE, repeatable (default: the config's targets)"),
    per_interval: bool = typer.Option(False, "--per-interval", help="a staffing per opening interval"),
    replications: int = typer.Option(5, min=2, max=MAX_REPLICATIONS),
    confidence: float = typer.Option(0.95, min=0.5, max=0.999),
    min_agents: int = typer.Option(2, min=1, max=1000, help="the label requires 2"),
    max_agents: int = typer.Option(12, min=1, max=1000),
    cost: float = typer.Option(AGENT_COST_EUR, "--cost-per-agent-year", min=0, help="[E] euros per agent and year"),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, max=MAX_WORKERS),
    scheduler: Optional[str] = typer.Option(None, "--scheduler"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="folder (default: runs/NAME-staffing), resumable"),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
):
    """Smallest staffing per site (or per opening interval) meeting the wait targets: Erlang C, then simulation."""
    from fssim.config import load_config
    from fssim.experiment.commands import resumed_line, staffing_table
    from fssim.experiment.staffing import StaffingProblem
    from fssim.experiment.design import scheduler_address
    from fssim.run import claim_output_dir

    with user_errors(config):
        scheduler = scheduler_address(scheduler)
        if min_agents > max_agents:
            raise InputError(f"--min-agents {min_agents} is above --max-agents {max_agents}; raise --max-agents",
                             field="--min-agents")
        cfg = load_config(config)
        target_dir = out_dir or Path("runs") / f"{cfg.name}-staffing"
        _say(claim_output_dir(target_dir, force=force, kind="staffing"))
        problem = StaffingProblem(cfg, target=list(target or []), per_interval=per_interval, replications=replications,
                                  confidence=confidence, min_agents=min_agents, max_agents=max_agents, store_dir=target_dir,
                                  cost_per_agent_year=cost, workers=workers, scheduler=scheduler).solve()
        target_dir = problem.save(target_dir)
    out.print(staffing_table(problem))
    if problem.units["reused"]:
        out.print(resumed_line(problem), highlight=False, soft_wrap=True)
    out.print(f"staffing written to [bold]{target_dir}[/]", highlight=False)


@bench_app.command("national")
def bench_national_cmd(as_json: bool = typer.Option(False, "--json", help="print one JSON line"),
                       workers: int = typer.Option(2, "--workers", min=0, help="local processes (0 = this process)"),
                       scale: float = typer.Option(1.0, "--scale", min=0.01, help="multiply the demand (2 = doubled)"),
                       config: Optional[Path] = typer.Option(
                           None, "--config", help="scenario YAML to run instead of the national workload"),
                       departements: Optional[str] = typer.Option(
                           None, "--departements", help="only these départements, comma-separated (e.g. 08,2A)")):
    """One replication of the national year (≈ 10 million visits) on N workers."""
    from fssim.experiment.bench import bench_national
    from fssim.experiment.commands import bench_text

    deps = [d.strip() for d in departements.split(",") if d.strip()] if departements else None
    with user_errors():
        res = bench_national(workers=workers, scale=scale, config_path=config, departements=deps)
    if as_json:
        print(json.dumps(res))
    else:
        out.print(bench_text(res), highlight=False)


@bench_app.command("staffing")
def bench_staffing_cmd(workers: int = typer.Option(2, "--workers", min=0, help="local processes (0 = this process)"),
                       replications: int = typer.Option(2, min=2, max=MAX_REPLICATIONS),
                       departements: Optional[str] = typer.Option(None, "--departements", help="as for national")):
    """National staffing by simulation (target p90 wait ≤ 15 min; Erlang C, then rounds of simulation)."""
    from fssim.experiment.bench import bench_staffing

    with user_errors():
        deps = [d.strip() for d in departements.split(",") if d.strip()] if departements else None
        print(json.dumps(bench_staffing(workers=workers, replications=replications, departements=deps)))


@bench_app.command("site")
def bench_site_cmd(as_json: bool = typer.Option(False, "--json", help="print one JSON line"),
                   visits: int = typer.Option(100_000, min=1000, help="at least this many visits")):
    """Visits per second of the full site model against an idiomatic SimPy M/M/c baseline."""
    from fssim.experiment.bench_site import bench_site

    with user_errors():
        res = bench_site(visits)
    if as_json:
        print(json.dumps(res))
    else:
        out.print(f"full model: {res['visits_per_s']:,.0f} visits/s; idiomatic SimPy M/M/c: "
                  f"{res['baseline_visits_per_s']:,.0f} visits/s; ratio {res['ratio']:.2f} "
                  f"({res['visits']:,} visits)")


@bench_app.command("import")
def bench_import_cmd(runs: int = typer.Option(5, "--runs", min=1, max=100, help="fresh processes timed for each")):
    """Seconds of `import fssim` and `fssim --help` in fresh processes (median), the slowest imports: JSON."""
    from fssim.experiment.bench_import import bench_import

    with user_errors():
        print(json.dumps(bench_import(runs), ensure_ascii=False))


def main():  # pragma: no cover
    app()


@app.command()
def explore(
    config: Path = typer.Argument(..., help="scenario YAML file: the baseline (one site, sites or a network)"),
    port: int = typer.Option(8050, "--port", min=0, max=65535, help="port of the local web page (0: a free one)"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to serve on (127.0.0.1: this machine only)"),
    out_dir: Path = typer.Option(Path("runs/explore"), "--out", help="folder for the runs, scenarios and reports"),
    lang: str = typer.Option("fr", "--lang", help="fr or en"),
    no_browser: bool = typer.Option(False, "--no-browser", help="do not open the page in a browser"),
):
    """An interactive what-if explorer in the browser: levers, results beside the baseline, save YAML/report."""
    from fssim.explore import start

    with user_errors(config):
        server = start(config, out=out_dir, host=host, port=port, lang=lang)
    out.print(f"explorer of {config} at [bold]{server.url}[/] (Ctrl+C to stop)", highlight=False)
    if not no_browser:
        import webbrowser
        webbrowser.open(server.url)
    import signal

    def _interrupt(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl+C does: the server closes its port
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
        out.print("explorer stopped")


@app.command()
def calibrate(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder of the Baromètre and ANCT files"),
    out_file: Path = typer.Option(Path("calibration.json"), "--out", help="calibration file to write (JSON)"),
    folds: int = typer.Option(5, "--folds", min=2, max=50, help="folds of the cross-validation over départements"),
    force: bool = typer.Option(False, "--force", help="replace an existing file that fssim did not write"),
):
    """Fit demand per inhabitant to the observed monthly actes by département (Baromètre IND-323)."""
    from fssim.demand.calibration import calibrate as solve_calibration
    from fssim.demand.calibration import fit_table
    from fssim.run import check_output

    with user_errors():
        _say(check_output(out_file, force=force, kind="file"))
        problem = solve_calibration(data_dir, folds=folds)
        path = problem.save(out_file)
    for table in fit_table(problem):
        out.print(table)
    out.print(f"calibration written to [bold]{path}[/]", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    main()

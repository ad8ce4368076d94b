"""Reproducible HTML reports of a run directory.

``write_report(run_dir)`` writes one self-contained HTML file (French by default, ``lang="en"`` for
English) that opens offline and embeds the run's resolved config and manifest; ``rerun(report, out_dir)``
redoes that run from the report alone. ``evaluate_targets(summary, targets)`` judges the config's targets
on the 95 % confidence intervals (also used by the CLI). ``export.export_run(run_dir, "xlsx"|"csv")`` writes the
KPI tables by level for a spreadsheet (``fssim.export``); ``terminal`` is what ``fssim run`` prints.
"""
from fssim.report.build import SECTIONS, render_report, write_report
from fssim.report.provenance import read_embedded, rerun
from fssim.report.rundata import RunData, load_run_dir
from fssim.report.targets import evaluate_targets

__all__ = ["SECTIONS", "RunData", "evaluate_targets", "load_run_dir", "read_embedded", "render_report", "rerun",
           "write_report"]

"""fssim — a discrete-event simulator of the France services network.

The Python API is the product; the ``fssim`` command line is a thin layer over it. A scenario is a YAML
file of ``configs/`` or the same mapping in Python; every value not given takes its sourced default:

>>> import fssim
>>> result = fssim.simulate({"name": "essai", "horizon": {"start": "2024-03-04", "days": 14}, "seed": 1,
...                          "replications": 2, "demand": {"visits_per_open_day": 20},
...                          "sites": [{"id": "fs-1", "name": "France services d'essai", "agents": 2}]})
>>> kpis = result.network()          # one row per KPI: mean and 95 % interval across replications
>>> bool(kpis.loc["served", "mean"] <= kpis.loc["arrivals", "mean"])
True
>>> set(result.visits["outcome"].cat.categories) >= {"served", "gave_up", "sent_home"}
True

The same call with the same seed gives the same tables (whatever the number of worker processes):

>>> again = fssim.simulate(result.config)
>>> again.summary.equals(result.summary)
True

``result.save(folder)`` writes the run directory that ``fssim report`` and ``fssim export`` read;
:func:`load_run` reads it back and :func:`export` writes its KPI tables for a spreadsheet.
"""

__version__ = "0.1.0"

from fssim.config import Config, load_config  # noqa: E402
from fssim.run import RunResult, load_run, simulate  # noqa: E402



def export(run_dir, format: str = "xlsx", out=None, *, lang: str = "fr", force: bool = False):
    """A run's KPI tables as an Excel workbook or CSV files (see :func:`fssim.report.export.export_run`)."""
    from fssim.report.export import export_run

    return export_run(run_dir, format, out, lang=lang, force=force)


__all__ = ["Config", "RunResult", "export", "load_config", "load_run", "simulate", "__version__"]

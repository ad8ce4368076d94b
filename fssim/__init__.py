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

from importlib import import_module as _import_module  # noqa: E402
from importlib.util import find_spec as _find_spec  # noqa: E402
from typing import TYPE_CHECKING as _TYPE_CHECKING  # noqa: E402

if _TYPE_CHECKING:  # what editors and type checkers see
    from fssim.config import Config, load_config  # noqa: F401
    from fssim.run import RunResult, load_run, simulate  # noqa: F401

#: the public names and the module each comes from, imported on first use (PEP 562) so that ``import fssim``
#: and ``fssim --help`` stay fast: pydantic, pandas, SimPy and SciPy load only when a name is used
_LAZY = {"Config": "fssim.config", "load_config": "fssim.config",
         "RunResult": "fssim.run", "load_run": "fssim.run", "simulate": "fssim.run"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_import_module(_LAZY[name]), name)
    elif not name.startswith("__") and _find_spec(f"{__name__}.{name}") is not None:
        value = _import_module(f"{__name__}.{name}")  # ``fssim.config`` after a bare ``import fssim``
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next use is a plain attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def export(run_dir, format: str = "xlsx", out=None, *, lang: str = "fr", force: bool = False):
    """A run's KPI tables as an Excel workbook or CSV files (see :func:`fssim.report.export.export_run`)."""
    from fssim.report.export import export_run

    return export_run(run_dir, format, out, lang=lang, force=force)


__all__ = ["Config", "RunResult", "export", "load_config", "load_run", "simulate", "__version__"]

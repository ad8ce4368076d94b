"""fssim — a discrete-event simulator of the France services network.

The Python API is the product; the ``fssim`` command line is a thin layer over it::

    import fssim
    result = fssim.simulate("configs/one-site.yaml")
    result.network()
    fssim.export("runs/one-site", format="xlsx")   # KPI tables for a spreadsheet
"""

__version__ = "0.1.0"

from fssim.config import Config, load_config  # noqa: E402
from fssim.run import RunResult, load_run, simulate  # noqa: E402



def export(run_dir, format: str = "xlsx", out=None, *, lang: str = "fr", force: bool = False):
    """A run's KPI tables as an Excel workbook or CSV files (see :func:`fssim.report.export.export_run`)."""
    from fssim.report.export import export_run

    return export_run(run_dir, format, out, lang=lang, force=force)


__all__ = ["Config", "RunResult", "export", "load_config", "load_run", "simulate", "__version__"]

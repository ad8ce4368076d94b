"""fssim — a discrete-event simulator of the France services network.

The Python API is the product; the ``fssim`` command line is a thin layer over it::

    import fssim
    result = fssim.simulate("configs/one-site.yaml")
    result.network()
"""

__version__ = "0.1.0"

from fssim.config import Config, load_config  # noqa: E402
from fssim.run import RunResult, load_run, simulate  # noqa: E402

__all__ = ["Config", "RunResult", "load_config", "load_run", "simulate", "__version__"]

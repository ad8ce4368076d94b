"""Golden summaries: the exact summary tables of two small configs for a fixed seed.

They pin the model's behaviour so that a move of code can be proven behaviour-preserving. A change of numbers
that is intended is its own commit: regenerate with ``python tests/test_golden.py --update`` and say why in
the commit message.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
sys.path.insert(0, str(HERE))

from conftest import REPO  # noqa: E402

#: one ordinary site (the one-site example, shortened) and a placed network on one département, with the
#: population rule and with the calibrated demand model (the default)
CASES = {
    "one-site": lambda: _one_site(),
    "departement-48": lambda: _departement(),
    "departement-48-calibrated": lambda: _departement(calibrated=True),
}


def _one_site():
    from fssim.config import load_config
    cfg = load_config(REPO / "configs" / "one-site.yaml")
    return cfg.model_copy(update={"horizon": cfg.horizon.model_copy(update={"days": 91}), "replications": 3})


def _departement(calibrated: bool = False):
    from fssim.config import config_from_dict
    demand = {} if calibrated else {"model": "population", "annual_visits": 9_000_000}
    return config_from_dict({
        "name": "golden-48", "horizon": {"start": "2024-03-04", "days": 56}, "seed": 48, "replications": 2,
        "territory": {"departements": ["48"]},
        "network": {"source": "placement", "placement": {"n_sites": 6, "max_minutes": 30},
                    "phases": [{"date": "2024-03-04", "sites": 4, "label": "vague 1"},
                               {"date": "2024-04-01", "sites": 6, "label": "vague 2"}]},
        "catchment": demand,
    })


def summary_of(name: str) -> pd.DataFrame:
    """The summary of a case, in a stable row order."""
    from fssim.run import simulate
    s = simulate(CASES[name]()).summary
    cols = [c for c in ("scope", "key", "kpi", "mean", "std", "n", "ci_low", "ci_high") if c in s.columns]
    s = s[cols].copy()
    for c in ("scope", "key", "kpi"):
        if c in s:
            s[c] = s[c].astype(str)
    return s.sort_values([c for c in ("scope", "key", "kpi") if c in s]).reset_index(drop=True)


def _path(name: str) -> Path:
    return GOLDEN / f"{name}.csv"


@pytest.mark.parametrize("name", sorted(CASES))
def test_summary_equals_the_golden_file(name):
    got = summary_of(name)
    want = pd.read_csv(_path(name), dtype=str, keep_default_na=False)
    got = got.assign(key=got["key"].replace("nan", ""))
    assert list(got.columns) == list(want.columns)
    rows = ["scope", "key", "kpi"]
    assert got[rows].astype(str).values.tolist() == want[rows].values.tolist(), "the summary's rows changed"
    for c in ("mean", "std", "n", "ci_low", "ci_high"):
        if c in got:
            a, b = got[c].to_numpy(float), pd.to_numeric(want[c], errors="coerce").to_numpy(float)
            same = (a == b) | (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-12, atol=0)
            bad = np.flatnonzero(~same)
            assert not len(bad), (f"{name}: {len(bad)} values of {c} changed, e.g. "
                                  f"{got.iloc[bad[:3]][['scope', 'key', 'kpi', c]].to_dict('records')} "
                                  f"instead of {want.iloc[bad[:3]][c].tolist()}")


def _update() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name in sorted(CASES):
        s = summary_of(name)
        s = s.assign(key=s["key"].replace("nan", ""))
        s.to_csv(_path(name), index=False, float_format="%.17g")
        print(f"wrote {_path(name)} ({len(s)} rows)")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # the checkout's fssim, whatever is installed
    if sys.argv[1:] == ["--update"]:
        _update()
    else:
        print("usage: python tests/test_golden.py --update   (rewrites tests/golden/*.csv)")

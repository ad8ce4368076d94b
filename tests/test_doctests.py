"""The examples in the public API's docstrings run and say what they show (doctest).

Every module of the package whose docstrings hold an example (``>>>``) is found and run, so an example
added anywhere is tested without being listed here; the top-level package must have one.
"""
from __future__ import annotations

import doctest
import importlib

import pytest

from conftest import REPO

PKG = REPO / "fssim"
WITH_EXAMPLES = sorted(
    ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    for p in PKG.rglob("*.py") if ">>> " in p.read_text(encoding="utf-8"))


def test_the_public_api_has_examples():
    assert "fssim" in WITH_EXAMPLES and "fssim.run" in WITH_EXAMPLES and len(WITH_EXAMPLES) >= 3


@pytest.mark.parametrize("module", WITH_EXAMPLES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{module}: no example found by doctest"
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} examples failed (see above)"

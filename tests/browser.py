"""Headless Chromium for the browser tests (the report, the day at a site, the explorer), one way for all.

Needs the Debian packages ``chromium`` and ``chromium-driver`` and PyPI ``selenium``; without them the tests
fail (they are never skipped). selenium is pointed at /usr/bin/chromedriver and /usr/bin/chromium, so
selenium-manager never downloads anything.
"""
from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1400"]


def chromium(profile: Path, logs: tuple[str, ...] = ("browser",)):
    """A headless Chromium driver with its own profile folder, logging ``logs`` (browser, performance)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"Chromium is not installed ({', '.join(missing)} missing): "
                    "apt-get install -y chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install selenium (the [test] extra)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {k: "ALL" for k in logs})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    drv.set_page_load_timeout(60)
    return drv

"""A headless Chromium for the tests that look at a page in a real browser
(tests/test_explore.py, tests/test_docs_browser.py): Debian's chromium and chromedriver
through Selenium, never a downloaded driver.  Skips, saying why, where one is missing
(.ci/run installs them)."""

from __future__ import annotations

import contextlib
import shutil

import pytest


@contextlib.contextmanager
def headless_chromium(lang: str = "en", size: tuple[int, int] = (1400, 1000)):
    """A Selenium driver for a headless Chromium window of ``size`` pixels, quit on exit."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="Selenium is not installed "
                                    "(pip install '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("Chromium and chromedriver are not installed (Debian: apt-get install "
                    "chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={size[0]},{size[1]}", "--force-device-scale-factor=1",
                f"--lang={lang}"):
        options.add_argument(arg)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download anything
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
    try:
        yield driver
    finally:
        driver.quit()

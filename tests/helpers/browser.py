"""A real headless browser for the dashboard tests: Debian's chromium driven by Selenium.

The browser and its driver are the system's (``scripts/browser.sh`` installs them); Selenium Manager is told to
stay offline, so nothing is downloaded. Screenshots go to the test's own folder and, when
``TENSORONE_SCREENSHOTS`` names a folder, are copied there for review.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("TENSORONE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TENSORONE_CHROMEDRIVER", "/usr/bin/chromedriver")
DESKTOP = (1280, 1000)
PHONE = (390, 844)
T = TypeVar("T")


def browser_missing() -> str | None:
    """Why no browser test can run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: run scripts/browser.sh (make browser) to install chromium"
    return None


@contextmanager
def chromium(size: tuple[int, int] = DESKTOP) -> Iterator[webdriver.Chrome]:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a browser or driver
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
        "--disable-extensions", f"--window-size={size[0]},{size[1]}", "--force-device-scale-factor=1",
    ):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_window_size(*size)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll ``probe`` until it returns something truthy (elements may be redrawn meanwhile)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (StaleElementReferenceException, WebDriverException) as e:
            last_error = e
        time.sleep(0.25)
    raise AssertionError(
        f"timed out waiting for {what}" + (f" (last error: {last_error})" if last_error else "")
    )


class Screenshots:
    """Saves PNGs under the test's folder and copies them to ``$TENSORONE_SCREENSHOTS`` when set."""

    def __init__(self, driver: webdriver.Chrome, folder: Path):
        self.driver = driver
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        extra = os.environ.get("TENSORONE_SCREENSHOTS")
        self.copy_to = Path(extra) if extra else None
        self.saved: list[Path] = []

    def take(self, name: str) -> Path:
        path = self.folder / f"{name}.png"
        width = self.driver.get_window_size()["width"]
        # The whole page, not only the viewport: grow the window to the document's height for the shot.
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        original = self.driver.get_window_size()
        self.driver.set_window_size(width, max(original["height"], min(int(height) + 120, 6000)))
        try:
            assert self.driver.save_screenshot(str(path)), path
        finally:
            self.driver.set_window_size(original["width"], original["height"])
        if self.copy_to is not None:
            self.copy_to.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, self.copy_to / path.name)
        self.saved.append(path)
        return path


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """Errors the page logged (scripts that failed, CSP violations), apart from the API's expected 4xx."""
    entries = driver.get_log("browser")
    return [
        e["message"]
        for e in entries
        if e["level"] == "SEVERE" and "the server responded with a status of 4" not in e["message"]
    ]

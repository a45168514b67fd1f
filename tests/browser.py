"""A real headless browser for the tests that look at pages (the report, the dashboard).

Debian's ``chromium`` (``make install`` puts it there with apt-get) driven by playwright's
Python package, pointed at the system executable: no browser download. Every page records
its console errors, uncaught exceptions and every request it made, so a test can assert
that a page rendered with no errors and never reached past loopback. Tests import this
module's fixtures through conftest.py and its helpers from here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

LOCAL_SCHEMES = ("data", "blob", "file", "about")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# Where screenshots go: TABFORGE_SCREENSHOTS=dir keeps them (docs/img is written that way),
# else the test's tmp_path.
SCREENSHOTS = "TABFORGE_SCREENSHOTS"
DOCS_HEIGHT = 1100


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Browsed:
    """A page and what it did: console errors, uncaught exceptions, every URL requested."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        """Requests that left the machine (anything but loopback, data:, blob:, file:)."""
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS:
                continue
            out.append(url)
        return out

    def problems(self) -> list[str]:
        """Everything a clean page must not have: console errors, exceptions, foreign requests."""
        return [*self.console_errors, *self.page_errors, *self.foreign_requests()]

    def screenshot(self, directory: Path, name: str) -> Path:
        """The whole page in ``directory``; with TABFORGE_SCREENSHOTS set, its first
        ``DOCS_HEIGHT`` pixels there (what the README shows: ``make screenshots``)."""
        docs = os.environ.get(SCREENSHOTS)
        target = Path(docs or directory) / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        clip = {"x": 0, "y": 0, "width": 1280, "height": DOCS_HEIGHT} if docs else None
        self.page.screenshot(path=str(target), full_page=True, clip=clip)  # type: ignore[arg-type]
        return target


# Module scope: playwright's sync API keeps an event loop running in this thread while the
# browser is open, and later tests that call asyncio.run() (or parse code) must not see it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium on this machine (make install runs apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (make install installs it)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def browsed(browser: Browser) -> Iterator[Browsed]:
    """A fresh page (1280x900) that records its errors and requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = Browsed(page)
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
    page.on("request", lambda r: seen.requests.append(r.url))
    yield seen
    context.close()

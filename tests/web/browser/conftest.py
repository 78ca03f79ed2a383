"""Playwright fixtures shared by every browser test: Debian's chromium, a live server.

Browser tests skip with a message where no browser exists; `.ci/run` sets
``MERCATO_TEST_REQUIRE_BROWSER=1``, which turns that skip into a failure (as PostgreSQL's).
Screenshots are written under ``test-artifacts/screenshots`` (``MERCATO_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD, LiveServer

CHROMIUM = os.environ.get("MERCATO_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MERCATO_TEST_ARTIFACTS", "test-artifacts")) / "screenshots"


def _no_browser(reason: str) -> None:
    if os.environ.get("MERCATO_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required here but {reason}")
    pytest.skip(f"no browser: {reason} (install Debian's chromium: apt-get install chromium)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One browser per test module: Playwright's sync API keeps an event loop running in this
    thread while it is open, which would break any later test that runs asyncio itself."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("the playwright package is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _no_browser(f"{CHROMIUM} does not exist")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    context = chromium.new_context(base_url=live_server.url,
                                   viewport={"width": 1280, "height": 900})
    # 30 s: the suite runs on both cores beside the browser and the server; a form submit
    # that has waited past 15 s for its navigation has been seen twice in full runs (not alone)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.console_errors = errors
    yield tab
    context.close()


def sign_in(page: Any, email: str, password: str = PASSWORD, *, start: str = "/admin") -> None:
    """Sign in through the form, as a person does: by the fields' labels."""
    page.goto(start)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def import_worker(db: Any) -> Iterator[None]:
    """The worker's import task, run on a thread every 0.2 s, as `mercato serve
    --with-worker` runs it: uploads made through the page are applied while it polls."""
    import threading

    from mercato.catalog.tasks import run_imports

    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            run_imports(db)
            stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)

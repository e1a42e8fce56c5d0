"""One `e200 up --demo` and one Chromium for every browser test of the console.

The administrator's one-time password is changed once (``E200Server.sign_in_admin``); the admin
signs in through the console's login form once, and the pages of later tests reuse that browser
session (its cookies), so each test starts signed in without repeating the login.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, require
from tests.server import E200Server, signed_in_up

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
UI_TIMEOUT_MS = 15_000
ARTIFACTS = REPO_ROOT / "test-artifacts"


def history_days(now: datetime | None = None) -> str:
    """Six hours of demo history, but never all of today (UTC): the quality drill-down needs
    intervals of today that the history left out, which the live simulator holds and answers
    a re-collection with (it keeps the day it started in). Shortly after midnight there may be
    none; from 03:00 UTC on there are."""
    now = now or datetime.now(UTC)
    since_midnight_h = now.hour + now.minute / 60
    hours = 6.0 if since_midnight_h >= 7.0 else max(2.0, since_midnight_h - 1.0)
    return f"{hours / 24:.4f}"


@pytest.fixture(scope="session")
def server() -> Iterator[E200Server]:
    """`e200 up --demo` with a few hours of simulated history (for the curves); the admin's
    one-time password is changed and the API helpers act as the admin."""
    with signed_in_up("e200-console-", E200_DEMO_HISTORY_DAYS=history_days()) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (make browser installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        require(False, "playwright is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def new_page(browser: Any, server: E200Server) -> Iterator[Callable[..., Any]]:
    """Make a page in a browser context of its own (nobody signed in, unless ``storage_state``
    brings a session); JavaScript errors and what the Content-Security-Policy blocks fail the
    test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(storage_state: Any = None) -> Any:
        context = browser.new_context(
            viewport={"width": 1440, "height": 900},
            base_url=server.base,
            storage_state=storage_state,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # Anything the Content-Security-Policy blocks is an error too (api/guards.py).
        page.on("console", lambda msg: errors.append(msg.text)
                if "Content Security Policy" in msg.text else None)  # fmt: skip
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"


@pytest.fixture(scope="session")
def admin_session(browser: Any, server: E200Server) -> Any:
    """The admin signed in through the console's login form, once: the browser's cookies."""
    context = browser.new_context(base_url=server.base)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    server.login_browser(page)
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture()
def page(new_page: Callable[..., Any], admin_session: Any) -> Any:
    """A page of the console, signed in as the administrator."""
    return new_page(admin_session)

"""Two `e200 serve` instances against one database, as behind a load balancer: a console
session opened on one is valid on the other, and an alarm raised by ingest through one reaches
the consoles open on both (each instance LISTENs to PostgreSQL's alarm channel)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from e200.auth import SESSION_COOKIE
from e200.console.i18n import t
from e200.sim import load_demo_grid
from tests.conftest import shared_tmp_dir
from tests.console.conftest import ARTIFACTS, UI_TIMEOUT_MS
from tests.console.test_console_monitoring_browser import (
    TRANSFORMER,
    _add_transformer,
    _grid_now,
    _ingest,
    _reading,
)
from tests.server import E200Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_session_and_an_alarm_reach_both_instances(
    browser: Any, engine: Engine, fresh_db_url: str
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    root = shared_tmp_dir("e200-serve2-")
    one = E200Server(root / "one", role=("serve",), E200_DATABASE_URL=fresh_db_url)
    two: E200Server | None = None
    try:
        one.wait_healthy()  # migrated the database
        load_demo_grid(engine)
        two = E200Server(root / "two", role=("serve",), E200_DATABASE_URL=fresh_db_url)
        two.wait_healthy()
        one.sign_in_admin()
        _add_transformer(one)
        contexts: list[Any] = []
        try:
            # Signed in on one; the same browser's session cookie opens two.
            context_one = browser.new_context(base_url=one.base)
            contexts.append(context_one)
            page_one = context_one.new_page()
            page_one.set_default_timeout(UI_TIMEOUT_MS)
            one.login_browser(page_one)
            state = context_one.storage_state()
            cookie = next(c for c in state["cookies"] if c["name"] == SESSION_COOKIE)
            me = httpx.get(two.base + "/api/v1/auth/me", timeout=20,
                           cookies={SESSION_COOKIE: cookie["value"]})  # fmt: skip
            assert me.status_code == 200 and me.json()["username"] == "admin", me.text
            context_two = browser.new_context(base_url=two.base, storage_state=state)
            contexts.append(context_two)
            page_two = context_two.new_page()
            page_two.set_default_timeout(UI_TIMEOUT_MS)
            pages: list[Any] = [page_one, page_two]
            for page in pages:
                page.goto(f"/console/alarms?device={TRANSFORMER}")
                expect(page.get_by_role("region", name=t("alarms.list"))).to_be_visible()
            assert page_two.url.startswith(two.base + "/console/alarms")  # not the login
            # An over-voltage ingested through one: both consoles announce it.
            _ingest(one, [_reading(_grid_now() - timedelta(minutes=15), 70.0, v=250.0)])
            arrived = t("alarms.arrived", rule="Over-voltage", asset=TRANSFORMER)
            for page in pages:
                expect(page.get_by_text(arrived)).to_be_visible()
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            for n, context in enumerate(contexts):
                for page in context.pages:
                    page.screenshot(path=str(ARTIFACTS / f"serve-instances-{n}.png"))
            raise
        finally:
            for context in contexts:
                context.close()
    finally:
        if two is not None:
            two.interrupt()
        one.interrupt()

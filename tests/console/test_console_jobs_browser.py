"""The jobs page in a real Chromium against `e200 up`: the periodic jobs with their last runs
(the offline check every 30 s has run), a job run now from the page shows up in its history."""

from __future__ import annotations

import time
from typing import Any

import pytest

from e200.console.i18n import t
from tests.console.conftest import ARTIFACTS, UI_TIMEOUT_MS
from tests.server import E200Server as Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LIMIT_S = 90


def test_jobs_are_listed_with_their_runs_and_one_is_run_now(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    deadline = time.monotonic() + LIMIT_S  # the offline check runs every 30 s
    while time.monotonic() < deadline:
        jobs = {j["name"]: j for j in server.api("/api/v1/jobs")["jobs"]}
        if jobs["alarms.check_offline"]["last_run"]:
            break
        time.sleep(1)
    before = server.api("/api/v1/jobs/auth.purge_sessions/runs")
    try:
        page.goto("/console/jobs")
        table = page.get_by_role("table")
        row = table.locator("tr", has_text="alarms.check_offline")
        expect(row).to_contain_text("* * * * * */30")
        expect(row).to_contain_text(t("jobs.outcome.succeeded"))
        expect(page.get_by_text(t("jobs.workers", n=1))).to_be_visible()
        page.get_by_role("button", name=f"{t('jobs.run_now')} auth.purge_sessions").click()
        expect(page.get_by_text(t("jobs.queued", name="auth.purge_sessions"))).to_be_visible()
        purge = table.locator("tr", has_text="auth.purge_sessions")
        expect(purge).to_contain_text("ended sessions purged")
        seen = {r["id"] for r in before}
        new = [
            r for r in server.api("/api/v1/jobs/auth.purge_sessions/runs") if r["id"] not in seen
        ]
        assert [r["scheduled_for"] for r in new if r["scheduled_for"] is None] == [None]
        audit = server.api("/api/v1/audit", action="run_job_now")
        items = audit["items"] if isinstance(audit, dict) else audit
        assert items[0]["detail"]["via"] == "console"
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "jobs-browser.png"), full_page=True)
        raise

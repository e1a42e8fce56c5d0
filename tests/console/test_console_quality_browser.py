"""The acquisition-quality dashboard in a real Chromium against a real `e200 up --demo`: today's
figures (the demo has a few hours of history, so every meter misses the hours before it) are
computed; the collection operator opens the dashboard, drills from the worst org unit to its
worst terminal to a failing meter's missing intervals, sends a re-collection for that terminal
and sees the simulated terminal acknowledge it, after which the day is recomputed and the
terminal's missing points went down.

Expected values come from the REST API of the same server (no numbers of the demo grid are
hard-coded)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from e200.console.i18n import t
from tests.console.conftest import ARTIFACTS, UI_TIMEOUT_MS
from tests.server import E200Server as Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_drill_from_the_worst_unit_to_missing_intervals_and_recollect(
    page: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    # The demo's history is replayed in the background (every meter's points grow together):
    # wait until it is in, or a meter's missing intervals change between two reads.
    deadline = time.monotonic() + 240
    while "demo history loaded" not in server.output():
        assert time.monotonic() < deadline, "the demo's history did not load"
        time.sleep(0.5)
    time.sleep(2)  # the live runner sends the intervals that ended meanwhile at once
    day = datetime.now(UTC).date().isoformat()  # `e200 up` runs in UTC unless configured
    started = time.monotonic()
    # Generous: the whole demo day is computed inside the running server (load varies in CI).
    computed = server.request("POST", "/api/v1/quality/compute", json={"day": day}, timeout_s=180)
    assert computed.status_code == 200, computed.text
    print(f"quality of {day} computed in {time.monotonic() - started:.1f} s: {computed.json()}")
    summary = server.api("/api/v1/quality/summary", day=day)
    leaves = [u for u in summary["units"]
              if not any(o["parent"] == u["org_unit"] for o in summary["units"])]  # fmt: skip
    # The worst unit whose terminals have lost points so far (shortly after midnight UTC the
    # very worst may owe its rate to a few late points only).
    for worst in sorted(leaves, key=lambda u: (u["completeness_rate_pct"], u["org_unit"])):
        weak = server.api("/api/v1/quality/weak-points", day=day, org_unit=worst["org_unit"],
                          limit=500)  # fmt: skip
        if weak["terminals"]["completeness"]:
            break
    terminal = weak["terminals"]["completeness"][0]  # loses the most meter points
    terminal["asset_number"] = terminal["terminal"]
    meters = server.api("/api/v1/quality/meters", day=day, terminal=terminal["asset_number"],
                        failing="true", limit=500)["items"]  # fmt: skip
    assert meters, "the terminal has failing meters"
    missing_before = terminal["lost"]
    try:
        page.goto(f"/console/quality?day={day}")
        completeness = page.get_by_role("group", name=t("rate.completeness_rate_pct"))
        total = summary["total"]["completeness_rate_pct"]
        expect(completeness).to_contain_text(f"{total:.2f} %")
        units = page.get_by_role("region", name=t("quality.units"))
        units.get_by_text(f"{worst['name']} ({worst['org_unit']})", exact=True).click()
        region = page.get_by_role("region", name=t("quality.terminals"))
        region.get_by_role("button", name=terminal["asset_number"], exact=True).click()
        meters_region = page.get_by_role(
            "region", name=t("quality.meters_of", terminal=terminal["asset_number"])
        )
        meter = meters[0]["asset_number"]
        meters_region.get_by_role("button", name=meter, exact=True).click()
        dialog = page.get_by_role("dialog")
        missing = server.api(f"/api/v1/quality/meters/{meter}/missing", day=day)
        expect(dialog).to_contain_text(t("quality.missing_counts", got=missing["received"],
                                         n=missing["expected"], missing=len(missing["missing"]),
                                         late=len(missing["late"])))  # fmt: skip
        listed = dialog.get_by_role("list", name=t("quality.missing_list"))
        expect(listed.get_by_role("listitem")).to_have_count(min(len(missing["missing"]), 200))
        dialog.get_by_role("button", name=t("common.close")).click()

        meters_region.get_by_role("button", name=t("quality.recollect")).click()
        status = page.get_by_test_id("recollect-status")
        expect(status).to_contain_text(t("quality.recomputed", day=day), timeout=180_000)
        expect(status).to_have_attribute("data-status", "acked")
        after = server.api("/api/v1/quality/weak-points", day=day, org_unit=worst["org_unit"],
                           limit=500)["terminals"]["completeness"]  # fmt: skip
        lost = next((r["lost"] for r in after if r["terminal"] == terminal["terminal"]), 0)
        assert lost < missing_before, (missing_before, lost)  # the re-read points came in
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "quality-browser.png"), full_page=True)
        (ARTIFACTS / "quality-server.log").write_text(server.output())
        commands = server.api(f"/api/v1/terminals/{terminal['asset_number']}/commands")
        print(
            "commands:",
            [(c["kind"], c["status"], c.get("created_at"), c.get("sent_at")) for c in commands][:5],
        )
        raise

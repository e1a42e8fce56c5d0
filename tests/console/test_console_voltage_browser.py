"""Voltage insights in a real Chromium against `e200 up --demo`: a transformer added for the test
reports over-voltage for two hours today; the insights page ranks it with the share of the
month's intervals out of limits the REST API gives, and its evidence curve (the worst day's phase
voltages against the limits) opens with a click."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from e200.console.i18n import t
from tests.console.conftest import ARTIFACTS, UI_TIMEOUT_MS
from tests.server import E200Server as Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRANSFORMER, TERMINAL = "SS-N01-F1-TVOLT", "TTU-TVOLT"


def test_an_over_voltage_transformer_is_ranked_with_its_evidence(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    near = server.api("/api/v1/monitoring/fleet", limit=1)["items"][0]
    server.post("/api/v1/transformers", {
        "asset_number": TRANSFORMER, "feeder": "SS-N01-F1", "rated_kva": 200,
        "primary_rated_kv": 10, "secondary_rated_v": 400,
        "lat": near["lat"] - 0.004, "lon": near["lon"] + 0.004,
    })  # fmt: skip
    server.post("/api/v1/terminals", {"asset_number": TERMINAL, "transformer": TRANSFORMER,
                                      "reporting_interval_min": 15})  # fmt: skip
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 15)
    start = max(now - timedelta(hours=2), now.replace(hour=0, minute=15))
    ts = start
    while ts <= now:  # +9 % on every phase (limit +7 %)
        answer = server.post("/api/v1/ingest", {
            "v": 1, "type": "dt_interval", "terminal": TERMINAL, "device": TRANSFORMER,
            "ts": ts.isoformat(), "interval_min": 15,
            "values": {"v_a_v": 252.0, "v_b_v": 251.5, "v_c_v": 252.4, "p_kw": 40.0,
                       "s_kva": 42.0},
        }, expect=200)  # fmt: skip
        assert answer["stored"] == 1, answer
        ts += timedelta(minutes=15)
    insights = server.api("/api/v1/monitoring/voltage-insights", limit=200)
    ours = next(i for i in insights["items"] if i["asset_number"] == TRANSFORMER)
    try:
        page.goto("/console/fleet")
        page.get_by_role("link", name=t("voltage.title")).click()
        page.wait_for_url("**/console/voltage")
        ranking = page.get_by_role("region", name=t("voltage.ranking"))
        page.get_by_label(t("voltage.find")).fill(TRANSFORMER)
        row = ranking.locator("tr", has_text=TRANSFORMER)
        expect(row).to_contain_text(t(f"voltage.trend.{ours['trend']}"))
        expect(row).to_contain_text(f"{round(ours['month_out_pct'], 2):g}")
        row.get_by_text(TRANSFORMER, exact=True).click()
        evidence = page.get_by_role("region", name=t("voltage.evidence"))
        expect(evidence).to_contain_text(TRANSFORMER)
        expect(evidence.locator("#voltage-evidence")).to_be_visible()
        expect(page.locator("#voltage-qualification")).to_be_visible()
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "voltage-browser.png"), full_page=True)
        raise

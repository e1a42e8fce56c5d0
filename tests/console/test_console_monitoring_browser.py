"""Monitoring and alarms in a real Chromium against a real `e200 up --demo`: a transformer added
to the archive reports an evening overload through the ingest API; the operator finds it on the
fleet map, opens it, sees its curve with the overload marked, acknowledges the alarm there and
finds it acknowledged in the alarm center, where a new over-voltage on the same transformer
then arrives without a reload.

The transformer is new (the simulator does not feed it), so its readings are only the test's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from e200.console.i18n import t
from tests.console.conftest import ARTIFACTS, UI_TIMEOUT_MS
from tests.server import E200Server as Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRANSFORMER, TERMINAL = "SS-N01-F1-TOVL", "TTU-TOVL"
RATED_KVA = 100.0


def _grid_now() -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 15)


def _reading(ts: datetime, s_kva: float, v: float = 231.0) -> dict[str, Any]:
    i = s_kva * 1000 / (3 * v)
    p = s_kva * 0.95
    return {
        "v": 1, "type": "dt_interval", "terminal": TERMINAL, "device": TRANSFORMER,
        "ts": ts.isoformat(), "interval_min": 15,
        "values": {"v_a_v": v, "v_b_v": v - 1, "v_c_v": v + 1, "i_a_a": i, "i_b_a": i * 0.97,
                   "i_c_a": i * 1.03, "p_kw": p, "q_kvar": s_kva * 0.31, "s_kva": s_kva,
                   "pf": 0.95, "freq_hz": 50.0, "oil_temp_c": 61.0, "amb_temp_c": 18.0},
    }  # fmt: skip


def _ingest(server: Server, readings: list[dict[str, Any]]) -> None:
    for reading in readings:
        answer = server.post("/api/v1/ingest", reading, expect=200)
        assert answer["stored"] == 1, answer


def _add_transformer(server: Server) -> None:
    near = server.api("/api/v1/monitoring/fleet", limit=1)["items"][0]
    server.post("/api/v1/transformers", {
        "asset_number": TRANSFORMER, "feeder": "SS-N01-F1", "rated_kva": RATED_KVA,
        "primary_rated_kv": 10, "secondary_rated_v": 400,
        "lat": near["lat"] + 0.004, "lon": near["lon"] + 0.004,
    })  # fmt: skip
    server.post("/api/v1/terminals", {"asset_number": TERMINAL, "transformer": TRANSFORMER,
                                      "reporting_interval_min": 15})  # fmt: skip


def _alarms(server: Server, rule: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = server.api("/api/v1/alarms", device=TRANSFORMER,
                                             rule=rule)["items"]  # fmt: skip
    return items


def test_overloaded_transformer_from_the_map_to_an_acknowledged_alarm(
    page: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)  # the page updates through the server
    _add_transformer(server)
    now = _grid_now()
    # Normal, then 110 % for two intervals: overload (> 100 % for ≥ 2 intervals) is raised.
    _ingest(server, [_reading(now - timedelta(minutes=m), s)
                     for m, s in ((120, 60.0), (105, 62.0), (90, 110.0), (75, 112.0))])  # fmt: skip
    overload = _alarms(server, "overload")
    assert len(overload) == 1 and overload[0]["state"] == "active", overload
    try:
        page.goto("/console/fleet")
        dot = page.locator(f'svg.e200-fleet-map a[data-asset="{TRANSFORMER}"]')
        active = server.api("/api/v1/alarms", device=TRANSFORMER, state="active")["total"]
        assert active >= 1  # overload, and heavy load (> 80 %) with it
        expect(dot).to_have_attribute(
            "aria-label", _contains(f"loading 112 %, {active} active alarm(s)"))  # fmt: skip
        dot.click()
        page.wait_for_url(f"**/console/transformers/{TRANSFORMER}")
        expect(page.locator("#transformer-curve")).to_be_visible()
        marked = page.get_by_role("list", name=t("transformer.marked"))
        expect(marked).to_contain_text("Overload")
        # The power curve shows what the alarm is about.
        page.get_by_role("button", name=t("curve_group.power"), exact=True).click()
        expect(page.locator("#transformer-curve")).to_be_visible()
        row = page.get_by_role("group", name="Overload", exact=True)
        row.get_by_role("button", name=t("alarms.acknowledge")).click()
        expect(row.locator("[data-state]")).to_have_attribute("data-state", "acknowledged")
        after = _alarms(server, "overload")[0]
        assert after["state"] == "acknowledged" and after["acknowledged_by"] == "admin", after
        # The overload threshold of this transformer alone, then the reporting interval.
        page.get_by_text(t("transformer.thresholds")).click()
        page.get_by_role("button", name=t("thresholds.edit", rule="Overload")).click()
        page.get_by_role("dialog").get_by_label(t("thresholds.value")).fill("120")
        page.get_by_role("dialog").get_by_role("button", name=t("common.save")).click()
        expect(page.locator('[data-rule="overload"]')).to_have_text("120 %")
        limits = server.api(f"/api/v1/alarm-thresholds/transformers/{TRANSFORMER}")
        overload_limit = next(x for x in limits if x["rule"] == "overload")
        assert (overload_limit["value"], overload_limit["origin"]) == (120.0, "transformer")
        page.get_by_label(t("transformer.interval_new")).click()
        page.get_by_role("option", name=t("transformer.minutes", n=30)).click()
        page.get_by_role("button", name=t("transformer.interval_send")).click()
        expect(page.get_by_test_id("interval-pending")).to_contain_text("30 min")

        page.goto(f"/console/alarms?device={TRANSFORMER}")
        table = page.get_by_role("region", name=t("alarms.list"))
        overload_row = table.locator("tr", has_text="Overload").filter(has_not_text="Heavy")
        expect(overload_row).to_contain_text(t("alarm_state.acknowledged"))
        expect(overload_row).to_contain_text("admin")
        # Details: the advice and the way back to the curves around the alarm.
        overload_row.get_by_text("Overload", exact=True).click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(t("alarms.advice_causes"))
        expect(dialog).to_contain_text(t("alarms.advice_checks"))
        dialog.get_by_role("link", name=t("alarms.open_curves")).click()
        page.wait_for_url(f"**/console/transformers/{TRANSFORMER}?alarm={after['id']}")
        expect(page.locator("#transformer-curve")).to_be_visible()  # opened at the alarm
        expect(page.get_by_role("list", name=t("transformer.marked"))).to_contain_text("Overload")
        page.goto(f"/console/alarms?device={TRANSFORMER}")
        table = page.get_by_role("region", name=t("alarms.list"))
        expect(table.locator("tr", has_text="Overload").first).to_be_visible()
        # Live: an over-voltage (one interval above +7 %) arrives while the page is open.
        _ingest(server, [_reading(now - timedelta(minutes=60), 70.0, v=250.0)])
        expect(table.locator("tr", has_text="Over-voltage")).to_contain_text(
            t("alarm_state.active"))  # fmt: skip
        expect(page.get_by_text(f"New alarm: Over-voltage on {TRANSFORMER}")).to_be_visible()
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "monitoring-browser.png"), full_page=True)
        (ARTIFACTS / "monitoring-server.log").write_text(server.output())
        raise


def _contains(text: str) -> Any:
    import re

    return re.compile(re.escape(text))

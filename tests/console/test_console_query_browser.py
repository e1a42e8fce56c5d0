"""Data queries in a real Chromium against a real `e200 up --demo`: two transformers found by
search on one chart, the step switched to hours, the table's value and the CSV export equal to the
REST API's answer for the same query; a meter's customer page with its attributes, daily energy
and an event ingested through the API. Expected values come from the API of the same server,
never from demo numbers.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from e200.console.data.query_charts import format_number
from e200.console.i18n import t
from tests.console.conftest import ARTIFACTS, UI_TIMEOUT_MS
from tests.server import E200Server as Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _add_by_search(page: Any, asset: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label(t("query.search")).fill(asset)
    results = page.get_by_role("region", name=t("query.search_results"))
    results.locator(f'[data-device="{asset}"]').click()
    chosen = page.get_by_role("list", name=t("query.chosen"))
    expect(chosen.locator(f'[data-device="{asset}"]')).to_be_visible()


def _wait_for_history(server: Server, *assets: str) -> None:
    """The simulator replays the demo's history in the background, oldest first: wait until it
    reached the present for these devices, so a past hour no longer changes under the test."""
    deadline = time.monotonic() + 240
    for asset in assets:
        while True:
            ts = server.api(f"/api/v1/devices/{asset}/latest").get("ts")
            if ts and datetime.fromisoformat(ts.replace("Z", "+00:00")) > datetime.now(
                    UTC) - timedelta(minutes=35):  # fmt: skip
                break
            assert time.monotonic() < deadline, f"the demo's history did not reach now ({ts})"
            time.sleep(1)


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_two_transformers_on_one_chart_hourly_table_and_csv_equal_the_api(
    page: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    first, second = (i["asset_number"] for i in server.api("/api/v1/transformers",
                                                             limit=2)["items"])  # fmt: skip
    _wait_for_history(server, first, second)
    try:
        page.goto("/console/query")
        _add_by_search(page, first)
        _add_by_search(page, second)
        # Both on one chart: the chart, and its list of curves names both devices.
        expect(page.locator("#query-chart")).to_be_visible()
        shown = page.get_by_role("list", name=t("query.shown")).get_by_role("listitem")
        expect(shown).to_have_count(2)
        expect(shown.filter(has_text=first)).to_have_count(1)
        expect(shown.filter(has_text=second)).to_have_count(1)

        page.get_by_role("button", name=t("step.hour"), exact=True).click()
        window = page.get_by_test_id("query-window")
        expect(window).to_have_attribute("data-step", "hour")
        query = {"devices": f"{first},{second}", "quantities": "p_kw", "step": "hour",
                 "from": window.get_attribute("data-from"),
                 "to": window.get_attribute("data-to")}  # fmt: skip
        answer = server.api("/api/v1/telemetry/curves", **query)
        zone = ZoneInfo(answer["timezone"])
        avg = next(
            s
            for s in answer["series"]
            if s["device"] == second and s["quantity"] == "p_kw" and s["stat"] == "avg"
        )
        # A complete hour (not the last bucket, which may still be filling).
        k = max(i for i, v in enumerate(avg["values"][:-1]) if v is not None)
        start = datetime.fromisoformat(avg["ts"][k].replace("Z", "+00:00"))

        page.get_by_text(t("query.show_table"), exact=True).click()
        table = page.locator("#query-table")
        row = table.locator("tbody tr").filter(has_text=second).filter(
            has_text=start.astimezone(zone).strftime("%Y-%m-%d %H:%M"))  # fmt: skip
        expect(row).to_have_count(1)
        # columns: device, start, p_kw_avg, p_kw_min, p_kw_max, readings
        expect(row.locator("td").nth(2)).to_have_text(format_number(avg["values"][k]))

        with page.expect_download() as download:
            page.get_by_role("button", name=t("query.export_csv")).click()
        got = _csv_rows(download.value.path().read_bytes())
        exported = server.request("GET", "/api/v1/telemetry/curves/export",
                                  params={**query, "format": "csv"})  # fmt: skip
        assert exported.status_code == 200, exported.text
        expected = _csv_rows(exported.content)
        assert got[0] == expected[0] and len(got) > 2
        assert [r[:2] for r in got] == [r[:2] for r in expected]
        # Every complete hour equal; the newest hour may have gained a reading in between.
        last = max(r[1] for r in expected[1:])
        assert [r for r in got if r[1] != last] == [r for r in expected if r[1] != last]
        with page.expect_download() as download:
            page.get_by_role("button", name=t("query.export_xlsx")).click()
        assert download.value.suggested_filename.endswith(".xlsx")
        book = load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True)
        sheet = [[("" if c is None else str(c)) for c in row]
                 for row in book["curves"].iter_rows(values_only=True)]  # fmt: skip
        assert sheet[0] == expected[0] and [r[:2] for r in sheet] == [r[:2] for r in expected]
        # Both exports are audited as the API's, from the console.
        audited = server.api("/api/v1/audit", action="curves_export", actor="admin")["items"]
        console = [e for e in audited if (e.get("detail") or {}).get("via") == "console"]
        assert {e["detail"]["format"] for e in console[:2]} == {"csv", "xlsx"}, audited[:2]
        # The analysis of the same window is drawn too.
        expect(page.locator("#analysis-chart")).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console-query.png"), full_page=True)
    except Exception:
        with page.expect_download() as download:
            page.get_by_role("button", name=t("query.export_xlsx")).click()
        assert download.value.suggested_filename.endswith(".xlsx")
        book = load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True)
        sheet = [[("" if c is None else str(c)) for c in row]
                 for row in book["curves"].iter_rows(values_only=True)]  # fmt: skip
        assert sheet[0] == expected[0] and [r[:2] for r in sheet] == [r[:2] for r in expected]
        # Both exports are audited as the API's, from the console.
        audited = server.api("/api/v1/audit", action="curves_export", actor="admin")["items"]
        console = [e for e in audited if (e.get("detail") or {}).get("via") == "console"]
        assert {e["detail"]["format"] for e in console[:2]} == {"csv", "xlsx"}, audited[:2]
        # The analysis of the same window is drawn too.
        expect(page.locator("#analysis-chart")).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console-query.png"), full_page=True)
        raise


def test_customer_page_shows_attributes_and_daily_energy(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    meter = server.api("/api/v1/meters", limit=1)["items"][0]
    asset = meter["asset_number"]
    # The page's 30 days of energy: whole local days up to today's end, as the API answers them.
    zone = ZoneInfo(server.api("/api/v1/telemetry/curves", devices=asset)["timezone"])
    today = datetime.now(zone).date()
    window = {"devices": asset, "quantities": "e_imp_kwh", "step": "day",
              "from": datetime.combine(today - timedelta(days=29), datetime.min.time(),
                                       tzinfo=zone).isoformat(),
              "to": datetime.combine(today + timedelta(days=1), datetime.min.time(),
                                     tzinfo=zone).isoformat()}  # fmt: skip
    deadline = time.monotonic() + 240  # the simulator replays the history in the background
    while True:
        days = next(s for s in server.api("/api/v1/telemetry/curves", **window)["series"]
                    if s["stat"] == "sum")  # fmt: skip
        if sum(v is not None for v in days["values"]) and days["points"] >= 8:
            break
        assert time.monotonic() < deadline, f"no register readings of {asset}"
        time.sleep(1)
    _wait_for_history(server, asset)
    days = next(s for s in server.api("/api/v1/telemetry/curves", **window)["series"]
                if s["stat"] == "sum")  # fmt: skip
    # One meter event through the ingest API, then listed on the page.
    stamp = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    event = {"v": 1, "type": "event", "device": asset, "ts": stamp.isoformat(),
             "event": "cover_open", "detail": {"seal": "broken"}}  # fmt: skip
    assert server.post("/api/v1/ingest", event, expect=200)["stored"] == 1
    try:
        page.goto(f"/console/meters/{asset}")
        attributes = page.get_by_test_id("customer-attributes")
        for field in ("customer_account", "transformer", "phase"):
            if meter.get(field):
                expect(attributes.locator(f'[data-field="{field}"] td')).to_have_text(
                    str(meter[field]))  # fmt: skip
        expect(page.locator("#meter-daily-energy")).to_be_visible()
        total = sum(v for v in days["values"] if v is not None)
        # The newest interval may have arrived in between: the total is at least the API's.
        shown = page.get_by_test_id("energy-total")
        expect(shown).to_contain_text(days["unit"])
        assert float(shown.inner_text().split()[0]) >= round(total, 3) - 1e-3
        expect(page.locator("#customer-curve")).to_be_visible()
        listed = page.get_by_test_id("customer-events").locator('[data-event="cover_open"]')
        expect(listed).to_contain_text(t("event.cover_open"))
        expect(listed).to_contain_text(stamp.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"))
        expect(listed).to_contain_text("seal: broken")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console-customer.png"), full_page=True)
        # On to the query page with this meter chosen.
        page.get_by_role("link", name=t("customer.open_query")).click()
        chosen = page.get_by_role("list", name=t("query.chosen"))
        expect(chosen.locator(f'[data-device="{asset}"]')).to_be_visible()
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console-customer.png"), full_page=True)
        raise


def test_a_device_is_picked_from_the_grid_tree(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    # The path to the first transformer, level by level, as the API's tree answers it.
    path: list[dict[str, Any]] = []
    nodes = server.api("/api/v1/archive-tree")
    while True:
        node = next((n for n in nodes if n["kind"] == "transformer"), None) or next(
            n for n in nodes if n["has_children"])  # fmt: skip
        path.append(node)
        if node["kind"] == "transformer":
            break
        nodes = server.api("/api/v1/archive-tree", kind=node["kind"], key=node["key"])
    page.goto("/console/query")
    page.get_by_text(t("query.tree"), exact=True).click()
    tree = page.get_by_role("tree")
    for node in path:
        tree.get_by_text(node["label"], exact=True).click()
    chosen = page.get_by_role("list", name=t("query.chosen"))
    expect(chosen.locator(f'[data-device="{path[-1]["key"]}"]')).to_be_visible()
    expect(page.get_by_role("list", name=t("query.shown")).get_by_role("listitem")).to_have_count(1)
    # A custom window covers whole local days, the to day included.
    zone = ZoneInfo(server.api("/api/v1/telemetry/curves", devices=path[-1]["key"])["timezone"])
    today = datetime.now(zone).date()
    page.get_by_role("button", name=t("window.custom"), exact=True).click()
    page.get_by_label(t("query.from")).fill((today - timedelta(days=2)).isoformat())
    page.get_by_label(t("query.to")).fill(today.isoformat())
    page.get_by_role("button", name=t("query.apply")).click()
    window = page.get_by_test_id("query-window")
    midnight = datetime.min.time()
    expect(window).to_have_attribute("data-from", datetime.combine(
        today - timedelta(days=2), midnight, tzinfo=zone).astimezone(UTC).isoformat())  # fmt: skip
    expect(window).to_have_attribute("data-to", datetime.combine(
        today + timedelta(days=1), midnight, tzinfo=zone).astimezone(UTC).isoformat())  # fmt: skip
    # A year, by day: one bucket per local day, the readings behind each counted.
    page.get_by_role("button", name=t("window.1y"), exact=True).click()
    page.get_by_role("button", name=t("step.day"), exact=True).click()
    expect(window).to_have_attribute("data-step", "day")
    expect(page.locator("#query-chart")).to_be_visible()

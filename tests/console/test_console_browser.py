"""The operator console in a real Chromium against a real `e200 up --demo`, signed in as the
administrator (who sees the whole grid): walk the grid tree down to a meter, find a meter by its
number, open a node from the URL, read the overview.

Expected values come from the REST API of the same server, so the tests do not depend on the demo
grid's random numbers. Texts are looked up through the console's translation table. The server,
the browser and the admin's sign-in are shared fixtures (tests/console/conftest.py).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from e200.console.i18n import t
from tests.console.conftest import ARTIFACTS
from tests.server import E200Server as Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _field(details: Any, field: str) -> Any:
    """The row of the details table whose label is exactly the field's label."""
    label = re.compile(rf"^\s*{re.escape(t(f'field.{field}'))}\s*$")
    return details.locator("tr").filter(has=details.page.locator("th", has_text=label))


def _expect_meter_details(page: Any, meter: dict[str, Any], transformer: str) -> None:
    from playwright.sync_api import expect

    details = page.get_by_role("region", name=t("details.title"))
    expect(details).to_contain_text(meter["asset_number"])
    expect(_field(details, "asset_number")).to_contain_text(meter["asset_number"])
    expect(_field(details, "customer_account")).to_contain_text(meter["customer_account"])
    expect(_field(details, "phase")).to_contain_text(meter["phase"])
    expect(_field(details, "transformer")).to_contain_text(transformer)


def _first_meter(server: Server, transformer: str) -> dict[str, Any]:
    page = server.api("/api/v1/meters", parent=transformer, limit=1)
    assert page["total"] > 0, f"the demo grid has meters on {transformer}"
    meter: dict[str, Any] = page["items"][0]
    assert meter["transformer"] == transformer and meter["customer_account"] and meter["phase"]
    return meter


def test_tree_walks_down_to_a_meter_and_shows_its_details(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    transformer = "SS-N01-F1-T1"
    meter = _first_meter(server, transformer)
    started = time.monotonic()
    page.goto("/console/archive")
    tree = page.get_by_role("tree")
    for label in ["Demo Power Company", "North Region", "North City Operations",
                  "SS-N01 · North 1 110 kV", "SS-N01-F1 · Feeder 1"]:  # fmt: skip
        tree.get_by_text(label, exact=True).click()
    tree.get_by_text(re.compile(rf"^{re.escape(transformer)} · ")).click()
    # The transformer's station area lists its meters, terminal first, then meters by number.
    meter_node = tree.get_by_text(meter["asset_number"], exact=True)
    expect(meter_node).to_be_visible()
    assert tree.get_by_text(re.compile(r"^M\d+$")).first.inner_text() == meter["asset_number"]
    meter_node.click()

    _expect_meter_details(page, meter, transformer)
    expect(page.locator(".q-tree__node--selected")).to_contain_text(meter["asset_number"])
    expect(page).to_have_url(re.compile(rf"select=meter:{meter['asset_number']}$"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-archive-meter.png"))
    assert time.monotonic() - started < 30, "walking the tree takes seconds, not minutes"


def test_search_opens_the_tree_at_the_meter_found(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    transformer = "SS-S02-F2-T3"  # a branch the page does not open by itself
    meter = _first_meter(server, transformer)
    page.goto("/console/archive")
    expect(page.get_by_role("tree")).to_contain_text("Demo Power Company")
    page.get_by_label(t("archive.search")).fill(meter["asset_number"])
    results = page.get_by_role("region", name=t("archive.search_results"))
    results.get_by_text(meter["asset_number"], exact=True).click()

    _expect_meter_details(page, meter, transformer)
    tree = page.get_by_role("tree")
    expect(tree.get_by_text(re.compile(rf"^{re.escape(transformer)} · "))).to_be_visible()
    selected = page.locator(".q-tree__node--selected")
    expect(selected).to_contain_text(meter["asset_number"])
    expect(selected).to_be_in_viewport()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-archive-search.png"))

    # The address names the node: opening it again (a bookmark, a shared link) shows the same.
    expect(page).to_have_url(re.compile(rf"select=meter:{meter['asset_number']}$"))
    page.reload()
    _expect_meter_details(page, meter, transformer)

    # A search that finds nothing says so.
    page.get_by_label(t("archive.search")).fill("NO-SUCH-ASSET-123")
    expect(results).to_contain_text(t("archive.no_results", q="NO-SUCH-ASSET-123"))


def test_transformer_link_and_station_area(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    transformer = "SS-N02-F2-T2"
    topology = server.api(f"/api/v1/transformers/{transformer}/topology")
    meter = _first_meter(server, transformer)
    page.goto(f"/console/archive?select=meter:{meter['asset_number']}")
    details = page.get_by_role("region", name=t("details.title"))
    _field(details, "transformer").get_by_role("link", name=transformer).click()

    expect(_field(details, "rated_kva")).to_contain_text(
        f"{topology['transformer']['rated_kva']:g}"
    )
    expect(details).to_contain_text(t("details.station_area"))
    total = len(topology["meters"])
    expect(details.get_by_role("table").last.locator("tbody tr")).to_have_count(total)
    for terminal in topology["terminals"]:
        expect(details.get_by_role("button", name=terminal)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"select=transformer:{transformer}$"))


def test_overview_counts_what_is_in_service(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    page.goto("/console/")
    for plural in ("substations", "feeders", "transformers", "terminals", "meters"):
        total = server.api(f"/api/v1/{plural}", status="in_service", limit=1)["total"]
        card = page.get_by_role("group", name=t(f"kinds.{plural}"))
        expect(card).to_contain_text(f"{total:,}")
    page.get_by_role("link", name=t("nav.archive")).click()
    expect(page).to_have_url(re.compile(r"/console/archive$"))
    expect(page.get_by_role("tree")).to_contain_text("Demo Power Company")


def test_transformer_details_show_the_last_seven_days_as_a_curve(page: Any, server: Server
                                                                 ) -> None:  # fmt: skip
    from playwright.sync_api import expect

    transformer = "SS-N01-F1-T2"
    deadline = time.monotonic() + 120  # the simulator backfills in the background
    while not server.api(f"/api/v1/devices/{transformer}/readings")["ts"]:
        assert time.monotonic() < deadline, "no simulated history arrived"
        time.sleep(0.5)
    page.goto(f"/console/archive?select=transformer:{transformer}")
    details = page.get_by_role("region", name=t("details.title"))
    expect(details).to_contain_text(t("details.curve_7d"))
    expect(details).not_to_contain_text(t("details.no_readings"))
    chart = page.locator("#curve-7d")
    expect(chart.locator("canvas").first).to_be_visible()
    chart.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-transformer-curve.png"), full_page=True)

"""The import page and a terminal's meter list, in a real Chromium against `e200 up --demo`.

The administrator downloads a template (a real XLSX with the expected sheet), uploads a CSV of
transformers with two bad rows and one good one, sees both bad rows flagged by row and column,
fixes the file, uploads it again, verifies it clean, imports it, and finds the new transformer
in the archive tree under its feeder. A terminal's details show its station area's meters.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from e200.console.i18n import t
from tests.server import E200Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEADER = "asset_number,name,rated_kva,primary_rated_kv,secondary_rated_v,feeder\n"
GOOD = "TX-CONSOLE-GOOD"
BAD_FEEDER = "TX-CONSOLE-FEEDER"
BAD_KVA = "TX-CONSOLE-KVA"
JOB_TIMEOUT_MS = 60_000


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _upload(page: Any, path: Path) -> None:
    page.locator("input[type=file]").set_input_files(str(path))
    _expect()(page.get_by_text(t("import.file", name=path.name))).to_be_visible()


def test_import_transformers_with_errors_fix_and_commit(
    page: Any, server: E200Server, tmp_path: Path
) -> None:
    expect = _expect()
    feeder = server.api("/api/v1/feeders", limit=1)["items"][0]["asset_number"]
    page.goto("/console/import")
    expect(page.get_by_role("navigation").get_by_text(t("nav.import"))).to_be_visible()

    # A template arrives as a real workbook holding the sheet.
    with page.expect_download() as info:
        page.get_by_text(t("import.all_xlsx")).click()
    body = Path(info.value.path()).read_bytes()
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    assert "transformers" in book.sheetnames, book.sheetnames
    assert "notes" in book.sheetnames
    header = next(book["transformers"].iter_rows(min_row=1, max_row=1, values_only=True))
    assert "rated_kva" in header and "feeder" in header

    # Two bad rows (an unknown feeder; a rated power that is not a number) and a good one.
    bad = tmp_path / "transformers.csv"
    bad.write_text(
        HEADER
        + f"{BAD_FEEDER},Unknown feeder,400,10,400,NO-SUCH-FEEDER\n"
        + f"{BAD_KVA},Power not a number,lots,10,400,{feeder}\n"
        + f"{GOOD},New from the console,630,10,400,{feeder}\n"
    )
    _upload(page, bad)
    page.get_by_role("button", name=t("import.verify")).click()
    report = page.get_by_role("region", name=t("import.report"))
    expect(report.get_by_text(t("import.rejected_rows", n=2, e=2))).to_be_visible(
        timeout=JOB_TIMEOUT_MS
    )
    errors = page.locator('[aria-label="errors"]')
    feeder_row = errors.locator("tr", has_text="NO-SUCH-FEEDER")
    expect(feeder_row).to_contain_text("unknown_reference")
    expect(feeder_row.locator("td").nth(1)).to_have_text("2")
    expect(feeder_row.locator("td").nth(2)).to_have_text("feeder")
    kva_row = errors.locator("tr", has_text="lots")
    expect(kva_row).to_contain_text("wrong_type")
    expect(kva_row.locator("td").nth(1)).to_have_text("3")
    expect(kva_row.locator("td").nth(2)).to_have_text("rated_kva")
    expect(report.get_by_text(t("import.rejected_file"))).to_be_visible()
    counts = page.locator('[aria-label="counts"]')
    expect(counts.locator("tr", has_text="transformers")).to_contain_text("3")

    # The fixed file verifies clean and imports.
    fixed = tmp_path / "fixed" / "transformers.csv"
    fixed.parent.mkdir()
    fixed.write_text(
        HEADER
        + f"{BAD_FEEDER},Feeder fixed,400,10,400,{feeder}\n"
        + f"{BAD_KVA},Power fixed,250 kVA,10,400,{feeder}\n"
        + f"{GOOD},New from the console,630,10,400,{feeder}\n"
    )
    _upload(page, fixed)
    page.get_by_role("button", name=t("import.verify")).click()
    expect(report.get_by_text(t("import.verified_ok"))).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.locator('[aria-label="errors"]')).to_have_count(0)
    page.get_by_role("button", name=t("import.import")).click()
    expect(report.get_by_text(t("import.written"))).to_be_visible(timeout=JOB_TIMEOUT_MS)
    history = page.locator('[aria-label="history"]')
    expect(history.locator("tbody tr").first).to_contain_text(t("import.hist.written"))
    assert server.api(f"/api/v1/transformers/{GOOD}")["feeder"] == feeder
    audited = server.api("/api/v1/audit", action="upload_import", limit=10)["items"]
    assert [e["detail"]["dry_run"] for e in audited[:3]] == [False, True, True], audited
    assert all(e["detail"]["via"] == "console" for e in audited[:3])

    # The new transformer is in the archive tree, under its feeder.
    page.goto("/console/archive")
    page.get_by_label(t("archive.search")).fill(GOOD)
    page.get_by_role("region", name=t("archive.search_results")).get_by_text(GOOD).click()
    expect(page.get_by_role("region", name=t("details.title"))).to_contain_text(GOOD)
    tree = page.locator(".q-tree")
    expect(tree.locator(".q-tree__node--selected")).to_contain_text(GOOD)
    feeder_node = tree.locator(".q-tree__node", has_text=feeder).first
    expect(feeder_node).to_contain_text(GOOD)


def test_terminal_details_show_the_meter_list(page: Any, server: E200Server) -> None:
    expect = _expect()
    terminals = server.api("/api/v1/terminals", limit=50)["items"]
    chosen = next(t for t in terminals if t.get("transformer"))
    listed = server.api(f"/api/v1/terminals/{chosen['asset_number']}/meters")
    assert listed["meters"], listed
    page.goto(f"/console/archive?select=terminal:{chosen['asset_number']}")
    panel = page.get_by_role("region", name=t("meters.title"))
    expect(panel).to_contain_text(t("meters.transformer", transformer=chosen["transformer"]))
    table = panel.locator(f'[aria-label="{t("meters.title")}"]').last
    for meter in listed["meters"][:3]:
        expect(table).to_contain_text(meter["asset_number"])
    expect(panel.get_by_role("button", name=t("meters.push"))).to_be_visible()
    expect(panel.get_by_role("status", name=t("meters.last_sync"))).to_be_visible()
    # Pushing the archive's list queues a sync command, whose state the panel then shows.
    panel.get_by_role("button", name=t("meters.push")).click()
    expect(page.get_by_text(re.compile(t("meters.pushed", status=".+")))).to_be_visible()
    sync = page.get_by_role("region", name=t("meters.title")).get_by_role(
        "status", name=t("meters.last_sync")
    )
    states = "|".join(t(f"command_status.{s}") for s in ("pending", "sent", "acked"))
    expect(sync).to_contain_text(re.compile(states))
    audit = server.api("/api/v1/audit", action="push_archive_list", limit=5)
    assert any(e["target"] == f"asset_number={chosen['asset_number']}" for e in audit["items"])

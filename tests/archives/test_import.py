"""The import end to end on a real PostgreSQL: valid-rows mode and the rejected file, upsert,
scope, job history and visibility, background jobs, the round trip of the simulator's grid, and
the templates."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook
from sqlalchemy import Engine, text

from e200 import archives
from e200.archives.imports import api as import_api
from e200.kernel import Scope
from e200.sim.export import export_templates
from e200.sim.faults import FaultConfig, inject_grid_faults
from e200.sim.grid import SimGrid, build_grid
from tests.archives.imports_helpers import csv_text, xlsx_from_csvs
from tests.archives.test_import_errors import build_base
from tests.jobs.workers import queue_settings, queued_client
from tests.users import api_key, make_user

URL = "/api/v1/archives/imports"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(
    client: TestClient,
    name: str,
    content: bytes | str,
    status: int = 201,
    headers: dict[str, str] | None = None,
    **form: str,
) -> dict[str, Any]:
    body = content.encode() if isinstance(content, str) else content
    response = client.post(URL, files={"file": (name, body)}, data=form, headers=headers or {})
    assert response.status_code == status, response.text
    return dict(response.json())


def meters_total(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM archives.meter")).scalar_one())


MIXED = {
    "transformers": csv_text(
        ["asset_number", "rated_kva", "primary_rated_kv", "secondary_rated_v", "feeder"],
        ["T-OK", "250", "10", "400", "F1"],
        ["T-BAD", "250", "10", "400 kV", "F1"],
    ),
    "meters": csv_text(
        ["asset_number", "transformer", "phase", "tariff"],
        ["M-A", "T-OK", "A", "residential"],
        ["M-B", "T1", "B", "residential"],
        ["M-C", "T-BAD", "C", "residential"],
        ["M-D", "T1", "X", "residential"],
    ),
}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_valid_rows_mode_writes_the_valid_ones_and_returns_the_rest(
    client: TestClient, engine: Engine, fmt: str
) -> None:
    build_base(engine)
    before = meters_total(engine)
    if fmt == "csv":
        name, content = "meters.csv", MIXED["meters"].encode()
    else:
        name, content = "grid.xlsx", xlsx_from_csvs(MIXED)
    # All or nothing (the default) writes nothing.
    job = upload(client, name, content, dry_run="false")
    assert job["status"] == "done" and job["written"] is False
    assert meters_total(engine) == before
    job = upload(client, name, content, dry_run="false", on_error="valid_rows")
    assert job["written"] is True, job
    total = job["counts"]["total"]
    expected_create = 1 if fmt == "csv" else 3  # CSV: T-OK and T-BAD are not in the file
    assert total["create"] == expected_create and total["reject"] == total["rows"] - total["create"]
    got = client.get(job["rejected"])
    assert got.status_code == 200
    if fmt == "csv":
        assert got.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
        assert rows[0] == ["asset_number", "transformer", "phase", "tariff", "error"]
        by_number = {r[0]: r for r in rows[1:]}
        assert set(by_number) == {"M-A", "M-C", "M-D"}
        assert "transformer: transformer 'T-OK' does not exist" in by_number["M-A"][4]
        assert "phase: 'X' is not allowed" in by_number["M-D"][4]
        assert meters_total(engine) == before + 1
        # Fix the rejected rows in the returned file and upload it again.
        fixed = got.content.decode("utf-8-sig").replace("T-OK", "T1").replace("T-BAD", "T1")
        fixed = fixed.replace(",X,", ",C,")
        again = upload(client, "meters-rejected.csv", fixed, dry_run="false")
        assert again["written"] and again["counts"]["total"]["create"] == 3
        assert meters_total(engine) == before + 4
    else:
        assert got.headers["content-type"] == XLSX
        wb = CalamineWorkbook.from_filelike(io.BytesIO(got.content))
        assert wb.sheet_names == ["transformers", "meters"]
        transformers = wb.get_sheet_by_name("transformers").to_python()
        assert transformers[0][-1] == "error" and transformers[1][0] == "T-BAD"
        assert "'400 kV' is not in V" in transformers[1][-1]
        meters = wb.get_sheet_by_name("meters").to_python()
        assert [r[0] for r in meters[1:]] == ["M-C", "M-D"]
        assert "'T-BAD' is rejected in this import (transformers row 3)" in meters[1][-1]
        assert meters_total(engine) == before + 2


def test_upsert_updates_changed_rows_moves_relations_and_counts_unchanged(
    client: TestClient, engine: Engine
) -> None:
    build_base(engine)
    header = ["asset_number", "transformer", "phase", "tariff", "valid_from"]
    first = csv_text(
        header,
        ["M1", "T1", "A", "flat", "2026-01-01"],
        ["M2", "T1", "B", "flat", "2026-01-01"],
        ["M3", "T1", "C", "flat", "2026-01-01"],
    )
    assert upload(client, "meters.csv", first, dry_run="false")["counts"]["total"]["create"] == 3
    second = csv_text(
        header,
        ["M1", "T1", "A", "flat", ""],
        ["M2", "T1", "B", "time-of-use", ""],
        ["M3", "T2", "A", "flat", "2026-06-01"],
        ["M4", "T2", "B", "flat", "2026-06-01"],
    )
    refused = upload(client, "meters.csv", second, dry_run="false")
    assert refused["counts"]["total"]["reject"] == 3 and not refused["written"]  # mode create
    job = upload(client, "meters.csv", second, dry_run="false", mode="upsert")
    assert job["counts"]["meters"] == {
        "rows": 4,
        "create": 1,
        "update": 2,
        "unchanged": 1,
        "reject": 0,
    }
    assert client.get("/api/v1/meters/M2").json()["tariff"] == "time-of-use"
    history = client.get("/api/v1/meters/M3/relations/transformer").json()
    assert [
        (h["parent"], h["phase"], h["valid_from"][:10], (h["valid_to"] or "")[:10]) for h in history
    ] == [("T1", "C", "2026-01-01", "2026-06-01"), ("T2", "A", "2026-06-01", "")]
    # The same file again changes nothing.
    again = upload(client, "meters.csv", second, dry_run="false", mode="upsert")
    assert again["counts"]["total"]["unchanged"] == 4 and again["written"] is False


def test_a_scoped_importer_cannot_import_into_another_unit(
    anonymous_client: TestClient, engine: Engine
) -> None:
    build_base(engine)
    make_user(engine, "east_clerk", roles=("collection_operator",), org_units=("EAST",))
    make_user(engine, "west_clerk", roles=("collection_operator",), org_units=("WEST",))
    east = {"X-API-Key": api_key(engine, "east_clerk")}
    west = {"X-API-Key": api_key(engine, "west_clerk")}
    content = csv_text(
        ["asset_number", "transformer", "phase", "org_unit"],
        ["M-E", "T1", "A", ""],
        ["M-W", "T2", "A", ""],
        ["M-W2", "", "", "WEST"],
    )
    job = upload(
        anonymous_client,
        "meters.csv",
        content,
        headers=east,
        dry_run="false",
        on_error="valid_rows",
    )
    assert job["counts"]["total"] == {
        "rows": 3,
        "create": 1,
        "update": 0,
        "unchanged": 0,
        "reject": 2,
    }
    messages = {(e["row"], e["column"]): e["message"] for e in job["errors"]}
    assert messages == {
        (3, "transformer"): "transformer 'T2' does not exist (neither in the file nor in the "
        "archive)",
        (4, "org_unit"): "org unit 'WEST' does not exist (neither in the file nor in the archive)",
    }
    with engine.connect() as conn:
        written = set(conn.execute(text("SELECT asset_number FROM archives.meter")).scalars())
    assert "M-E" in written and not {"M-W", "M-W2"} & written
    # Jobs: the creator sees theirs, another unit's user does not, the admin sees all.
    assert anonymous_client.get(f"{URL}/{job['id']}", headers=east).status_code == 200
    assert anonymous_client.get(f"{URL}/{job['id']}", headers=west).status_code == 404
    assert anonymous_client.get(f"{URL}/{job['id']}/rejected", headers=west).status_code == 404
    assert anonymous_client.get(URL, headers=west).json()["total"] == 0
    admin = {"X-API-Key": api_key(engine)}
    assert [j["id"] for j in anonymous_client.get(URL, headers=admin).json()["items"]] == [
        job["id"]
    ]


def test_history_report_paging_and_audit(client: TestClient, engine: Engine) -> None:
    build_base(engine)
    bad = csv_text(
        ["asset_number", "org_unit", "ct_ratio"], *[[f"M{i}", "EAST", "zero"] for i in range(30)]
    )
    first = upload(client, "meters.csv", bad)
    second = upload(client, "meters.csv", bad, mode="upsert")
    history = client.get(URL).json()
    assert [j["id"] for j in history["items"]] == [second["id"], first["id"]]
    assert history["items"][0]["error_total"] == 30 and history["items"][0]["dry_run"] is True
    page = client.get(f"{URL}/{first['id']}", params={"errors_offset": 25, "errors_limit": 10})
    assert [e["row"] for e in page.json()["errors"]] == [27, 28, 29, 30, 31]
    assert page.json()["error_total"] == 30
    events = client.get("/api/v1/audit", params={"action": "upload_import"}).json()
    items = events["items"] if isinstance(events, dict) else events
    assert items and items[0]["detail"]["request"]["counts"]["reject"] == 30


def test_large_uploads_run_in_the_background_as_jobs(
    engine: Engine, fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_base(engine)
    monkeypatch.setattr(import_api, "INLINE_MAX_BYTES", 0)
    forgotten: list[bool] = []
    archives.on_archive_written(lambda: forgotten.append(True))  # as a pipeline does
    rows = [[f"M{i:05d}", "T1", "ABC"[i % 3]] for i in range(2000)]
    with queued_client(engine, queue_settings(tmp_path, fresh_db_url)) as (client, _queue):
        job = upload(
            client,
            "meters.csv",
            csv_text(["asset_number", "transformer", "phase"], *rows),
            status=202,
            dry_run="false",
        )
        assert job["status"] in ("queued", "verifying", "writing", "done")
        deadline = time.monotonic() + 60
        while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
            job = client.get(f"{URL}/{job['id']}").json()
    assert job["status"] == "done", job
    assert job["rows_done"] == job["rows_total"] == 2000
    assert job["counts"]["total"]["create"] == 2000 and job["written"]
    assert forgotten == [True]  # processes caching archive devices were told
    with engine.connect() as conn:  # the upload was kept only until the job finished
        assert conn.execute(text("SELECT count(*) FROM archives.import_upload")).scalar() == 0
        (run,) = conn.execute(text("SELECT outcome, summary FROM jobs.job_run "
                                   "WHERE name = 'archives.import'")).all()  # fmt: skip
    assert run.outcome == "succeeded" and "2000 created" in run.summary


def test_an_upload_is_refused_where_no_job_queue_runs(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_base(engine)
    monkeypatch.setattr(import_api, "INLINE_MAX_BYTES", 0)
    response = client.post(URL, files={"file": ("meters.csv", b"asset_number,transformer\n")},
                           data={"dry_run": "false"})  # fmt: skip
    assert response.status_code == 503, response.text
    (job,) = client.get(URL).json()["items"]
    assert job["status"] == "failed" and job["message"] == "could not be queued"


def test_unreadable_files_are_refused_at_once(client: TestClient) -> None:
    response = client.post(URL, files={"file": ("notes.txt", b"hello")})
    assert response.status_code == 422 and response.json()["field"] == "file"
    response = client.post(URL, files={"file": ("stuff.csv", b"a,b\n1,2\n")})
    assert response.status_code == 422 and "cannot tell the sheet" in response.json()["detail"]
    response = client.post(URL, files={"file": ("book.xlsx", b"not a zip")})
    assert response.status_code == 422
    ok = client.post(
        URL, files={"file": ("stuff.csv", b"asset_number,org_unit\n")}, data={"sheet": "meters"}
    )
    assert ok.status_code == 201 and ok.json()["counts"]["total"]["rows"] == 0


# -- round trip ----------------------------------------------------------------------------------


def sim_relations(grid: SimGrid) -> list[tuple[str, ...]]:
    since = "2026-01-01T00:00:00Z"
    out = [("feeder_substation", f.asset_number, f.substation, "", since) for f in grid.feeders]
    out += [
        ("transformer_feeder", a.transformer.asset_number, a.transformer.feeder, "", since)
        for a in grid.areas
    ]
    out += [
        ("terminal_transformer", a.terminal.asset_number, a.transformer.asset_number, "", since)
        for a in grid.areas
    ]
    out += [
        ("meter_transformer", m.asset_number, m.archive_transformer, m.archive_phase, since)
        for m in grid.meters
    ]
    org_of = {a.transformer.asset_number: a.transformer.org_unit for a in grid.areas}
    out += [
        ("substation_org_unit", s.asset_number, s.org_unit, "", since) for s in grid.substations
    ]
    out += [("feeder_org_unit", f.asset_number, f.org_unit, "", since) for f in grid.feeders]
    out += [
        ("transformer_org_unit", a.transformer.asset_number, a.transformer.org_unit, "", since)
        for a in grid.areas
    ]
    out += [
        ("terminal_org_unit", a.terminal.asset_number, a.transformer.org_unit, "", since)
        for a in grid.areas
    ]
    out += [
        ("meter_org_unit", m.asset_number, org_of[m.archive_transformer], "", since)
        for m in grid.meters
    ]
    return sorted(out)


def archive_relations(engine: Engine) -> list[tuple[str, ...]]:
    out = []
    with engine.connect() as conn:
        for spec in (
            "feeder_substation",
            "transformer_feeder",
            "terminal_transformer",
            "meter_transformer",
            "substation_org_unit",
            "feeder_org_unit",
            "transformer_org_unit",
            "terminal_org_unit",
            "meter_org_unit",
        ):
            child, parent = spec.split("_", 1)
            key = "code" if parent == "org_unit" else "asset_number"
            phase = "coalesce(r.phase, '')" if spec == "meter_transformer" else "''"
            rows = conn.execute(
                text(
                    f"SELECT c.asset_number, p.{key}, {phase}, to_char(r.valid_from AT TIME ZONE "
                    f"'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM archives.{spec} r "
                    f"JOIN archives.{child} c ON c.id = r.{child}_id "
                    f"JOIN archives.{parent} p ON p.id = r.{parent}_id WHERE r.valid_to IS NULL"
                )
            )
            out += [(spec, *map(str, r)) for r in rows]
    return sorted(out)


def digest(rows: list[tuple[str, ...]]) -> str:
    return hashlib.sha256("\n".join("|".join(r) for r in rows).encode()).hexdigest()


@pytest.mark.parametrize(("preset", "source"), [("tiny", "xlsx"), ("demo", "csv")])
def test_round_trip_of_the_simulators_grid(
    engine: Engine, tmp_path: Path, preset: str, source: str
) -> None:
    grid = build_grid(preset, 7)
    inject_grid_faults(grid, FaultConfig(), 7)  # archive errors travel as the archive says
    paths = export_templates(grid, tmp_path, workbook=source == "xlsx")
    files = (
        [tmp_path / "archive.xlsx"]
        if source == "xlsx"
        else [p for p in paths if p.suffix == ".csv"]
    )
    inputs = [archives.imports.input_file(p) for p in files]
    outcome = archives.imports.run_import(
        engine, inputs, archives.imports.Options(dry_run=False), Scope.everything()
    )
    assert outcome.written and outcome.counts["total"]["reject"] == 0, outcome.errors[:5]
    with engine.connect() as conn:
        counts = archives.counts(conn, Scope.everything())
        units = len(archives.list_org_units(conn, Scope.everything()))
        meter = archives.get_asset(
            conn, archives.KINDS["meter"], grid.meters[0].asset_number, Scope.everything()
        )
    assert counts == {
        "substations": len(grid.substations),
        "feeders": len(grid.feeders),
        "transformers": len(grid.areas),
        "terminals": len(grid.areas),
        "meters": len(grid.meters),
    }
    assert units == len(grid.org_units)
    assert meter["ct_ratio"] == grid.meters[0].archive_ct_ratio
    assert digest(archive_relations(engine)) == digest(sim_relations(grid))
    # Importing the same export again in upsert mode finds every row unchanged.
    again = archives.imports.run_import(
        engine, inputs, archives.imports.Options(mode="upsert", dry_run=False), Scope.everything()
    )
    assert again.counts["total"]["unchanged"] == again.counts["total"]["rows"]


# -- templates -------------------------------------------------------------------------------------


def test_templates_list_and_downloads(client: TestClient) -> None:
    listing = client.get("/api/v1/archives/templates").json()
    assert listing["template_version"] == 1
    sheets = [s["sheet"] for s in listing["sheets"]]
    assert sheets == [
        "org_units",
        "substations",
        "feeders",
        "transformers",
        "terminals",
        "meters",
        "meter_transformer",
        "terminal_transformer",
    ]
    transformer = next(s for s in listing["sheets"] if s["sheet"] == "transformers")
    rated = next(c for c in transformer["columns"] if c["name"] == "rated_kva")
    assert rated["unit"] == "kVA" and rated["required"] and rated["type"] == "number"
    phases = next(c for c in transformer["columns"] if c["name"] == "phases")
    assert phases["allowed"] == [1, 3] and phases["default"] == 3

    got = client.get("/api/v1/archives/templates/meters.csv")
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    assert got.content.decode("utf-8-sig").strip().split(",")[:3] == [
        "asset_number",
        "name",
        "customer_account",
    ]

    book = client.get("/api/v1/archives/templates/all.xlsx")
    assert book.headers["content-type"] == XLSX
    wb = load_workbook(io.BytesIO(book.content))
    assert wb.sheetnames == [*sheets, "notes"]
    meters = wb["meters"]
    assert meters.freeze_panes == "A2"
    assert meters["A1"].font.bold
    lists = {str(dv.sqref): dv.formula1 for dv in meters.data_validations.dataValidation}
    assert lists == {"E2:E1048576": '"single_phase,three_phase"', "M2:M1048576": '"A,B,C,ABC"'}
    notes = [[c.value for c in row] for row in wb["notes"].iter_rows()]
    assert notes[0][0] == "E200 archive import, template version 1"
    rated_note = next(r for r in notes if r[:2] == ["transformers", "rated_kva"])
    assert rated_note[3] == "kVA" and rated_note[4] == "yes"
    assert any(r[0] == "relation_overlap" for r in notes)
    assert client.get("/api/v1/archives/templates/nope.csv").status_code == 404
    assert client.get("/api/v1/archives/templates/meters.pdf").status_code == 404
    # The empty workbook imports as nothing, without errors (its notes sheet is ignored).
    empty = upload(client, "all.xlsx", book.content)
    assert empty["counts"]["total"]["rows"] == 0 and empty["error_total"] == 0
    assert client.get("/api/v1/archives/templates/meter_transformer.xlsx").status_code == 200


def test_template_columns_follow_the_models() -> None:
    """A row filled from each template's defaults and sample values is what the archive's own
    models accept: the templates cannot drift from model.py."""
    for kind in archives.KINDS.values():
        sheet = archives.imports.SHEETS[kind.plural]
        fields = set(kind.create_model.model_fields)
        assert set(sheet.column_names) == fields
        required = {c.name for c in sheet.columns if c.required}
        model_required = {n for n, f in kind.create_model.model_fields.items() if f.is_required()}
        assert model_required <= required
        for col in sheet.columns:
            info = kind.create_model.model_fields[col.name]
            if col.default is not None:
                assert col.default == info.default, col.name


def test_relation_changes_reach_the_terminals(client: TestClient, engine: Engine) -> None:
    """The import announces its meter and terminal relation changes like the archive's routes:
    the terminal slice queues a meter-list sync for the station areas that changed."""
    build_base(engine)
    content = csv_text(
        ["meter", "transformer", "phase", "valid_from"], ["M-OLD", "T2", "A", "2026-06-01"]
    )
    job = upload(client, "meter_transformer.csv", content, dry_run="false")
    assert job["written"], job
    commands = client.get("/api/v1/terminals/TTU1/commands").json()
    items = commands["items"] if isinstance(commands, dict) else commands
    assert [c["kind"] for c in items] == ["sync_meters"]

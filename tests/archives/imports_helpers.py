"""Helpers for the import tests: files from text, XLSX from rows, jobs owned by test users."""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import Engine

from e200 import archives
from e200.kernel import Scope


@dataclass(frozen=True)
class Upload:
    """A multipart upload for the permission test's generic caller."""

    name: str
    content: bytes
    form: dict[str, str]


def csv_text(header: list[str], *rows: list[Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def xlsx_from_csvs(sheets: dict[str, str]) -> bytes:
    """A workbook whose sheets hold the cells of these CSV texts (numbers stay text unless
    they parse as numbers, like a user typing them)."""
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for name, content in sheets.items():
        ws = wb.create_sheet(name)
        for row in csv.reader(io.StringIO(content)):
            ws.append([_typed(c) for c in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _typed(cell: str) -> Any:
    if cell == "":
        return None
    try:
        return int(cell) if cell.isdigit() else float(cell) if _is_float(cell) else cell
    except ValueError:
        return cell


def _is_float(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return cell.strip().lower() not in ("nan", "inf", "-inf", "infinity")


def write(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def scope_of(engine: Engine, *codes: str) -> Scope:
    with engine.connect() as conn:
        return Scope(tuple(str(archives.org_path(conn, c)) for c in codes))


def make_job(engine: Engine, username: str, org_unit: str) -> int:
    """A finished dry-run job of ``username`` (scoped to ``org_unit``) with one rejected row."""
    scope = scope_of(engine, org_unit)
    folder = Path(tempfile.mkdtemp(prefix="e200-test-import-"))
    path = write(
        folder,
        "meters.csv",
        csv_text(
            ["asset_number", "org_unit", "wiring"], [f"M-JOB-{username}", org_unit, "two_phase"]
        ),
    )
    files = [archives.imports.input_file(path)]
    options = archives.imports.Options()
    job_id = archives.imports.create_job(
        engine, username=username, scope=scope, files=files, options=options
    )
    archives.imports.execute_job(engine, job_id, files, options, scope)
    path.unlink()
    folder.rmdir()
    return job_id

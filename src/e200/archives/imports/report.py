"""What an import reports: counts per sheet and action, the errors listed, and the rejected rows
written back as a file (the input re-read, merged with the errors in row order)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

from e200.archives.imports import read
from e200.archives.imports.errors import message
from e200.archives.imports.templates import ERROR_COLUMN, SHEETS, cell_text
from e200.archives.imports.workbook import csv_bytes, plain_workbook
from e200.archives.imports.workspace import Staged, Workspace

ERRORS_LISTED = 10_000
ACTIONS = ("create", "update", "unchanged", "reject")


def counts(ws: Workspace) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    total = dict.fromkeys(("rows", *ACTIONS), 0)
    for name, st in ws.staged.items():
        row = ws.conn.execute(
            text(
                f"SELECT count(*), count(*) FILTER (WHERE NOT rej AND act = 'create'), "
                f"count(*) FILTER (WHERE NOT rej AND act = 'update'), "
                f"count(*) FILTER (WHERE NOT rej AND act = 'unchanged'), "
                f"count(*) FILTER (WHERE rej) FROM {st.table}"
            )
        ).one()
        out[name] = dict(zip(("rows", *ACTIONS), map(int, row), strict=True))
        for key, value in out[name].items():
            total[key] += value
    out["total"] = total
    return out


def errors(ws: Workspace, limit: int = ERRORS_LISTED) -> tuple[list[dict[str, Any]], int]:
    total = int(ws.conn.execute(text("SELECT count(*) FROM imp_error")).scalar_one())
    rows = ws.conn.execute(
        text(
            "SELECT sheet_ix, row_no, col, code, value, arg FROM imp_error "
            "ORDER BY sheet_ix, row_no, seq LIMIT :limit"
        ),
        {"limit": limit},
    )
    names = list(SHEETS)
    return [
        {
            "sheet": names[r.sheet_ix],
            "row": r.row_no,
            "column": r.col or None,
            "code": r.code,
            "value": r.value,
            "message": message(r.code, r.value, r.arg),
        }
        for r in rows
    ], total


def rejected_rows(ws: Workspace, st: Staged) -> Iterator[list[Any]]:
    """The rejected rows of one sheet as read from the file, plus the error column (the
    file is read again, merged with the errors in row order: memory stays flat)."""
    result = ws.conn.execute(
        text(
            f"SELECT e.row_no, e.col, e.code, e.value, e.arg FROM imp_error e "
            f"WHERE e.sheet_ix = {st.ix} AND e.row_no > 1 ORDER BY e.row_no, e.seq"
        ),
        execution_options={"yield_per": 2000},
    )
    errors = iter(result)
    pending = next(errors, None)
    rows = read.rows(st.part)
    header = next(rows, None)
    keep = _data_columns(header)
    for n, cells in rows:
        if pending is None:
            break
        if pending.row_no != n:
            continue
        notes = []
        while pending is not None and pending.row_no == n:
            text_ = message(pending.code, pending.value, pending.arg)
            notes.append(f"{pending.col}: {text_}" if pending.col else text_)
            pending = next(errors, None)
        yield [*(cells[i] if i < len(cells) else "" for i in keep), "; ".join(notes)]
    result.close()


def rejected_file(ws: Workspace, files: list[read.InputFile]) -> tuple[bytes, str] | None:
    sheets = [st for st in ws.staged.values() if _has_rejects(ws, st)]
    if not sheets:
        return None
    first = files[0]
    stem = first.name.rsplit(".", 1)[0]
    if len(files) == 1 and first.format == "csv":
        st = sheets[0]
        header = _header_without_error(st.part)
        return csv_bytes(
            [*header, ERROR_COLUMN], (_as_text(r) for r in rejected_rows(ws, st))
        ), f"{stem}-rejected.csv"
    parts = [
        (
            st.part.sheet_name or st.sheet.name,
            [*_header_without_error(st.part), ERROR_COLUMN],
            rejected_rows(ws, st),
        )
        for st in sheets
    ]
    return plain_workbook(parts), f"{stem}-rejected.xlsx"


def _has_rejects(ws: Workspace, st: Staged) -> bool:
    return bool(ws.conn.execute(text(f"SELECT 1 FROM {st.table} WHERE rej LIMIT 1")).first())


def _data_columns(header: tuple[int, list[Any]] | None) -> list[int]:
    """Indexes of the header's columns, without a previous import's error column."""
    if header is None:
        return []
    return [i for i, c in enumerate(header[1]) if cell_text(c).strip().lower() != ERROR_COLUMN]


def _header_without_error(part: read.SheetPart) -> list[Any]:
    header = next(read.rows(part), None)
    return [header[1][i] for i in _data_columns(header)] if header else []


def _as_text(row: list[Any]) -> list[str]:
    return [cell_text(c) for c in row]

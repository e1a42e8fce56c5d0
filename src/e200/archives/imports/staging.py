"""Staging: each sheet streamed into a temporary table by binary COPY, every cell converted
and checked on the way (errors kept with the row), header problems reported once."""

from __future__ import annotations

from typing import Any

from e200.archives.imports import read
from e200.archives.imports.errors import message
from e200.archives.imports.templates import (
    ERROR_COLUMN,
    SHEET_ORDER,
    CellError,
    cell_text,
    make_converter,
)
from e200.archives.imports.workspace import Staged, Workspace, q, sheet_type

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('e200.archives.import'))"
SEP = "\x1f"
_META = {
    "org": "id int8, ex_path text, ex_parent text, ex_name text, ex_kind text, par_src text, "
    "par_row int4",
    "asset": "id int8, ex_status text, ex_org text, ex_scope bool, ex_parent text, ex_phase text, "
    "ex_wiring text, org_src text, org_row int4, par_src text, par_row int4, par_org text, "
    "par_status text, par_retired_at timestamptz, eff_org text, eff_phase text, "
    "eff_wiring text, vf timestamptz, moved_org bool, moved_par bool",
    "relation": "child_id int8, child_src text, child_row int4, ex_child_status text, "
    "child_wiring text, par_src text, par_row int4, par_org text, par_status text, "
    "par_retired_at timestamptz, eff_phase text, vf timestamptz, identical bool NOT NULL "
    "DEFAULT false",
}


def create_tables(ws: Workspace) -> None:
    ws.x(_LOCK)
    ws.x(
        "CREATE TEMP TABLE imp_error (seq bigserial, sheet_ix int2, row_no int4, "
        "col text, code text, value text, arg text) ON COMMIT DROP"
    )
    ws.x("CREATE INDEX ON imp_error (sheet_ix, row_no)")


def stage(ws: Workspace, part: read.SheetPart) -> Staged:
    sheet = part.sheet
    ix = SHEET_ORDER[sheet.name]
    table = f"imp_s{ix}"
    meta = _META[sheet_type(sheet)]
    cols = ", ".join(f"{q(c.name)} {c.sql_type}" for c in sheet.columns)
    ws.x(
        f"CREATE TEMP TABLE {table} (row_no int4 NOT NULL, {cols}, errs text[], "
        f"rej bool NOT NULL DEFAULT false, act text, {meta}) "
        "WITH (fillfactor = 60) ON COMMIT DROP"
    )
    rows = read.rows(part)
    header = next(rows, None)
    staged = Staged(part, ix, table, set())
    ws.staged[sheet.name] = staged
    header_errors: list[tuple[str, str, str]] = []  # (column, code, value)
    index: dict[str, int] = {}
    if header is not None:
        for i, cell in enumerate(header[1]):
            name = cell_text(cell).strip().lower()
            if not name or name == ERROR_COLUMN:
                continue
            if name not in sheet.by_name:
                header_errors.append((name, "unknown_column", name))
            elif name in index:
                header_errors.append((name, "duplicate_column", name))
            else:
                index[name] = i
        for key in sheet.key:
            if key not in index:
                header_errors.append((key, "missing_column", key))
    staged.present = set(index)
    staged.header_ok = not header_errors
    header_note = "; ".join(message(code, value, None) for _, code, value in header_errors)
    columns = [(c, make_converter(c), index.get(c.name)) for c in sheet.columns]
    defaults = [c.default for c in sheet.columns]
    types = ["int4", *(c.sql_type for c in sheet.columns), "text[]"]
    raw: Any = ws.conn.connection.driver_connection
    names = ", ".join(["row_no", *(q(c.name) for c in sheet.columns), "errs"])
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for n, cells in rows:
            staged.rows += 1
            ws.tick()
            if not staged.header_ok:
                copy.write_row(
                    [n, *([None] * len(defaults)), [f"{SEP}header{SEP}{header_note}{SEP}"]]
                )
                continue
            values = list(defaults)
            errs: list[str] | None = None
            width = len(cells)
            for j, (col, convert, at) in enumerate(columns):
                if at is None:
                    continue
                cell = cells[at] if at < width else ""
                try:
                    value = convert(cell)
                except CellError as exc:
                    errs = errs or []
                    errs.append(
                        f"{col.name}{SEP}{exc.code}{SEP}{exc.arg}{SEP}"
                        f"{cell_text(cell).replace(SEP, ' ')}"
                    )
                    values[j] = None
                    continue
                if value is None and col.required:
                    errs = errs or []
                    errs.append(f"{col.name}{SEP}required{SEP}{SEP}")
                values[j] = value
            copy.write_row([n, *values, errs])
    for column, code, value in header_errors:
        ws.x(
            "INSERT INTO imp_error (sheet_ix, row_no, col, code, value) "
            "VALUES (:ix, 1, :col, :code, :value)",
            ix=ix,
            col=column,
            code=code,
            value=value,
        )
    ws.x(
        f"INSERT INTO imp_error (sheet_ix, row_no, col, code, arg, value) "
        f"SELECT {ix}, row_no, split_part(e, E'\\x1f', 1), split_part(e, E'\\x1f', 2), "
        f"split_part(e, E'\\x1f', 3), split_part(e, E'\\x1f', 4) "
        f"FROM {table}, unnest(errs) AS e WHERE errs IS NOT NULL"
    )
    ws.x(f"UPDATE {table} SET rej = true WHERE errs IS NOT NULL")
    ws.x(f"CREATE UNIQUE INDEX ON {table} (row_no)")
    for key in sheet.key[:1]:
        ws.x(f"CREATE INDEX ON {table} ({q(key)})")
    ws.x(f"ANALYZE {table}")
    return staged

"""Writing import files: the templates (XLSX with a notes sheet, drop-downs, a styled and frozen
header; or CSV), the rejected rows of an import, and the simulator's export. Byte-stable: the
same content gives the same bytes (fixed timestamps inside the XLSX zip)."""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from e200.archives.imports.errors import ERRORS
from e200.archives.imports.templates import NOTES_SHEET, TEMPLATE_VERSION, Column, Sheet

CSV_BOM = "\ufeff"  # Excel opens UTF-8 CSV correctly only with it
FIXED_TIME = (2026, 1, 1, 0, 0, 0)
_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_REQUIRED_FONT = Font(bold=True, color="FFD966")


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    buf.write(CSV_BOM)
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def _type_text(col: Column) -> str:
    return {
        "text": "text",
        "number": "number",
        "integer": "whole number",
        "boolean": "true/false",
        "datetime": "date/time (ISO 8601)",
    }[col.type]


def _limits_text(col: Column) -> str:
    parts = []
    if col.range_text:
        parts.append(col.range_text)
    if col.max_length:
        parts.append(f"at most {col.max_length} characters")
    if col.default is not None:
        parts.append(f"default {col.default}")
    return "; ".join(parts)


def notes_rows(sheets: Iterable[Sheet]) -> list[list[Any]]:
    """The notes sheet: one line per column of every sheet, then the error codes."""
    out: list[list[Any]] = [
        [f"E200 archive import, template version {TEMPLATE_VERSION}"],
        [
            "Fill the sheets (parents first: org units, substations, feeders, transformers, "
            "terminals, meters, relations); keep the header row. Empty cells take the default; "
            "columns left out keep the stored value in mode upsert. See docs/import.md."
        ],
        [],
        [
            "sheet",
            "column",
            "type",
            "unit",
            "required",
            "allowed values",
            "limits / default",
            "description",
        ],
    ]
    for sheet in sheets:
        for col in sheet.columns:
            out.append(
                [
                    sheet.name,
                    col.name,
                    _type_text(col),
                    col.unit or "",
                    "yes" if col.required else "",
                    ", ".join(map(str, col.allowed)),
                    _limits_text(col),
                    col.description,
                ]
            )
    out += [[], ["error code", "message", "", "", "", "", "", "meaning"]]
    out += [[e.code, e.message, "", "", "", "", "", e.description] for e in ERRORS.values()]
    return out


def template_workbook(
    sheets: Sequence[Sheet], rows: Mapping[str, Iterable[Sequence[Any]]] | None = None
) -> bytes:
    """A workbook with one sheet per template sheet (header styled and frozen, drop-downs for
    allowed values, required columns marked) and the notes sheet; ``rows`` fills sheets."""
    wb = Workbook(write_only=True)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.name)
        ws.freeze_panes = "A2"
        for i, col in enumerate(sheet.columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(12, len(col.name) + 4)
            if col.allowed:
                listed = ",".join(map(str, col.allowed))
                dv = DataValidation(
                    type="list",
                    formula1=f'"{listed}"',
                    allow_blank=True,
                    showErrorMessage=True,
                    errorTitle=col.name,
                    error=f"Allowed: {listed}",
                )
                letter = get_column_letter(i)
                dv.add(f"{letter}2:{letter}1048576")
                ws.data_validations.append(dv)
        header = []
        for col in sheet.columns:
            cell = WriteOnlyCell(ws, value=col.name)
            cell.fill = _HEADER_FILL
            cell.font = _REQUIRED_FONT if col.required else _HEADER_FONT
            header.append(cell)
        ws.append(header)
        for row in (rows or {}).get(sheet.name, ()):
            ws.append(list(row))
    notes = wb.create_sheet(NOTES_SHEET)
    notes.column_dimensions["A"].width = 22
    notes.column_dimensions["B"].width = 26
    notes.column_dimensions["H"].width = 90
    for n, line in enumerate(notes_rows(sheets)):
        if n in (0, 3):
            cells = []
            for value in line:
                cell = WriteOnlyCell(notes, value=value)
                cell.font = Font(bold=True)
                cell.alignment = Alignment(wrap_text=False)
                cells.append(cell)
            notes.append(cells)
        else:
            notes.append(line)
    return save(wb)


def plain_workbook(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """Sheets of rows under a bold, frozen header (the rejected rows of an import)."""
    wb = Workbook(write_only=True)
    for name, header, rows in sheets:
        ws = wb.create_sheet(name)
        ws.freeze_panes = "A2"
        cells = []
        for value in header:
            cell = WriteOnlyCell(ws, value=value)
            cell.font = Font(bold=True)
            cells.append(cell)
        ws.append(cells)
        for row in rows:
            ws.append(list(row))
    return save(wb)


def save(wb: Workbook) -> bytes:
    with tempfile.TemporaryFile() as tmp:
        wb.save(tmp)
        tmp.seek(0)
        return stable_zip(tmp.read())


_CORE_TIMES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def stable_zip(data: bytes) -> bytes:
    """The same workbook with fixed member times and document timestamps (byte-stable)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _CORE_TIMES.sub(rb"\g<1>2026-01-01T00:00:00Z\g<3>", body)
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, body)
    return out.getvalue()

"""Reading upload files sheet by sheet, streamed: CSV with the csv module (one sheet per file,
chosen from the file name or given), XLSX with python-calamine (one sheet in memory at a time,
as compact Rust cells; rows become Python lists one by one)."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from python_calamine import CalamineWorkbook

from e200.archives.imports.templates import (
    NOTES_SHEET,
    SHEET_ORDER,
    SHEETS,
    Sheet,
    sheet_for_file_name,
)
from e200.kernel import InvalidInputError

FileFormat = Literal["csv", "xlsx"]


class ImportFileError(InvalidInputError):
    """The file cannot be read as an import at all (not CSV/XLSX, no sheet recognised, ...)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"file: {detail}", field="file")


@dataclass(frozen=True)
class InputFile:
    """One uploaded file; ``sheet`` forces the sheet of a CSV file."""

    path: Path
    name: str
    sheet: str | None = None

    @property
    def format(self) -> FileFormat:
        suffix = Path(self.name).suffix.lower()
        if suffix == ".csv":
            return "csv"
        if suffix in (".xlsx", ".xlsm"):
            return "xlsx"
        raise ImportFileError(f"{self.name!r} is neither .csv nor .xlsx")


@dataclass(frozen=True)
class SheetPart:
    """Where the rows of one template sheet come from: a CSV file, or a sheet of a workbook."""

    sheet: Sheet
    file: InputFile
    sheet_name: str | None  # the workbook's sheet name (XLSX)
    estimated_rows: int

    @property
    def origin(self) -> str:
        return self.file.name + (f" [{self.sheet_name}]" if self.sheet_name else "")


@dataclass(frozen=True)
class Plan:
    """The sheets of an import in template order (parents first), and what was ignored."""

    parts: list[SheetPart]
    ignored: list[str]

    @property
    def estimated_rows(self) -> int:
        return sum(p.estimated_rows for p in self.parts)


def plan(files: list[InputFile]) -> Plan:
    parts: dict[str, SheetPart] = {}
    ignored: list[str] = []

    def add(part: SheetPart) -> None:
        if part.sheet.name in parts:
            raise ImportFileError(
                f"sheet {part.sheet.name!r} is given twice "
                f"({parts[part.sheet.name].origin} and {part.origin})"
            )
        parts[part.sheet.name] = part

    for f in files:
        if f.format == "csv":
            sheet = SHEETS.get(f.sheet) if f.sheet else sheet_for_file_name(Path(f.name).stem)
            if sheet is None:
                known = ", ".join(SHEETS)
                raise ImportFileError(
                    f"cannot tell the sheet of {f.name!r}: name the file after one of {known} "
                    "(e.g. meters.csv) or give the sheet"
                )
            add(SheetPart(sheet, f, None, _csv_rows_estimate(f.path)))
            continue
        try:
            with CalamineWorkbook.from_path(str(f.path)) as wb:
                names = list(wb.sheet_names)
        except Exception as exc:  # calamine raises its own types for broken files
            raise ImportFileError(f"{f.name!r} is not a readable XLSX workbook ({exc})") from exc
        dims = _xlsx_dimensions(f.path)
        for name in names:
            key = name.strip().lower()
            if key in SHEETS:
                add(SheetPart(SHEETS[key], f, name, dims.get(name, 0)))
            elif key != NOTES_SHEET:
                ignored.append(f"{f.name} [{name}]")
    if not parts:
        raise ImportFileError("no sheet named after a template sheet (" + ", ".join(SHEETS) + ")")
    ordered = sorted(parts.values(), key=lambda p: SHEET_ORDER[p.sheet.name])
    return Plan(ordered, ignored)


def rows(part: SheetPart) -> Iterator[tuple[int, list[Any]]]:
    """(row number as the user sees it, header = row 1; cells) for every row, header first.
    Blank rows are skipped (their numbers too, so numbers stay those of the sheet)."""
    if part.file.format == "csv":
        yield from _csv_rows(part.file.path)
        return
    with CalamineWorkbook.from_path(str(part.file.path)) as wb:
        sheet = wb.get_sheet_by_name(part.sheet_name or "")
        start = sheet.start
        first = (start[0] if start else 0) + 1
        for n, cells in enumerate(sheet.iter_rows(), start=first):
            if any(c != "" and c is not None for c in cells):
                yield n, cells


def _open_text(path: Path) -> io.TextIOWrapper:
    """UTF-8 (with or without BOM); files that are not UTF-8 are read as GB 18030 (what Excel
    on a Chinese Windows writes)."""
    with path.open("rb") as raw:
        head = raw.read(1 << 16)
    encoding = "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        encoding = "gb18030"
    return io.TextIOWrapper(path.open("rb"), encoding=encoding, newline="")


def _csv_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    with _open_text(path) as text:
        first = text.readline()
        delimiter = max((",", ";", "\t"), key=first.count) if first else ","
        reader = csv.reader(_chain(first, text), delimiter=delimiter)
        for n, cells in enumerate(reader, start=1):
            if any(c.strip() for c in cells):
                yield n, list(cells)


def _chain(first: str, rest: io.TextIOWrapper) -> Iterator[str]:
    yield first
    yield from rest


def _csv_rows_estimate(path: Path) -> int:
    lines = 0
    with path.open("rb") as raw:
        while chunk := raw.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(lines - 1, 0)


_DIMENSION = re.compile(rb'<dimension ref="[A-Z]+(\d+)(?::[A-Z]+(\d+))?"')
_SHEET = re.compile(rb'<sheet [^>]*name="([^"]+)"[^>]*r:id="([^"]+)"')
_REL = re.compile(rb'<Relationship [^>]*Id="([^"]+)"[^>]*Target="([^"]+)"')
_REL_REVERSED = re.compile(rb'<Relationship [^>]*Target="([^"]+)"[^>]*Id="([^"]+)"')


def _xlsx_dimensions(path: Path) -> dict[str, int]:
    """Data rows per sheet from each sheet's ``<dimension>`` element (cheap, for progress);
    0 where the workbook does not say."""
    out: dict[str, int] = {}
    try:
        with zipfile.ZipFile(path) as z:
            book = z.read("xl/workbook.xml")
            rels_xml = z.read("xl/_rels/workbook.xml.rels")
            rels = {rid: target for rid, target in _REL.findall(rels_xml)}
            rels |= {rid: target for target, rid in _REL_REVERSED.findall(rels_xml)}
            for name, rid in _SHEET.findall(book):
                target = rels.get(rid, b"").decode().lstrip("/")
                member = target if target.startswith("xl/") else f"xl/{target}"
                with z.open(member) as f:
                    match = _DIMENSION.search(f.read(4096))
                if match:
                    last = int(match.group(2) or match.group(1))
                    out[_unescape(name.decode())] = max(last - 1, 0)
    except (KeyError, zipfile.BadZipFile, OSError):
        return out
    return out


def _unescape(name: str) -> str:
    return (
        name.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )

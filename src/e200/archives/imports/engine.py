"""The import itself: stream every sheet into a temporary staging table (binary COPY), verify
with set-based SQL (one statement per check over all rows), then write with INSERT … SELECT and
UPDATE … FROM — never row by row — in one transaction, and re-check the scope of what was
written before committing.

Everything happens on one connection inside one transaction: a dry run, or an all-or-nothing
import with a rejected row, rolls back and leaves no trace but the job's report.

The steps live in their own modules over one ``Workspace`` (the connection, scope, options and
staged sheets): ``staging`` (COPY into temporary tables), ``verify`` and ``settle`` (the rules, per
sheet and across sheets), ``write`` (and the scope re-check), ``report`` (counts, errors, the
rejected rows as a file). ``Importer`` runs them in that order for ``jobs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from e200.archives.imports import read, report, staging, verify, write
from e200.archives.imports.report import ERRORS_LISTED
from e200.archives.imports.workspace import Mode, OnError, Options, Progress, Staged, Workspace
from e200.archives.imports.write import ScopeViolationError

__all__ = [
    "ERRORS_LISTED",
    "Importer",
    "Mode",
    "OnError",
    "Options",
    "Outcome",
    "Progress",
    "ScopeViolationError",
]


@dataclass
class Outcome:
    """What an import found and did. ``counts`` per sheet and ``total``: rows, create, update,
    unchanged, reject (create + update + unchanged + reject = rows)."""

    counts: dict[str, dict[str, int]]
    errors: list[dict[str, Any]]
    error_total: int
    written: bool
    warnings: list[str] = field(default_factory=list)
    rejected_file: bytes | None = None
    rejected_name: str | None = None
    created_assets: int = 0


class Importer(Workspace):
    """One import on one connection (the caller owns the transaction): stage every sheet, verify,
    report, write, re-check the scope."""

    def create_tables(self) -> None:
        staging.create_tables(self)

    def stage(self, part: read.SheetPart) -> Staged:
        return staging.stage(self, part)

    def verify(self) -> None:
        verify.verify(self)

    def counts(self) -> dict[str, dict[str, int]]:
        return report.counts(self)

    def errors(self, limit: int = ERRORS_LISTED) -> tuple[list[dict[str, Any]], int]:
        return report.errors(self, limit)

    def rejected_file(self, files: list[read.InputFile]) -> tuple[bytes, str] | None:
        return report.rejected_file(self, files)

    def write(self) -> int:
        """Write every valid row; the number of assets created."""
        return write.write(self)

    def recheck_scope(self) -> None:
        write.recheck_scope(self)

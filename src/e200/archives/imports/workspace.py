"""What every step of an import shares: one connection inside the caller's transaction, the
importer's scope and options, the staged sheets, progress, and the SQL building blocks the
steps are written in (statements, the scope test, first rows per key, rejections)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, text

from e200.archives.imports import read
from e200.archives.imports.templates import Sheet
from e200.archives.kinds import KINDS
from e200.archives.tables import RelationSpec
from e200.kernel import Scope

Mode = Literal["create", "upsert"]
OnError = Literal["all_or_nothing", "valid_rows"]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Options:
    mode: Mode = "create"
    on_error: OnError = "all_or_nothing"
    dry_run: bool = True
    actor: str | None = None  # who imports (named in the relation changes announced)


@dataclass
class Staged:
    part: read.SheetPart
    ix: int
    table: str
    present: set[str]
    rows: int = 0
    header_ok: bool = True

    @property
    def sheet(self) -> Sheet:
        return self.part.sheet


def iso(expr: str) -> str:
    """A timestamp as ISO 8601 UTC text, as users write it in the templates."""
    return f"""to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def q(name: str) -> str:
    return f'"{name}"'


def sheet_type(sheet: Sheet) -> Literal["org", "asset", "relation"]:
    if sheet.relation is not None:
        return "relation"
    return "asset" if sheet.kind is not None else "org"


class Workspace:
    """One import on one connection (the caller owns the transaction)."""

    def __init__(
        self,
        conn: Connection,
        scope: Scope,
        options: Options,
        now: datetime,
        progress: Progress | None = None,
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.options = options
        self.now = now
        self.progress = progress or (lambda *_: None)
        self.staged: dict[str, Staged] = {}
        self.rows_done = 0
        self.rows_total = 0
        self.params: dict[str, Any] = {
            "now": now,
            "roots": [p + "%" for p in scope.org_paths or ()],
        }

    def x(self, sql: str, **params: Any) -> int:
        result = self.conn.execute(text(sql), {**self.params, **params})
        return int(result.rowcount or 0)

    def in_scope(self, path: str) -> str:
        if self.scope.org_paths is None:
            return "TRUE"
        if not self.scope.org_paths:
            return "FALSE"
        return f"coalesce({path} LIKE ANY(CAST(:roots AS text[])), false)"

    def table(self, name: str) -> str | None:
        staged = self.staged.get(name)
        return staged.table if staged else None

    def first(self, name: str, key: str) -> str | None:
        """First occurrence of each key in a staged sheet (later ones are duplicates)."""
        t = self.table(name)
        if t is None:
            return None
        return (
            f"(SELECT DISTINCT ON ({q(key)}) * FROM {t} WHERE {q(key)} IS NOT NULL "
            f"ORDER BY {q(key)}, row_no)"
        )

    def arch(self, kind: str) -> str:
        """Every asset of a kind with its current (open) org unit's code and path."""
        return (
            f"(SELECT a.*, o.code AS org_code, o.path AS org_path FROM archives.{kind} a "
            f"LEFT JOIN archives.{kind}_org_unit r ON r.{kind}_id = a.id AND r.valid_to IS NULL "
            f"LEFT JOIN archives.org_unit o ON o.id = r.org_unit_id)"
        )

    def reject(
        self,
        sheet: str,
        code: str,
        col: str,
        where: str,
        *,
        value: str = "NULL",
        arg: str = "NULL",
        joins: str = "",
        only_valid: bool = False,
    ) -> int:
        """Record an error for every row of ``sheet`` matching ``where`` and mark it rejected."""
        st = self.staged[sheet]
        cond = f"({where})" + (" AND NOT s.rej" if only_valid else "")
        return self.x(
            f"WITH e AS (INSERT INTO imp_error (sheet_ix, row_no, col, code, value, arg) "
            f"SELECT DISTINCT ON (s.row_no) {st.ix}, s.row_no, '{col}', '{code}', "
            f"CAST(({value}) AS text), CAST(({arg}) AS text) FROM {st.table} s {joins} "
            f"WHERE {cond} ORDER BY s.row_no RETURNING row_no) "
            f"UPDATE {st.table} s SET rej = true FROM e WHERE s.row_no = e.row_no"
        )

    def tick(self) -> None:
        self.rows_done += 1
        if self.rows_done % 5000 == 0:
            self.progress("verifying", self.rows_done, self.rows_total)

    def done(self, st: Staged) -> None:
        self.rows_done += st.rows
        self.progress("writing", self.rows_done, self.rows_total)

    def period_sources(self, spec: RelationSpec) -> list[tuple[str, str]]:
        """(sheet, what) contributing periods to a relation: the child's asset sheet (its org
        unit or parent column) and the relation's own sheet."""
        out = []
        child_sheet = KINDS[spec.child].plural
        if child_sheet in self.staged and self.staged[child_sheet].header_ok:
            out.append((child_sheet, "org" if spec.parent == "org_unit" else "parent"))
        if spec.name in self.staged and self.staged[spec.name].header_ok:
            out.append((spec.name, "relation"))
        return out

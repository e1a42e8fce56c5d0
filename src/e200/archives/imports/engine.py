"""The import itself: stream every sheet into a temporary staging table (binary COPY), verify
with set-based SQL (one statement per check over all rows), then write with INSERT … SELECT and
UPDATE … FROM — never row by row — in one transaction, and re-check the scope of what was
written before committing.

Everything happens on one connection inside one transaction: a dry run, or an all-or-nothing
import with a rejected row, rolls back and leaves no trace but the job's report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, text

from e200.archives.events import RelationChange, announce
from e200.archives.imports import read
from e200.archives.imports.errors import message
from e200.archives.imports.templates import (
    ERROR_COLUMN,
    SHEET_ORDER,
    SHEETS,
    CellError,
    Sheet,
    cell_text,
    make_converter,
)
from e200.archives.imports.workbook import csv_bytes, plain_workbook
from e200.archives.kinds import KINDS
from e200.archives.tables import RELATIONS, RelationSpec
from e200.kernel import E200Error, Scope

Mode = Literal["create", "upsert"]
OnError = Literal["all_or_nothing", "valid_rows"]
Progress = Callable[[str, int, int], None]
ERRORS_LISTED = 10_000
SEP = "\x1f"
ACTIONS = ("create", "update", "unchanged", "reject")
# Relations whose changes the slices above the archive hear of (archives.events).
ANNOUNCED = ("meter_transformer", "terminal_transformer")
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('e200.archives.import'))"


class ScopeViolationError(E200Error):
    """Written records fell outside the importer's scope (a bug caught by the re-check)."""

    status = 500
    title = "Import refused"


@dataclass(frozen=True)
class Options:
    mode: Mode = "create"
    on_error: OnError = "all_or_nothing"
    dry_run: bool = True
    actor: str | None = None  # who imports (named in the relation changes announced)


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


@dataclass
class _Staged:
    part: read.SheetPart
    ix: int
    table: str
    present: set[str]
    rows: int = 0
    header_ok: bool = True

    @property
    def sheet(self) -> Sheet:
        return self.part.sheet


def _iso(expr: str) -> str:
    """A timestamp as ISO 8601 UTC text, as users write it in the templates."""
    return f"""to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def _q(name: str) -> str:
    return f'"{name}"'


class Importer:
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
        self.staged: dict[str, _Staged] = {}
        self.rows_done = 0
        self.rows_total = 0
        self.params: dict[str, Any] = {
            "now": now,
            "roots": [p + "%" for p in scope.org_paths or ()],
        }

    # -- helpers -------------------------------------------------------------------------------

    def _x(self, sql: str, **params: Any) -> int:
        result = self.conn.execute(text(sql), {**self.params, **params})
        return int(result.rowcount or 0)

    def in_scope(self, path: str) -> str:
        if self.scope.org_paths is None:
            return "TRUE"
        if not self.scope.org_paths:
            return "FALSE"
        return f"coalesce({path} LIKE ANY(CAST(:roots AS text[])), false)"

    def _t(self, name: str) -> str | None:
        staged = self.staged.get(name)
        return staged.table if staged else None

    def _first(self, name: str, key: str) -> str | None:
        """First occurrence of each key in a staged sheet (later ones are duplicates)."""
        t = self._t(name)
        if t is None:
            return None
        return (
            f"(SELECT DISTINCT ON ({_q(key)}) * FROM {t} WHERE {_q(key)} IS NOT NULL "
            f"ORDER BY {_q(key)}, row_no)"
        )

    def _arch(self, kind: str) -> str:
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
        return self._x(
            f"WITH e AS (INSERT INTO imp_error (sheet_ix, row_no, col, code, value, arg) "
            f"SELECT DISTINCT ON (s.row_no) {st.ix}, s.row_no, '{col}', '{code}', "
            f"CAST(({value}) AS text), CAST(({arg}) AS text) FROM {st.table} s {joins} "
            f"WHERE {cond} ORDER BY s.row_no RETURNING row_no) "
            f"UPDATE {st.table} s SET rej = true FROM e WHERE s.row_no = e.row_no"
        )

    # -- staging -------------------------------------------------------------------------------

    def create_tables(self) -> None:
        self._x(_LOCK)
        self._x(
            "CREATE TEMP TABLE imp_error (seq bigserial, sheet_ix int2, row_no int4, "
            "col text, code text, value text, arg text) ON COMMIT DROP"
        )
        self._x("CREATE INDEX ON imp_error (sheet_ix, row_no)")

    def stage(self, part: read.SheetPart) -> _Staged:
        sheet = part.sheet
        ix = SHEET_ORDER[sheet.name]
        table = f"imp_s{ix}"
        meta = _META[_sheet_type(sheet)]
        cols = ", ".join(f"{_q(c.name)} {c.sql_type}" for c in sheet.columns)
        self._x(
            f"CREATE TEMP TABLE {table} (row_no int4 NOT NULL, {cols}, errs text[], "
            f"rej bool NOT NULL DEFAULT false, act text, {meta}) "
            "WITH (fillfactor = 60) ON COMMIT DROP"
        )
        rows = read.rows(part)
        header = next(rows, None)
        staged = _Staged(part, ix, table, set())
        self.staged[sheet.name] = staged
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
        raw: Any = self.conn.connection.driver_connection
        names = ", ".join(["row_no", *(_q(c.name) for c in sheet.columns), "errs"])
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(types)
            for n, cells in rows:
                staged.rows += 1
                self._tick()
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
            self._x(
                "INSERT INTO imp_error (sheet_ix, row_no, col, code, value) "
                "VALUES (:ix, 1, :col, :code, :value)",
                ix=ix,
                col=column,
                code=code,
                value=value,
            )
        self._x(
            f"INSERT INTO imp_error (sheet_ix, row_no, col, code, arg, value) "
            f"SELECT {ix}, row_no, split_part(e, E'\\x1f', 1), split_part(e, E'\\x1f', 2), "
            f"split_part(e, E'\\x1f', 3), split_part(e, E'\\x1f', 4) "
            f"FROM {table}, unnest(errs) AS e WHERE errs IS NOT NULL"
        )
        self._x(f"UPDATE {table} SET rej = true WHERE errs IS NOT NULL")
        self._x(f"CREATE UNIQUE INDEX ON {table} (row_no)")
        for key in sheet.key[:1]:
            self._x(f"CREATE INDEX ON {table} ({_q(key)})")
        self._x(f"ANALYZE {table}")
        return staged

    def _tick(self) -> None:
        self.rows_done += 1
        if self.rows_done % 5000 == 0:
            self.progress("verifying", self.rows_done, self.rows_total)

    # -- verification ----------------------------------------------------------------------------

    def verify(self) -> None:
        for name, st in self.staged.items():
            if not st.header_ok or st.rows == 0:
                continue
            self._duplicates(st)
            kind = _sheet_type(st.sheet)
            if kind == "org":
                self._verify_org_units()
            elif kind == "asset":
                self._verify_assets(name)
            else:
                self._verify_relation(name)
        self._settle()
        self._actions()

    def _duplicates(self, st: _Staged) -> None:
        key = st.sheet.key
        part = ", ".join(_q(k) for k in key)
        value = " || ' from ' || ".join(
            _iso(f"s.{_q(k)}") if st.sheet.by_name[k].type == "datetime" else f"s.{_q(k)}"
            for k in key
        )
        self.reject(
            st.sheet.name,
            "duplicate_in_file",
            key[0],
            "d.first_row < s.row_no",
            value=value,
            arg="d.first_row",
            joins=f"JOIN (SELECT row_no, min(row_no) OVER (PARTITION BY {part}) AS first_row "
            f"FROM {st.table} WHERE "
            + " AND ".join(f"{_q(k)} IS NOT NULL" for k in key)
            + ") d ON d.row_no = s.row_no",
        )

    def _verify_org_units(self) -> None:
        st = self.staged["org_units"]
        t = st.table
        upsert = self.options.mode == "upsert"
        self._x(
            f"UPDATE {t} s SET id = o.id, ex_path = o.path, ex_parent = p.code, "
            f"ex_name = o.name, ex_kind = o.kind FROM archives.org_unit o "
            f"LEFT JOIN archives.org_unit p ON p.id = o.parent_id WHERE o.code = s.code"
        )
        exists = "s.id IS NOT NULL" + (f" AND NOT {self.in_scope('s.ex_path')}" if upsert else "")
        self.reject("org_units", "already_exists", "code", exists, value="s.code", arg="'org unit'")
        if upsert:
            self.reject(
                "org_units",
                "org_unit_move",
                "parent",
                "s.id IS NOT NULL AND s.parent "
                "IS NOT NULL AND s.parent IS DISTINCT FROM s.ex_parent",
                value="s.parent",
                arg="quote_literal(coalesce(s.ex_parent, '(none)'))",
            )
        self._x(
            f"UPDATE {t} s SET par_src = 'archive' FROM archives.org_unit o "
            f"WHERE o.code = s.parent AND {self.in_scope('o.path')}"
        )
        self._x(
            f"UPDATE {t} s SET par_src = 'file', par_row = f.row_no FROM "
            f"{self._first('org_units', 'code')} f WHERE f.code = s.parent "
            "AND s.par_src IS NULL"
        )
        self.reject(
            "org_units",
            "unknown_reference",
            "parent",
            "s.parent IS NOT NULL AND s.par_src IS NULL",
            value="s.parent",
            arg="'org unit'",
        )
        if not self.scope.is_unrestricted:
            self.reject(
                "org_units",
                "parent_required",
                "parent",
                "s.parent IS NULL AND s.id IS NULL AND s.code IS NOT NULL",
            )
        # Units whose chain of parents in the file never reaches the archive: a cycle.
        self._x(
            f"WITH RECURSIVE reach AS (SELECT row_no, code FROM {t} "
            f"WHERE par_src IS DISTINCT FROM 'file' AND code IS NOT NULL "
            f"UNION SELECT c.row_no, c.code FROM {t} c JOIN reach r "
            f"ON c.par_src = 'file' AND c.parent = r.code), "
            f"e AS (INSERT INTO imp_error (sheet_ix, row_no, col, code, value, arg) "
            f"SELECT {st.ix}, s.row_no, 'parent', 'unknown_reference', s.parent, 'org unit' "
            f"FROM {t} s WHERE s.par_src = 'file' AND NOT s.rej "
            f"AND s.row_no NOT IN (SELECT row_no FROM reach) RETURNING row_no) "
            f"UPDATE {t} s SET rej = true FROM e WHERE s.row_no = e.row_no"
        )

    def _verify_assets(self, name: str) -> None:
        st = self.staged[name]
        t = st.table
        sheet = st.sheet
        kind = sheet.kind
        assert kind is not None
        k = kind.name
        spec = kind.parent_relation
        upsert = self.options.mode == "upsert"
        wiring = ", ex_wiring = a.wiring" if k == "meter" else ""
        self._x(
            f"UPDATE {t} s SET id = a.id, ex_status = a.status, ex_org = a.org_code, "
            f"ex_scope = {self.in_scope('a.org_path')}{wiring} FROM {self._arch(k)} a "
            f"WHERE a.asset_number = s.asset_number"
        )
        exists = "s.id IS NOT NULL" + (" AND NOT s.ex_scope" if upsert else "")
        self.reject(
            name, "already_exists", "asset_number", exists, value="s.asset_number", arg=f"'{k}'"
        )
        for col in sheet.columns:
            if col.required and col.name not in st.present and col.role != "key":
                self.reject(name, "required", col.name, "s.id IS NULL")
        # org unit: in the importer's scope in the archive, or a unit of this file
        self._x(
            f"UPDATE {t} s SET org_src = 'archive' FROM archives.org_unit o "
            f"WHERE o.code = s.org_unit AND {self.in_scope('o.path')}"
        )
        org_file = self._first("org_units", "code")
        if org_file:
            self._x(
                f"UPDATE {t} s SET org_src = 'file', org_row = f.row_no FROM {org_file} f "
                "WHERE f.code = s.org_unit AND s.org_src IS NULL"
            )
        self.reject(
            name,
            "unknown_reference",
            "org_unit",
            "s.org_unit IS NOT NULL AND s.org_src IS NULL",
            value="s.org_unit",
            arg="'org unit'",
        )
        par = "NULL"
        if spec is not None:
            p = spec.parent
            par = f"s.{_q(p)}"
            self._x(
                f"UPDATE {t} s SET ex_parent = pa.asset_number"
                + (", ex_phase = r.phase" if spec.with_phase else "")
                + f" FROM archives.{spec.name} r JOIN archives.{p} pa ON pa.id = r.{p}_id "
                f"WHERE r.{k}_id = s.id AND r.valid_to IS NULL"
            )
            self._resolve_parent(name, p)
            self.reject(
                name,
                "retired_parent",
                p,
                "s.par_src = 'archive' AND s.par_status = 'retired'",
                value=par,
                arg=f"'{p}'",
            )
        eff_phase = "NULL"
        eff_wiring = "NULL"
        if spec is not None and spec.with_phase:
            eff_wiring = (
                "s.wiring" if "wiring" in st.present else "coalesce(s.ex_wiring, 'single_phase')"
            )
            eff_phase = f"CASE WHEN {eff_wiring} = 'three_phase' THEN 'ABC' ELSE s.phase END"
        moved_par = "false"
        if spec is not None:
            moved_par = (
                f"(s.id IS NOT NULL AND {par} IS NOT NULL AND ({par} IS DISTINCT FROM "
                f"s.ex_parent"
                + (f" OR {eff_phase} IS DISTINCT FROM s.ex_phase" if spec.with_phase else "")
                + "))"
            )
        self._x(
            f"UPDATE {t} s SET vf = coalesce(s.valid_from, :now), "
            f"eff_org = coalesce(s.org_unit, CASE WHEN s.id IS NULL THEN s.par_org "
            f"ELSE s.ex_org END), eff_wiring = {eff_wiring}, eff_phase = {eff_phase}, "
            f"moved_org = (s.id IS NOT NULL AND s.org_unit IS NOT NULL "
            f"AND s.org_unit IS DISTINCT FROM s.ex_org), moved_par = {moved_par}"
        )
        if spec is not None:
            self.reject(
                name,
                "no_org_unit",
                "org_unit",
                f"s.id IS NULL AND s.eff_org IS NULL "
                f"AND s.org_unit IS NULL AND ({par} IS NULL OR s.par_src = 'archive')",
            )
        if spec is not None and spec.with_phase:
            self._phase_checks(
                name,
                f"{par} IS NOT NULL AND s.par_src IS NOT NULL AND (s.id IS NULL OR s.moved_par)",
                "s.eff_wiring",
            )
        if upsert:
            self.reject(
                name,
                "retired_asset",
                "org_unit",
                "s.moved_org AND s.ex_status = 'retired'",
                value="s.asset_number",
            )
            if spec is not None:
                self.reject(
                    name,
                    "retired_asset",
                    spec.parent,
                    "s.moved_par AND s.ex_status = 'retired'",
                    value="s.asset_number",
                )

    def _resolve_parent(self, name: str, p: str) -> None:
        """``par_src``: the parent asset is in the archive (in scope) or in the file."""
        t = self.staged[name].table
        self._x(
            f"UPDATE {t} s SET par_src = 'archive', par_status = a.status, "
            f"par_retired_at = a.retired_at, par_org = a.org_code FROM {self._arch(p)} a "
            f"WHERE a.asset_number = s.{_q(p)} AND {self.in_scope('a.org_path')}"
        )
        first = self._first(KINDS[p].plural, "asset_number")
        if first:
            self._x(
                f"UPDATE {t} s SET par_src = 'file', par_row = f.row_no, "
                f"par_org = f.eff_org FROM {first} f WHERE f.asset_number = s.{_q(p)} "
                "AND s.par_src IS NULL"
            )
        self.reject(
            name,
            "unknown_reference",
            p,
            f"s.{_q(p)} IS NOT NULL AND s.par_src IS NULL",
            value=f"s.{_q(p)}",
            arg=f"'{p}'",
        )

    def _phase_checks(self, name: str, applies: str, wiring: str) -> None:
        self.reject(
            name,
            "phase_three",
            "phase",
            f"{applies} AND {wiring} = 'three_phase' AND s.phase IS NOT NULL AND s.phase <> 'ABC'",
            value="s.phase",
        )
        self.reject(
            name,
            "phase_needed",
            "phase",
            f"{applies} AND {wiring} = 'single_phase' AND (s.phase IS NULL OR s.phase = 'ABC')",
            value="s.phase",
        )

    def _verify_relation(self, name: str) -> None:
        st = self.staged[name]
        t = st.table
        spec = st.sheet.relation
        assert spec is not None
        c, p = spec.child, spec.parent
        first = self._first(KINDS[c].plural, "asset_number")
        wiring_file = ", child_wiring = f.eff_wiring" if spec.with_phase else ""
        if first:
            self._x(
                f"UPDATE {t} s SET child_row = f.row_no{wiring_file} FROM {first} f "
                f"WHERE f.asset_number = s.{_q(c)}"
            )
        wiring_arch = (
            ", child_wiring = coalesce(s.child_wiring, a.wiring)" if spec.with_phase else ""
        )
        self._x(
            f"UPDATE {t} s SET child_src = 'archive', child_id = a.id, "
            f"ex_child_status = a.status{wiring_arch} FROM {self._arch(c)} a "
            f"WHERE a.asset_number = s.{_q(c)} AND {self.in_scope('a.org_path')}"
        )
        self._x(
            f"UPDATE {t} s SET child_src = 'file' WHERE child_src IS NULL AND child_row IS NOT NULL"
        )
        self.reject(
            name,
            "unknown_reference",
            c,
            f"s.{_q(c)} IS NOT NULL AND s.child_src IS NULL",
            value=f"s.{_q(c)}",
            arg=f"'{c}'",
        )
        self._resolve_parent(name, p)
        self.reject(
            name,
            "retired_parent",
            p,
            "s.par_src = 'archive' AND s.par_status = "
            "'retired' AND (s.valid_to IS NULL OR s.valid_to > s.par_retired_at)",
            value=f"s.{_q(p)}",
            arg=f"'{p}'",
        )
        self.reject(
            name,
            "retired_asset",
            c,
            "s.child_src = 'archive' AND s.ex_child_status = 'retired'",
            value=f"s.{_q(c)}",
        )
        self.reject(
            name, "period_order", "valid_to", "s.valid_to <= s.valid_from", value=_iso("s.valid_to")
        )
        eff_phase = "NULL"
        if spec.with_phase:
            self._phase_checks(name, "s.child_src IS NOT NULL", "s.child_wiring")
            eff_phase = "CASE WHEN s.child_wiring = 'three_phase' THEN 'ABC' ELSE s.phase END"
        same_phase = " AND r.phase IS NOT DISTINCT FROM s.eff_phase" if spec.with_phase else ""
        self._x(
            f"UPDATE {t} s SET eff_phase = {eff_phase}, vf = s.valid_from, identical = "
            f"(s.child_id IS NOT NULL AND EXISTS (SELECT 1 FROM archives.{spec.name} r "
            f"JOIN archives.{p} pa ON pa.id = r.{p}_id WHERE r.{c}_id = s.child_id "
            f"AND pa.asset_number = s.{_q(p)} AND r.valid_from = s.valid_from "
            f"AND r.valid_to IS NOT DISTINCT FROM s.valid_to"
            + same_phase.replace("s.eff_phase", eff_phase)
            + "))"
        )
        if self.options.mode == "create":
            self.reject(
                name,
                "already_exists",
                "valid_from",
                "s.identical",
                value=f"s.{_q(c)}",
                arg=f"'a period of {c}'",
            )

    # -- relations across sheets (periods), propagation ------------------------------------------

    def _settle(self) -> None:
        """Propagate rejections to rows that depend on rejected rows of the file, and check the
        relation periods every sheet adds, until nothing changes."""
        specs = [s for s in RELATIONS if self._np_sources(s)]
        for spec in specs:
            self._x(
                f"CREATE TEMP TABLE imp_np_{spec.name} (sheet_ix int2, row_no int4, col text, "
                "child text, parent text, phase text, vf timestamptz, vt timestamptz, "
                "move bool, child_id int8, eff_vt timestamptz) ON COMMIT DROP"
            )
        for _ in range(20):
            changed = self._propagate()
            for spec in specs:
                changed += self._periods(spec)
            if not changed:
                return
        raise RuntimeError("import verification did not settle")  # pragma: no cover

    def _propagate(self) -> int:
        total = 0
        while True:
            n = 0
            for name, st in self.staged.items():
                if not st.header_ok or st.rows == 0:
                    continue
                for col, src, row_col, ref_sheet in _references(st.sheet):
                    ref = self._t(ref_sheet)
                    if ref is None:
                        continue
                    n += self.reject(
                        name,
                        "parent_rejected",
                        col,
                        f"s.{src} = 'file' AND r.rej",
                        value=f"s.{_q(col)}",
                        arg=f"'{ref_sheet} row ' || r.row_no",
                        joins=f"JOIN {ref} r ON r.row_no = s.{row_col}",
                        only_valid=True,
                    )
            total += n
            if n == 0:
                return total

    def _np_sources(self, spec: RelationSpec) -> list[tuple[str, str]]:
        """(sheet, what) contributing periods to a relation: the child's asset sheet (its org
        unit or parent column) and the relation's own sheet."""
        out = []
        child_sheet = KINDS[spec.child].plural
        if child_sheet in self.staged and self.staged[child_sheet].header_ok:
            out.append((child_sheet, "org" if spec.parent == "org_unit" else "parent"))
        if spec.name in self.staged and self.staged[spec.name].header_ok:
            out.append((spec.name, "relation"))
        return out

    def _periods(self, spec: RelationSpec) -> int:
        np = f"imp_np_{spec.name}"
        self._x(f"TRUNCATE {np}")
        for sheet, what in self._np_sources(spec):
            st = self.staged[sheet]
            t = st.table
            phase = "s.eff_phase" if spec.with_phase else "NULL"
            if what == "org":
                self._x(
                    f"INSERT INTO {np} SELECT {st.ix}, s.row_no, 'org_unit', s.asset_number, "
                    f"s.eff_org, NULL, s.vf, NULL, true, s.id FROM {t} s WHERE NOT s.rej "
                    "AND (s.id IS NULL OR s.moved_org)"
                )
            elif what == "parent":
                p = _q(spec.parent)
                self._x(
                    f"INSERT INTO {np} SELECT {st.ix}, s.row_no, '{spec.parent}', "
                    f"s.asset_number, s.{p}, {phase}, s.vf, NULL, true, s.id FROM {t} s "
                    f"WHERE NOT s.rej AND s.{p} IS NOT NULL "
                    "AND (s.id IS NULL OR s.moved_par)"
                )
            else:
                self._x(
                    f"INSERT INTO {np} SELECT {st.ix}, s.row_no, 'valid_from', "
                    f"s.{_q(spec.child)}, s.{_q(spec.parent)}, {phase}, s.valid_from, "
                    f"s.valid_to, s.valid_to IS NULL, s.child_id FROM {t} s "
                    "WHERE NOT s.rej AND NOT s.identical"
                )
        if not self._x(f"SELECT 1 FROM {np} LIMIT 1"):
            return 0
        self._x(f"ANALYZE {np}")
        n = self._np_reject(
            np,
            "relation_overlap",
            f"SELECT n.sheet_ix, n.row_no, n.col, {_iso('n.vf')} AS value, "
            f"'another period of {spec.child} ' || quote_literal(n.child) || ' from the same "
            f"time in the file' AS arg FROM (SELECT *, lag(vf) OVER (PARTITION BY child ORDER BY "
            f"vf, sheet_ix, row_no) AS prev_vf FROM {np}) n WHERE n.prev_vf = n.vf",
        )
        self._period_ends(np)
        rel = f"archives.{spec.name}"
        child_col, parent_col = spec.child_col, spec.parent_col
        first_move = (
            f"(SELECT child_id, min(vf) AS m0 FROM {np} WHERE move AND child_id IS NOT "
            "NULL GROUP BY child_id)"
        )
        n += self._np_reject(
            np,
            "later_period",
            f"SELECT n.sheet_ix, n.row_no, n.col, {_iso('n.vf')} AS value, "
            f"{_iso('min(r.valid_from)')} AS arg FROM {np} n JOIN {first_move} m "
            f"ON m.child_id = n.child_id AND n.move AND n.vf = m.m0 JOIN {rel} r "
            f"ON r.{child_col} = n.child_id AND r.valid_from >= m.m0 "
            f"GROUP BY n.sheet_ix, n.row_no, n.col, n.vf",
        )
        parent_table, parent_key = (
            ("org_unit", "code") if spec.parent == "org_unit" else (spec.parent, "asset_number")
        )
        clipped_end = (
            "CASE WHEN m.m0 IS NOT NULL AND r.valid_from < m.m0 AND (r.valid_to IS NULL "
            "OR r.valid_to > m.m0) THEN m.m0 ELSE r.valid_to END"
        )
        label = spec.parent.replace("_", " ")
        n += self._np_reject(
            np,
            "relation_overlap",
            f"SELECT n.sheet_ix, n.row_no, n.col, {_iso('n.vf')} AS value, "
            f"'the period of {label} ' || quote_literal(pt.{parent_key}) || ' from ' || "
            f"{_iso('r.valid_from')} || ' in the archive' AS arg FROM {np} n JOIN {rel} r "
            f"ON r.{child_col} = n.child_id JOIN archives.{parent_table} pt "
            f"ON pt.id = r.{parent_col} LEFT JOIN {first_move} m ON m.child_id = n.child_id "
            f"WHERE n.child_id IS NOT NULL AND NOT (m.m0 IS NOT NULL AND r.valid_from >= m.m0) "
            f"AND tstzrange(n.vf, n.eff_vt) && tstzrange(r.valid_from, {clipped_end})",
        )
        if n:
            self._period_ends(np)
        n += self._np_reject(
            np,
            "relation_overlap",
            f"SELECT n.sheet_ix, n.row_no, n.col, {_iso('n.vf')} AS value, "
            f"'another period of {spec.child} ' || quote_literal(n.child) || ' in the file' "
            f"AS arg "
            f"FROM (SELECT *, max(coalesce(eff_vt, 'infinity')) OVER (PARTITION BY child ORDER BY "
            f"vf, sheet_ix, row_no ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end "
            f"FROM {np}) n WHERE n.prev_end > n.vf",
        )
        return n

    def _period_ends(self, np: str) -> None:
        """A move ends where the child's next move in the file starts; a bounded period at its
        ``valid_to``."""
        self._x(
            f"UPDATE {np} n SET eff_vt = CASE WHEN n.move THEN m.next_vf ELSE n.vt END "
            f"FROM (SELECT sheet_ix, row_no, CASE WHEN move THEN lead(vf) OVER (PARTITION BY "
            f"child, move ORDER BY vf) END AS next_vf FROM {np}) m "
            "WHERE m.sheet_ix = n.sheet_ix AND m.row_no = n.row_no"
        )

    def _np_reject(self, np: str, code: str, select: str) -> int:
        """Record errors for period rows found by ``select`` on their source sheets' rows."""
        updates = "".join(
            f", u{st.ix} AS (UPDATE {st.table} s SET rej = true FROM e "
            f"WHERE e.sheet_ix = {st.ix} AND s.row_no = e.row_no RETURNING 1)"
            for st in self.staged.values()
        )
        counted = " + ".join(f"(SELECT count(*) FROM u{st.ix})" for st in self.staged.values())
        result = self.conn.execute(
            text(
                f"WITH f AS ({select}), e AS (INSERT INTO imp_error (sheet_ix, row_no, col, code, "
                f"value, arg) SELECT DISTINCT ON (sheet_ix, row_no) sheet_ix, row_no, col, "
                f"'{code}', value, arg FROM f ORDER BY sheet_ix, row_no "
                f"RETURNING sheet_ix, row_no){updates} "
                f"SELECT {counted}"
            ),
            self.params,
        ).scalar_one()
        if result:
            self._x(
                f"DELETE FROM {np} n USING imp_error e WHERE e.sheet_ix = n.sheet_ix "
                "AND e.row_no = n.row_no"
            )
        return int(result)

    def _actions(self) -> None:
        for st in self.staged.values():
            t = st.table
            kind = _sheet_type(st.sheet)
            if kind == "relation":
                self._x(
                    f"UPDATE {t} SET act = CASE WHEN identical THEN 'unchanged' ELSE 'create' "
                    "END WHERE NOT rej"
                )
                continue
            self._x(f"UPDATE {t} SET act = 'create' WHERE NOT rej AND id IS NULL")
            if kind == "org":
                org_attrs = [c for c in ("name", "kind") if c in st.present]
                diff = " OR ".join(f"s.{_q(c)} IS DISTINCT FROM s.ex_{c}" for c in org_attrs)
                self._x(
                    f"UPDATE {t} s SET act = CASE WHEN {diff or 'false'} THEN 'update' "
                    "ELSE 'unchanged' END WHERE NOT s.rej AND s.id IS NOT NULL"
                )
                continue
            assert st.sheet.kind is not None
            attrs = [c for c in st.sheet.kind.attribute_columns if c in st.present]
            diff = " OR ".join(f"a.{_q(c)} IS DISTINCT FROM s.{_q(c)}" for c in attrs)
            self._x(
                f"UPDATE {t} s SET act = CASE WHEN s.moved_org OR s.moved_par OR "
                f"{diff or 'false'} THEN 'update' ELSE 'unchanged' END "
                f"FROM archives.{st.sheet.kind.name} a WHERE a.id = s.id AND NOT s.rej"
            )

    # -- results ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        total = dict.fromkeys(("rows", *ACTIONS), 0)
        for name, st in self.staged.items():
            row = self.conn.execute(
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

    def errors(self, limit: int = ERRORS_LISTED) -> tuple[list[dict[str, Any]], int]:
        total = int(self.conn.execute(text("SELECT count(*) FROM imp_error")).scalar_one())
        rows = self.conn.execute(
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

    def rejected_rows(self, st: _Staged) -> Iterator[list[Any]]:
        """The rejected rows of one sheet as read from the file, plus the error column (the
        file is read again, merged with the errors in row order: memory stays flat)."""
        result = self.conn.execute(
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

    def rejected_file(self, files: list[read.InputFile]) -> tuple[bytes, str] | None:
        sheets = [st for st in self.staged.values() if self._has_rejects(st)]
        if not sheets:
            return None
        first = files[0]
        stem = first.name.rsplit(".", 1)[0]
        if len(files) == 1 and first.format == "csv":
            st = sheets[0]
            header = _header_without_error(st.part)
            return csv_bytes(
                [*header, ERROR_COLUMN], (_as_text(r) for r in self.rejected_rows(st))
            ), f"{stem}-rejected.csv"
        parts = [
            (
                st.part.sheet_name or st.sheet.name,
                [*_header_without_error(st.part), ERROR_COLUMN],
                self.rejected_rows(st),
            )
            for st in sheets
        ]
        return plain_workbook(parts), f"{stem}-rejected.xlsx"

    def _has_rejects(self, st: _Staged) -> bool:
        return bool(self.conn.execute(text(f"SELECT 1 FROM {st.table} WHERE rej LIMIT 1")).first())

    # -- writing ---------------------------------------------------------------------------------

    def write(self) -> int:
        """Write every valid row: org units, assets (parents first), then every relation's
        periods. Returns the number of assets created."""
        created = 0
        if "org_units" in self.staged:
            self._write_org_units()
        for kind in KINDS.values():
            st = self.staged.get(kind.plural)
            if st is None or not st.header_ok:
                continue
            t = st.table
            cols = [c for c in kind.attribute_columns]
            names = ", ".join(_q(c) for c in cols)
            created += self._x(
                f"INSERT INTO archives.{kind.name} (asset_number, {names}) "
                f"SELECT asset_number, {names} FROM {t} "
                "WHERE NOT rej AND act = 'create' ORDER BY row_no"
            )
            present = [c for c in cols if c in st.present]
            sets = ", ".join([*(f"{_q(c)} = s.{_q(c)}" for c in present), "updated_at = now()"])
            self._x(
                f"UPDATE archives.{kind.name} a SET {sets} FROM {t} s WHERE a.id = s.id "
                "AND NOT s.rej AND s.act = 'update'"
            )
            self._done(st)
        for spec in RELATIONS:
            if self._np_sources(spec):
                self._write_periods(spec)
        for name in ("meter_transformer", "terminal_transformer"):
            if name in self.staged:
                self._done(self.staged[name])
        return created

    def _done(self, st: _Staged) -> None:
        self.rows_done += st.rows
        self.progress("writing", self.rows_done, self.rows_total)

    def _write_org_units(self) -> None:
        st = self.staged["org_units"]
        t = st.table
        self._x(
            f"INSERT INTO archives.org_unit (code, name, kind, path) SELECT code, name, kind, "
            f"'tmp-' || code FROM {t} WHERE NOT rej AND act = 'create' ORDER BY row_no"
        )
        self._x(
            f"UPDATE archives.org_unit o SET parent_id = p.id FROM {t} s JOIN archives.org_unit "
            "p ON p.code = s.parent WHERE o.code = s.code AND NOT s.rej AND s.act = 'create'"
        )
        while self._x(
            "UPDATE archives.org_unit o SET path = coalesce(p.path, '') || o.id || '.' "
            "FROM archives.org_unit o2 LEFT JOIN archives.org_unit p ON p.id = o2.parent_id "
            "WHERE o.id = o2.id AND o.path LIKE 'tmp-%' "
            "AND (o.parent_id IS NULL OR p.path NOT LIKE 'tmp-%')"
        ):
            pass
        sets = ", ".join(f"{c} = s.{c}" for c in ("name", "kind") if c in st.present)
        if sets:
            self._x(
                f"UPDATE archives.org_unit o SET {sets} FROM {t} s WHERE o.id = s.id "
                "AND NOT s.rej AND s.act = 'update'"
            )
        self._done(st)

    def _write_periods(self, spec: RelationSpec) -> None:
        np = f"imp_np_{spec.name}"
        rel = f"archives.{spec.name}"
        changes = self._changes(spec) if spec.name in ANNOUNCED else []
        self._x(
            f"UPDATE {rel} r SET valid_to = m.m0 FROM (SELECT child_id, min(vf) AS m0 "
            f"FROM {np} WHERE move AND child_id IS NOT NULL GROUP BY child_id) m "
            f"WHERE r.{spec.child_col} = m.child_id AND r.valid_from < m.m0 "
            "AND (r.valid_to IS NULL OR r.valid_to > m.m0)"
        )
        parent_table, parent_key = (
            ("org_unit", "code") if spec.parent == "org_unit" else (spec.parent, "asset_number")
        )
        phase_col, phase = (", phase", ", n.phase") if spec.with_phase else ("", "")
        self._x(
            f"INSERT INTO {rel} ({spec.child_col}, {spec.parent_col}{phase_col}, valid_from, "
            f"valid_to) SELECT c.id, p.id{phase}, n.vf, n.eff_vt FROM {np} n "
            f"JOIN archives.{spec.child} c ON c.asset_number = n.child "
            f"JOIN archives.{parent_table} p ON p.{parent_key} = n.parent"
        )
        for change in changes:
            announce(self.conn, change)

    def _changes(self, spec: RelationSpec) -> list[RelationChange]:
        """The relation changes of this import for the slices above the archive (the terminal
        slice syncs the station areas' meter lists), one per (old parent, new parent, period)
        rather than one per row: listeners care about which parents changed, and when."""
        parent_key = "asset_number"
        rows = self.conn.execute(
            text(
                f"SELECT n.parent AS new_parent, op.{parent_key} AS old_parent, n.vf, n.eff_vt, "
                f"min(n.child) AS child, max(n.phase) AS phase FROM imp_np_{spec.name} n "
                f"LEFT JOIN archives.{spec.name} r ON r.{spec.child_col} = n.child_id "
                f"AND r.valid_from <= n.vf AND (r.valid_to IS NULL OR r.valid_to > n.vf) "
                f"LEFT JOIN archives.{spec.parent} op ON op.id = r.{spec.parent_col} "
                f"GROUP BY n.parent, op.{parent_key}, n.vf, n.eff_vt ORDER BY 1, 2, 3"
            )
        )
        return [
            RelationChange(
                relation=spec.name,
                child_kind=spec.child,
                child=r.child,
                old_parent=r.old_parent,
                new_parent=r.new_parent,
                phase=r.phase,
                valid_from=r.vf,
                valid_to=r.eff_vt,
                actor=self.options.actor,
            )
            for r in rows
        ]

    def recheck_scope(self) -> None:
        """After the write: everything written must be visible through the importer's scope
        (STYLE.md, NetBox's bulk import); if anything is not, the transaction is rolled back."""
        if self.scope.is_unrestricted:
            return
        outside = 0
        for st in self.staged.values():
            kind = _sheet_type(st.sheet)
            if kind == "org":
                outside += self._x(
                    f"SELECT 1 FROM {st.table} s JOIN archives.org_unit o ON o.code = s.code "
                    f"WHERE NOT s.rej AND s.act IN ('create', 'update') "
                    f"AND NOT {self.in_scope('o.path')}"
                )
                continue
            if kind == "asset":
                assert st.sheet.kind is not None
                k, key = st.sheet.kind.name, "asset_number"
            else:
                assert st.sheet.relation is not None
                k, key = st.sheet.relation.child, st.sheet.relation.child
            outside += self._x(
                f"SELECT 1 FROM {st.table} s JOIN {self._arch(k)} a "
                f"ON a.asset_number = s.{_q(key)} "
                f"WHERE NOT s.rej AND s.act IN ('create', 'update') "
                f"AND NOT {self.in_scope('a.org_path')}"
            )
        if outside:
            raise ScopeViolationError(
                f"{outside} written record(s) would lie outside your scope; nothing was imported"
            )


# -- sheet shapes ------------------------------------------------------------------------------

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


def _sheet_type(sheet: Sheet) -> Literal["org", "asset", "relation"]:
    if sheet.relation is not None:
        return "relation"
    return "asset" if sheet.kind is not None else "org"


def _references(sheet: Sheet) -> list[tuple[str, str, str, str]]:
    """(column, source flag, row column, referenced sheet) of the file references of a sheet."""
    kind = _sheet_type(sheet)
    if kind == "org":
        return [("parent", "par_src", "par_row", "org_units")]
    if kind == "asset":
        assert sheet.kind is not None
        out = [("org_unit", "org_src", "org_row", "org_units")]
        spec = sheet.kind.parent_relation
        if spec is not None:
            out.append((spec.parent, "par_src", "par_row", KINDS[spec.parent].plural))
        return out
    assert sheet.relation is not None
    spec = sheet.relation
    return [
        (spec.child, "child_src", "child_row", KINDS[spec.child].plural),
        (spec.parent, "par_src", "par_row", KINDS[spec.parent].plural),
    ]


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

"""Import jobs: every import (dry run or not) is a row of ``archives.import_job`` with who, when,
which file, options, status, progress, counts, the report and the rejected rows' file.

A job runs on its own connection and transaction; its progress is written by short separate
transactions so that anyone may watch it (the console polls ``GET /archives/imports/{id}``).
A job is visible to its creator and to users whose scope covers the importer's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)

from e200.archives.imports import read
from e200.archives.imports.engine import Importer, Options, Outcome
from e200.archives.imports.templates import SHEETS, TEMPLATE_VERSION
from e200.archives.tables import import_job
from e200.kernel import NotFoundError, Scope, utc_now

PROGRESS_EVERY_S = 0.5
Progress = Callable[[str, int, int], None]


def run_import(
    engine: Engine,
    files: list[read.InputFile],
    options: Options,
    scope: Scope,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Verify the files and, unless a dry run (or rows were rejected in all-or-nothing mode),
    write them — all in one transaction. Raises ``ImportFileError`` for an unreadable file."""
    plan = read.plan(files)
    report = progress or (lambda *_: None)
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            imp = Importer(conn, scope, options, now or utc_now(), report)
            imp.rows_total = plan.estimated_rows
            imp.create_tables()
            for part in plan.parts:
                imp.stage(part)
            rows = sum(st.rows for st in imp.staged.values())
            imp.rows_total = rows
            report("verifying", rows, rows)
            imp.verify()
            counts = imp.counts()
            errors, error_total = imp.errors()
            total = counts["total"]
            rejected = imp.rejected_file(files) if total["reject"] else None
            write = (
                not options.dry_run
                and total["create"] + total["update"] > 0
                and (total["reject"] == 0 or options.on_error == "valid_rows")
            )
            created = 0
            if write:
                imp.rows_done = 0
                report("writing", 0, rows)
                created = imp.write()
                imp.recheck_scope()
                tx.commit()
            else:
                tx.rollback()
        except BaseException:
            if tx.is_active:
                tx.rollback()
            raise
    return Outcome(
        counts=counts,
        errors=errors,
        error_total=error_total,
        written=write,
        warnings=[f"ignored sheet {name} (not a template sheet)" for name in plan.ignored],
        rejected_file=rejected[0] if rejected else None,
        rejected_name=rejected[1] if rejected else None,
        created_assets=created,
    )


# -- the job table -----------------------------------------------------------------------------


def file_format(files: list[read.InputFile]) -> str:
    return "xlsx" if any(f.format == "xlsx" for f in files) or len(files) > 1 else "csv"


def create_job(
    engine: Engine, *, username: str, scope: Scope, files: list[read.InputFile], options: Options
) -> int:
    with engine.begin() as conn:
        job_id: int = conn.execute(
            insert(import_job)
            .values(
                created_by=username,
                scope_paths=list(scope.org_paths) if scope.org_paths is not None else None,
                file_name=", ".join(f.name for f in files)[:500],
                format=file_format(files),
                mode=options.mode,
                on_error=options.on_error,
                dry_run=options.dry_run,
                template_version=TEMPLATE_VERSION,
            )
            .returning(import_job.c.id)
        ).scalar_one()
    return job_id


def _set(engine: Engine, job_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(import_job)
            .where(import_job.c.id == job_id)
            .values(progress_at=func.now(), **values)  # a sign of life (queue.reap_stale)
        )


def execute_job(
    engine: Engine,
    job_id: int,
    files: list[read.InputFile],
    options: Options,
    scope: Scope,
    *,
    on_written: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> Outcome | None:
    """Run a created job to its end: ``done`` with counts and report, or ``failed`` with the
    reason. Never raises for a failing import (the job records it)."""
    last = [0.0]

    def tick(status: str, done: int, total: int) -> None:
        if progress is not None:
            progress(status, done, total)
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or done == total:
            last[0] = now
            _set(engine, job_id, status=status, rows_done=done, rows_total=total)

    _set(engine, job_id, status="verifying", started_at=func.now())
    try:
        outcome = run_import(engine, files, options, scope, progress=tick)
    except Exception as exc:  # recorded on the job; the caller decides what to show
        detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
        _set(
            engine,
            job_id,
            status="failed",
            finished_at=func.now(),
            report={"message": str(detail), "errors": [], "error_total": 0},
        )
        return None
    rows = outcome.counts["total"]["rows"]
    _set(
        engine,
        job_id,
        status="done",
        finished_at=func.now(),
        rows_done=rows,
        rows_total=rows,
        counts=outcome.counts,
        report={
            "written": outcome.written,
            "errors": outcome.errors,
            "error_total": outcome.error_total,
            "warnings": outcome.warnings,
        },
        rejected_file=outcome.rejected_file,
        rejected_name=outcome.rejected_name,
    )
    if outcome.written and on_written is not None:
        on_written()
    return outcome


# -- reading jobs ------------------------------------------------------------------------------


def _visible(username: str, scope: Scope) -> ColumnElement[bool]:
    """The creator sees their jobs; others see a job when their scope covers the importer's."""
    if scope.is_unrestricted:
        return true()
    roots = [p + "%" for p in scope.org_paths or ()]
    covered = text(
        "NOT EXISTS (SELECT 1 FROM unnest(archives.import_job.scope_paths) AS p "
        "WHERE NOT (p LIKE ANY(CAST(:job_roots AS text[]))))"
    ).bindparams(job_roots=roots)
    return or_(
        import_job.c.created_by == username, and_(import_job.c.scope_paths.is_not(None), covered)
    )


_SUMMARY = [c for c in import_job.c if c.name not in ("report", "rejected_file", "scope_paths")]


def list_jobs(
    conn: Connection, username: str, scope: Scope, *, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    where = _visible(username, scope)
    total = conn.execute(select(func.count()).select_from(import_job).where(where)).scalar_one()
    rows = conn.execute(
        select(
            *_SUMMARY,
            import_job.c.report["error_total"].label("error_total"),
            import_job.c.report["written"].label("written"),
            import_job.c.report["message"].label("message"),
        )
        .where(where)
        .order_by(import_job.c.created_at.desc(), import_job.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_plain(r._mapping) for r in rows], int(total)


def get_job(conn: Connection, job_id: int, username: str, scope: Scope) -> dict[str, Any]:
    row = conn.execute(
        select(*_SUMMARY, import_job.c.report).where(
            import_job.c.id == job_id, _visible(username, scope)
        )
    ).first()
    if row is None:
        raise NotFoundError("import", str(job_id))
    return _plain(row._mapping)


def _plain(mapping: Any) -> dict[str, Any]:
    """A row as a dict with plain ``str`` keys and counts in template order, total last."""
    out = {str(k): v for k, v in mapping.items()}
    counts = out.get("counts")
    if isinstance(counts, dict):
        order = {name: i for i, name in enumerate(SHEETS)}
        out["counts"] = dict(sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order))))
    return out


def rejected_file(conn: Connection, job_id: int, username: str, scope: Scope) -> tuple[bytes, str]:
    row = conn.execute(
        select(import_job.c.rejected_file, import_job.c.rejected_name).where(
            import_job.c.id == job_id, _visible(username, scope)
        )
    ).first()
    if row is None:
        raise NotFoundError("import", str(job_id))
    if row.rejected_file is None:
        raise NotFoundError("rejected rows of import", str(job_id))
    return bytes(row.rejected_file), str(row.rejected_name)


def input_file(path: Path, name: str | None = None, sheet: str | None = None) -> read.InputFile:
    return read.InputFile(path=path, name=Path(name or path.name).name, sheet=sheet)

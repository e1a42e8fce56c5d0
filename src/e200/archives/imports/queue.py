"""Imports that run in the background as jobs on PostgreSQL: the upload is kept in the database
(``archives.import_upload``, in chunks) and the job ``archives.import`` is queued; any worker
runs it, also after the process that took the upload has gone. A worker killed mid-job is
replaced by another that runs the job again (the import is one transaction: nothing of the
first attempt was written). A job that shows no progress for ``STALE_AFTER`` is marked failed
with the reason, never left running."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from e200.archives.events import announce_written
from e200.archives.imports import read
from e200.archives.imports.engine import Options
from e200.archives.imports.jobs import execute_job
from e200.archives.tables import import_job, import_upload
from e200.db.jobspec import JobContext, JobSpec
from e200.kernel import E200Error, Scope

IMPORT_JOB = "archives.import"
CHUNK_BYTES = 8 << 20
STALE_AFTER = timedelta(minutes=15)
RUNNING = ("queued", "verifying", "writing")

Defer = Callable[[str, dict[str, Any]], int]  # queues a job by name with its arguments


class NoJobQueueError(E200Error):
    """This process cannot queue background work (an app built without a job queue)."""

    status = 503
    title = "Service unavailable"


def start_job(engine: Engine, job_id: int, files: list[read.InputFile], *, defer: Defer) -> None:
    """Keep the job's files in the database, then queue it."""
    with engine.begin() as conn:
        for file_no, f in enumerate(files):
            with f.path.open("rb") as src:
                chunk_no = 0
                while chunk := src.read(CHUNK_BYTES):
                    conn.execute(
                        insert(import_upload).values(job_id=job_id, file_no=file_no,
                                                     chunk_no=chunk_no, name=f.name,
                                                     sheet=f.sheet, content=chunk)
                    )  # fmt: skip
                    chunk_no += 1
    defer(IMPORT_JOB, {"job_id": job_id})


def fail_job(engine: Engine, job_id: int, message: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(import_job)
            .where(import_job.c.id == job_id, import_job.c.status.in_(RUNNING))
            .values(status="failed", finished_at=func.now(),
                    report={"message": message, "errors": [], "error_total": 0})
        )  # fmt: skip
        conn.execute(delete(import_upload).where(import_upload.c.job_id == job_id))


def _files(conn: Connection, job_id: int, folder: Path) -> list[read.InputFile]:
    files: dict[int, read.InputFile] = {}
    rows = conn.execute(
        select(import_upload.c.file_no, import_upload.c.name, import_upload.c.sheet)
        .where(import_upload.c.job_id == job_id, import_upload.c.chunk_no == 0)
        .order_by(import_upload.c.file_no)
    ).all()
    for row in rows:
        path = folder / f"{row.file_no}{Path(row.name).suffix.lower()}"
        with path.open("wb") as out:
            chunks = conn.execute(
                select(import_upload.c.content)
                .where(import_upload.c.job_id == job_id, import_upload.c.file_no == row.file_no)
                .order_by(import_upload.c.chunk_no)
            )
            for (content,) in chunks:
                out.write(content)
        files[row.file_no] = read.InputFile(path, row.name, row.sheet)
    return [files[k] for k in sorted(files)]


def run_queued(ctx: JobContext) -> str:
    job_id = int(ctx.args["job_id"])
    with tempfile.TemporaryDirectory(prefix="e200-import-") as tmp:
        with ctx.engine.connect() as conn:
            job = conn.execute(select(import_job).where(import_job.c.id == job_id)).first()
            if job is None:
                return f"import {job_id} no longer exists"
            if job.status not in RUNNING:  # finished before its worker could say so
                return f"import {job_id} already {job.status}"
            files = _files(conn, job_id, Path(tmp))
        if not files:
            fail_job(ctx.engine, job_id, "the uploaded file is no longer stored; upload it again")
            return f"import {job_id} failed: its upload is gone"
        options = Options(mode=job.mode, on_error=job.on_error, dry_run=job.dry_run,
                          actor=job.created_by)  # fmt: skip
        paths = job.scope_paths
        scope = Scope(tuple(paths)) if paths is not None else Scope.everything()
        outcome = execute_job(ctx.engine, job_id, files, options, scope,
                              on_written=announce_written)  # fmt: skip
    with ctx.engine.begin() as conn:
        conn.execute(delete(import_upload).where(import_upload.c.job_id == job_id))
    if outcome is None:
        return f"import {job_id} failed"
    total = outcome.counts["total"]
    return (f"import {job_id}: {total['rows']} rows, {total['create']} created, "
            f"{total['update']} updated, {total['reject']} rejected"
            + ("" if outcome.written else " (nothing written)"))  # fmt: skip


def reap_stale(ctx: JobContext) -> str:
    """Imports with no sign of life for ``STALE_AFTER`` (their worker and its replacement are
    gone, or they predate the job queue) are marked failed with the reason."""
    with ctx.engine.begin() as conn:
        stale = conn.execute(
            update(import_job)
            .where(
                import_job.c.status.in_(RUNNING),
                func.coalesce(import_job.c.progress_at, import_job.c.created_at)
                < func.now() - STALE_AFTER,
            )
            .values(status="failed", finished_at=func.now(),
                    report={"message": "interrupted: the process running it stopped and no "
                            "worker resumed it; run the import again",
                            "errors": [], "error_total": 0})
            .returning(import_job.c.id)
        ).scalars().all()  # fmt: skip
        if stale:
            conn.execute(delete(import_upload).where(import_upload.c.job_id.in_(stale)))
    return f"{len(stale)} interrupted imports marked failed"


JOBS = (
    JobSpec(
        name=IMPORT_JOB,
        title="Archive import (verify, and write unless a dry run)",
        run=run_queued,
        retries=1,
    ),
    JobSpec(
        name="archives.reap_imports",
        title="Interrupted imports marked failed",
        run=reap_stale,
        cron="*/5 * * * *",
    ),
)

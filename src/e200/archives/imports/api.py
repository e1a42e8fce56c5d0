"""REST routes of the import: templates, uploads, job history, rejected rows
(``/api/v1/archives/...``, docs/import.md)."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from e200.archives.events import announce_written
from e200.archives.imports import jobs, read
from e200.archives.imports.engine import Options
from e200.archives.imports.queue import NoJobQueueError, fail_job, start_job
from e200.archives.imports.templates import SHEETS, TEMPLATE_VERSION, Column
from e200.archives.imports.workbook import csv_bytes, template_workbook
from e200.db.web import ConnDep, PrincipalDep, engine_of, requires
from e200.kernel import BigIntId, InvalidInputError, NotFoundError, Offset, Permission

router = APIRouter(prefix="/archives", tags=["archive import"])  # under the archive's /api/v1
VIEW = [requires(Permission.VIEW_DATA)]
IMPORT = [requires(Permission.IMPORT_ARCHIVES)]
INLINE_MAX_BYTES = 2 << 20  # larger uploads run in the background; poll the job
MAX_UPLOAD_BYTES = 512 << 20
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ColumnOut(BaseModel):
    name: str
    type: str
    unit: str | None
    required: bool
    allowed: list[str | int]
    default: Any
    description: str


class TemplateOut(BaseModel):
    sheet: str
    label: str
    description: str
    key: list[str]
    columns: list[ColumnOut]
    csv: str
    xlsx: str


class TemplatesOut(BaseModel):
    template_version: int
    workbook: str
    sheets: list[TemplateOut]


def _column(col: Column) -> ColumnOut:
    return ColumnOut(
        name=col.name,
        type=col.type,
        unit=col.unit,
        required=col.required,
        allowed=list(col.allowed),
        default=col.default,
        description=col.description,
    )


BASE = "/api/v1/archives/templates"


@router.get("/templates", dependencies=VIEW, response_model=TemplatesOut)
def list_templates() -> TemplatesOut:
    """Every sheet of the import (parents first) with its columns, and where to download it."""
    return TemplatesOut(
        template_version=TEMPLATE_VERSION,
        workbook=f"{BASE}/all.xlsx",
        sheets=[
            TemplateOut(
                sheet=s.name,
                label=s.label,
                description=s.description,
                key=list(s.key),
                columns=[_column(c) for c in s.columns],
                csv=f"{BASE}/{s.name}.csv",
                xlsx=f"{BASE}/{s.name}.xlsx",
            )
            for s in SHEETS.values()
        ],
    )


def _download(body: bytes, name: str, media_type: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/templates/{file_name}", dependencies=VIEW, response_class=Response)
def download_template(file_name: str) -> Response:
    """``all.xlsx`` (every sheet, parents first, and the notes sheet), ``{sheet}.xlsx`` or
    ``{sheet}.csv``."""
    stem, _, suffix = file_name.rpartition(".")
    if file_name == "all.xlsx":
        return _download(template_workbook(list(SHEETS.values())), "e200-import-v1.xlsx", XLSX)
    sheet = SHEETS.get(stem)
    if sheet is None or suffix not in ("csv", "xlsx"):
        raise NotFoundError("template", file_name)
    if suffix == "csv":
        return _download(csv_bytes(sheet.column_names, []), file_name, "text/csv; charset=utf-8")
    return _download(template_workbook([sheet]), file_name, XLSX)


class ImportJobOut(BaseModel):
    id: int
    created_by: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    file_name: str
    format: str
    mode: str
    on_error: str
    dry_run: bool
    template_version: int
    status: str
    rows_done: int
    rows_total: int
    counts: dict[str, dict[str, int]]
    written: bool | None = None
    message: str | None = None
    error_total: int = 0
    errors: list[dict[str, Any]] = []
    errors_offset: int = 0
    warnings: list[str] = []
    rejected: str | None = None


class ImportPage(BaseModel):
    items: list[ImportJobOut]
    total: int
    limit: int
    offset: int


def _job_out(job: dict[str, Any], errors_offset: int = 0, errors_limit: int = 0) -> ImportJobOut:
    report = job.pop("report", None) or {}
    job.pop("rejected_file", None)
    has_rejected = job.pop("rejected_name", None) is not None
    errors = list(report.get("errors", []))[errors_offset : errors_offset + errors_limit]
    return ImportJobOut(
        **{
            k: v
            for k, v in job.items()
            if k in ImportJobOut.model_fields and k not in ("written", "message", "error_total")
        },
        written=report.get("written", job.get("written")),
        message=report.get("message", job.get("message")),
        error_total=int(report.get("error_total", job.get("error_total") or 0)),
        errors=errors,
        errors_offset=errors_offset,
        warnings=list(report.get("warnings", [])),
        rejected=f"/api/v1/archives/imports/{job['id']}/rejected" if has_rejected else None,
    )


def _pick(form: Any, request: Request, name: str, default: Any) -> Any:
    """A field given as form field or query parameter (form wins)."""
    if form is not None:
        return form
    return request.query_params.get(name, default)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise InvalidInputError(f"{name}: {value!r} is not true or false", field=name)


@router.post(
    "/imports",
    dependencies=IMPORT,
    response_model=ImportJobOut,
    status_code=201,
    responses={202: {"model": ImportJobOut, "description": "Running in the background"}},
)
def upload_import(
    request: Request,
    principal: PrincipalDep,
    file: Annotated[
        UploadFile, File(description="A template workbook (.xlsx) or one sheet as .csv")
    ],
    dry_run: Annotated[str | None, Form(description="true (default): verify only")] = None,
    mode: Annotated[Literal["create", "upsert"] | None, Form()] = None,
    on_error: Annotated[Literal["all_or_nothing", "valid_rows"] | None, Form()] = None,
    sheet: Annotated[
        str | None, Form(description="Sheet of a CSV file (default: from its name)")
    ] = None,
) -> Any:
    """Verify (and unless ``dry_run``, write) an upload. Small files finish within the request
    (201 with the report); larger ones answer 202 at once and run in the background."""
    options = Options(
        mode=_choice(_pick(mode, request, "mode", "create"), "mode", ("create", "upsert")),
        on_error=_choice(
            _pick(on_error, request, "on_error", "all_or_nothing"),
            "on_error",
            ("all_or_nothing", "valid_rows"),
        ),
        dry_run=_flag(_pick(dry_run, request, "dry_run", True), "dry_run"),
        actor=principal.username,
    )
    name = Path(file.filename or "upload").name[:200] or "upload"
    sheet_name = _pick(sheet, request, "sheet", None)
    if sheet_name is not None and sheet_name not in SHEETS:
        raise InvalidInputError(
            f"sheet: {sheet_name!r} is not one of {', '.join(SHEETS)}", field="sheet"
        )
    fd, tmp = tempfile.mkstemp(prefix="e200-import-", suffix=Path(name).suffix.lower())
    path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as spool:
            shutil.copyfileobj(file.file, spool, 1 << 20)
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise InvalidInputError(f"file: larger than {MAX_UPLOAD_BYTES >> 20} MiB", field="file")
        files = [read.InputFile(path, name, sheet_name)]
        read.plan(files)  # an unreadable file is refused at once (422), no job
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    engine = engine_of(request)
    scope = principal.scope
    job_id = jobs.create_job(
        engine, username=principal.username, scope=scope, files=files, options=options
    )
    request.state.audit_detail = {
        "job": job_id,
        "file": name,
        "mode": options.mode,
        "on_error": options.on_error,
        "dry_run": options.dry_run,
    }
    if size > INLINE_MAX_BYTES:
        # A job on the queue: the upload is kept in the database, any worker runs it, also
        # after this process has gone (archives/imports/queue.py).
        queue = getattr(request.app.state, "job_queue", None)
        try:
            if queue is None:
                raise NoJobQueueError("background jobs: this process queues none")
            start_job(engine, job_id, files, defer=queue.defer)
        except BaseException:
            fail_job(engine, job_id, "could not be queued")
            raise
        finally:
            path.unlink(missing_ok=True)
        with engine.connect() as conn:
            job = jobs.get_job(conn, job_id, principal.username, scope)
        return JSONResponse(
            _job_out(job).model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/api/v1/archives/imports/{job_id}"},
        )
    try:
        jobs.execute_job(engine, job_id, files, options, scope, on_written=announce_written)
    finally:
        path.unlink(missing_ok=True)
    with engine.connect() as conn:
        job = jobs.get_job(conn, job_id, principal.username, scope)
    out = _job_out(job, 0, 100)
    request.state.audit_detail["counts"] = out.counts.get("total", {})
    request.state.audit_detail["written"] = out.written
    return out


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise InvalidInputError(f"{name}: {value!r} is not one of {', '.join(allowed)}", field=name)
    return value


@router.get("/imports", dependencies=VIEW, response_model=ImportPage)
def list_imports(
    conn: ConnDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ImportPage:
    """Import history, newest first: yours, and those of users inside your scope."""
    items, total = jobs.list_jobs(
        conn, principal.username, principal.scope, limit=limit, offset=offset
    )
    return ImportPage(items=[_job_out(i) for i in items], total=total, limit=limit, offset=offset)


@router.get("/imports/{job_id}", dependencies=VIEW, response_model=ImportJobOut)
def get_import(
    job_id: BigIntId,
    conn: ConnDep,
    principal: PrincipalDep,
    errors_offset: Offset = 0,
    errors_limit: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> ImportJobOut:
    """Status, progress, counts and a page of the errors (at most 10,000 are kept)."""
    job = jobs.get_job(conn, job_id, principal.username, principal.scope)
    return _job_out(job, errors_offset, errors_limit)


@router.get("/imports/{job_id}/rejected", dependencies=IMPORT, response_class=Response)
def get_rejected(job_id: BigIntId, conn: ConnDep, principal: PrincipalDep) -> Response:
    """The rejected rows as uploaded (CSV or XLSX) plus an ``error`` column: fix, re-upload."""
    body, name = jobs.rejected_file(conn, job_id, principal.username, principal.scope)
    media = "text/csv; charset=utf-8" if name.endswith(".csv") else XLSX
    return _download(body, name, media)

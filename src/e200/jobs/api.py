"""Routes: background jobs and their schedules, and running a job now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from e200.db.web import ConnDep, requires
from e200.jobs import history
from e200.jobs.model import JobsOut, QueuedOut, RunOut
from e200.jobs.queue import JobQueue
from e200.kernel import NotFoundError, Permission

router = APIRouter(prefix="/api/v1", tags=["jobs"])
ADMIN = [requires(Permission.MANAGE_JOBS, whole_grid=True)]  # the jobs serve the whole grid
JobName = Annotated[str, Path(max_length=100, pattern=r"^[a-z_]+\.[a-z_]+$")]


def _queue(request: Request) -> JobQueue:
    queue: JobQueue | None = getattr(request.app.state, "job_queue", None)
    if queue is None:
        raise NotFoundError("job queue", "this process")
    return queue


@router.get("/jobs", dependencies=ADMIN, response_model=JobsOut)
def list_jobs(request: Request, conn: ConnDep) -> JobsOut:
    """Every background job with its schedule, last run (duration, outcome), next run, runs and
    failures of the last 24 hours; and the workers alive now."""
    queue = _queue(request)
    return history.overview(conn, list(queue.jobs.values()), queue.settings.worker_stalled_after_s)


@router.get("/jobs/{name}/runs", dependencies=ADMIN, response_model=list[RunOut])
def job_runs(
    request: Request,
    conn: ConnDep,
    name: JobName,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[RunOut]:
    """A job's runs, newest first (each attempt is a row)."""
    if name not in _queue(request).jobs:
        raise NotFoundError("job", name)
    return history.runs(conn, name, limit=limit, offset=offset)


@router.post("/jobs/{name}/run", dependencies=ADMIN, response_model=QueuedOut, status_code=202)
def run_job_now(request: Request, name: JobName) -> QueuedOut:
    """Queue a periodic job to run now (409 if one is already waiting). Jobs that need
    arguments (an import) cannot be started here."""
    queue = _queue(request)
    job = queue.jobs.get(name)
    if job is None or job.cron is None:
        raise NotFoundError("periodic job", name)
    request.state.audit_detail = {"job": name}
    return QueuedOut(name=name, queue_job_id=queue.defer(name))

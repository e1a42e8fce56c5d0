"""Background and periodic work on PostgreSQL (procrastinate), and the one wiring of a process.

Slices declare their jobs next to their code (``JOBS``, of :class:`e200.db.jobspec.JobSpec`);
this slice collects them, runs them once per period across any number of workers, keeps their
history and shows it (``GET /api/v1/jobs``, the console's jobs page)."""

from e200.db.jobspec import JobContext, JobSpec
from e200.jobs.api import router
from e200.jobs.history import live_workers, overview, runs
from e200.jobs.model import JobOut, JobsOut, QueuedOut, RunOut
from e200.jobs.queue import WORKER_NAME, JobQueue
from e200.jobs.registry import Scheduled, UnknownScheduleError, declared_jobs, registry
from e200.jobs.tables import job_run, metadata
from e200.jobs.wiring import install_listeners, make_pipeline, make_queue

__all__ = [
    "WORKER_NAME",
    "JobContext",
    "JobOut",
    "JobQueue",
    "JobSpec",
    "JobsOut",
    "QueuedOut",
    "RunOut",
    "Scheduled",
    "UnknownScheduleError",
    "declared_jobs",
    "install_listeners",
    "job_run",
    "live_workers",
    "make_pipeline",
    "make_queue",
    "metadata",
    "overview",
    "registry",
    "router",
    "runs",
]

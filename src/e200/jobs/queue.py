"""The job queue on PostgreSQL (procrastinate): tasks registered from the registry, periodic ones
deferred exactly once per period across every worker (procrastinate records each period's
deferral under a unique key), a worker per process that runs them, and deferral from request
handlers.

Procrastinate's tables live in the schema ``procrastinate`` (its connections set that
``search_path``); the history of runs is ours (``jobs.job_run``)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import procrastinate
import structlog
from procrastinate.exceptions import AlreadyEnqueued
from prometheus_client import Counter, Histogram
from sqlalchemy import Engine, func, insert, update
from sqlalchemy.engine import make_url

from e200.config import Settings
from e200.db import sqlalchemy_url
from e200.db.jobspec import JobContext
from e200.jobs.registry import Scheduled
from e200.jobs.system import QUEUE_SCHEMA
from e200.jobs.tables import job_run
from e200.kernel import ConflictError, NotFoundError

log = structlog.get_logger(__name__)

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
SHUTDOWN_GRACE_S = 10.0
RUNS = Counter("e200_job_runs_total", "Background job runs", ["job", "outcome"])
DURATION = Histogram("e200_job_run_seconds", "Background job run time", ["job"])


def _conninfo(url: str) -> str:
    """A libpq URL for psycopg from whatever E200 was given (SQLAlchemy URLs included)."""
    return (
        make_url(sqlalchemy_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def _pool_args(url: str, max_size: int) -> dict[str, Any]:
    return {
        "conninfo": _conninfo(url),
        "kwargs": {"options": f"-c search_path={QUEUE_SCHEMA}", "application_name": "e200-jobs"},
        "min_size": 1,
        "max_size": max_size,
    }


def _lock_key(job: Scheduled) -> str | None:
    """The lock and queueing lock of a job: a periodic job never overlaps itself and waits at
    most once in the queue; jobs with arguments (imports) run side by side."""
    return job.name if job.cron is not None else None


class JobQueue:
    """This process's view of the queue: what it may run, and how to queue work."""

    def __init__(self, url: str, engine: Engine, settings: Settings,
                 jobs: Sequence[Scheduled]) -> None:  # fmt: skip
        self.engine = engine
        self.settings = settings
        self.jobs = {j.name: j for j in jobs}
        self._url = url
        # Workers run on an asyncio pool; request handlers queue work through a small sync one.
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                **_pool_args(url, settings.worker_concurrency + 3)
            )
        )
        self._defer_app = procrastinate.App(
            connector=procrastinate.SyncPsycopgConnector(**_pool_args(url, 4))
        )
        self._defer_lock = threading.Lock()
        self._defer_open = False
        for job in jobs:
            self._register(job)

    # -- tasks ---------------------------------------------------------------------------------

    def _register(self, job: Scheduled) -> None:
        spec = job.spec
        key = _lock_key(job)

        def run(context: procrastinate.JobContext, /, timestamp: int | None = None,
                **args: Any) -> None:  # fmt: skip
            assert context.job.id is not None
            self.run_one(job, context.job.id, context.job.attempts + 1, timestamp, args)

        task = self.app.task(
            name=spec.name, queue=spec.queue, retry=spec.retries, pass_context=True,
            lock=key, queueing_lock=key,
        )(run)  # fmt: skip
        if job.cron is not None:
            self.app.periodic(cron=job.cron, periodic_id=spec.name)(task)

    def run_one(self, job: Scheduled, queue_job_id: int, attempt: int, timestamp: int | None,
                args: dict[str, Any]) -> None:  # fmt: skip
        """Run a job and write its history row (started, then succeeded or failed)."""
        scheduled = datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None
        with self.engine.begin() as conn:
            run_id = conn.execute(
                insert(job_run).values(queue_job_id=queue_job_id, name=job.name,
                                       attempt=attempt, scheduled_for=scheduled,
                                       worker=WORKER_NAME)
                .returning(job_run.c.id)
            ).scalar_one()  # fmt: skip
        ctx = JobContext(engine=self.engine, settings=self.settings, args=args,
                         scheduled_for=scheduled)  # fmt: skip
        try:
            with DURATION.labels(job.name).time():
                summary = job.spec.run(ctx)
        except Exception as exc:
            self._finish(run_id, "failed", f"{type(exc).__name__}: {exc}"[:2000])
            RUNS.labels(job.name, "failed").inc()
            log.exception("job failed", job=job.name, queue_job_id=queue_job_id)
            raise
        self._finish(run_id, "succeeded", summary)
        RUNS.labels(job.name, "succeeded").inc()
        log.debug("job done", job=job.name, summary=summary)

    def _finish(self, run_id: int, outcome: str, summary: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(job_run).where(job_run.c.id == run_id)
                .values(outcome=outcome, summary=summary, finished_at=func.now())
            )  # fmt: skip

    # -- queueing ------------------------------------------------------------------------------

    def defer(self, name: str, args: dict[str, Any] | None = None) -> int:
        """Queue a run of job ``name`` now; returns the queue's job id. A periodic job already
        waiting in the queue is not queued twice (``ConflictError``)."""
        job = self.jobs.get(name)
        if job is None:
            raise NotFoundError("job", name)
        with self._defer_lock:  # opened on first use: most processes never queue anything
            if not self._defer_open:
                self._defer_app.open()
                self._defer_open = True
        try:
            job_id: int = self._defer_app.configure_task(
                name, allow_unknown=True, queue=job.spec.queue,
                lock=_lock_key(job), queueing_lock=_lock_key(job),
            ).defer(**(args or {}))  # fmt: skip
        except AlreadyEnqueued as exc:
            raise ConflictError(f"{name} is already waiting to run") from exc
        return job_id

    # -- working -------------------------------------------------------------------------------

    def queues(self) -> list[str]:
        """The queues this process works: ``commands`` only where commands can be sent."""
        names = sorted({j.spec.queue for j in self.jobs.values()})
        return [q for q in names if q != "commands" or self.settings.commands_url]

    async def work(self, *, install_signal_handlers: bool) -> None:
        """Run a worker until cancelled (or, with signal handlers, until SIGINT/SIGTERM)."""
        async with self.app.open_async():
            await self.app.run_worker_async(
                queues=self.queues(),
                concurrency=self.settings.worker_concurrency,
                name=WORKER_NAME,
                install_signal_handlers=install_signal_handlers,
                update_heartbeat_interval=self.settings.worker_heartbeat_s,
                stalled_worker_timeout=self.settings.worker_stalled_after_s,
                fetch_job_polling_interval=2.0,
                # At a stop, running jobs get this long before the worker stops waiting for them.
                shutdown_graceful_timeout=SHUTDOWN_GRACE_S,
            )

    def close(self) -> None:
        with self._defer_lock:
            if self._defer_open:
                self._defer_app.close()
                self._defer_open = False

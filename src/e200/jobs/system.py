"""The queue's own upkeep, as jobs like any other: jobs of dead workers handed to live ones, and
old history dropped.

They speak SQL to procrastinate's schema (pinned version, see pyproject) in the caller's
transaction, so they need no second connection pool."""

from __future__ import annotations

from sqlalchemy import text

from e200.db.jobspec import JobContext, JobSpec
from e200.jobs.tables import job_run

QUEUE_SCHEMA = "procrastinate"

_STALLED = text("""
    SELECT job.id FROM procrastinate_jobs job
      LEFT JOIN procrastinate_workers w ON w.id = job.worker_id
     WHERE job.status = 'doing'
       AND (job.worker_id IS NULL
            OR w.last_heartbeat < now() - make_interval(secs => :stalled_s))
     ORDER BY job.id
       FOR UPDATE OF job SKIP LOCKED
""")


def retry_stalled(ctx: JobContext) -> str:
    """Jobs whose worker stopped sending heartbeats are queued again (another worker takes
    them); their history rows say the worker died. Dead workers are forgotten."""
    stalled_s = ctx.settings.worker_stalled_after_s
    with ctx.engine.begin() as conn:
        conn.execute(text(f"SET LOCAL search_path TO {QUEUE_SCHEMA}"))
        ids = conn.execute(_STALLED, {"stalled_s": stalled_s}).scalars().all()
        for job_id in ids:
            conn.execute(text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"),
                         {"id": job_id})  # fmt: skip
        if ids:
            conn.execute(
                job_run.update()
                .where(job_run.c.queue_job_id.in_(ids), job_run.c.outcome == "running")
                .values(outcome="failed", finished_at=text("now()"),
                        summary="its worker stopped (no heartbeat); queued again")
            )  # fmt: skip
        conn.execute(
            text("DELETE FROM procrastinate_workers "
                 "WHERE last_heartbeat < now() - make_interval(secs => :stalled_s)"),
            {"stalled_s": stalled_s},
        )  # fmt: skip
    return f"{len(ids)} jobs of stopped workers queued again"


def purge_history(ctx: JobContext) -> str:
    """Finished jobs older than ``job_history_days`` leave the queue and the history."""
    seconds = ctx.settings.job_history_days * 86_400
    with ctx.engine.begin() as conn:
        conn.execute(text(f"SET LOCAL search_path TO {QUEUE_SCHEMA}"))
        queued = conn.execute(
            text("""
                DELETE FROM procrastinate_jobs j
                 WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
                   AND NOT EXISTS (SELECT 1 FROM procrastinate_events e
                                    WHERE e.job_id = j.id
                                      AND e.at >= now() - make_interval(secs => :h))
            """),
            {"h": seconds},
        ).rowcount
        runs = conn.execute(
            job_run.delete().where(
                job_run.c.outcome != "running",
                job_run.c.started_at < text("now() - make_interval(secs => :h)"),
            ),
            {"h": seconds},
        ).rowcount
    return f"{queued} finished jobs and {runs} history rows dropped"


SYSTEM_JOBS = (
    JobSpec(
        name="jobs.retry_stalled",
        title="Jobs of stopped workers handed to live ones",
        run=retry_stalled,
        cron="* * * * * */15",
    ),
    JobSpec(
        name="jobs.purge_history",
        title="Old finished jobs dropped from the queue and the history",
        run=purge_history,
        cron="53 * * * *",
    ),
)

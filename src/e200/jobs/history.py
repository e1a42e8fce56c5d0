"""Reading the job history: each job with its schedule, last run, next run and failures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text

from e200.jobs.model import JobOut, JobsOut, RunOut
from e200.jobs.registry import Scheduled
from e200.jobs.system import QUEUE_SCHEMA
from e200.jobs.tables import job_run
from e200.kernel import utc_now


def _run(row: Any) -> RunOut:
    m = row._mapping
    end = m["finished_at"]
    return RunOut(
        id=m["id"], queue_job_id=m["queue_job_id"], name=m["name"], attempt=m["attempt"],
        scheduled_for=m["scheduled_for"], worker=m["worker"], started_at=m["started_at"],
        finished_at=end, outcome=m["outcome"], summary=m["summary"],
        duration_s=(end - m["started_at"]).total_seconds() if end is not None else None,
    )  # fmt: skip


def live_workers(conn: Connection, stalled_after_s: float) -> int:
    """Workers whose heartbeat is recent (procrastinate's workers table)."""
    alive = conn.execute(
        text(f"SELECT count(*) FROM {QUEUE_SCHEMA}.procrastinate_workers "
             "WHERE last_heartbeat >= now() - make_interval(secs => :s)"),
        {"s": stalled_after_s},
    ).scalar_one()  # fmt: skip
    return int(alive)


def overview(conn: Connection, jobs: Sequence[Scheduled], stalled_after_s: float,
             now: datetime | None = None) -> JobsOut:  # fmt: skip
    now = now or utc_now()
    since = now - timedelta(hours=24)
    last_ids = select(func.max(job_run.c.id).label("id")).group_by(job_run.c.name).scalar_subquery()
    last = {
        r.name: _run(r) for r in conn.execute(select(job_run).where(job_run.c.id.in_(last_ids)))
    }
    stats = {
        r.name: r
        for r in conn.execute(
            select(
                job_run.c.name,
                func.count().label("runs"),
                func.count().filter(job_run.c.outcome == "failed").label("failures"),
                func.count().filter(job_run.c.outcome == "running").label("running"),
            )
            .where(job_run.c.started_at >= since)
            .group_by(job_run.c.name)
        )
    }
    out = []
    for job in jobs:
        s = stats.get(job.name)
        out.append(
            JobOut(
                name=job.name,
                title=job.spec.title,
                queue=job.spec.queue,
                cron=job.cron,
                next_run=job.next_run(now),
                last_run=last.get(job.name),
                runs_24h=s.runs if s else 0,
                failures_24h=s.failures if s else 0,
                running=s.running if s else 0,
            )
        )
    return JobsOut(jobs=out, workers_alive=live_workers(conn, stalled_after_s))


def runs(conn: Connection, name: str, *, limit: int = 50, offset: int = 0) -> list[RunOut]:
    rows = conn.execute(
        select(job_run).where(job_run.c.name == name)
        .order_by(job_run.c.id.desc()).limit(limit).offset(offset)
    )  # fmt: skip
    return [_run(r) for r in rows]

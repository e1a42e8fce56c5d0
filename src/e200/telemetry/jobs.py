"""Telemetry's background jobs: reading partitions ahead of time, and retention."""

from __future__ import annotations

from datetime import date, timedelta

from e200.db.jobspec import JobContext, JobSpec
from e200.telemetry.partitions import create_ahead, drop_older_than


def _partitions(ctx: JobContext) -> str:
    today = date.today()
    with ctx.engine.begin() as conn:
        create_ahead(conn, today)
        dropped = drop_older_than(conn, today - timedelta(days=ctx.settings.retention_days))
    return f"partitions ready ahead; {len(dropped)} dropped past retention"


JOBS = (
    JobSpec(
        name="telemetry.partitions",
        title="Reading partitions ahead, and those past retention dropped",
        run=_partitions,
        cron="7 * * * *",
    ),
)

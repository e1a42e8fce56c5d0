"""Acquisition quality's background job: yesterday's figures (late data and re-collections still
arrive) and today's so far, recomputed; days past retention dropped."""

from __future__ import annotations

from datetime import timedelta

from e200.db.jobspec import JobContext, JobSpec
from e200.quality.compute import QualityRules, compute_day, local_today, purge_before


def _recompute(ctx: JobContext) -> str:
    settings = ctx.settings
    rules = QualityRules()  # k of liveness: the offline alarm's threshold in force
    today = local_today(settings.timezone)
    with ctx.engine.begin() as conn:
        purge_before(conn, today - timedelta(days=settings.retention_days))
    parts = []
    for day in (today - timedelta(days=1), today):
        with ctx.engine.begin() as conn:
            done = compute_day(conn, day, settings.timezone, rules)
        parts.append(f"{day.isoformat()}: {done.meters} meters, {done.terminals} terminals")
    return "; ".join(parts)


JOBS = (
    JobSpec(
        name="quality.recompute",
        title="Acquisition quality of yesterday and today recomputed",
        run=_recompute,
        cron="*/15 * * * *",
    ),
)

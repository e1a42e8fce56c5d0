"""The alarm slice's background job: terminals silent too long raised as offline without waiting
for their next message (the rest of the engine runs inside each ingest batch)."""

from __future__ import annotations

from e200.alarms.engine import AlarmEngine
from e200.db.jobspec import JobContext, JobSpec
from e200.db.replay import history_replay_running


def _check_offline(ctx: JobContext) -> str:
    with ctx.engine.begin() as conn:
        if history_replay_running(conn):  # its terminals are not silent: their history is coming
            return "skipped: history is being loaded"
        raised = AlarmEngine(timezone=ctx.settings.timezone).check_offline(conn)
    return f"{raised} terminals raised offline"


JOBS = (
    JobSpec(
        name="alarms.check_offline",
        title="Terminals silent for k reporting intervals raised offline",
        run=_check_offline,
        cron="* * * * * */30",
    ),
)

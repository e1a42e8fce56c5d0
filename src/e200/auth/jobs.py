"""The auth slice's background jobs: ended sessions purged, directory users kept in step."""

from __future__ import annotations

from e200.auth.credentials import purge_expired
from e200.auth.login import sync_directory
from e200.db.jobspec import JobContext, JobSpec


def _purge_sessions(ctx: JobContext) -> str:
    with ctx.engine.begin() as conn:
        purged = purge_expired(conn, ctx.settings)
    return f"{purged} ended sessions purged"


def _sync_directory(ctx: JobContext) -> str:
    if not ctx.settings.ldap_url:
        return "no directory configured"
    result = sync_directory(ctx.engine, ctx.settings)
    return (f"{result.directory_users} directory users: {result.updated} updated, "
            f"{len(result.disabled)} disabled")  # fmt: skip


JOBS = (
    JobSpec(
        name="auth.purge_sessions",
        title="Ended sessions and tokens purged",
        run=_purge_sessions,
        cron="17 * * * *",
    ),
    JobSpec(
        name="auth.sync_directory",
        title="Directory (LDAP/AD) users' roles and scope refreshed, departed users disabled",
        run=_sync_directory,
        cron="27 * * * *",
    ),
)

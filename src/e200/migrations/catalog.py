"""Every slice's table metadata, in one place for migrations and the drift test."""

from __future__ import annotations

from sqlalchemy import MetaData

from e200 import alarms, archives, auth, jobs, quality, telemetry, terminal

SCHEMAS: tuple[str, ...] = (
    "alarms", "archives", "auth", "jobs", "quality", "telemetry", "terminal",
)  # fmt: skip


def all_metadata() -> list[MetaData]:
    return [
        alarms.metadata,
        archives.metadata,
        auth.metadata,
        jobs.metadata,
        quality.metadata,
        telemetry.metadata,
        terminal.metadata,
    ]

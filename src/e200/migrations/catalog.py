"""Every slice's table metadata, in one place for migrations and the drift test."""

from __future__ import annotations

from sqlalchemy import MetaData

from e200 import archives, auth, telemetry, terminal

SCHEMAS: tuple[str, ...] = ("archives", "auth", "telemetry", "terminal")


def all_metadata() -> list[MetaData]:
    return [archives.metadata, auth.metadata, telemetry.metadata, terminal.metadata]

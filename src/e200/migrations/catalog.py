"""Every slice's table metadata, in one place for migrations and the drift test."""

from __future__ import annotations

from sqlalchemy import MetaData

from e200 import archives, auth

SCHEMAS: tuple[str, ...] = ("archives", "auth")


def all_metadata() -> list[MetaData]:
    return [archives.metadata, auth.metadata]

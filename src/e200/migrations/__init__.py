"""Alembic migration scripts. ``all_metadata`` lists every slice's tables (for drift checks)."""

from e200.migrations.catalog import SCHEMAS, all_metadata

__all__ = ["SCHEMAS", "all_metadata"]

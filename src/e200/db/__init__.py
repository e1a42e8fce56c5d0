"""Database access: engines, the embedded PostgreSQL, migrations."""

from e200.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from e200.db.engine import Database, UnsupportedDatabaseError, make_engine, sqlalchemy_url
from e200.db.migrate import current_revision, head_revision, is_current, upgrade

__all__ = [
    "Database",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "UnsupportedDatabaseError",
    "current_revision",
    "head_revision",
    "is_current",
    "make_engine",
    "sqlalchemy_url",
    "upgrade",
]

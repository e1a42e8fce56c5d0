"""Engines and the database a running E200 uses (external or embedded)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, text

from e200.config import Settings
from e200.db.embedded import EmbeddedPostgres, default_data_dir

MIN_SERVER_VERSION = 150000


class UnsupportedDatabaseError(RuntimeError):
    pass


def sqlalchemy_url(url: str) -> str:
    """Accept plain libpq URLs (postgresql://) and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    engine = create_engine(
        sqlalchemy_url(url), pool_pre_ping=True, pool_size=pool_size, max_overflow=10
    )
    return engine


def check_server_version(engine: Engine) -> int:
    with engine.connect() as conn:
        num = int(conn.execute(text("SHOW server_version_num")).scalar_one())
    if num < MIN_SERVER_VERSION:
        raise UnsupportedDatabaseError(
            f"PostgreSQL {num // 10000} is too old: E200 needs PostgreSQL 15 or newer"
        )
    return num


@dataclass
class Database:
    """The database of one E200 process: an engine and, when embedded, the cluster it started."""

    url: str
    engine: Engine
    embedded: EmbeddedPostgres | None = None

    @classmethod
    def open(cls, settings: Settings) -> Database:
        embedded: EmbeddedPostgres | None = None
        if settings.database_url:
            url = settings.database_url
        else:
            data_dir = settings.data_path
            if "data_dir" not in settings.model_fields_set:
                data_dir = default_data_dir(data_dir)  # an explicit choice is refused, not moved
            embedded = EmbeddedPostgres(data_dir, port=settings.embedded_pg_port)
            url = embedded.start()
        engine = make_engine(url)
        try:
            check_server_version(engine)
        except Exception:
            engine.dispose()
            if embedded is not None:
                embedded.stop()
            raise
        return cls(url=url, engine=engine, embedded=embedded)

    def close(self) -> None:
        self.engine.dispose()
        if self.embedded is not None:
            self.embedded.stop()

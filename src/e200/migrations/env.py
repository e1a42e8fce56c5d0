"""Alembic environment: migrations run on the connection handed over by ``e200.db.upgrade``."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from e200.db import sqlalchemy_url
from e200.migrations.catalog import SCHEMAS, all_metadata

config = context.config
target_metadata = all_metadata()


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    if type_ == "schema":
        return name in SCHEMAS
    return True


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    opts: dict[str, Any] = {
        "target_metadata": target_metadata,
        "include_schemas": True,
        "include_name": _include_name,
        "compare_type": True,
        "compare_server_default": True,
    }
    if connection is not None:
        context.configure(connection=connection, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "no connection and no sqlalchemy.url"
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as conn:
        context.configure(connection=conn, **opts)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()

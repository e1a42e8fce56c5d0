"""The migrations produce exactly the tables the code declares, on the embedded PostgreSQL 18 and
on an external PostgreSQL 15 (E200_TEST_EXTERNAL_PG, set by CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from e200.db import current_revision, head_revision, make_engine, upgrade
from e200.db.engine import check_server_version
from e200.migrations import SCHEMAS, all_metadata
from tests.conftest import _admin_dsn, require


def _fresh_database(admin_dsn: str) -> Iterator[str]:
    name = f"e200_drift_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["embedded", "external"])
def empty_db(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "embedded":
        admin = _admin_dsn(request.getfixturevalue("pg_cluster"))
    else:
        admin = os.environ.get("E200_TEST_EXTERNAL_PG", "")
        require(bool(admin), "E200_TEST_EXTERNAL_PG names no external PostgreSQL")
        try:
            psycopg.connect(admin, connect_timeout=5).close()
        except psycopg.OperationalError as exc:
            require(False, f"external PostgreSQL {admin} unreachable: {exc}")
    gen = _fresh_database(admin)
    url = next(gen)
    engine = make_engine(url, pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()
        gen.close()


def _declared_tables() -> set[str]:
    return {f"{t.schema}.{t.name}" for md in all_metadata() for t in md.tables.values()}


def _db_tables(engine: Engine) -> set[str]:
    insp = inspect(engine)
    return {f"{s}.{t}" for s in SCHEMAS for t in insp.get_table_names(schema=s)}


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _: type_ != "schema" or name in SCHEMAS,
                "compare_type": True,
            },
        )
        return list(compare_metadata(ctx, all_metadata()))


def test_migrations_match_declared_tables(empty_db: Engine) -> None:
    version = check_server_version(empty_db)
    assert version >= 150000
    upgrade(empty_db)
    assert current_revision(empty_db) == head_revision()
    assert _db_tables(empty_db) == _declared_tables()
    assert _drift(empty_db) == []


def test_upgrade_is_idempotent_and_keeps_data(empty_db: Engine) -> None:
    upgrade(empty_db)
    with empty_db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO archives.org_unit (code, name, kind, path)"
                " VALUES ('X', 'X', 'company', '1.')"
            )
        )
    upgrade(empty_db)
    upgrade(empty_db)
    assert current_revision(empty_db) == head_revision()
    with empty_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM archives.org_unit")).scalar() == 1


def test_one_schema_per_slice(empty_db: Engine) -> None:
    upgrade(empty_db)
    with empty_db.connect() as conn:
        schemas = set(conn.execute(text("SELECT nspname FROM pg_namespace")).scalars())
    assert set(SCHEMAS) <= schemas
    assert not {t for t in _db_tables(empty_db) if t.startswith("public.")}

"""`e200 db upgrade` and `e200 db status` against a database named by E200_DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from e200.cli import app
from e200.db import EmbeddedPostgres, head_revision
from tests.conftest import _admin_dsn


@pytest.fixture()
def empty_url(pg_cluster: EmbeddedPostgres) -> Iterator[str]:
    admin = _admin_dsn(pg_cluster)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "e200_cli"')
        conn.execute('CREATE DATABASE "e200_cli"')
    yield admin.rsplit("/", 1)[0] + "/e200_cli"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "e200_cli" WITH (FORCE)')


def test_db_upgrade_twice_then_status(empty_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E200_DATABASE_URL", empty_url)
    monkeypatch.setenv("E200_LOG_JSON", "true")
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert f"Schema at revision {head_revision()}" in result.output
    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 0, status.output
    assert "external" in status.output and head_revision() in status.output


def test_unreachable_database_fails_with_nonzero_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E200_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code != 0

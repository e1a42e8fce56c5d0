"""Shared fixtures: one embedded PostgreSQL per test session, a fresh migrated database per test
(cloned from a migrated template, ~50 ms), and an API client on it."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from e200.api import create_app
from e200.config import Settings
from e200.db import EmbeddedPostgres, make_engine, upgrade
from tests.bus.brokers import IN_CI as IN_CI  # the test folders import these from here
from tests.bus.brokers import require as require
from tests.users import api_key

REPO_ROOT = Path(__file__).resolve().parent.parent


_TMP_DIRS: list[Path] = []


def shared_tmp_dir(prefix: str) -> Path:
    """A temp folder the embedded server's system user may traverse (mode 711); removed at the
    end of the session (clusters in it hold ~40 MB each)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    _TMP_DIRS.append(path)
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import shutil

    for path in _TMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedPostgres]:
    cluster = EmbeddedPostgres(shared_tmp_dir("e200-test-pg-"))
    cluster.start()
    yield cluster
    cluster.stop()


def _admin_dsn(cluster: EmbeddedPostgres) -> str:
    return cluster.url.replace("+psycopg", "").rsplit("/", 1)[0] + "/postgres"


@pytest.fixture(scope="session")
def template_db(pg_cluster: EmbeddedPostgres) -> str:
    name = "e200_template"
    with psycopg.connect(_admin_dsn(pg_cluster), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(pg_cluster.url.rsplit("/", 1)[0] + f"/{name}")
    upgrade(engine)
    engine.dispose()
    return name


@pytest.fixture()
def fresh_db_url(pg_cluster: EmbeddedPostgres, template_db: str) -> Iterator[str]:
    """URL of a new database at the migration head, dropped after the test."""
    name = f"e200_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_dsn(pg_cluster), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield pg_cluster.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(_admin_dsn(pg_cluster), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def engine(fresh_db_url: str) -> Iterator[Engine]:
    eng = make_engine(fresh_db_url, pool_size=2)
    yield eng
    eng.dispose()


@pytest.fixture()
def anonymous_client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, database_url="unused://")
    with TestClient(create_app(settings, engine, console=False)) as test_client:
        yield test_client


@pytest.fixture()
def client(anonymous_client: TestClient, engine: Engine) -> TestClient:
    """The API as the administrator (an API key: every permission, the whole grid)."""
    anonymous_client.headers["X-API-Key"] = api_key(engine)
    return anonymous_client


# Real brokers (Tansu for Kafka, Mosquitto for MQTT), shared by every test folder.
from tests.bus.brokers import kafka_broker, mqtt_broker  # noqa: E402

__all__ = ["kafka_broker", "mqtt_broker"]

"""The roles' health checks (`e200 worker --check`, `e200 ingest --check`) against the test
database named by E200_DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from e200.cli import app
from tests.jobs.workers import queue_settings, running_worker, wait_for


def run(url: str, *args: str) -> Result:
    env = {"E200_DATABASE_URL": url, "E200_LOG_JSON": "true"}
    return CliRunner().invoke(app, list(args), env=env)


def test_health_checks_of_the_roles(engine: Engine, fresh_db_url: str, tmp_path: Path) -> None:
    from e200.jobs import live_workers, make_queue

    ingest = run(fresh_db_url, "ingest", "--check")
    assert ingest.exit_code == 0 and "ok" in ingest.output, ingest.output
    none = run(fresh_db_url, "worker", "--check")
    assert none.exit_code == 1 and "workers alive: 0" in none.output, none.output
    queue = make_queue(fresh_db_url, engine, queue_settings(tmp_path, fresh_db_url))
    with running_worker(queue), engine.connect() as conn:
        wait_for("a worker's heartbeat", lambda: live_workers(conn, 60) == 1)
        alive = run(fresh_db_url, "worker", "--check")
    assert alive.exit_code == 0 and "workers alive: 1" in alive.output, alive.output
    missing = run(fresh_db_url, "ingest")
    assert missing.exit_code == 2 and "--source" in missing.output

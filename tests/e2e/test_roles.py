"""The process roles as a deployment runs them, against one PostgreSQL: three `e200 worker`,
two `e200 ingest` and `e200 serve` for a run that spans several periods.

- every periodic job runs exactly once per period (read from the job history), whatever the
  number of processes, and only on workers;
- an import uploaded through `e200 serve` survives the loss of that process (SIGKILL right after
  the upload was accepted), its worker is SIGKILLed mid-import and another worker finishes it,
  with its effect applied once; a new `e200 serve` reports it done.

tests/console/test_serve_instances_browser.py covers two `e200 serve` behind one database
(sessions, alarms).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from e200.archives.imports.api import INLINE_MAX_BYTES
from e200.jobs import live_workers
from tests.archives.imports_helpers import csv_text
from tests.archives.test_import_errors import build_base
from tests.conftest import shared_tmp_dir
from tests.jobs.workers import wait_for as wait_for_within
from tests.server import E200Server

pytestmark = [pytest.mark.slow]

PERIOD_S = 5
PERIODIC = ("telemetry.partitions", "auth.purge_sessions", "auth.sync_directory",
            "terminal.dispatch_commands", "terminal.check_meter_lists", "quality.recompute",
            "alarms.check_offline", "archives.reap_imports", "jobs.purge_history")  # fmt: skip
SCHEDULES = {name: f"* * * * * */{PERIOD_S}" for name in PERIODIC} | {
    "jobs.retry_stalled": "* * * * * */2"
}
LIMIT_S = 240  # bounds every wait: a stuck run fails instead of hanging CI
METERS = 160_000  # a file over the inline limit: the import runs as a job, for several seconds


def _env(url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ, "E200_DATABASE_URL": url, "E200_DATA_DIR": str(data_dir),
        "E200_LOG_JSON": "true", "E200_JOB_SCHEDULES": orjson.dumps(SCHEDULES).decode(),
        "E200_WORKER_HEARTBEAT_S": "1", "E200_WORKER_STALLED_AFTER_S": "4",
        "E200_COMMANDS_URL": "memory://commands",
    }  # fmt: skip


class Role:
    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        self._handle = self.log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "e200", *args], env=env,
                                     stdout=self._handle, stderr=subprocess.STDOUT)  # fmt: skip

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None
        finally:
            self._handle.close()


def wait_for(what: str, check: Any) -> Any:
    return wait_for_within(what, check, LIMIT_S)


def _rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def test_periodic_jobs_run_once_per_period_and_a_killed_workers_import_finishes_once(
    engine: Engine, fresh_db_url: str
) -> None:
    root = shared_tmp_dir("e200-roles-")
    env = _env(fresh_db_url, root / "var")
    build_base(engine)  # the archive the imported meters attach to
    roles: list[Role] = []
    serve = E200Server(root / "serve", role=("serve",), E200_DATABASE_URL=fresh_db_url)
    try:
        serve.wait_healthy()  # it migrates the database first
        roles += [Role(f"worker{n}", ["worker"], env, root) for n in range(3)]
        roles += [Role(f"ingest{n}", ["ingest", "--source", "memory"], env, root)
                  for n in range(2)]  # fmt: skip
        with engine.connect() as conn:
            wait_for("three workers", lambda: live_workers(conn, 4) == 3)
        started = datetime.now(UTC)
        serve.sign_in_admin()

        # An import through `e200 serve`, accepted (202: queued), then that process is lost.
        body = csv_text(["asset_number", "transformer", "phase"],
                        *[[f"MJ{i:07d}", "T1", "ABC"[i % 3]] for i in range(METERS)])  # fmt: skip
        assert len(body) > INLINE_MAX_BYTES
        answer = serve.request("POST", "/api/v1/archives/imports", timeout_s=120,
                               files={"file": ("meters.csv", body.encode())},
                               data={"dry_run": "false"})  # fmt: skip
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        serve.proc.kill()
        serve.proc.wait(timeout=30)

        # The worker running it is killed mid-import.
        running = wait_for("the import running on a worker", lambda: _rows(
            engine, "SELECT queue_job_id, worker FROM jobs.job_run "
            "WHERE name = 'archives.import' AND outcome = 'running'"))  # fmt: skip
        queue_job_id, worker = running[0]
        pid = int(worker.rsplit(":", 1)[1])
        killed = next(r for r in roles if r.proc.pid == pid)
        assert killed.name.startswith("worker")
        os.kill(pid, signal.SIGKILL)
        killed.proc.wait(timeout=30)
        status = _rows(engine, "SELECT status FROM archives.import_job WHERE id = :j", j=job_id)
        assert status[0].status not in ("done", "failed"), "the import ended before the kill"

        # Another worker takes it over and finishes it.
        def finished() -> bool:
            state = _rows(engine, "SELECT status FROM archives.import_job WHERE id = :j",
                          j=job_id)[0].status  # fmt: skip
            return state in ("done", "failed")

        wait_for("the import to finish on another worker", finished)
        attempts = _rows(engine, "SELECT attempt, worker, outcome, summary FROM jobs.job_run "
                         "WHERE queue_job_id = :q ORDER BY id", q=queue_job_id)  # fmt: skip
        assert [(a.attempt, a.outcome) for a in attempts] == [(1, "failed"), (2, "succeeded")]
        assert attempts[0].worker == worker and attempts[1].worker != worker
        assert "no heartbeat" in attempts[0].summary
        meters = _rows(engine, "SELECT count(*) AS n FROM archives.meter "
                       "WHERE asset_number LIKE 'MJ%'")[0].n  # fmt: skip
        assert meters == METERS  # applied once

        # A new `e200 serve` tells the uploader it is done.
        again = E200Server(root / "serve2", role=("serve",), E200_DATABASE_URL=fresh_db_url)
        try:
            again.wait_healthy()
            again.sign_in_admin()
            job = again.api(f"/api/v1/archives/imports/{job_id}")
            assert job["status"] == "done" and job["counts"]["total"]["create"] == METERS
        finally:
            again.interrupt()

        # Let the schedules run a few more periods on the two remaining workers.
        wait_for(
            "twelve periods", lambda: datetime.now(UTC) - started > timedelta(seconds=12 * PERIOD_S)
        )
        ended = datetime.now(UTC)
    finally:
        for role in roles:
            role.stop()
        serve.interrupt()

    runs = _rows(engine, "SELECT name, scheduled_for, outcome, worker, started_at "
                 "FROM jobs.job_run WHERE scheduled_for IS NOT NULL")  # fmt: skip
    worker_pids = {r.proc.pid for r in roles if r.name.startswith("worker")}
    assert {int(r.worker.rsplit(":", 1)[1]) for r in runs} <= worker_pids  # never on ingest
    by_period: dict[tuple[str, datetime], list[Any]] = defaultdict(list)
    for r in runs:
        by_period[(r.name, r.scheduled_for)].append(r)
    first = started + timedelta(seconds=2 * PERIOD_S)  # a margin for start-up and shut-down
    last = ended - timedelta(seconds=2 * PERIOD_S)
    tick = first.replace(microsecond=0) + timedelta(seconds=-first.second % PERIOD_S)
    expected = []
    while tick <= last:
        expected.append(tick)
        tick += timedelta(seconds=PERIOD_S)
    assert len(expected) >= 6
    skipped = []
    for name in PERIODIC:
        for period in expected:
            attempts = by_period.get((name, period))
            if attempts is None:
                # Never queued twice: a period whose predecessor is still waiting in the queue
                # (its worker killed, or the machine too busy) is skipped. Allowed only so.
                before = by_period.get((name, period - timedelta(seconds=PERIOD_S)), [])
                late = [a for a in before if a.started_at >= period - timedelta(seconds=0.5)]
                assert late, f"{name} did not run for {period} though nothing was waiting"
                skipped.append((name, period))
                continue
            # Every period that ran succeeded exactly once: a run cut by the kill is retried
            # as a further attempt, never doubled.
            outcomes = [a.outcome for a in attempts]
            assert outcomes.count("succeeded") == 1, (name, period, outcomes)
            assert outcomes.count("failed") == len(outcomes) - 1, (name, period, outcomes)
    periods = len(PERIODIC) * len(expected)
    print(
        f"periodic runs: {periods - len(skipped)} of {periods} periods ran once, "
        f"{len(skipped)} skipped while their predecessor waited"
    )
    assert len(skipped) <= periods // 5

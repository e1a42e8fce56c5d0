"""The job queue on a real PostgreSQL: periodic jobs run and are listed with their history,
an admin runs one now, failures and dead workers are recorded, schedules are checked at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from e200.api import create_app
from e200.db.jobspec import JobContext, JobSpec
from e200.db.replay import history_replay
from e200.jobs import WORKER_NAME, JobQueue, UnknownScheduleError, registry
from e200.jobs.system import retry_stalled
from tests.jobs.workers import queue_settings, queued_client, running_worker, wait_for
from tests.users import api_key


def runs(engine: Engine, name: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT * FROM jobs.job_run WHERE name = :n ORDER BY id"), {"n": name}
            )
        )


def test_periodic_jobs_run_on_schedule_and_are_listed(
    engine: Engine, fresh_db_url: str, tmp_path: Path
) -> None:
    settings = queue_settings(
        tmp_path, fresh_db_url, job_schedules={"telemetry.partitions": "* * * * * */2"}
    )
    with queued_client(engine, settings) as (client, _queue):
        done = wait_for(
            "two runs of telemetry.partitions",
            lambda: (
                len([r for r in runs(engine, "telemetry.partitions") if r.outcome == "succeeded"])
                >= 2
            ),
        )
        assert done
        listed = client.get("/api/v1/jobs")
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert body["workers_alive"] == 1
        jobs = {j["name"]: j for j in body["jobs"]}
        # Every slice's periodic work is a job, with its schedule.
        for name in (
            "telemetry.partitions",
            "auth.purge_sessions",
            "auth.sync_directory",
            "terminal.check_meter_lists",
            "terminal.dispatch_commands",
            "quality.recompute",
            "alarms.check_offline",
            "archives.reap_imports",
            "jobs.retry_stalled",
            "jobs.purge_history",
        ):
            assert jobs[name]["cron"], name
            assert jobs[name]["next_run"], name
        assert jobs["archives.import"]["cron"] is None  # runs when an upload queues it
        part = jobs["telemetry.partitions"]
        assert part["cron"] == "* * * * * */2"  # the installation's schedule, not the default
        assert part["last_run"]["outcome"] in ("succeeded", "running")
        assert part["runs_24h"] >= 2 and part["failures_24h"] == 0
        history = client.get("/api/v1/jobs/telemetry.partitions/runs", params={"limit": 2})
        assert history.status_code == 200
        first = history.json()[0]
        assert first["worker"] == WORKER_NAME and first["scheduled_for"] is not None
        assert "partitions ready ahead" in (first["summary"] or "") or first["outcome"] == "running"
        periods = [r.scheduled_for for r in runs(engine, "telemetry.partitions")]
        assert len(periods) == len(set(periods))  # once per period


def test_an_admin_runs_a_periodic_job_now(
    engine: Engine, fresh_db_url: str, tmp_path: Path
) -> None:
    # A schedule that never comes due now: only the run asked for runs.
    settings = queue_settings(tmp_path, fresh_db_url,
                              job_schedules={"auth.purge_sessions": "0 0 1 1 *"})  # fmt: skip
    with queued_client(engine, settings) as (client, _queue):
        queued = client.post("/api/v1/jobs/auth.purge_sessions/run")
        assert queued.status_code == 202, queued.text
        run = wait_for(
            "the run",
            lambda: [r for r in runs(engine, "auth.purge_sessions") if r.outcome == "succeeded"],
        )
        assert run[0].scheduled_for is None  # run now, not for a period
        assert run[0].queue_job_id == queued.json()["queue_job_id"]
        assert "sessions purged" in run[0].summary
        assert client.post("/api/v1/jobs/nope.never/run").status_code == 404
        assert client.post("/api/v1/jobs/archives.import/run").status_code == 404  # needs a file
        audit = client.get("/api/v1/audit", params={"action": "run_job_now"}).json()
        items = audit["items"] if isinstance(audit, dict) else audit
        done = [i for i in items if i["detail"]["status"] == 202]
        assert [i["detail"]["request"]["job"] for i in done] == ["auth.purge_sessions"]
        assert len(items) == 3  # the refused attempts are audited too


def test_a_job_waiting_in_the_queue_is_not_queued_twice(
    engine: Engine, fresh_db_url: str, tmp_path: Path
) -> None:
    settings = queue_settings(tmp_path, fresh_db_url)
    queue = JobQueue(fresh_db_url, engine, settings, registry(settings))  # no worker
    try:
        with TestClient(create_app(settings, engine, console=False, queue=queue)) as client:
            client.headers["X-API-Key"] = api_key(engine)
            assert client.post("/api/v1/jobs/quality.recompute/run").status_code == 202
            second = client.post("/api/v1/jobs/quality.recompute/run")
            assert second.status_code == 409
            assert "already waiting" in second.json()["detail"]
    finally:
        queue.close()


def _fails(_ctx: JobContext) -> str:
    raise RuntimeError("the meter data service is down")


def test_a_failing_job_is_recorded_with_its_error(
    engine: Engine, fresh_db_url: str, tmp_path: Path
) -> None:
    settings = queue_settings(tmp_path, fresh_db_url)
    spec = JobSpec(name="test.fails", title="fails", run=_fails, cron="0 0 1 1 *")
    queue = JobQueue(fresh_db_url, engine, settings, registry(settings, [spec]))
    with running_worker(queue):
        queue.defer("test.fails")
        failed = wait_for(
            "the failure", lambda: [r for r in runs(engine, "test.fails") if r.outcome == "failed"]
        )
    assert failed[0].summary == "RuntimeError: the meter data service is down"
    assert failed[0].finished_at is not None


def test_schedules_are_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(UnknownScheduleError, match=r"unknown jobs: quality\.recompte"):
        registry(
            queue_settings(tmp_path, "unused://", job_schedules={"quality.recompte": "* * * * *"})
        )
    with pytest.raises(UnknownScheduleError, match="invalid cron"):
        registry(
            queue_settings(tmp_path, "unused://", job_schedules={"quality.recompute": "every hour"})
        )


def test_jobs_of_a_dead_worker_go_back_to_the_queue(
    engine: Engine, fresh_db_url: str, tmp_path: Path
) -> None:
    """A worker that stopped sending heartbeats (killed) loses its running jobs to the queue;
    its history row says so. (tests/e2e/test_roles.py kills a real worker process.)"""
    settings = queue_settings(tmp_path, fresh_db_url)
    queue = JobQueue(fresh_db_url, engine, settings, registry(settings))
    try:
        job_id = queue.defer("quality.recompute")
    finally:
        queue.close()
    with engine.begin() as conn:
        dead = conn.execute(
            text(
                "INSERT INTO procrastinate.procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '10 minutes') RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            text(
                "UPDATE procrastinate.procrastinate_jobs SET status = 'doing', "
                "worker_id = :w WHERE id = :j"
            ),
            {"w": dead, "j": job_id},
        )
        conn.execute(
            text(
                "INSERT INTO jobs.job_run (queue_job_id, name, attempt, worker) "
                "VALUES (:j, 'quality.recompute', 1, 'gone:1')"
            ),
            {"j": job_id},
        )
    summary = retry_stalled(JobContext(engine=engine, settings=settings))
    assert summary == "1 jobs of stopped workers queued again"
    with engine.connect() as conn:
        status, attempts = conn.execute(
            text("SELECT status, attempts FROM procrastinate.procrastinate_jobs WHERE id = :j"),
            {"j": job_id},
        ).one()
        workers = conn.execute(text("SELECT count(*) FROM procrastinate.procrastinate_workers"))
        assert workers.scalar_one() == 0  # the dead worker is forgotten
    assert (status, attempts) == ("todo", 1)
    (row,) = runs(engine, "quality.recompute")
    assert row.outcome == "failed" and "no heartbeat" in row.summary
    # A live worker now runs it.
    queue = JobQueue(fresh_db_url, engine, settings, registry(settings))
    with running_worker(queue):
        wait_for(
            "the second attempt",
            lambda: [r for r in runs(engine, "quality.recompute") if r.outcome == "succeeded"],
        )
    assert [r.attempt for r in runs(engine, "quality.recompute")] == [1, 2]


def test_the_offline_check_waits_while_history_is_loaded(engine: Engine, tmp_path: Path) -> None:
    from e200 import alarms

    (check,) = [j for j in alarms.JOBS if j.name == "alarms.check_offline"]
    ctx = JobContext(engine=engine, settings=queue_settings(tmp_path, "unused://"))
    with history_replay(engine):
        assert check.run(ctx) == "skipped: history is being loaded"
    assert check.run(ctx) == "0 terminals raised offline"


def test_an_import_without_a_sign_of_life_is_marked_failed(engine: Engine, tmp_path: Path) -> None:
    from e200 import archives

    (reap,) = [j for j in archives.JOBS if j.name == "archives.reap_imports"]
    with engine.begin() as conn:
        ids = [conn.execute(text(
            "INSERT INTO archives.import_job (created_by, file_name, format, mode, on_error, "
            "dry_run, template_version, status, progress_at) VALUES ('ops', 'm.csv', 'csv', "
            "'create', 'all_or_nothing', false, 1, :status, now() - make_interval(mins => :m)) "
            "RETURNING id"), {"status": status, "m": minutes}).scalar_one()
            for status, minutes in (("writing", 20), ("verifying", 2), ("done", 60))]  # fmt: skip
    ctx = JobContext(engine=engine, settings=queue_settings(tmp_path, "unused://"))
    assert reap.run(ctx) == "1 interrupted imports marked failed"
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status, report->>'message' AS message FROM "
                                 "archives.import_job ORDER BY id")).all()  # fmt: skip
    assert [(r.id, r.status) for r in rows] == list(zip(ids, ("failed", "verifying", "done"),
                                                        strict=True))  # fmt: skip
    assert "interrupted" in rows[0].message  # the reason, never left running

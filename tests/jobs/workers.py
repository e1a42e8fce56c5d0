"""A job worker inside the test process (a thread with its own event loop), for tests that need
queued work done without starting `e200 worker`; and a queue-backed API client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from e200.api import create_app
from e200.config import Settings
from e200.jobs import JobQueue, make_queue
from tests.users import api_key

STOP_LIMIT_S = 30


def wait_for(what: str, check: Any, limit_s: float = 60) -> Any:
    """``check()``'s first truthy answer, polled; the test fails after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def queue_settings(tmp_path: Path, url: str, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, database_url=url, worker_heartbeat_s=1,
                    worker_stalled_after_s=5, **overrides)  # type: ignore[arg-type]  # fmt: skip


@contextmanager
def running_worker(queue: JobQueue) -> Iterator[None]:
    """Work ``queue`` in a background thread until the block ends."""
    loop = asyncio.new_event_loop()
    task: list[asyncio.Task[None]] = []
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        task.append(loop.create_task(queue.work(install_signal_handlers=False)))
        started.set()
        try:
            loop.run_until_complete(task[0])
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="test-worker", daemon=True)
    thread.start()
    started.wait(STOP_LIMIT_S)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(task[0].cancel)
        thread.join(STOP_LIMIT_S)
        queue.close()


@contextmanager
def queued_client(engine: Engine, settings: Settings) -> Iterator[tuple[TestClient, JobQueue]]:
    """The API as the administrator, with a job queue and a worker working it."""
    assert settings.database_url is not None
    queue = make_queue(settings.database_url, engine, settings)
    with (
        running_worker(queue),
        TestClient(create_app(settings, engine, console=False, queue=queue)) as client,
    ):
        client.headers["X-API-Key"] = api_key(engine)
        yield client, queue

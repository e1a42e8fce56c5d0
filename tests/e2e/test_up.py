"""`e200 up` as a user runs it: embedded PostgreSQL, migrations, admin login printed once, demo
grid, API and console answering; Ctrl-C stops everything it started."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e200.auth import check_login
from e200.db import EmbeddedPostgres, make_engine
from tests.conftest import shared_tmp_dir
from tests.server import STARTUP_LIMIT_S, E200Server


@pytest.fixture()
def data_dir() -> Iterator[Path]:
    yield shared_tmp_dir("e200-up-") / "var"


@pytest.mark.slow
def test_up_serves_the_system_and_ctrl_c_stops_it(data_dir: Path) -> None:
    server = E200Server(data_dir, E200_DEMO_HISTORY_DAYS="0.25")
    try:
        server.wait_healthy()
        ready = httpx.get(server.base + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
        meters = httpx.get(server.base + "/api/v1/meters", params={"limit": 1}, timeout=10).json()
        assert meters["total"] > 100, "the demo grid is loaded"
        console = httpx.get(server.base + "/console/", timeout=10)
        assert console.status_code == 200 and "E200" in console.text
        # The simulator backfills history for the new demo grid through the ingest pipeline.
        deadline = time.monotonic() + STARTUP_LIMIT_S
        counters: list[dict[str, int]] = []
        while time.monotonic() < deadline and not counters:
            counters = httpx.get(server.base + "/api/v1/ingest/counters", timeout=10).json()
            time.sleep(0.5)
        assert counters and counters[0]["stored"] > 10_000, server.output()
        assert counters[0]["received"] == counters[0]["stored"] + counters[0][
            "quarantined"] + counters[0]["duplicates"]  # fmt: skip
        curve = httpx.get(server.base + "/api/v1/devices/SS-N01-F1-T1/readings",
                          timeout=10).json()  # fmt: skip
        assert len(curve["ts"]) >= 20, "hours of 15-min history for a demo transformer"
        metrics = httpx.get(server.base + "/metrics", timeout=10)
        assert "e200_http_requests_total" in metrics.text

        match = re.search(r"admin / (\S+)", server.output())
        assert match, server.output()
        password = match.group(1)
        # A second start of the same data folder reuses the running cluster.
        cluster = EmbeddedPostgres(data_dir)
        engine = make_engine(cluster.start())
        assert not cluster.started_here
        assert check_login(engine, "admin", password)
        assert not check_login(engine, "admin", password + "x")
        with engine.connect() as conn:
            stored = conn.exec_driver_sql(
                "SELECT password_hash FROM auth.user_account WHERE username='admin'"
            ).scalar_one()
        assert stored.startswith("$argon2id$") and password not in stored
        engine.dispose()
        cluster.stop()  # not ours: must leave it running
        assert httpx.get(server.base + "/readyz", timeout=10).status_code == 200
        pg_pid = cluster.server_pid()
        assert pg_pid is not None
    finally:
        code = server.interrupt()
    assert code == 0, server.output()
    assert EmbeddedPostgres(data_dir).server_pid() is None, "Ctrl-C stops the PostgreSQL it started"

    # Starting again keeps the data and does not print a new password.
    again = E200Server(data_dir, E200_DEMO_HISTORY_DAYS="0.25")
    try:
        again.wait_healthy()
        assert "admin / " not in again.output()
        assert "Demo grid loaded" not in again.output()
        total = httpx.get(again.base + "/api/v1/meters", params={"limit": 1}, timeout=10).json()
        assert total["total"] == meters["total"]
    finally:
        assert again.interrupt() == 0

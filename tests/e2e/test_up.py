"""`e200 up` as a user runs it: embedded PostgreSQL, migrations, admin login printed once (and to
be changed before anything else), demo grid, API and console answering only to a signed-in user;
Ctrl-C stops everything it started."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e200.db import EmbeddedPostgres, make_engine
from tests.conftest import shared_tmp_dir
from tests.server import ADMIN_PASSWORD, STARTUP_LIMIT_S, E200Server


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
        # Nobody signed in: the API answers 401, the console sends the browser to its login.
        anonymous = httpx.get(server.base + "/api/v1/meters", params={"limit": 1}, timeout=10)
        assert anonymous.status_code == 401, anonymous.text
        console = httpx.get(server.base + "/console/", timeout=10, follow_redirects=True)
        assert console.status_code == 200 and "E200" in console.text
        assert console.url.path == "/console/login", console.url

        # The printed one-time password signs in, but only to change it; a wrong one does not.
        password = server.one_time_password()
        assert server.token_for("admin", password + "x").status_code == 401
        first = server.token_for("admin", password)
        assert first.status_code == 200 and first.json()["must_change_password"], first.text
        bearer = {"Authorization": f"Bearer {first.json()['token']}"}
        before_change = httpx.get(server.base + "/api/v1/meters", headers=bearer, timeout=10)
        assert before_change.status_code == 403, before_change.text
        server.sign_in_admin()  # signs in again, changes the password, keeps the token
        assert server.token_for("admin", password).status_code == 401, "the old one is gone"

        meters = server.api("/api/v1/meters", limit=1)
        assert meters["total"] > 100, "the demo grid is loaded"
        # The simulator replays history for the new demo grid through the ingest pipeline, in
        # delivery order (every transformer's curve grows together).
        deadline = time.monotonic() + STARTUP_LIMIT_S
        counters: list[dict[str, int]] = []
        curve: dict[str, Any] = {"ts": []}
        while time.monotonic() < deadline and len(curve["ts"]) < 20:
            counters = server.api("/api/v1/ingest/counters")
            curve = server.api("/api/v1/devices/SS-N01-F1-T1/readings")
            time.sleep(0.5)
        assert len(curve["ts"]) >= 20, "hours of 15-min history for a demo transformer"
        assert counters and counters[0]["stored"] > 10_000, server.output()
        assert counters[0]["received"] == counters[0]["stored"] + counters[0][
            "quarantined"] + counters[0]["duplicates"]  # fmt: skip
        metrics = httpx.get(server.base + "/metrics", timeout=10)
        assert "e200_http_requests_total" in metrics.text

        # A second start of the same data folder reuses the running cluster.
        cluster = EmbeddedPostgres(data_dir)
        engine = make_engine(cluster.start())
        assert not cluster.started_here
        with engine.connect() as conn:
            stored = conn.exec_driver_sql(
                "SELECT password_hash FROM auth.user_account WHERE username='admin'"
            ).scalar_one()
        assert stored.startswith("$argon2id$")
        assert password not in stored and ADMIN_PASSWORD not in stored
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
        again.sign_in_admin()  # with the changed password: no new one was printed
        assert again.api("/api/v1/meters", limit=1)["total"] == meters["total"]
    finally:
        assert again.interrupt() == 0

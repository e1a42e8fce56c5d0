"""Downlink commands: issued over the API, sent on the bus, answered by a test terminal whose
ack comes back through ingest; retried while unanswered, expired after their time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from fastapi.testclient import TestClient

from e200 import terminal
from e200.bus import Delivery, MemoryBus, open_sink
from e200.kernel import utc_now
from tests.telemetry.conftest import build_area


class AnsweringTerminal:
    """Reads its commands from the bus and answers with command_ack messages."""

    def __init__(self, bus: str, fail: bool = False) -> None:
        self.bus = MemoryBus.get(bus)
        self.fail = fail
        self.received: list[dict[str, Any]] = []

    def answer(self) -> list[bytes]:
        acks = []
        for _, payload, _ in self.bus.take(100, 0.5):
            cmd = orjson.loads(payload)
            self.received.append(cmd)
            acks.append(orjson.dumps({
                "v": 1, "type": "command_ack", "terminal": cmd["terminal"],
                "command_id": cmd["command_id"], "status": "error" if self.fail else "ok",
                "result": {"applied": cmd["params"]}}))  # fmt: skip
        return acks


def _dispatch(client: TestClient, bus: str, now: Any = None) -> dict[str, int]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        return terminal.dispatch_due(conn, open_sink(f"memory://{bus}"), "memory",
                                     terminal.DownlinkPolicy(), now=now)  # fmt: skip


def test_set_interval_round_trip_updates_the_archive(client: TestClient) -> None:
    build_area(client.app.state.engine)  # type: ignore[attr-defined]
    MemoryBus.remove("cmd-ok")
    issued = client.post("/api/v1/terminals/TTU1/commands",
                         json={"kind": "set_interval", "params": {"interval_min": 5}})  # fmt: skip
    assert issued.status_code == 202, issued.text
    command_id = issued.json()["id"]
    assert issued.json()["status"] == "pending"
    assert _dispatch(client, "cmd-ok") == {"sent": 1, "expired": 0}
    assert client.get(f"/api/v1/commands/{command_id}").json()["status"] == "sent"
    device = AnsweringTerminal("cmd-ok")
    acks = device.answer()
    assert device.received[0]["params"] == {"interval_min": 5}
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    result = pipeline.process([Delivery(a, "test", "t#1") for a in acks], "test")
    assert result.stored == 1
    done = client.get(f"/api/v1/commands/{command_id}").json()
    assert done["status"] == "acked" and done["result"] == {"applied": {"interval_min": 5}}
    assert client.get("/api/v1/terminals/TTU1").json()["reporting_interval_min"] == 5
    # A second dispatch sends nothing: the command is closed.
    assert _dispatch(client, "cmd-ok")["sent"] == 0


def test_sync_meters_sends_the_archive_list_and_error_ack_fails(client: TestClient) -> None:
    build_area(client.app.state.engine)  # type: ignore[attr-defined]
    MemoryBus.remove("cmd-err")
    command_id = client.post("/api/v1/terminals/TTU1/commands",
                             json={"kind": "sync_meters"}).json()["id"]  # fmt: skip
    _dispatch(client, "cmd-err")
    device = AnsweringTerminal("cmd-err", fail=True)
    acks = device.answer()
    assert device.received[0]["params"] == {
        "meters": ["M1", "M2", "M3"],
        "phases": {"M1": "B", "M2": "C", "M3": "A"},
    }
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    pipeline.process([Delivery(a, "test", "t#1") for a in acks], "test")
    assert client.get(f"/api/v1/commands/{command_id}").json()["status"] == "failed"
    # A failed meter-list sync surfaces as an alarm on the terminal.
    alarm = client.get("/api/v1/alarms", params={"rule": "terminal_sync_failed"}).json()
    assert alarm["total"] == 1 and alarm["items"][0]["asset_number"] == "TTU1"
    assert alarm["items"][0]["details"]["status"] == "failed"


def test_unanswered_command_is_retried_then_expires(client: TestClient) -> None:
    build_area(client.app.state.engine)  # type: ignore[attr-defined]
    MemoryBus.remove("cmd-lost")
    command_id = client.post("/api/v1/terminals/TTU1/commands",
                             json={"kind": "read_now", "ttl_s": 300}).json()["id"]  # fmt: skip
    now = utc_now()
    assert _dispatch(client, "cmd-lost", now)["sent"] == 1
    assert _dispatch(client, "cmd-lost", now + timedelta(seconds=10))["sent"] == 0
    assert _dispatch(client, "cmd-lost", now + timedelta(seconds=61))["sent"] == 1
    assert len(MemoryBus.get("cmd-lost")) == 2
    assert _dispatch(client, "cmd-lost", now + timedelta(seconds=400))["expired"] == 1
    final = client.get(f"/api/v1/commands/{command_id}").json()
    assert final["status"] == "expired" and final["attempts"] == 2


def test_bad_commands_are_refused(client: TestClient) -> None:
    build_area(client.app.state.engine)  # type: ignore[attr-defined]
    bad = client.post("/api/v1/terminals/TTU1/commands",
                      json={"kind": "set_interval", "params": {"interval_min": 7}})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["field"] == "params.interval_min"
    assert client.post("/api/v1/terminals/NOPE/commands",
                       json={"kind": "read_now"}).status_code == 404  # fmt: skip
    assert client.post("/api/v1/terminals/TTU1/commands",
                       json={"kind": "reboot"}).json()["field"] == "kind"  # fmt: skip

"""End to end over a real MQTT broker: a relation change in the archive reaches the simulator's
terminals (E200's dispatcher publishes on ``e200/terminals/{asset}/commands``, the simulator's
live runner obeys them), their answers come back through MQTT ingest and close the commands; the
lists they report then show in the consistency check."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from e200 import terminal
from e200.bus import open_sink, open_source
from e200.cli.runtime import Totals, ingest_thread
from e200.jobs import make_queue
from e200.sim.archive_load import load_grid
from e200.sim.grid import GridSizes, build_grid
from e200.sim.live import run_live
from tests.bus.brokers import MqttBroker, wait_until
from tests.jobs.workers import queue_settings, running_worker
from tests.terminal.conftest import engine_of


def test_relation_change_reaches_the_simulators_terminals_and_the_ack_closes_it(
    client: TestClient, mqtt_broker: MqttBroker, fresh_db_url: str, tmp_path: Path
) -> None:
    engine = engine_of(client)
    grid = build_grid(GridSizes(1, 1, 1, 1, 2, 4), seed=61)  # two station areas
    load_grid(engine, grid, bulk=False)
    area_a, area_b = grid.areas
    term_a, term_b = area_a.terminal.asset_number, area_b.terminal.asset_number
    moved = area_a.meters[0]
    telemetry_topic = f"e200-test/{uuid.uuid4().hex[:8]}/telemetry"
    stop = threading.Event()
    # E200: ingest from MQTT and the downlink dispatcher onto MQTT.
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    ingest = ingest_thread(pipeline, [mqtt_broker.url(telemetry_topic)], stop, Totals())
    # The dispatch job, every second, on a worker that knows where commands go.
    settings = queue_settings(
        tmp_path,
        fresh_db_url,
        commands_url=mqtt_broker.url(),
        job_schedules={"terminal.dispatch_commands": "* * * * * */1"},
    )
    dispatcher = running_worker(make_queue(fresh_db_url, engine, settings, queue="commands"))
    dispatcher.__enter__()
    # The simulator: its terminals take their commands from MQTT and answer on the telemetry
    # topic (acks, and the lists they collect).
    commands = open_source(mqtt_broker.url("e200/terminals/+/commands"))
    sink = open_sink(mqtt_broker.url())
    sim = threading.Thread(
        target=run_live,
        args=(grid, sink),
        kwargs={"stop_event": stop, "topic": telemetry_topic, "commands": commands, "seed": 61},
        daemon=True,
    )
    sim.start()
    try:
        change = client.post(
            f"/api/v1/meters/{moved.asset_number}/relations/transformer",
            json={"parent": area_b.transformer.asset_number, "phase": "B"},
        )
        assert change.status_code == 200, change.text

        def both_acked() -> list[dict[str, Any]] | None:
            syncs = [
                client.get(f"/api/v1/terminals/{t}/meters").json()["last_sync"]
                for t in (term_a, term_b)
            ]
            done = all(s is not None and s["status"] in ("acked", "failed") for s in syncs)
            return syncs if done else None

        syncs = wait_until(both_acked, 30.0, 0.2)
        assert syncs is not None, "the simulator's terminals did not answer over MQTT"
        sync_a, sync_b = syncs
        assert (sync_a["status"], sync_b["status"]) == ("acked", "acked")
        assert moved.asset_number not in sync_a["params"]["meters"]
        assert moved.asset_number in sync_b["params"]["meters"]
        assert sync_b["params"]["phases"][moved.asset_number] == "B"
        assert sync_a["attempts"] == 1 and sync_a["closed_at"] is not None

        # The terminals also reported what they physically collect: the moved meter is still
        # wired to A's transformer, so the check shows it on the other terminal.
        def reported() -> dict[str, Any] | None:
            body = client.get(f"/api/v1/terminals/{term_b}/consistency").json()
            return body if body["status"] != "never_reported" else None

        report_b = wait_until(reported, 10.0, 0.2)
        assert report_b is not None
        found = {m["meter"]: m for m in report_b["mismatches"]}
        assert found[moved.asset_number]["kind"] == "on_another_terminal"
        assert found[moved.asset_number]["reported_by"] == [term_a]
        assert (
            client.get("/api/v1/alarms", params={"rule": "terminal_sync_failed"}).json()["total"]
            == 0
        )
    finally:
        stop.set()
        sim.join(timeout=10)
        ingest.join(timeout=10)
        dispatcher.__exit__(None, None, None)
        terminal.close_sinks()
        commands.close()
        sink.close()

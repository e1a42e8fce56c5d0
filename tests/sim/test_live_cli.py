"""The live runner (publishing, commands) and the ``sim`` commands."""

from __future__ import annotations

import gzip
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from typer.testing import CliRunner

from e200.bus import MemoryBus
from e200.sim.backfill import floor_interval
from e200.sim.cli import sim_app
from e200.sim.grid import GridSizes, build_grid
from e200.sim.live import run_live


def test_live_publishes_intervals_and_obeys_commands() -> None:
    grid = build_grid(GridSizes(1, 1, 1, 1, 2, 5), seed=1)
    out, cmds = MemoryBus("sim-test-out"), MemoryBus("sim-test-cmd")
    terminal = grid.areas[0].terminal.asset_number
    for cid, kind, params in [
        ("c1", "set_interval", {"interval_min": 60}),
        ("c2", "sync_meters", {}),
        ("c3", "time_sync", {}),
        ("c4", "set_interval", {"interval_min": 7}),
    ]:
        cmds.publish(
            orjson.dumps(
                {
                    "v": 1,
                    "type": "command",
                    "command_id": cid,
                    "terminal": terminal,
                    "kind": kind,
                    "params": params,
                }
            )
        )
    start = floor_interval(datetime.now(UTC), 60) - timedelta(hours=3)  # 8 steps end on the hour
    stats = run_live(
        grid, out, speed=1e6, stop_event=threading.Event(), start=start, commands=cmds, max_steps=8
    )
    assert stats.steps == 8 and stats.commands == 4
    assert [a["status"] for a in stats.acks] == ["ok", "ok", "ok", "error"]
    messages = [m for _, payload, _ in out.take(10_000, 0) for m in orjson.loads(payload)]
    types = {m["type"] for m in messages}
    assert {"dt_interval", "meter_interval", "command_ack", "terminal_meters"} <= types
    dt = [m for m in messages if m["type"] == "dt_interval"]
    # The second terminal reports every 15 min; the first one switched to hourly deliveries
    # (its readings stay 15-min, forwarded in bulk on the hour).
    assert len({m["ts"] for m in dt if m["terminal"] == terminal}) == 8
    assert len({m["ts"] for m in dt if m["terminal"] != terminal}) == 8
    assert all(datetime.fromisoformat(m["ts"]) <= datetime.now(UTC) for m in dt)


def test_export_command_is_deterministic(tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(
            sim_app,
            [
                "export",
                "--out",
                str(tmp_path / name),
                "--preset",
                "tiny",
                "--seed",
                "9",
                "--start",
                "2026-03-01",
            ],
        )
        assert result.exit_code == 0, result.output
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "messages.jsonl.gz").read_bytes() == (b / "messages.jsonl.gz").read_bytes()
    assert (a / "truth.json").read_bytes() == (b / "truth.json").read_bytes()
    lines = gzip.decompress((a / "messages.jsonl.gz").read_bytes()).splitlines()
    assert orjson.loads(lines[0])["type"] == "terminal_meters"
    assert (a / "grid" / "meters.csv").read_text().startswith("asset_number,")

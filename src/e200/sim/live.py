"""Live runner: publish the fleet's messages as simulated time advances.

Simulated time runs at ``speed`` × real time from ``start`` and never passes the real clock (an
accelerated run started in the past catches up, then continues in real time — the ingest would
refuse future timestamps). Each terminal forwards its 15-min readings at its reporting interval
(5/15 min: every interval; 30/60 min: the buffered intervals at once) and obeys downlink
commands (``set_interval``, ``sync_meters``, ``read_now``, ``time_sync``) read from a
:class:`MemoryBus` (``commands`` in process) or any bus source — e.g. MQTT
``mqtt://host:1883/e200/terminals/+/commands``, where E200's dispatcher sends them — answering
with ``command_ack`` (and, for ``sync_meters``, the list the terminal collects).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog

from e200.bus import MemoryBus, Sink, Source
from e200.sim.backfill import floor_interval
from e200.sim.faults import FaultPlan
from e200.sim.grid import SimGrid, StationArea
from e200.sim.messages import (
    ENVELOPE_TYPES,
    Message,
    command_ack,
    encode,
    iot_envelope,
    step_messages,
    terminal_meters,
)
from e200.sim.replay import answer_read
from e200.sim.simulate import STEP_MIN, AreaDay, Simulator, day_start

log = structlog.get_logger(__name__)
INTERVALS = (5, 15, 30, 60)


@dataclass
class LiveStats:
    steps: int = 0
    deliveries: int = 0
    messages: int = 0
    commands: int = 0
    sim_time: datetime | None = None
    acks: list[dict[str, Any]] = field(default_factory=list)


class _Publisher:
    def __init__(self, target: MemoryBus | Sink, topic: str, envelope: bool = False) -> None:
        self.target = target
        self.topic = topic
        self.envelope = envelope

    def __call__(self, messages: list[Message], key: str) -> None:
        if self.envelope:
            messages = [iot_envelope(m) if m["type"] in ENVELOPE_TYPES else m for m in messages]
        payload = encode(messages)
        if isinstance(self.target, MemoryBus):
            self.target.publish(payload, key.encode())
        else:
            self.target.send(self.topic, payload, key.encode())


def run_live(
    grid: SimGrid,
    sink_or_bus: MemoryBus | Sink,
    speed: float = 1.0,
    stop_event: threading.Event | None = None,
    *,
    seed: int | None = None,
    plan: FaultPlan | None = None,
    start: datetime | None = None,
    commands: MemoryBus | Source | None = None,
    topic: str = "e200.telemetry",
    max_steps: int | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    envelope: bool = False,
) -> LiveStats:
    """Run until ``stop_event`` is set (or ``max_steps`` intervals were published).

    ``envelope``: send ``dt_interval``/``meter_interval`` as IoT platform envelopes
    (:func:`~e200.sim.messages.iot_envelope`, decoded with ``sim/iot_mapping.toml``)."""
    stop = stop_event or threading.Event()
    seed = grid.seed if seed is None else seed
    sim = Simulator(grid, seed=seed, plan=plan)
    publish = _Publisher(sink_or_bus, topic, envelope)
    cmd_bus = commands if commands is not None else MemoryBus.get("commands")
    by_terminal = {a.terminal.asset_number: a for a in grid.areas}
    real0, wall0 = time.monotonic(), now()
    if start is None:
        start = floor_interval(wall0) - (timedelta(hours=1) if speed > 1 else timedelta(0))
    start = floor_interval(start)
    stats = LiveStats()
    days: dict[datetime, dict[int, AreaDay]] = {}
    buffers: dict[int, list[Message]] = {a.index: [] for a in grid.areas}
    latest: dict[int, tuple[AreaDay, int]] = {}
    announced: set[int] = set()
    step = timedelta(minutes=STEP_MIN)
    next_ts = start + step
    # the current day at once: a re-collection arriving before the first step is answered too
    days[day_start(start)] = {a.index: sim.area_day(a, day_start(start)) for a in grid.areas}

    def sim_now() -> datetime:
        elapsed = (time.monotonic() - real0) * speed
        return min(
            start + timedelta(seconds=elapsed), wall0 + timedelta(seconds=time.monotonic() - real0)
        )

    while not stop.is_set():
        _handle_commands(cmd_bus, by_terminal, latest, publish, stats, sim_now(), days)
        if sim_now() < next_ts:
            stop.wait(0.05)
            continue
        d0 = day_start(next_ts - step)
        if d0 not in days:
            for old in [d for d in days if d < d0 - timedelta(days=1)]:
                del days[old]  # keep today's and yesterday's results (on-demand re-reads)
            days[d0] = {a.index: sim.area_day(a, d0) for a in grid.areas}
        k = int((next_ts - d0) / step) - 1
        for area in grid.areas:
            ad = days[d0][area.index]
            latest[area.index] = (ad, k)
            msgs = step_messages(ad, k)
            if area.index not in announced:
                msgs.insert(0, terminal_meters(area, next_ts))
                announced.add(area.index)
            buffers[area.index] += msgs
            interval = area.terminal.interval_min
            if (
                int(next_ts.timestamp()) % (max(interval, STEP_MIN) * 60) == 0
                and buffers[area.index]
            ):
                publish(buffers[area.index], area.terminal.asset_number)
                stats.deliveries += 1
                stats.messages += len(buffers[area.index])
                buffers[area.index] = []
        stats.steps += 1
        stats.sim_time = next_ts
        next_ts += step
        if max_steps is not None and stats.steps >= max_steps:
            break
    return stats


def _take_commands(bus: MemoryBus | Source) -> list[bytes]:
    if isinstance(bus, MemoryBus):
        return [payload for _, payload, _ in bus.take(1000, 0.0)]
    deliveries = bus.poll(1000, 0.0)
    if deliveries:
        bus.commit()  # a lost answer is the terminal's fault too: E200 sends the command again
    return [d.payload for d in deliveries]


def _handle_commands(
    bus: MemoryBus | Source,
    by_terminal: dict[str, StationArea],
    latest: dict[int, tuple[AreaDay, int]],
    publish: Callable[[list[Message], str], None],
    stats: LiveStats,
    ts: datetime,
    days: dict[datetime, dict[int, AreaDay]] | None = None,
) -> None:
    for payload in _take_commands(bus):
        try:
            cmd = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("unreadable command ignored")
            continue
        if not isinstance(cmd, dict) or cmd.get("type") != "command":
            continue
        area = by_terminal.get(str(cmd.get("terminal")))
        if area is None:
            if isinstance(bus, MemoryBus):
                bus.publish(payload)  # not one of our terminals: leave it for others
            continue
        stats.commands += 1
        params = cmd.get("params") or {}
        if cmd.get("kind") == "read_now" and params.get("from") and params.get("to"):
            out = _reread(cmd, area, days or {}, ts)
        else:
            out = _answer(cmd, area, latest.get(area.index), ts)
        publish(out, area.terminal.asset_number)
        stats.acks.append(out[0])


def _answer(
    cmd: dict[str, Any], area: StationArea, current: tuple[AreaDay, int] | None, ts: datetime
) -> list[Message]:
    terminal, cid = area.terminal.asset_number, str(cmd.get("command_id"))
    kind, params = cmd.get("kind"), cmd.get("params") or {}
    if kind == "set_interval":
        interval = params.get("interval_min")
        if interval not in INTERVALS:
            return [command_ack(terminal, cid, "error", {"error": "interval_min: 5/15/30/60"})]
        area.terminal.interval_min = int(interval)
        return [command_ack(terminal, cid, "ok", {"interval_min": interval})]
    if kind == "sync_meters":
        return [command_ack(terminal, cid, "ok"), terminal_meters(area, floor_interval(ts))]
    if kind == "time_sync":
        return [command_ack(terminal, cid, "ok", {"offset_s": 0})]
    if kind == "read_now":
        if current is None:
            return [command_ack(terminal, cid, "error", {"error": "no reading yet"})]
        day, k = current
        wanted = set(params.get("meters") or [m.asset_number for m in area.meters])
        quantities = params.get("quantities")
        readings = {}
        for msg in step_messages(day, k):
            if msg["type"] == "meter_interval" and msg["device"] in wanted:
                vals = msg["values"]
                if quantities:
                    vals = {q: v for q, v in vals.items() if q in quantities}
                readings[msg["device"]] = vals
        return [
            command_ack(terminal, cid, "ok", {"ts": day.ends[k].isoformat(), "readings": readings})
        ]
    return [command_ack(terminal, cid, "error", {"error": f"unknown kind {kind!r}"})]


def _reread(cmd: dict[str, Any], area: StationArea, days: dict[datetime, dict[int, AreaDay]],
            ts: datetime) -> list[Message]:  # fmt: skip
    """A re-collection (``read_now`` with a window): the readings the meters hold for the
    window's intervals that have ended, from the days still in memory (today and yesterday)."""
    held = [by_area[area.index] for _, by_area in sorted(days.items()) if area.index in by_area]
    params = dict(cmd.get("params") or {})
    with contextlib.suppress(ValueError):  # answer_read reports a bad window
        to = datetime.fromisoformat(str(params["to"]))
        params["to"] = min(to, floor_interval(ts)).isoformat()
    return answer_read({**cmd, "params": params}, lambda _terminal, _start: held)

"""Replay: simulated history through the ingest pipeline in the order, and at the time, the
master station receives it — each delivery is stored with ``received_at`` = its delivery time
(``AreaDay.deliver_at``), so timeliness and terminal liveness can be judged on history.

Also the terminal's side of a re-collection: an on-demand read (``read_now`` with a window)
answered with the readings the meters hold, whether or not they reached the master station
the first time (:func:`reread_messages`, :func:`answer_read`).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine

from e200.bus import Delivery
from e200.sim.backfill import floor_interval
from e200.sim.faults import FaultPlan
from e200.sim.grid import SimGrid
from e200.sim.messages import Message, command_ack, encode, iso, step_messages, terminal_meters
from e200.sim.simulate import AreaDay, Simulator, day_start
from e200.telemetry import Pipeline, Validated

METER_TYPES = ("meter_interval", "meter_daily")


@dataclass
class ReplayResult:
    start: datetime
    end: datetime
    received: int = 0
    stored: int = 0
    quarantined: int = 0
    duplicates: int = 0
    batches: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)


class Clock:
    """The pipeline's clock during a replay: the delivery time of the batch being stored."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def replay(
    engine: Engine,
    grid: SimGrid,
    start: datetime,
    end: datetime,
    *,
    seed: int,
    plan: FaultPlan | None = None,
    hooks: Iterable[Callable[[Connection, Validated], None]] = (),
    on_area_day: Callable[[AreaDay], None] | None = None,
    pipeline: Pipeline | None = None,
) -> ReplayResult:
    """Simulate (start, end] (UTC, whole 15-min steps) and ingest every delivery at its delivery
    time, one batch per delivery instant, in time order. ``on_area_day`` sees each simulated
    area-day (the truth: what was sent, when it arrived).

    ``pipeline``: ingest through this one (its rules and hooks, e.g. `e200 up`'s) instead of a
    new one; its clock is the replay's until the replay returns, so nothing else may use it
    meanwhile."""
    start, end = floor_interval(start), floor_interval(end)
    clock = Clock(start)
    pipe = pipeline or Pipeline(engine)
    saved_clock, added = pipe.clock, list(hooks)
    pipe.clock = clock
    pipe.hooks.extend(added)
    t0 = time.perf_counter()
    try:
        res = _replay(pipe, clock, grid, start, end, seed, plan, on_area_day)
    finally:
        pipe.clock = saved_clock
        for hook in added:
            pipe.hooks.remove(hook)
    res.seconds = time.perf_counter() - t0
    return res


def _replay(pipe: Pipeline, clock: Clock, grid: SimGrid, start: datetime, end: datetime,
            seed: int, plan: FaultPlan | None,
            on_area_day: Callable[[AreaDay], None] | None) -> ReplayResult:  # fmt: skip
    sim = Simulator(grid, seed=seed, plan=plan)
    res = ReplayResult(start, end)
    pending: dict[datetime, list[Delivery]] = defaultdict(list)
    announced: set[int] = set()

    def flush(until: datetime | None) -> None:
        for at in sorted(t for t in pending if until is None or t <= until):
            clock.now = at
            r = pipe.process(pending.pop(at), "sim")
            res.received += r.received
            res.stored += r.stored
            res.quarantined += r.quarantined
            res.duplicates += r.duplicates
            res.batches += 1
            for rej in r.rejected:
                res.reasons[rej.reason] += 1

    day = day_start(start)
    while day < end:
        for area in grid.areas:
            ad = sim.area_day(area, day)
            if on_area_day is not None:
                on_area_day(ad)
            for k, ts in enumerate(ad.ends):
                if ts <= start or ts > end:
                    continue
                msgs = step_messages(ad, k)
                if area.index not in announced:
                    msgs.insert(0, terminal_meters(area, ts))
                    announced.add(area.index)
                if msgs:
                    pending[ad.deliver_at[k]].append(Delivery(
                        encode(msgs), source="sim",
                        ref=f"sim#{area.terminal.asset_number}@{iso(ts)}"))  # fmt: skip
        day += timedelta(days=1)
        flush(min(day, end))
    flush(None)
    return res


def reread_messages(day: AreaDay, start: datetime, end: datetime,
                    meters: Iterable[str] | None = None) -> list[Message]:  # fmt: skip
    """The readings (intervals ending in (start, end], and the daily freezes among them) that
    the named meters (default: all of the area) hold — every interval they were energised at
    its end, delivered the first time or not."""
    wanted = None if meters is None else set(meters)
    cols = np.array([wanted is None or m.asset_number in wanted for m in day.area.meters])
    held = day.energized & cols[None, :]
    again = dataclasses.replace(day, meter_send=held, dt_send=np.zeros_like(day.dt_send),
                                events=[])  # fmt: skip
    out: list[Message] = []
    for k, ts in enumerate(day.ends):
        if start < ts <= end:
            out += [m for m in step_messages(again, k) if m["type"] in METER_TYPES]
    return out


def answer_read(cmd: dict[str, Any], days: Callable[[str, datetime], list[AreaDay]]
                ) -> list[Message]:  # fmt: skip
    """A terminal's answer to a ``read_now`` command with a window (``params.from``/``to``,
    ISO 8601): the acknowledgement and the meters' readings of the window. ``days(terminal,
    start)`` gives the simulated area-days of that terminal covering the window."""
    terminal, cid = str(cmd.get("terminal")), str(cmd.get("command_id"))
    params = cmd.get("params") or {}
    try:
        start = datetime.fromisoformat(str(params["from"]))
        end = datetime.fromisoformat(str(params["to"]))
    except (KeyError, ValueError):
        return [command_ack(terminal, cid, "error", {"error": "params.from/to: ISO 8601"})]
    readings: list[Message] = []
    for ad in days(terminal, start):
        readings += reread_messages(ad, start, end, params.get("meters"))
    points = sum(1 for m in readings if m["type"] == "meter_interval")
    return [command_ack(terminal, cid, "ok", {"points": points}), *readings]

"""The loops a role runs besides its jobs: ingest from sources (with the alarm engine in each
batch), and the demo's simulated grid. Periodic work is not here: it runs as jobs
(``e200.jobs``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine

from e200.bus import open_source
from e200.config import Settings
from e200.db.replay import history_replay
from e200.jobs import make_pipeline
from e200.telemetry import BatchResult, Pipeline, run_sources

log = structlog.get_logger(__name__)


class Totals:
    """Running totals of what ingest did, for progress output."""

    def __init__(self) -> None:
        self.received = self.stored = self.quarantined = self.duplicates = 0
        self.started = time.monotonic()

    def add(self, result: BatchResult) -> None:
        self.received += result.received
        self.stored += result.stored
        self.quarantined += result.quarantined
        self.duplicates += result.duplicates

    def as_dict(self) -> dict[str, Any]:
        return {"received": self.received, "stored": self.stored,
                "quarantined": self.quarantined, "duplicates": self.duplicates}  # fmt: skip


def ingest_thread(pipeline: Pipeline, urls: list[str], stop: threading.Event, totals: Totals,
                  batch_size: int = 5000) -> threading.Thread:  # fmt: skip
    sources = [open_source(url) for url in urls]

    def loop() -> None:
        try:
            run_sources(pipeline, sources, stop, batch_size=batch_size, on_batch=totals.add)
        except Exception:
            log.exception("ingest stopped by an error")
            stop.set()
            raise
        finally:
            for source in sources:
                source.close()

    thread = threading.Thread(target=loop, name="e200-ingest", daemon=True)
    thread.start()
    return thread


class _Stopped(Exception):
    pass


def demo_thread(engine: Engine, settings: Settings, stop: threading.Event,
                history_days: float, on_history: Callable[[], None] | None = None
                ) -> threading.Thread:  # fmt: skip
    """Fill a new demo archive with simulated history, then keep it live: the simulator
    publishes on the in-process bus that `e200 up` ingests.

    The history is replayed in delivery order with each delivery stored as received when the
    simulated terminal delivered it (``received_at`` = its delivery time, as live data would
    have been), so the demo's timeliness and terminal liveness are judged as in the field.
    While the history loads, the history-replay marker is held (the offline check waits
    meanwhile: every terminal's latest message is still hours in the past)."""
    from e200.bus import MemoryBus
    from e200.sim.demo import DEMO_SEED, demo_grid, load_demo_history
    from e200.sim.live import run_live
    from e200.sim.simulate import AreaDay

    def halt_if_stopped(_day: AreaDay) -> None:
        if stop.is_set():
            raise _Stopped

    def loop() -> None:
        grid = demo_grid()
        resume: datetime | None = None
        try:
            if history_days > 0:
                with history_replay(engine):
                    result = load_demo_history(engine, grid, history_days,
                                               pipeline=make_pipeline(engine, settings),
                                               on_area_day=halt_if_stopped)  # fmt: skip
                log.info(
                    "demo history loaded",
                    days=history_days,
                    messages=result.received,
                    stored=result.stored,
                    quarantined=result.quarantined,
                    seconds=round(result.seconds, 1),
                )
                resume = result.end
                if on_history is not None:
                    on_history()
            # Live from where the history ends: intervals that ended while it loaded are sent at
            # once (a terminal's buffer), then in real time (the clock never runs ahead).
            run_live(grid, MemoryBus.get("default"), speed=900.0 if resume else 1.0,
                     stop_event=stop, seed=DEMO_SEED, start=resume)  # fmt: skip
        except _Stopped:
            pass
        except Exception:
            if not stop.is_set():
                log.exception("demo simulator stopped by an error")

    thread = threading.Thread(target=loop, name="e200-demo-sim", daemon=True)
    thread.start()
    return thread

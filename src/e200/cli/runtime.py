"""Long-running loops of the `e200` command: ingest from sources (with the alarm engine),
dispatch downlink commands, the offline-alarm timer, hourly maintenance."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any

import structlog
from sqlalchemy import Engine

from e200 import alarms, quality, terminal
from e200.bus import Sink, open_sink, open_source
from e200.config import Settings
from e200.telemetry import BatchResult, Pipeline, create_partitions_ahead, run_sources

log = structlog.get_logger(__name__)


def make_pipeline(engine: Engine, settings: Settings) -> Pipeline:
    pipeline = Pipeline.from_settings(engine, settings)
    pipeline.hooks.append(terminal.ack_hook)
    pipeline.hooks.append(alarms.AlarmEngine(timezone=settings.timezone))
    return pipeline


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


def dispatch_thread(engine: Engine, sink_url: str, stop: threading.Event,
                    period_s: float = 1.0) -> threading.Thread:  # fmt: skip
    sink: Sink = open_sink(sink_url)
    transport = sink_url.split(":", 1)[0]
    policy = terminal.DownlinkPolicy()

    def loop() -> None:
        try:
            while not stop.wait(period_s):
                try:
                    with engine.begin() as conn:
                        terminal.dispatch_due(conn, sink, transport, policy)
                except Exception as exc:  # keep dispatching after a database hiccup
                    log.warning("command dispatch failed; will retry", error=str(exc)[:200])
        finally:
            sink.close()

    thread = threading.Thread(target=loop, name="e200-dispatch", daemon=True)
    thread.start()
    return thread


class _Stopped(Exception):
    pass


def demo_thread(engine: Engine, settings: Settings, stop: threading.Event,
                history_days: float, loading: threading.Event | None = None
                ) -> threading.Thread:  # fmt: skip
    """Fill a new demo archive with simulated history, then keep it live: the simulator
    publishes on the in-process bus that `e200 up` ingests.

    The history is replayed in delivery order with each delivery stored as received when the
    simulated terminal delivered it (``received_at`` = its delivery time, as live data would
    have been), so the demo's timeliness and terminal liveness are judged as in the field.
    ``loading`` is set while the history loads (the offline check waits meanwhile: every
    terminal's latest message is still hours in the past)."""
    from e200.bus import MemoryBus
    from e200.sim.demo import DEMO_SEED, demo_grid, load_demo_history
    from e200.sim.live import run_live
    from e200.sim.simulate import AreaDay

    def halt_if_stopped(_day: AreaDay) -> None:
        if stop.is_set():
            raise _Stopped

    if history_days > 0 and loading is not None:
        loading.set()

    def loop() -> None:
        grid = demo_grid()
        resume: datetime | None = None
        try:
            if history_days > 0:
                try:
                    result = load_demo_history(engine, grid, history_days,
                                               pipeline=make_pipeline(engine, settings),
                                               on_area_day=halt_if_stopped)  # fmt: skip
                finally:
                    if loading is not None:
                        loading.clear()
                log.info(
                    "demo history loaded",
                    days=history_days,
                    messages=result.received,
                    stored=result.stored,
                    quarantined=result.quarantined,
                    seconds=round(result.seconds, 1),
                )
                resume = result.end
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


def alarm_timer_thread(engine: Engine, settings: Settings, stop: threading.Event,
                       period_s: float = 30.0, paused: threading.Event | None = None
                       ) -> threading.Thread:  # fmt: skip
    """Every ``period_s``: raise ``terminal_offline`` for terminals silent for k × their
    reporting interval — without waiting for their next message. Not while ``paused`` is set
    (history being loaded: its terminals are not silent, their messages are on the way)."""
    alarm_engine = alarms.AlarmEngine(timezone=settings.timezone)

    def loop() -> None:
        while not stop.wait(period_s):
            if paused is not None and paused.is_set():
                continue
            try:
                with engine.begin() as conn:
                    raised = alarm_engine.check_offline(conn)
                if raised:
                    log.info("terminals offline", raised=raised)
            except Exception:
                log.exception("offline check failed; retrying next period")

    thread = threading.Thread(target=loop, name="e200-alarm-timer", daemon=True)
    thread.start()
    return thread


def maintenance_thread(engine: Engine, settings: Settings, stop: threading.Event,
                       period_s: float = 3600.0) -> threading.Thread:  # fmt: skip
    """At start, then hourly: create reading partitions ahead and drop those past retention,
    delete long-ended sessions, (when a directory is configured) sync its users, and compare the
    terminals' reported meter lists with the archive (mismatch alarms raised and cleared). Each
    task fails alone: a directory that is down never stops the partitions or the sessions.
    It also recomputes yesterday's and today's acquisition quality."""
    from datetime import timedelta

    from e200 import auth
    from e200.telemetry import drop_partitions_older_than

    def partitions() -> None:
        today = date.today()
        with engine.begin() as conn:
            create_partitions_ahead(conn, today)
            dropped = drop_partitions_older_than(
                conn, today - timedelta(days=settings.retention_days)
            )
        if dropped:
            log.info("partitions past retention dropped", partitions=dropped)

    def sessions() -> None:
        with engine.begin() as conn:
            purged = auth.purge_expired(conn, settings)
        if purged:
            log.info("ended sessions purged", sessions=purged)

    def directory() -> None:
        if not settings.ldap_url:
            return
        result = auth.sync_directory(engine, settings)
        log.info(
            "directory synced",
            directory=settings.ldap_url,
            directory_users=result.directory_users,
            updated=result.updated,
            disabled=result.disabled,
        )

    def meter_lists() -> None:
        with engine.begin() as conn:
            result = terminal.check_meter_lists(conn)
        log.info("terminal meter lists checked against the archive", **result)

    def acquisition_quality() -> None:
        """Yesterday's figures (late data and re-collections still arrive) and today's so far."""
        rules = quality.QualityRules(offline_after_intervals=settings.offline_after_intervals)
        today = quality.local_today(settings.timezone)
        with engine.begin() as conn:
            quality.purge_before(conn, today - timedelta(days=settings.retention_days))
        for day in (today - timedelta(days=1), today):
            with engine.begin() as conn:
                done = quality.compute_day(conn, day, settings.timezone, rules)
            log.info("acquisition quality computed", day=day.isoformat(), meters=done.meters,
                     terminals=done.terminals, seconds=round(done.seconds, 3))  # fmt: skip

    tasks = (
        ("partition maintenance", partitions),
        ("session purge", sessions),
        ("directory sync", directory),
        ("meter list consistency", meter_lists),
        ("acquisition quality", acquisition_quality),
    )

    def loop() -> None:
        while True:
            for name, task in tasks:
                try:
                    task()
                except Exception as exc:  # maintenance must never stop ingest
                    log.warning(
                        "maintenance task failed; will retry", task=name, error=str(exc)[:300]
                    )
            if stop.wait(period_s):
                return

    thread = threading.Thread(target=loop, name="e200-maintenance", daemon=True)
    thread.start()
    return thread

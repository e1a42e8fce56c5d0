"""PostgreSQL restarted in the middle of ingest: ingest waits, retries and resumes; every reading
is stored exactly once. Partitions are created ahead and dropped after retention."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import orjson
from sqlalchemy import Engine, text

from e200.bus import MemoryBus, MemorySource
from e200.db import EmbeddedPostgres, make_engine, upgrade
from e200.kernel import utc_now
from e200.telemetry import (
    Pipeline,
    create_partitions_ahead,
    drop_partitions_older_than,
    run_sources,
)
from tests.conftest import shared_tmp_dir
from tests.telemetry.conftest import build_area

READINGS = 3000
DEADLINE_S = 120


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ingest_survives_a_database_restart() -> None:
    cluster = EmbeddedPostgres(shared_tmp_dir("e200-restart-"), port=_free_port())
    engine = make_engine(cluster.start(), pool_size=2)
    try:
        upgrade(engine)
        build_area(engine)
        bus_name = "restart-test"
        MemoryBus.remove(bus_name)
        bus = MemoryBus.get(bus_name)
        end = utc_now().replace(minute=0, second=0, microsecond=0)
        for i in range(READINGS):  # distinct 15-min stamps over ~31 days, one per message
            ts = end - timedelta(minutes=15 * i)
            bus.publish(orjson.dumps({"v": 1, "type": "meter_interval", "device": "M1",
                                      "ts": ts.isoformat(), "interval_min": 15,
                                      "values": {"v_v": 230.0}}))  # fmt: skip
        pipeline = Pipeline(engine)
        stop = threading.Event()
        source = MemorySource(f"memory://{bus_name}")
        errors: list[BaseException] = []

        def work() -> None:
            try:
                run_sources(pipeline, [source], stop, batch_size=50)
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        worker = threading.Thread(target=work)
        worker.start()
        deadline = time.monotonic() + DEADLINE_S
        while len(bus) > READINGS * 0.8 and time.monotonic() < deadline:
            time.sleep(0.01)
        cluster.stop()  # mid-ingest
        time.sleep(1.0)
        stopped_at = len(bus)
        assert stopped_at > 0, "ingest should not have finished while the database was down"
        cluster.start()
        while len(bus) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        worker.join(timeout=30)
        assert not worker.is_alive()
        assert errors == [], "ingest must ride out the restart, not die"
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*), count(DISTINCT ts) "
                                       "FROM telemetry.meter_reading")).one()  # fmt: skip
            counts = conn.execute(text("SELECT received, stored, quarantined, duplicates "
                                       "FROM telemetry.ingest_counter")).one()  # fmt: skip
        assert tuple(stored) == (READINGS, READINGS)
        assert counts.stored == READINGS and counts.quarantined == 0
        assert counts.received == counts.stored + counts.quarantined + counts.duplicates
    finally:
        engine.dispose()
        cluster.started_here = True
        if cluster.server_pid() is not None:
            cluster.stop()


def test_partitions_are_created_ahead_and_dropped_after_retention(engine: Engine) -> None:
    today = date(2026, 11, 26)
    with engine.begin() as conn:
        created = create_partitions_ahead(conn, today, days_ahead=3)
        again = create_partitions_ahead(conn, today, days_ahead=3)
        names = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'telemetry_parts'")
            ).scalars()
        )
    assert again == 0
    assert created == len(names) == 4 + 4 + 1  # dt and meter readings daily, meter_daily monthly
    assert {"dt_reading_p20261126", "dt_reading_p20261129", "meter_daily_p202611"} <= names
    with engine.begin() as conn:
        dropped = drop_partitions_older_than(conn, date(2026, 11, 28))
    assert sorted(dropped) == [
        "dt_reading_p20261126",
        "dt_reading_p20261127",
        "meter_reading_p20261126",
        "meter_reading_p20261127",
    ]

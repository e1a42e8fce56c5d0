"""`e200 bench ingest`: how fast does telemetry get from a bus into PostgreSQL?

One run measures, on the same machine and the same N transformer readings:
  (a) raw binary COPY of the rows into a plain copy of the reading table — the ceiling;
  (b) the pipeline from the in-process memory source (decode + validate + store + the hooks
      `e200 ingest` runs: command acks and the alarm engine), one process;
  (c) the same pipeline from Kafka: the messages are produced first, then W `e200 ingest`
      processes in one consumer group consume them; timed from the first stored row to the last;
In (b) and (c) the offline check runs every 5 s (the worker runs it every 30 s) and what it
raises is reported: the readings are hours old, but they are arriving.
  (d) naive per-row INSERT statements, on a sample.
"""

from __future__ import annotations

import gc
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine, text

from e200.alarms import AlarmEngine
from e200.bus import MemoryBus, MemorySource
from e200.config import Settings
from e200.db import EmbeddedPostgres, make_engine, upgrade
from e200.jobs import make_pipeline
from e200.kernel import utc_now
from e200.telemetry import run_sources

QUANTITIES = {"v_a_v": 230.1, "v_b_v": 229.8, "v_c_v": 231.0, "i_a_a": 101.0, "i_b_a": 99.5,
              "i_c_a": 100.2, "i_n_a": 3.1, "p_kw": 62.0, "p_a_kw": 20.5, "p_b_kw": 20.6,
              "p_c_kw": 20.9, "q_kvar": 12.0, "s_kva": 63.2, "pf": 0.98, "freq_hz": 50.01,
              "e_imp_kwh": 10000.0, "e_exp_kwh": 12.0, "eq_kvarh": 800.0, "thd_v_pct": 2.1,
              "thd_i_pct": 8.5, "oil_temp_c": 41.0, "amb_temp_c": 19.0,
              "humidity_pct": 61.0}  # fmt: skip


@dataclass
class Workload:
    transformers: int
    per_transformer: int
    messages: list[bytes] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return self.transformers * self.per_transformer


def build(transformers: int, readings: int) -> Workload:
    """Readings for consecutive 15-min intervals, every transformer in every interval (as the
    field sends them), serialised before any timing starts."""
    per = max(readings // transformers, 1)
    work = Workload(transformers, per)
    end = utc_now().replace(minute=0, second=0, microsecond=0)
    now = utc_now()
    for p in range(per):
        ts = end - timedelta(minutes=15 * (per - p))
        stamp = ts.isoformat()
        for t in range(1, transformers + 1):
            # Analog values move a little every interval, as measured ones do (a fleet of
            # frozen measurements would raise quantity-frozen alarms on every transformer).
            wobble = ((p * 7 + t) % 11) * 0.1
            values = dict(QUANTITIES, v_a_v=230.1 + wobble, i_a_a=101.0 + wobble,
                          p_kw=62.0 + wobble, e_imp_kwh=10000.0 + p * 15.5)  # fmt: skip
            work.messages.append(orjson.dumps({
                "v": 1, "type": "dt_interval", "terminal": f"BT-{t}", "device": f"BT{t}",
                "ts": stamp, "interval_min": 15, "values": values}))  # fmt: skip
            work.rows.append((t, ts, 15, None, *values.values(), now))
    return work


def setup_archive(engine: Engine, transformers: int) -> None:
    """Bulk archive for the benchmark (plain SQL: setting up is not what is measured)."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO archives.org_unit (code, name, kind, path) "
                          "VALUES ('BENCH', 'Bench', 'company', 'tmp')"))  # fmt: skip
        conn.execute(text("UPDATE archives.org_unit SET path = id || '.' WHERE code = 'BENCH'"))
        conn.execute(text(
            "INSERT INTO archives.transformer (asset_number, rated_kva, primary_rated_kv, "
            "secondary_rated_v) SELECT 'BT' || g, 400, 10, 400 FROM generate_series(1, :n) g"),
            {"n": transformers})  # fmt: skip
        conn.execute(text(
            "INSERT INTO archives.terminal (asset_number) "
            "SELECT 'BT-' || g FROM generate_series(1, :n) g"), {"n": transformers})  # fmt: skip
        for kind in ("transformer", "terminal"):
            conn.execute(text(
                f"INSERT INTO archives.{kind}_org_unit ({kind}_id, org_unit_id, valid_from) "
                f"SELECT a.id, o.id, now() - interval '1000 days' FROM archives.{kind} a, "
                "archives.org_unit o WHERE o.code = 'BENCH'"))  # fmt: skip


def _dsn(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False).replace("+psycopg", "")


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE telemetry.dt_reading, "
                          "telemetry.terminal_liveness, telemetry.ingest_counter, "
                          "telemetry.quarantine, alarms.alarm, alarms.rule_state"))  # fmt: skip
        conn.execute(text("CHECKPOINT"))


class OfflineTimer:
    """The worker's offline check (``alarms.check_offline``, every 30 s in production) run every
    ``period_s`` while a path ingests, counting what it raises: terminals whose messages are
    arriving must never be raised, however old the readings they carry."""

    def __init__(self, engine: Engine, period_s: float = 5.0) -> None:
        self.engine, self.period_s = engine, period_s
        self.raised = self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-offline-timer", daemon=True)

    def _loop(self) -> None:
        timer = AlarmEngine()
        while not self._stop.wait(self.period_s):
            with self.engine.begin() as conn:
                self.raised += timer.check_offline(conn)
            self.runs += 1

    def __enter__(self) -> OfflineTimer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(60)


def alarm_counts(engine: Engine) -> dict[str, int]:
    """Alarms raised during a path, by rule (raised and cleared ones alike)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT rule, count(*) AS n FROM alarms.alarm GROUP BY rule"))
        return {r.rule: int(r.n) for r in rows}


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM telemetry.dt_reading")).scalar_one())


def raw_copy(engine: Engine, work: Workload) -> float:
    """(a) binary COPY of prebuilt rows into an identical, unpartitioned table with its key."""
    with psycopg.connect(_dsn(engine)) as conn:
        conn.execute("DROP TABLE IF EXISTS public.bench_copy")
        conn.execute("CREATE TABLE public.bench_copy (LIKE telemetry.dt_reading INCLUDING ALL)")
        conn.commit()
        types = ["int8", "timestamptz", "int2", "int8", *["float8"] * len(QUANTITIES),
                 "timestamptz"]  # fmt: skip
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY public.bench_copy FROM STDIN (FORMAT BINARY)"
                                            ) as copy:  # fmt: skip
            copy.set_types(types)
            for row in work.rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE public.bench_copy")
        conn.commit()
    return work.count / elapsed


def naive_insert(engine: Engine, work: Workload, sample: int) -> float:
    """(d) one INSERT statement per row, the way a first attempt often looks."""
    rows = work.rows[:sample]
    cols = ", ".join(["transformer_id", "ts", "interval_min", "terminal_id", *QUANTITIES,
                      "received_at"])  # fmt: skip
    marks = ", ".join(["%s"] * (4 + len(QUANTITIES) + 1))
    with psycopg.connect(_dsn(engine)) as conn:
        conn.execute("CREATE TEMP TABLE naive (LIKE telemetry.dt_reading INCLUDING ALL)")
        started = time.perf_counter()
        with conn.cursor() as cur:
            for row in rows:
                cur.execute(f"INSERT INTO naive ({cols}) VALUES ({marks})", row)
        conn.commit()
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def memory_pipeline(engine: Engine, work: Workload, batch_size: int,
                    progress: Callable[[str], None] = lambda _: None) -> float:  # fmt: skip
    """(b) the full pipeline in this process from the memory source: the one `e200 ingest`
    runs (command acks and the alarm engine on every batch), with the offline check ticking."""
    _reset(engine)
    name = "bench-ingest"
    MemoryBus.remove(name)
    bus = MemoryBus.get(name)
    for message in work.messages:
        bus.publish(message)
    pipeline = make_pipeline(engine, Settings())
    stop = threading.Event()
    source = MemorySource(f"memory://{name}")
    done = [0]

    def count(result: Any) -> None:
        done[0] += result.received
        if done[0] >= work.count:
            stop.set()

    with OfflineTimer(engine) as timer:
        started = time.perf_counter()
        run_sources(pipeline, [source], stop, batch_size=batch_size, on_batch=count)
        elapsed = time.perf_counter() - started
    stored = _stored(engine)
    if stored != work.count:
        raise RuntimeError(f"memory pipeline stored {stored} of {work.count}")
    progress(f"(b) memory: offline check ran {timer.runs}×, raised {timer.raised}; "
             f"alarms {alarm_counts(engine)}")  # fmt: skip
    return work.count / elapsed


def kafka_pipeline(engine: Engine, work: Workload, bootstrap: str, workers: int,
                   batch_size: int, progress: Callable[[str], None]) -> float:  # fmt: skip
    """(c) produce everything to a 4-partition topic, then W ingest processes consume it."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    _reset(engine)
    topic = f"bench-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=max(workers * 2, 4),
                                  replication_factor=1)])[topic].result(30)  # fmt: skip
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 2000000,
        }
    )
    progress(f"producing {work.count:,} messages to Kafka")
    for n, message in enumerate(work.messages):
        while True:
            try:
                producer.produce(topic, message, key=str(n % work.transformers).encode())
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(120)
    url = (
        f"kafka://{bootstrap}/{topic}?group=bench&session_timeout_ms=6000&heartbeat_ms=1000"
        "&auto_offset_reset=earliest"
    )
    env = {**os.environ, "E200_DATABASE_URL": _dsn(engine), "E200_LOG_LEVEL": "warning"}
    log_dir = Path(tempfile.mkdtemp(prefix="e200-bench-ingest-"))
    logs = [(log_dir / f"worker-{n}.log").open("wb") for n in range(workers)]
    procs = [subprocess.Popen([sys.executable, "-m", "e200", "ingest", "--source", url,
                               "--batch-size", str(batch_size)], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
             for log in logs]  # fmt: skip
    progress(f"{workers} ingest process(es) consuming")
    first_at = None
    deadline = time.monotonic() + 1800
    timer = OfflineTimer(engine).__enter__()
    try:
        while time.monotonic() < deadline:
            stored = _stored(engine)
            if stored and first_at is None:
                first_at = time.perf_counter()
            if stored >= work.count:
                break
            for proc, log in zip(procs, logs, strict=True):
                if proc.poll() is not None:
                    tail = Path(str(log.name)).read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"an ingest process exited early:\n{tail}")
            time.sleep(0.1)
        else:
            raise RuntimeError("Kafka ingest did not finish within 30 minutes")
        elapsed = time.perf_counter() - (first_at or time.perf_counter())
    finally:
        timer.__exit__()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        for log in logs:
            log.close()
    shutil.rmtree(log_dir, ignore_errors=True)  # kept only when the run failed
    progress(f"(c) kafka: offline check ran {timer.runs}×, raised {timer.raised}; "
             f"alarms {alarm_counts(engine)}")  # fmt: skip
    return work.count / max(elapsed, 1e-9)


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def run(readings: int = 1_000_000, transformers: int = 10_000, workers: int = 2,
        batch_size: int = 5000, kafka: str | None = None, database_url: str | None = None,
        naive_sample: int = 20_000,
        progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:  # fmt: skip
    cluster = None
    if database_url is None:
        data = Path(tempfile.mkdtemp(prefix="e200-bench-"))
        data.chmod(0o711)
        cluster = EmbeddedPostgres(data)
        database_url = cluster.start()
    engine = make_engine(database_url, pool_size=4)
    try:
        upgrade(engine)
        setup_archive(engine, transformers)
        progress(f"building {readings:,} readings for {transformers:,} transformers")
        work = build(transformers, readings)
        # The prebuilt workload is millions of live objects; keep the garbage collector from
        # rescanning them in the measured paths (a production ingest process holds no such heap).
        gc.collect()
        gc.freeze()
        progress("(a) raw binary COPY")
        copy_rps = raw_copy(engine, work)
        progress("(d) naive per-row INSERT (sample)")
        naive_rps = naive_insert(engine, work, min(naive_sample, work.count))
        progress("(b) pipeline from the memory source")
        memory_rps = memory_pipeline(engine, work, batch_size, progress)
        if kafka is None:
            from e200.bench.tansu import Tansu

            with Tansu() as broker:
                kafka_rps = kafka_pipeline(engine, work, broker.bootstrap, workers, batch_size,
                                           progress)  # fmt: skip
        else:
            kafka_rps = kafka_pipeline(engine, work, kafka, workers, batch_size, progress)
    finally:
        engine.dispose()
        if cluster is not None:
            cluster.stop()
    return {
        "rows": work.count, "transformers": transformers, "workers": workers,
        "batch_size": batch_size, "cpus": os.cpu_count(),
        "copy_rows_per_s": round(copy_rps), "memory_rows_per_s": round(memory_rps),
        "kafka_rows_per_s": round(kafka_rps), "naive_rows_per_s": round(naive_rps),
        "memory_vs_copy": round(memory_rps / copy_rps, 3),
        "kafka_vs_copy": round(kafka_rps / copy_rps, 3),
        "memory_vs_naive": round(memory_rps / naive_rps, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }  # fmt: skip

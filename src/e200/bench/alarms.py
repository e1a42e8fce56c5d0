"""`e200 bench alarms`: how long from a reading's arrival to its alarm reaching open consoles?

Issue 7: from a message's arrival at the source to the alarm being stored and pushed to open
consoles, p99 < 1 s at the ingest benchmark's load.

One run, on the same machine and the same readings:

* the stream: ``intervals`` consecutive 15-min intervals, one ``dt_interval`` reading (wire
  contract v1, all 23 quantities) per transformer per interval. Analog values move a little
  every interval (no "quantity frozen" alarms); 1 % of the transformers (every 100th) run at
  115 % loading for three intervals, starting at interval 1, 2 or 3 — that raises ``overload``
  and ``heavy_load`` (both > threshold for 2 intervals) at the second overloaded interval and
  clears both at the second normal interval after it (inside the clear band for 2 intervals);
* the load: each interval is published to the memory source as one burst (terminals report
  together at the interval's end) and the next interval only once the pipeline has stored the
  last batch of this one — so the stream runs at exactly the rate the pipeline sustains, and a
  latency includes waiting behind the readings of the same interval queued before it, never a
  backlog of earlier intervals;
* the pipeline is the one ``e200 ingest`` runs (``make_pipeline``: storage, command acks and
  the alarm engine, one transaction per batch); the baseline is the same pipeline without the
  alarm engine on the same readings, in the same run;
* the latency: t0 = when the reading that completes an alarm's condition was put on the source;
  t1 = when a separate connection, ``LISTEN e200_alarms`` in its own thread, receives the
  notification the alarm service sends at commit (raised: ``at`` is the first breaching
  interval, so the completing reading is ``at`` + (duration − 1) intervals; cleared: ``at`` is
  the clearing reading's interval).
"""

from __future__ import annotations

import gc
import math
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine, text

from e200 import alarms
from e200.bench.ingest import QUANTITIES, peak_rss_mb, setup_archive
from e200.bus import MemoryBus, MemorySource
from e200.config import Settings
from e200.db import EmbeddedPostgres, make_engine, upgrade
from e200.kernel import utc_now
from e200.telemetry import BatchResult, run_sources

INTERVAL_MIN = 15
RATED_KVA = 400.0  # what setup_archive gives every transformer
OVERLOAD_EVERY = 100  # 1 % of the transformers
OVERLOAD_PCT = 115.0  # above `overload` (100 %) and `heavy_load` (80 %), below severe (130 %)
OVERLOAD_INTERVALS = 3
_BASE_S_KVA = QUANTITIES["s_kva"]  # ≈ 16 % loading: no rule fires
_SCALED = ("i_a_a", "i_b_a", "i_c_a", "i_n_a", "p_kw", "p_a_kw", "p_b_kw", "p_c_kw", "q_kvar",
           "s_kva")  # fmt: skip
_VOLTAGES = ("v_a_v", "v_b_v", "v_c_v")


@dataclass
class Stream:
    """The readings, interval by interval, serialised before any timing starts."""

    transformers: int
    intervals: int
    stamps: list[datetime] = field(default_factory=list)
    messages: list[list[bytes]] = field(default_factory=list)  # [interval][transformer - 1]
    overloaded: int = 0

    @property
    def count(self) -> int:
        return self.transformers * self.intervals


def overload_start(t: int) -> int | None:
    """The first overloaded interval of transformer ``t`` (1-based), or None."""
    if t % OVERLOAD_EVERY:
        return None
    return 1 + (t // OVERLOAD_EVERY) % 3


def build(transformers: int, intervals: int) -> Stream:
    stream = Stream(transformers, intervals)
    end = utc_now().replace(minute=0, second=0, microsecond=0)
    stream.stamps = [end - timedelta(minutes=INTERVAL_MIN * (intervals - k))
                     for k in range(intervals)]  # fmt: skip
    stream.overloaded = sum(1 for t in range(1, transformers + 1) if overload_start(t) is not None)
    registers = [10_000.0] * transformers
    for k, ts in enumerate(stream.stamps):
        stamp = ts.isoformat()
        burst: list[bytes] = []
        for t in range(1, transformers + 1):
            start = overload_start(t)
            hot = start is not None and start <= k < start + OVERLOAD_INTERVALS
            scale = (OVERLOAD_PCT / 100.0 * RATED_KVA / _BASE_S_KVA) if hot else 1.0
            jitter = 0.1 * ((7 * k + t) % 5)  # differs from one interval to the next
            values = dict(QUANTITIES)
            for q in _SCALED:
                values[q] = round(QUANTITIES[q] * scale, 2)
            for q in _VOLTAGES:
                values[q] = round(QUANTITIES[q] + jitter, 2)
            registers[t - 1] += values["p_kw"] * INTERVAL_MIN / 60
            values["e_imp_kwh"] = round(registers[t - 1], 2)
            burst.append(orjson.dumps({
                "v": 1, "type": "dt_interval", "terminal": f"BT-{t}", "device": f"BT{t}",
                "ts": stamp, "interval_min": INTERVAL_MIN, "values": values}))  # fmt: skip
        stream.messages.append(burst)
    return stream


class Listener:
    """A console stand-in: its own connection and thread, ``LISTEN e200_alarms``; notes when
    each notification arrives (``time.perf_counter``) and parses them only afterwards."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(f"LISTEN {alarms.CHANNEL}")  # listening before anything is produced
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-alarm-listener",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for note in self.conn.notifies(timeout=0.2):
                self.received.append((time.perf_counter(), note.payload))

    def drain(self, expected: int, quiet_s: float = 1.0, limit_s: float = 30.0) -> None:
        """Wait for ``expected`` notifications (or ``quiet_s`` without any), then stop."""
        deadline = time.monotonic() + limit_s
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline and len(self.received) < expected:
            if len(self.received) != seen:
                seen, since = len(self.received), time.monotonic()
            elif time.monotonic() - since > quiet_s:
                break
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(timeout=5)
        self.conn.close()


def _dsn(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False).replace("+psycopg", "")


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE telemetry.dt_reading, telemetry.terminal_liveness, "
                          "telemetry.ingest_counter, telemetry.quarantine, alarms.alarm, "
                          "alarms.rule_state"))  # fmt: skip
        conn.execute(text("CHECKPOINT"))


def feed(engine: Engine, settings: Settings, stream: Stream, *, with_alarms: bool,
         batch_size: int, progress: Callable[[str], None] = lambda _: None,
         ) -> tuple[float, dict[tuple[str, datetime], float]]:  # fmt: skip
    """Run the stream through the pipeline interval by interval; returns the elapsed seconds
    and, per (transformer, interval), when its reading was put on the source."""
    from e200.jobs import make_pipeline  # the pipeline `e200 ingest` runs

    _reset(engine)
    pipeline = make_pipeline(engine, settings)
    if not with_alarms:
        pipeline.hooks = [h for h in pipeline.hooks if not isinstance(h, alarms.AlarmEngine)]
    name = f"bench-alarms-{'on' if with_alarms else 'off'}"
    label = "with the alarm engine" if with_alarms else "baseline (no alarm engine)"
    MemoryBus.remove(name)
    bus = MemoryBus.get(name)
    source = MemorySource(f"memory://{name}")
    stop = threading.Event()
    sent_at: list[list[float]] = []
    done = [0]

    def publish(k: int) -> None:
        times: list[float] = []
        for message in stream.messages[k]:
            times.append(time.perf_counter())
            bus.publish(message)
        sent_at.append(times)

    def on_batch(result: BatchResult) -> None:
        done[0] += result.received
        k = done[0] // stream.transformers  # intervals fully stored
        if done[0] >= stream.count:
            stop.set()
        elif done[0] % stream.transformers == 0 and k == len(sent_at):
            progress(f"{label}: interval {k + 1} of {stream.intervals}")
            publish(k)

    started = time.perf_counter()
    publish(0)
    run_sources(pipeline, [source], stop, batch_size=batch_size, on_batch=on_batch)
    elapsed = time.perf_counter() - started
    source.close()
    MemoryBus.remove(name)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM telemetry.dt_reading")).scalar_one()
    if stored != stream.count:
        raise RuntimeError(f"the pipeline stored {stored} of {stream.count} readings")
    when = {(f"BT{t}", ts): times[t - 1]
            for ts, times in zip(stream.stamps, sent_at, strict=True)
            for t in range(1, stream.transformers + 1)}  # fmt: skip
    return elapsed, when


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: always a measured value)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


def _completing_ts(payload: dict[str, Any]) -> datetime | None:
    at = datetime.fromisoformat(payload["at"])
    if payload["event"] == "cleared":
        return at
    spec = alarms.RULES_BY_KEY.get(payload["rule"])
    if payload["event"] != "raised" or spec is None or spec.condition not in ("above", "below"):
        return None
    return at + timedelta(minutes=INTERVAL_MIN * (spec.duration - 1))


def latencies(received: list[tuple[float, str]], sent_at: dict[tuple[str, datetime], float]
              ) -> tuple[dict[str, list[float]], Counter[str], int]:  # fmt: skip
    """Seconds from source to listener per event kind; alarms by rule; unmatched count."""
    out: dict[str, list[float]] = {"raised": [], "cleared": []}
    by_rule: Counter[str] = Counter()
    unmatched = 0
    for t1, raw in received:
        payload = orjson.loads(raw)
        if payload["event"] == "raised":
            by_rule[payload["rule"]] += 1
        ts = _completing_ts(payload)
        t0 = None if ts is None else sent_at.get((payload["asset_number"], ts))
        if t0 is None or payload["event"] not in out:
            unmatched += 1
            continue
        out[payload["event"]].append(t1 - t0)
    return out, by_rule, unmatched


def _stored_alarms(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT count(*), count(*) FILTER (WHERE state = 'cleared') "
                                "FROM alarms.alarm")).one()  # fmt: skip
    return int(row[0]), int(row[1])


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def run(transformers: int = 10_000, intervals: int = 8, batch_size: int = 5000,
        database_url: str | None = None, settings: Settings | None = None,
        progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:  # fmt: skip
    if intervals < 1 or transformers < 1:
        raise ValueError("transformers and intervals must be at least 1")
    settings = settings or Settings()
    load_1m = os.getloadavg()[0]
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
        progress(f"building {intervals} intervals for {transformers:,} transformers")
        stream = build(transformers, intervals)
        gc.collect()
        gc.freeze()
        base_s, _ = feed(engine, settings, stream, with_alarms=False, batch_size=batch_size,
                         progress=progress)  # fmt: skip
        listener = Listener(_dsn(engine))
        try:
            with_s, sent_at = feed(engine, settings, stream, with_alarms=True,
                                   batch_size=batch_size, progress=progress)  # fmt: skip
        finally:
            raised, cleared = _stored_alarms(engine)
            listener.drain(expected=raised + cleared)
    finally:
        engine.dispose()
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(cluster.data_dir, ignore_errors=True)  # the temporary folder made above
    lat, by_rule, unmatched = latencies(listener.received, sent_at)
    rps, base_rps = stream.count / with_s, stream.count / base_s
    result: dict[str, Any] = {
        "transformers": transformers, "intervals": intervals, "readings": stream.count,
        "batch_size": batch_size, "cpus": os.cpu_count(), "load_1m_at_start": round(load_1m, 2),
        "overloaded_transformers": stream.overloaded,
        "readings_per_s": round(rps), "baseline_readings_per_s": round(base_rps),
        "ratio_vs_baseline": round(rps / base_rps, 3),
        "alarms_raised": raised, "alarms_cleared": cleared,
        "notifications": len(listener.received), "unmatched_notifications": unmatched,
        "alarms_by_rule": dict(sorted(by_rule.items())),
    }  # fmt: skip
    for prefix, values in (("latency", lat["raised"]), ("clear_latency", lat["cleared"])):
        if values:
            result |= {f"{prefix}_p50_ms": _ms(percentile(values, 50)),
                       f"{prefix}_p99_ms": _ms(percentile(values, 99)),
                       f"{prefix}_max_ms": _ms(max(values)),
                       f"{prefix}_min_ms": _ms(min(values))}  # fmt: skip
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result

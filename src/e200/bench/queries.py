"""`e200 bench queries`: how fast do curves and aggregates come back through the API?

One run, on one embedded PostgreSQL (or ``E200_DATABASE_URL``):
  1. an archive of N transformers (10 districts, 100 feeders) and their 15-min readings for the
     last D days, written with binary COPY straight into the day partitions (field order: every
     transformer at each interval), plus a full year for a few transformers;
  2. through the API (FastAPI TestClient, an API key, the real app): a 7-day curve of one
     transformer, a one-year downsampled curve, one day's analysis over every transformer
     (energy by feeder, peak loading per transformer), each against a baseline measured in the
     same run — a plain SQL SELECT of the same rows through psycopg;
  3. the history grown to D2 days (older days added), and the same measured again: day
     partitions should keep the figures flat.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import Engine, text

from e200.db import EmbeddedPostgres, make_engine, upgrade

COLUMNS: tuple[tuple[str, str], ...] = (
    ("transformer_id", ">i8"), ("ts", ">i8"), ("interval_min", ">i2"), ("terminal_id", ">i8"),
    ("v_a_v", ">f8"),
    ("v_b_v", ">f8"), ("v_c_v", ">f8"), ("i_a_a", ">f8"), ("i_b_a", ">f8"), ("i_c_a", ">f8"),
    ("p_kw", ">f8"), ("q_kvar", ">f8"), ("s_kva", ">f8"), ("pf", ">f8"), ("e_imp_kwh", ">f8"),
    ("received_at", ">i8"),
)  # fmt: skip
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
STEPS_PER_DAY = 96
Progress = Callable[[str], None]


def _dsn(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False).replace("+psycopg", "")


def setup_archive(engine: Engine, transformers: int) -> None:
    """Company BQ with 10 districts; 100 feeders; transformers BQ1..N spread over both."""
    since = "now() - interval '2000 days'"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO archives.org_unit (code, name, kind, path) "
                          "VALUES ('BQ', 'Bench', 'company', 'tmp')"))  # fmt: skip
        conn.execute(text("UPDATE archives.org_unit SET path = id || '.' WHERE code = 'BQ'"))
        conn.execute(
            text(
                "INSERT INTO archives.org_unit (code, name, kind, parent_id, path) "
                "SELECT 'BQ-D' || g, 'District ' || g, 'district', p.id, 'tmp' || g "
                "FROM generate_series(1, 10) g, archives.org_unit p WHERE p.code = 'BQ'"
            )
        )
        conn.execute(
            text(
                "UPDATE archives.org_unit u SET path = p.path || u.id || '.' "
                "FROM archives.org_unit p WHERE u.parent_id = p.id AND p.code = 'BQ'"
            )
        )
        conn.execute(
            text(
                "INSERT INTO archives.feeder (asset_number) "
                "SELECT 'BQF' || g FROM generate_series(1, 100) g"
            )
        )
        conn.execute(
            text(
                "INSERT INTO archives.transformer (asset_number, rated_kva, primary_rated_kv, "
                "secondary_rated_v) SELECT 'BQ' || g, 400, 10, 400 FROM generate_series(1, :n) g"
            ),
            {"n": transformers},
        )
        conn.execute(
            text(
                "INSERT INTO archives.transformer_org_unit "
                "(transformer_id, org_unit_id, valid_from) "
                f"SELECT t.id, o.id, {since} FROM archives.transformer t "
                "JOIN archives.org_unit o ON o.code = 'BQ-D' || (1 + t.id % 10)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO archives.feeder_org_unit (feeder_id, org_unit_id, valid_from) "
                f"SELECT f.id, o.id, {since} FROM archives.feeder f "
                "JOIN archives.org_unit o ON o.code = 'BQ-D' || (1 + f.id % 10)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO archives.transformer_feeder (transformer_id, feeder_id, valid_from) "
                f"SELECT t.id, f.id, {since} FROM archives.transformer t "
                "JOIN archives.feeder f ON f.asset_number = 'BQF' || (1 + t.id % 100)"
            )
        )
        # one terminal (TTU) per transformer, in its district
        conn.execute(text("INSERT INTO archives.terminal (asset_number) "
                          "SELECT 'BQT' || substr(asset_number, 3) FROM archives.transformer "
                          "ORDER BY id"))  # fmt: skip
        conn.execute(text(
            "INSERT INTO archives.terminal_transformer (terminal_id, transformer_id, valid_from) "
            f"SELECT te.id, t.id, {since} FROM archives.terminal te "
            "JOIN archives.transformer t ON 'BQT' || substr(t.asset_number, 3) = te.asset_number"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO archives.terminal_org_unit (terminal_id, org_unit_id, valid_from) "
            f"SELECT r.terminal_id, o.org_unit_id, {since} FROM archives.terminal_transformer r "
            "JOIN archives.transformer_org_unit o ON o.transformer_id = r.transformer_id"
        ))  # fmt: skip


def setup_meters(engine: Engine, per_transformer: int) -> int:
    """``per_transformer`` meters BQM… under each transformer (phase A), in its district."""
    since = "now() - interval '2000 days'"
    with engine.begin() as conn:
        n = int(conn.execute(text("SELECT count(*) FROM archives.transformer")).scalar_one())
        conn.execute(text("INSERT INTO archives.meter (asset_number) "
                          "SELECT 'BQM' || g FROM generate_series(1, :n) g"),
                     {"n": n * per_transformer})  # fmt: skip
        conn.execute(text(
            "CREATE TEMP TABLE bench_mt ON COMMIT DROP AS SELECT m.id AS meter_id, t.id AS "
            "transformer_id FROM archives.meter m JOIN archives.transformer t ON t.asset_number "
            "= 'BQ' || (1 + (CAST(substr(m.asset_number, 4) AS int) - 1) / :per)"
        ), {"per": per_transformer})  # fmt: skip
        conn.execute(text(
            "INSERT INTO archives.meter_transformer (meter_id, transformer_id, phase, valid_from) "
            f"SELECT meter_id, transformer_id, 'A', {since} FROM bench_mt"))  # fmt: skip
        conn.execute(text(
            "INSERT INTO archives.meter_org_unit (meter_id, org_unit_id, valid_from) "
            f"SELECT b.meter_id, o.org_unit_id, {since} FROM bench_mt b "
            "JOIN archives.transformer_org_unit o ON o.transformer_id = b.transformer_id"
        ))  # fmt: skip
    return n * per_transformer


def _ids(engine: Engine) -> np.ndarray[Any, np.dtype[np.int64]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id FROM archives.transformer WHERE asset_number "
                                 "LIKE 'BQ%' ORDER BY id")).scalars().all()  # fmt: skip
    return np.asarray(rows, dtype=np.int64)


def _terminal_of(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT transformer_id, terminal_id "
                                 "FROM archives.terminal_transformer")).all()  # fmt: skip
    return {int(t): int(te) for t, te in rows}


def _partitions(engine: Engine, days: list[date], table: str = "dt_reading") -> None:
    from e200.telemetry.partitions import ensure_partitions, existing_partitions, lock

    with engine.begin() as conn:
        lock(conn)
        ensure_partitions(conn, table, set(days), existing_partitions(conn))


def day_buffer(ids: np.ndarray[Any, np.dtype[np.int64]], day: date, register: np.ndarray[Any, Any],
               rng: np.random.Generator, terminals: np.ndarray[Any, np.dtype[np.int64]]
               ) -> bytes:  # fmt: skip
    """One UTC day of 15-min readings of these transformers as a PostgreSQL binary COPY stream
    (every transformer at each interval, in time order); advances ``register`` in place."""
    n_t = len(ids)
    n = n_t * STEPS_PER_DAY
    dtype = [("nf", ">i2")]
    for name, kind in COLUMNS:
        dtype += [(f"l_{name}", ">i4"), (name, kind)]
    rows = np.zeros(n, dtype=dtype)
    rows["nf"] = len(COLUMNS)
    for name, kind in COLUMNS:
        rows[f"l_{name}"] = 2 if kind == ">i2" else 8
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    first_us = int((start - PG_EPOCH).total_seconds()) * 1_000_000
    steps = np.arange(1, STEPS_PER_DAY + 1, dtype=np.int64)
    rows["ts"] = np.repeat(first_us + steps * 900_000_000, n_t)
    rows["transformer_id"] = np.tile(ids, STEPS_PER_DAY)
    rows["terminal_id"] = np.tile(terminals, STEPS_PER_DAY)
    rows["interval_min"] = 15
    hour = np.repeat(steps / 4.0, n_t)
    shape = 0.55 + 0.35 * np.sin((hour - 9.0) / 24.0 * 2 * np.pi) ** 2
    size = np.tile(0.5 + (ids % 7) / 10.0, STEPS_PER_DAY)
    p = 400.0 * size * shape * (1.0 + rng.normal(0.0, 0.05, n))
    q = p * 0.3
    s = np.hypot(p, q)
    v = 230.0 - p / 40.0
    for col, k in (("v_a_v", 0.0), ("v_b_v", 0.6), ("v_c_v", -0.6)):
        rows[col] = v + k + rng.normal(0.0, 0.3, n)
    for col in ("i_a_a", "i_b_a", "i_c_a"):
        rows[col] = s * 1000.0 / 3.0 / v
    rows["p_kw"], rows["q_kvar"], rows["s_kva"], rows["pf"] = p, q, s, p / s
    energy = (p * 0.25).reshape(STEPS_PER_DAY, n_t)
    reg = register[None, :] + np.cumsum(energy, axis=0)
    register[:] = reg[-1]
    rows["e_imp_kwh"] = reg.reshape(-1)
    rows["received_at"] = rows["ts"] + 30_000_000
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    return header + rows.tobytes() + b"\xff\xff"


def load_days(engine: Engine, ids: np.ndarray[Any, np.dtype[np.int64]], days: list[date],
              seed: int, progress: Progress) -> tuple[int, float]:  # fmt: skip
    """COPY these UTC days of these transformers into their partitions; (rows, seconds)."""
    from e200.telemetry.partitions import partition_name

    _partitions(engine, days)
    cols = ", ".join(name for name, _ in COLUMNS)
    rng = np.random.default_rng(seed)
    register = 10_000.0 + (ids % 97).astype(np.float64) * 100.0
    term_of = _terminal_of(engine)
    terminals = np.asarray([term_of[int(i)] for i in ids], dtype=np.int64)
    written, started = 0, time.perf_counter()
    with psycopg.connect(_dsn(engine)) as conn:
        for n, day in enumerate(sorted(days), 1):
            buf = day_buffer(ids, day, register, rng, terminals)
            part = partition_name("dt_reading", day)
            # the 00:00 reading of the next day closes this day: it lives in the next partition
            with conn.cursor() as cur, cur.copy(
                f"COPY telemetry.dt_reading ({cols}) FROM STDIN (FORMAT BINARY)"
            ) as copy:  # fmt: skip
                copy.write(buf)
            conn.commit()
            written += len(ids) * STEPS_PER_DAY
            if n % 5 == 0:
                progress(f"loaded {n}/{len(days)} days ({part}), {written:,} rows")
    return written, time.perf_counter() - started


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _timed(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000.0)
    return out


def measure(
    engine: Engine,
    client: Any,
    headers: dict[str, str],
    end: datetime,
    numbers: list[str],
    year_numbers: list[str],
    repeats: int,
) -> dict[str, Any]:
    """The API figures and their SQL baselines at the history now stored."""
    rng = np.random.default_rng(11)
    dsn = _dsn(engine)
    week = {"from": (end - timedelta(days=7)).isoformat(), "to": end.isoformat()}
    year = {"from": (end - timedelta(days=365)).isoformat(), "to": end.isoformat()}
    day_end = end
    day = {"from": (end - timedelta(days=1)).isoformat(), "to": day_end.isoformat()}

    def api(path: str, params: dict[str, str]) -> Any:
        r = client.get(path, params=params, headers=headers)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:500]}")
        return r

    def pick(pool: list[str]) -> str:
        return pool[int(rng.integers(0, len(pool)))]

    out: dict[str, Any] = {}
    with psycopg.connect(dsn) as pg:
        ids: dict[str, int] = dict(
            pg.execute("SELECT asset_number, id FROM archives.transformer").fetchall()
        )

        def sql_rows(number: str, start: datetime) -> None:
            pg.execute("SELECT ts, p_kw FROM telemetry.dt_reading WHERE transformer_id = %s "
                       "AND ts >= %s AND ts < %s ORDER BY ts",
                       (ids[number], start, end)).fetchall()  # fmt: skip

        curve = "/api/v1/telemetry/curves"
        w_api = _timed(lambda: api(curve, {**week, "devices": pick(numbers)}), repeats)
        w_sql = _timed(lambda: sql_rows(pick(numbers), end - timedelta(days=7)), repeats)
        points = len(api(curve, {**week, "devices": numbers[0]}).json()["series"][0]["values"])
        y_api = _timed(lambda: api(curve, {**year, "devices": pick(year_numbers)}),
                       max(repeats // 2, 5))  # fmt: skip
        y_sql = _timed(lambda: sql_rows(pick(year_numbers), end - timedelta(days=365)),
                       max(repeats // 2, 5))  # fmt: skip
        y_body = api(curve, {**year, "devices": year_numbers[0]}).json()["series"][0]
        agg = "/api/v1/telemetry/analysis"
        runs = max(repeats // 10, 3)
        by_feeder = _timed(lambda: api(agg, {**day, "measure": "energy_kwh", "group_by": "feeder",
                                             "step": "none"}), runs, 1)  # fmt: skip
        peak = _timed(
            lambda: api(
                agg,
                {**day, "measure": "peak_loading_pct", "group_by": "transformer", "step": "none"},
            ),
            runs,
            1,
        )
        groups = len(api(agg, {**day, "measure": "energy_kwh", "group_by": "feeder",
                               "step": "none"}).json()["rows"])  # fmt: skip

        def sql_day() -> None:
            pg.execute("SELECT transformer_id, max(e_imp_kwh) - min(e_imp_kwh), max(s_kva) "
                       "FROM telemetry.dt_reading WHERE ts > %s AND ts <= %s GROUP BY 1",
                       (end - timedelta(days=1), end)).fetchall()  # fmt: skip

        d_sql = _timed(sql_day, runs, 1)
    p95 = {"w_api": _pct(w_api, 0.95), "w_sql": _pct(w_sql, 0.95), "y_api": _pct(y_api, 0.95),
           "y_sql": _pct(y_sql, 0.95)}  # fmt: skip
    day_s = max(statistics.median(by_feeder), statistics.median(peak)) / 1000.0
    out.update(
        curve_7d_p50_ms=round(statistics.median(w_api), 2), curve_7d_p95_ms=round(p95["w_api"], 2),
        curve_7d_points=points, sql_7d_p95_ms=round(p95["w_sql"], 2),
        curve_7d_vs_sql=round(p95["w_api"] / p95["w_sql"], 2),
        curve_1y_p50_ms=round(statistics.median(y_api), 2), curve_1y_p95_ms=round(p95["y_api"], 2),
        curve_1y_readings=y_body["points"], curve_1y_points=len(y_body["values"]),
        sql_1y_p95_ms=round(p95["y_sql"], 2),
        curve_1y_vs_sql=round(p95["y_api"] / p95["y_sql"], 2),
        day_energy_by_feeder_s=round(statistics.median(by_feeder) / 1000.0, 3),
        day_peak_loading_per_transformer_s=round(statistics.median(peak) / 1000.0, 3),
        day_aggregate_s=round(day_s, 3), day_groups=groups,
        sql_day_s=round(statistics.median(d_sql) / 1000.0, 3),
        day_aggregate_vs_sql=round(day_s * 1000.0 / statistics.median(d_sql), 2),
    )  # fmt: skip
    return out


def _api_key(engine: Engine) -> str:
    from e200 import auth

    auth.ensure_admin(engine)
    with engine.begin() as conn:
        uid = conn.execute(text("UPDATE auth.user_account SET must_change_password = false "
                                "WHERE username = 'admin' RETURNING id")).scalar_one()  # fmt: skip
        key, _ = auth.create_api_key(conn, uid, "bench-queries", created_by=None)
    return str(key)


METER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("meter_id", ">i8"), ("ts", ">i8"), ("interval_min", ">i2"), ("v_v", ">f8"), ("i_a", ">f8"),
    ("p_kw", ">f8"), ("e_imp_kwh", ">f8"), ("received_at", ">i8"),
)  # fmt: skip


def _copy_buffer(columns: tuple[tuple[str, str], ...], values: dict[str, Any], n: int) -> bytes:
    dtype = [("nf", ">i2")]
    for name, kind in columns:
        dtype += [(f"l_{name}", ">i4"), (name, kind)]
    rows = np.zeros(n, dtype=dtype)
    rows["nf"] = len(columns)
    for name, kind in columns:
        rows[f"l_{name}"] = 2 if kind == ">i2" else 8
        rows[name] = values[name]
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    return header + rows.tobytes() + b"\xff\xff"


def load_meter_day(engine: Engine, day: date, progress: Progress, seed: int = 5,
                   chunk: int = 50_000) -> tuple[int, float]:  # fmt: skip
    """One UTC day of every meter's 15-min readings (2 % of the points missing, 1 % two hours
    late) and its daily frozen readings (99 % of the meters, by 00:05), by binary COPY."""
    _partitions(engine, [day, day + timedelta(days=1)], "meter_reading")
    _partitions(engine, [day, day + timedelta(days=1)], "meter_daily")
    with engine.connect() as conn:
        ids = np.asarray(conn.execute(text("SELECT id FROM archives.meter ORDER BY id"))
                         .scalars().all(), dtype=np.int64)  # fmt: skip
    rng = np.random.default_rng(seed)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    first_us = int((start - PG_EPOCH).total_seconds()) * 1_000_000
    steps = first_us + np.arange(1, STEPS_PER_DAY + 1, dtype=np.int64) * 900_000_000
    cols = ", ".join(name for name, _ in METER_COLUMNS)
    written, started = 0, time.perf_counter()
    with psycopg.connect(_dsn(engine)) as pg:
        for at in range(0, len(ids), chunk):
            part = ids[at : at + chunk]
            ts = np.repeat(steps, len(part))
            mid = np.tile(part, STEPS_PER_DAY)
            keep = rng.random(len(ts)) >= 0.02
            delay = np.where(rng.random(len(ts)) < 0.01, 7_200_000_000, 60_000_000)
            p = np.abs(rng.normal(0.5, 0.3, len(ts)))
            reg = 1000.0 + np.cumsum((p * 0.25).reshape(STEPS_PER_DAY, len(part)), axis=0)
            values = {"meter_id": mid, "ts": ts, "interval_min": 15,
                      "v_v": rng.normal(230.0, 2.0, len(ts)), "i_a": p * 1000 / 230, "p_kw": p,
                      "e_imp_kwh": reg.reshape(-1), "received_at": ts + delay}  # fmt: skip
            values = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in values.items()}
            n = int(keep.sum())
            with pg.cursor() as cur, cur.copy(
                f"COPY telemetry.meter_reading ({cols}) FROM STDIN (FORMAT BINARY)"
            ) as copy:  # fmt: skip
                copy.write(_copy_buffer(METER_COLUMNS, values, n))
            pg.commit()
            written += n
            progress(f"meter readings: {written:,}")
        frozen = ids[rng.random(len(ids)) < 0.99]
        with pg.cursor() as cur:
            cur.execute("INSERT INTO telemetry.meter_daily (meter_id, day, e_imp_kwh, "
                        "received_at) SELECT m, %s, 1000.0, %s FROM unnest(%s::bigint[]) m",
                        (day, start + timedelta(minutes=5), frozen.tolist()))  # fmt: skip
        pg.commit()
    return written, time.perf_counter() - started


def quality_day(engine: Engine, day: date, runs: int = 2) -> dict[str, Any]:
    """The acquisition-quality computation of one local (UTC) day, first and again (a
    recomputation replaces the day's rows), each in its own transaction."""
    from e200 import quality

    seconds = []
    computed = None
    for _ in range(runs):
        started = time.perf_counter()
        with engine.begin() as conn:
            computed = quality.compute_day(conn, day, "UTC")
        seconds.append(time.perf_counter() - started)
    assert computed is not None
    return {"quality_day_s": round(min(seconds), 3), "quality_day_runs_s": [round(x, 3)
            for x in seconds], "quality_meters": computed.meters,
            "quality_terminals": computed.terminals}  # fmt: skip


def run(
    transformers: int = 10_000,
    days: int = 30,
    grown_days: int = 90,
    year_transformers: int = 3,
    repeats: int = 100,
    database_url: str | None = None,
    progress: Progress = lambda _: None,
    meters_per_transformer: int = 50,
) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from e200.api import create_app
    from e200.config import Settings

    cluster = None
    scratch = Path(tempfile.mkdtemp(prefix="e200-bench-q-"))
    if database_url is None:
        data = scratch / "pg"
        data.mkdir()
        scratch.chmod(0o711)
        data.chmod(0o711)
        cluster = EmbeddedPostgres(data)
        database_url = cluster.start()
    engine = make_engine(database_url, pool_size=4)
    today = datetime.now(UTC).date()
    end = datetime(today.year, today.month, today.day, tzinfo=UTC)
    # Other work on the machine shows in the timings: keep its load next to them.
    result: dict[str, Any] = {"transformers": transformers, "cpus": os.cpu_count(),
                              "load_1m_at_start": round(os.getloadavg()[0], 2),
                              "year_transformers": year_transformers}  # fmt: skip
    try:
        upgrade(engine)
        setup_archive(engine, transformers)
        ids = _ids(engine)
        numbers = [f"BQ{i}" for i in range(1, transformers + 1)]
        year_ids = ids[:year_transformers]
        recent = [today - timedelta(days=d) for d in range(days, 0, -1)]
        older = [today - timedelta(days=d) for d in range(grown_days, days, -1)]
        year_only = [today - timedelta(days=d) for d in range(366, grown_days, -1)]
        _partitions(engine, [*year_only, *older, *recent, today])
        progress(f"a year for {year_transformers} transformers")
        load_days(engine, year_ids, year_only, 1, progress)
        load_days(engine, year_ids, older, 2, progress)
        progress(f"{days} days of {transformers:,} transformers")
        rows, secs = load_days(engine, ids, recent, 3, progress)
        result.update(load_rows=rows, load_rows_per_s=round(rows / secs))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE telemetry.dt_reading"))
        settings = Settings(data_dir=scratch,
                            database_url="unused://", log_level="warning")  # fmt: skip
        key = _api_key(engine)
        with TestClient(create_app(settings, engine, console=False)) as client:
            headers = {"X-API-Key": key}
            year_numbers = numbers[:year_transformers]
            progress(f"measuring at {days} days")
            first = measure(engine, client, headers, end, numbers, year_numbers, repeats)
            result[f"at_{days}d"] = first
            if grown_days > days:
                progress(f"growing the history to {grown_days} days")
                rest = ids[year_transformers:]
                load_days(engine, rest, older, 4, progress)
                with engine.begin() as conn:
                    conn.execute(text("ANALYZE telemetry.dt_reading"))
                progress(f"measuring at {grown_days} days")
                result[f"at_{grown_days}d"] = measure(engine, client, headers, end, numbers,
                                                      year_numbers, repeats)  # fmt: skip
        if meters_per_transformer > 0:
            # Acquisition quality of yesterday for the province preset: 10,000 terminals,
            # 500,000 meters (50 per transformer) with a day of 15-min readings.
            n = setup_meters(engine, meters_per_transformer)
            progress(f"a day of readings of {n:,} meters")
            rows, secs = load_meter_day(engine, today - timedelta(days=1), progress)
            with engine.begin() as conn:
                conn.execute(text("ANALYZE telemetry.meter_reading"))
                conn.execute(text("ANALYZE telemetry.meter_daily"))
            progress("acquisition quality of one day")
            result.update(
                quality_day(engine, today - timedelta(days=1)),
                meter_readings=rows,
                meter_load_rows_per_s=round(rows / secs),
            )
        with engine.connect() as conn:
            result["stored_rows"] = int(conn.execute(text(
                "SELECT count(*) FROM telemetry.dt_reading")).scalar_one())  # fmt: skip
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            result["database_gb"] = round(int(size) / 2**30, 2)
    finally:
        engine.dispose()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)  # the cluster: gigabytes at full size
    result["load_1m_at_end"] = round(os.getloadavg()[0], 2)
    last = result[f"at_{grown_days}d"] if grown_days > days else result[f"at_{days}d"]
    result.update(
        curve_7d_p95_ms=result[f"at_{days}d"]["curve_7d_p95_ms"],
        curve_1y_p95_ms=result[f"at_{days}d"]["curve_1y_p95_ms"],
        day_aggregate_s=result[f"at_{days}d"]["day_aggregate_s"],
        grown=last,
    )  # fmt: skip
    result.setdefault("quality_day_s", None)
    if result["quality_day_s"] is None:
        result["quality_day_note"] = "not measured (meters_per_transformer = 0)"
    return result

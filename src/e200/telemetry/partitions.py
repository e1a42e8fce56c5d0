"""Range partitions of the reading tables: created ahead, dropped after retention.

Partitions are named ``telemetry_parts.<table>_pYYYYMMDD`` (daily) or ``_pYYYYMM`` (monthly).
Creating one takes a lock on the parent, so ingest asks only for partitions it has not yet seen.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, text

from e200.telemetry.tables import PARTITIONED, PARTS_SCHEMA, SCHEMA

# Serialises partition DDL across processes: CREATE TABLE IF NOT EXISTS is not race-free.
PARTITION_LOCK_ID = 200_200_002


def lock(conn: Connection) -> None:
    """Hold the partition DDL lock until the end of ``conn``'s transaction."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK_ID})


def _period_start(table: str, day: date) -> date:
    return day.replace(day=1) if PARTITIONED[table] == "month" else day


def _next(table: str, start: date) -> date:
    if PARTITIONED[table] == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def partition_name(table: str, day: date) -> str:
    start = _period_start(table, day)
    suffix = start.strftime("%Y%m") if PARTITIONED[table] == "month" else start.strftime("%Y%m%d")
    return f"{table}_p{suffix}"


def existing_partitions(conn: Connection) -> set[str]:
    rows = conn.execute(
        text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
             "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s"),
        {"s": PARTS_SCHEMA},
    )  # fmt: skip
    return set(rows.scalars())


def ensure_partitions(conn: Connection, table: str, days: set[date], known: set[str]) -> int:
    """Create the partitions covering ``days`` that are not in ``known``; returns how many."""
    created = 0
    for day in sorted({_period_start(table, d) for d in days}):
        name = partition_name(table, day)
        if name in known:
            continue
        conn.execute(text(
            f'CREATE TABLE IF NOT EXISTS {PARTS_SCHEMA}."{name}" PARTITION OF {SCHEMA}.{table} '
            f"FOR VALUES FROM ('{day.isoformat()}') TO ('{_next(table, day).isoformat()}')"
        ))  # fmt: skip
        known.add(name)
        created += 1
    return created


def create_ahead(conn: Connection, today: date, days_ahead: int = 3) -> int:
    """Partitions for today and the next days of every partitioned table."""
    lock(conn)
    known = existing_partitions(conn)
    days = {today + timedelta(days=i) for i in range(days_ahead + 1)}
    return sum(ensure_partitions(conn, t, days, known) for t in PARTITIONED)


def drop_older_than(conn: Connection, cutoff: date) -> list[str]:
    """Drop whole partitions that end on or before ``cutoff`` (retention)."""
    lock(conn)
    dropped = []
    for name in sorted(existing_partitions(conn)):
        table, _, suffix = name.rpartition("_p")
        if table not in PARTITIONED:
            continue
        if PARTITIONED[table] == "month":
            start = date(int(suffix[:4]), int(suffix[4:6]), 1)
        else:
            start = date(int(suffix[:4]), int(suffix[4:6]), int(suffix[6:8]))
        if _next(table, start) <= cutoff:
            conn.execute(text(f'DROP TABLE {PARTS_SCHEMA}."{name}"'))
            dropped.append(name)
    return dropped

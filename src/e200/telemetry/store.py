"""Writing a validated batch in the caller's transaction: an optimistic binary COPY straight
into each table, or — when the batch repeats stored readings — COPY into a session staging table
and one idempotent ``INSERT … ON CONFLICT DO NOTHING``.

Duplicate rule (documented in docs/telemetry.md): the first reading stored for a device and
timestamp wins; later copies — redeliveries, replays, a second gateway — are counted as
duplicates and not stored. Within one batch one copy is kept (the first of its decoding path).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Table

from e200.telemetry import partitions
from e200.telemetry.codec import Rejection
from e200.telemetry.tables import (
    SCHEMA,
    device_event,
    dt_reading,
    meter_daily,
    meter_reading,
)
from e200.telemetry.validate import Validated

LIVENESS_WRITE_EVERY = timedelta(minutes=1)


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL: keep it visible instead of failing the batch."""
    return value.replace("\x00", "\\0")


@dataclass
class StoreResult:
    stored: int = 0
    duplicates: int = 0


def _pg_type(column: Any) -> str:
    name = type(column.type).__name__
    return {
        "BigInteger": "int8", "SmallInteger": "int2", "Float": "float8", "Date": "date",
        "DateTime": "timestamptz", "String": "text", "JSONB": "jsonb", "Text": "text",
    }[name]  # fmt: skip


def _raw(conn: Connection) -> psycopg.Connection[Any]:
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


class Store:
    """Keeps per-connection state: which staging tables and partitions exist."""

    def __init__(self) -> None:
        self.known_partitions: set[str] | None = None
        # terminal id -> (when we last wrote its liveness, the message time we wrote)
        self._liveness_written: dict[int, tuple[datetime, datetime]] = {}

    def _stage(self, cur: psycopg.Cursor[Any], table: Table) -> str:
        stage = f"stage_{table.name}"
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
            f"(LIKE {SCHEMA}.{table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        return stage

    @staticmethod
    def _copy(cur: psycopg.Cursor[Any], target: str, col_list: str, types: list[str],
              rows: Iterable[tuple[Any, ...]]) -> None:  # fmt: skip
        with cur.copy(f"COPY {target} ({col_list}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def _copy_upsert(self, conn: Connection, table: Table, rows: list[tuple[Any, ...]]
                     ) -> StoreResult:  # fmt: skip
        if not rows:
            return StoreResult()
        # First copy wins inside the batch as well: keep the first row per primary key.
        key_len = len(table.primary_key.columns)
        unique: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for row in rows:
            unique.setdefault(row[:key_len], row)
        columns = [c.name for c in table.columns]
        types = [_pg_type(c) for c in table.columns]
        col_list = ", ".join(f'"{c}"' for c in columns)
        with _raw(conn).cursor() as cur:
            # Optimistic: in steady state nothing is a duplicate, so COPY straight into the
            # table under a savepoint. A unique violation (a redelivery) rolls back to it and
            # the batch takes the staging path, which skips what is already stored.
            # Plain SQL savepoints: psycopg's transaction() would open and COMMIT a transaction
            # of its own when SQLAlchemy's has not sent a statement yet.
            cur.execute("SAVEPOINT e200_copy")
            try:
                self._copy(cur, f"{SCHEMA}.{table.name}", col_list, types, unique.values())
                cur.execute("RELEASE SAVEPOINT e200_copy")
                stored = len(unique)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT e200_copy")
                stage = self._stage(cur, table)
                self._copy(cur, stage, col_list, types, unique.values())
                cur.execute(
                    f"INSERT INTO {SCHEMA}.{table.name} ({col_list}) SELECT {col_list} "
                    f"FROM {stage} ON CONFLICT DO NOTHING"
                )
                stored = max(cur.rowcount, 0)
                cur.execute(f"TRUNCATE {stage}")
        return StoreResult(stored=stored, duplicates=len(rows) - stored)

    def ensure_partitions(self, conn: Connection, batch: Validated) -> None:
        """Create missing partitions in a short transaction of their own, serialised across
        processes by an advisory lock, so that concurrent ingest processes never race on the
        same DDL and the batch's transaction holds no DDL lock."""
        if self.known_partitions is None:
            self.known_partitions = partitions.existing_partitions(conn)
        wanted = {
            "dt_reading": {r[1].astimezone(UTC).date() for r in batch.dt_rows},
            "meter_reading": {r[1].astimezone(UTC).date() for r in batch.meter_rows},
            "meter_daily": {r[1] for r in batch.daily_rows},
        }
        missing = {table: days for table, days in wanted.items()
                   if any(partitions.partition_name(table, d) not in self.known_partitions
                          for d in days)}  # fmt: skip
        if not missing:
            return
        with conn.engine.begin() as ddl:
            partitions.lock(ddl)
            self.known_partitions = partitions.existing_partitions(ddl)
            for table, days in missing.items():
                partitions.ensure_partitions(ddl, table, days, self.known_partitions)

    def write(self, conn: Connection, batch: Validated, source: str, received: int,
              now: datetime) -> StoreResult:  # fmt: skip
        """Store everything of a batch and its rejections, update terminal liveness and
        the per-source counters — one transaction, so counts always add up."""
        self.ensure_partitions(conn, batch)
        result = StoreResult()
        tables = (
            (dt_reading, batch.dt_rows),
            (meter_reading, batch.meter_rows),
            (meter_daily, batch.daily_rows),
            (device_event, batch.events),
        )
        for table, rows in tables:
            part = self._copy_upsert(conn, table, rows)
            result.stored += part.stored
            result.duplicates += part.duplicates
        # Terminal meter lists and command acks are state, not history: always accepted.
        result.stored += len(batch.terminal_lists) + len(batch.acks)
        with _raw(conn).cursor() as cur:
            self._write_liveness(cur, batch, now)
            self._write_meter_lists(cur, batch, now)
            self._quarantine(cur, batch.rejected, source, now)
            self._count(cur, source, (received, result.stored, len(batch.rejected),
                                      result.duplicates), now)  # fmt: skip
        return result

    @staticmethod
    def _count(cur: psycopg.Cursor[Any], source: str, counts: tuple[int, int, int, int],
               now: datetime) -> None:  # fmt: skip
        """Add the batch's counts to a counter row of ``source`` that no other transaction
        holds (one row per concurrent writer, ``slot``): two ingest processes reading the same
        source each take their own row instead of waiting for the other's commit."""
        cur.execute(
            "SELECT slot FROM telemetry.ingest_counter WHERE source = %s ORDER BY slot "
            "LIMIT 1 FOR UPDATE SKIP LOCKED", (source,))  # fmt: skip
        row = cur.fetchone()
        add = ("received = c.received + %s, stored = c.stored + %s, "
               "quarantined = c.quarantined + %s, duplicates = c.duplicates + %s, "
               "updated_at = %s")  # fmt: skip
        if row is not None:
            cur.execute(
                f"UPDATE telemetry.ingest_counter AS c SET {add} WHERE source = %s AND slot = %s",
                (*counts, now, source, row[0]),
            )
            return
        # Every row is held (or none exists yet): a new slot, chosen at random so that two
        # writers starting together (rows not yet committed, so invisible to each other) do not
        # pick the same one; if they did, ON CONFLICT makes the second wait once and add up.
        cur.execute(
            "INSERT INTO telemetry.ingest_counter AS c (source, slot, received, stored, "
            "quarantined, duplicates, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (source, slot) DO UPDATE SET received = c.received + excluded.received, "
            "stored = c.stored + excluded.stored, quarantined = c.quarantined + "
            "excluded.quarantined, duplicates = c.duplicates + excluded.duplicates, "
            "updated_at = excluded.updated_at",
            (source, random.randrange(1 << 15), *counts, now),
        )  # fmt: skip

    def _write_liveness(self, cur: psycopg.Cursor[Any], batch: Validated, now: datetime) -> None:
        """Record when each terminal was last heard from — the batch's arrival time ``now``,
        never the time its messages carry (a backlog of old readings is a terminal heard now),
        and never moved back (a replay stamped in the past leaves a newer arrival as it is).
        At most once a minute per terminal and process: liveness is judged in reporting
        intervals (≥ 5 min), and a burst of history (backfill, catch-up after an outage) must
        not cost one UPDATE per reading."""
        due = [
            (tid, ts)
            for tid, ts in batch.seen_terminals.items()
            if (seen := self._liveness_written.get(tid)) is None
            or now - seen[0] >= LIVENESS_WRITE_EVERY
            or ts > seen[1] + LIVENESS_WRITE_EVERY
        ]
        if not due:
            return
        cur.execute(
            "INSERT INTO telemetry.terminal_liveness AS t (terminal_id, last_seen_at, last_ts) "
            "SELECT id, %s, ts FROM unnest(%s::int8[], %s::timestamptz[]) AS u(id, ts) "
            "ON CONFLICT (terminal_id) DO UPDATE SET "
            "last_seen_at = GREATEST(t.last_seen_at, excluded.last_seen_at), "
            "last_ts = GREATEST(t.last_ts, excluded.last_ts)",
            (now, [tid for tid, _ in due], [ts for _, ts in due]),
        )
        for tid, ts in due:
            self._liveness_written[tid] = (now, ts)

    def _write_meter_lists(self, cur: psycopg.Cursor[Any], batch: Validated, now: datetime
                           ) -> None:  # fmt: skip
        if not batch.terminal_lists:
            return
        cur.executemany(
            "INSERT INTO telemetry.terminal_meter_list AS m "
            "(terminal_id, ts, meters, received_at, phases) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (terminal_id) DO UPDATE SET ts = excluded.ts, meters = excluded.meters, "
            "received_at = excluded.received_at, phases = excluded.phases "
            "WHERE m.ts <= excluded.ts",
            [(tid, ts, meters, now, Jsonb(phases) if phases is not None else None)
             for tid, ts, meters, phases in batch.terminal_lists],
        )  # fmt: skip

    def _quarantine(self, cur: psycopg.Cursor[Any], rejected: list[Rejection], source: str,
                    now: datetime) -> None:  # fmt: skip
        if not rejected:
            return
        with cur.copy(
            "COPY telemetry.quarantine (received_at, source, ref, reason, detail, message_type, "
            "device, payload) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["timestamptz", "text", "text", "text", "text", "text", "text", "bytea"])
            for rej in rejected:
                device = _text(rej.device or "")[:64] or None
                row = (now, source, rej.ref, rej.reason, _text(rej.detail)[:2000],
                       _text(rej.message_type or "")[:32] or None)  # fmt: skip
                copy.write_row((*row, device, rej.payload))

"""Tables of the telemetry slice (PostgreSQL schema ``telemetry``).

Readings live in range-partitioned tables keyed by (device, time); partitions are created ahead
by the slice itself (``partitions.py``) in the separate schema ``telemetry_parts`` so that the
declared tables stay exactly what the migrations create.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB

from e200.telemetry.contract import DAILY_QUANTITIES, DT_QUANTITIES, METER_QUANTITIES

SCHEMA = "telemetry"
PARTS_SCHEMA = "telemetry_parts"
metadata = MetaData(schema=SCHEMA)


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


dt_reading = Table(
    "dt_reading",
    metadata,
    Column("transformer_id", BigInteger, nullable=False),
    _ts("ts"),
    Column("interval_min", SmallInteger, nullable=False),
    Column("terminal_id", BigInteger, nullable=True),
    *(Column(q.name, Float, nullable=True) for q in DT_QUANTITIES),
    _ts("received_at"),
    PrimaryKeyConstraint("transformer_id", "ts"),
    postgresql_partition_by="RANGE (ts)",
)

meter_reading = Table(
    "meter_reading",
    metadata,
    Column("meter_id", BigInteger, nullable=False),
    _ts("ts"),
    Column("interval_min", SmallInteger, nullable=False),
    *(Column(q.name, Float, nullable=True) for q in METER_QUANTITIES),
    _ts("received_at"),
    PrimaryKeyConstraint("meter_id", "ts"),
    postgresql_partition_by="RANGE (ts)",
)

meter_daily = Table(
    "meter_daily",
    metadata,
    Column("meter_id", BigInteger, nullable=False),
    Column("day", Date, nullable=False),
    *(Column(q.name, Float, nullable=True) for q in DAILY_QUANTITIES),
    _ts("received_at"),
    PrimaryKeyConstraint("meter_id", "day"),
    postgresql_partition_by="RANGE (day)",
)

device_event = Table(
    "device_event",
    metadata,
    Column("device_kind", String(16), nullable=False),
    Column("device_id", BigInteger, nullable=False),
    _ts("ts"),
    Column("event", String(32), nullable=False),
    Column("detail", JSONB, nullable=True),
    _ts("received_at"),
    PrimaryKeyConstraint("device_kind", "device_id", "ts", "event"),
    Index("ix_device_event_ts", "ts"),
)

terminal_meter_list = Table(
    "terminal_meter_list",
    metadata,
    Column("terminal_id", BigInteger, primary_key=True),
    _ts("ts"),
    Column("meters", ARRAY(Text), nullable=False),
    _ts("received_at"),
    # meter -> phase, when the terminal reports phases (optional in the contract)
    Column("phases", JSONB, nullable=True),
    # "which terminals report meter M" (the consistency check's "on another terminal")
    Index("ix_terminal_meter_list_meters", "meters", postgresql_using="gin"),
)

# When E200 last heard from each terminal (``last_seen_at``: arrival time, never moved back by
# a replay) and the newest message time it sent (``last_ts``).
terminal_liveness = Table(
    "terminal_liveness",
    metadata,
    Column("terminal_id", BigInteger, primary_key=True),
    _ts("last_seen_at"),
    _ts("last_ts"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("source", String(300), nullable=False),
    Column("ref", String(300), nullable=True),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("message_type", String(32), nullable=True),
    Column("device", String(64), nullable=True),
    Column("payload", BYTEA, nullable=False),
    Index("ix_quarantine_reason_received", "reason", "received_at"),
    Index("ix_quarantine_received", "received_at"),
)

# Per source, one row per concurrent writer ("slot"): a batch takes a row no other
# transaction holds (``FOR UPDATE SKIP LOCKED``), so ingest processes reading one source never
# wait on each other's counter; readers sum the slots.
ingest_counter = Table(
    "ingest_counter",
    metadata,
    Column("source", String(300), nullable=False),
    Column("slot", SmallInteger, nullable=False, server_default="0"),
    Column("received", BigInteger, nullable=False, server_default="0"),
    Column("stored", BigInteger, nullable=False, server_default="0"),
    Column("quarantined", BigInteger, nullable=False, server_default="0"),
    Column("duplicates", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("source", "slot"),
)

# Partitioned tables and the width of one partition.
PARTITIONED: dict[str, str] = {"dt_reading": "day", "meter_reading": "day", "meter_daily": "month"}

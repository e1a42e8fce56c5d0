"""Tables of the acquisition-quality slice (PostgreSQL schema ``quality``): one row per device
and local calendar day with the counts behind every rate. A day is recomputed by replacing its
rows in one transaction, so late data and re-collections never count twice."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
)

SCHEMA = "quality"
metadata = MetaData(schema=SCHEMA)


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


meter_day = Table(
    "meter_day",
    metadata,
    Column("day", Date, nullable=False),
    Column("meter_id", BigInteger, nullable=False),
    Column("org_unit_id", BigInteger, nullable=False),
    Column("transformer_id", BigInteger, nullable=True),
    Column("terminal_id", BigInteger, nullable=True),
    Column("interval_min", SmallInteger, nullable=False),  # T: one reporting interval
    Column("expected", Integer, nullable=False),  # interval points due in the day
    Column("received", Integer, nullable=False),
    Column("on_time", Integer, nullable=False),  # received within T of the interval's end
    Column("late", Integer, nullable=False),  # received - on_time
    Column("missing", Integer, nullable=False),  # expected - received
    Column("daily_ok", Boolean, nullable=False),  # frozen reading received by the deadline
    _ts("daily_received_at", nullable=True),
    _ts("computed_at"),
    PrimaryKeyConstraint("day", "meter_id"),
    Index("ix_meter_day_meter_day", "meter_id", "day"),
    Index("ix_meter_day_terminal_day", "terminal_id", "day"),
)

terminal_day = Table(
    "terminal_day",
    metadata,
    Column("day", Date, nullable=False),
    Column("terminal_id", BigInteger, nullable=False),
    Column("org_unit_id", BigInteger, nullable=False),
    Column("transformer_id", BigInteger, nullable=True),
    Column("interval_min", SmallInteger, nullable=False),
    # the transformer's interval curve
    Column("expected", Integer, nullable=False),
    Column("received", Integer, nullable=False),
    Column("on_time", Integer, nullable=False),
    Column("late", Integer, nullable=False),
    Column("missing", Integer, nullable=False),
    # liveness: online at the end of the observed span, and seconds online within it
    Column("online", Boolean, nullable=False),
    Column("online_s", Float, nullable=False),
    Column("span_s", Float, nullable=False),
    _ts("last_heard_at", nullable=True),
    _ts("computed_at"),
    PrimaryKeyConstraint("day", "terminal_id"),
    Index("ix_terminal_day_terminal_day", "terminal_id", "day"),
)

computed_day = Table(
    "computed_day",
    metadata,
    Column("day", Date, primary_key=True),
    _ts("computed_at"),
    Column("meters", Integer, nullable=False),
    Column("terminals", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("partial", Boolean, nullable=False),  # the day had not ended when computed
)

"""The alarm table (PostgreSQL schema ``alarms``).

An alarm is one episode of one rule on one device: raised (``active``), optionally
``acknowledged`` by a person, and ``cleared`` when the condition is gone; the cleared row stays as
history. A partial unique index allows at most one not-cleared alarm per (device, rule), so two
writers that raise the same alarm at once — two ingest processes, say — end up with one row
(``INSERT … ON CONFLICT`` on that index).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from e200.alarms.severity import SEVERITIES

SCHEMA = "alarms"
metadata = MetaData(schema=SCHEMA)

STATES = ("active", "acknowledged", "cleared")
DEVICE_KINDS = ("terminal", "transformer", "meter")
NOT_CLEARED = "state <> 'cleared'"
THRESHOLD_LEVELS = ("org_unit", "transformer")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


alarm = Table(
    "alarm",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("device_kind", String(16), nullable=False),
    Column("device_id", BigInteger, nullable=False),
    Column("asset_number", String(64), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False, server_default="active"),
    _ts("started_at", nullable=False),
    _ts("last_seen_at", nullable=False),
    _ts("cleared_at"),
    Column("peak_value", Float, nullable=True),
    Column("last_value", Float, nullable=True),
    Column("message", Text, nullable=False),
    Column("advice", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("acknowledged_by", String(64), nullable=True),
    _ts("acknowledged_at"),
    Column("ack_comment", Text, nullable=True),
    CheckConstraint(_in("severity", SEVERITIES), name="alarm_severity_allowed"),
    CheckConstraint(_in("state", STATES), name="alarm_state_allowed"),
    CheckConstraint(_in("device_kind", DEVICE_KINDS), name="alarm_device_kind_allowed"),
    CheckConstraint("(state = 'cleared') = (cleared_at IS NOT NULL)", name="alarm_cleared_at_set"),
    CheckConstraint(
        "state <> 'acknowledged' OR acknowledged_at IS NOT NULL", name="alarm_acknowledged_at_set"
    ),
    # One not-cleared alarm per device and rule, also under concurrent writers.
    Index(
        "uq_alarm_open_per_device_rule",
        "device_kind",
        "device_id",
        "rule",
        unique=True,
        postgresql_where=text(NOT_CLEARED),
    ),
    Index("ix_alarm_started_at", "started_at"),
    Index("ix_alarm_state_started_at", "state", "started_at"),
    Index("ix_alarm_device", "device_kind", "device_id", "started_at"),
)

# Per device and rule: how many intervals in a row the condition held (``breach_n``) or the
# value stayed inside the clear band (``ok_n``), the newest interval counted (readings older
# than it are replays and ignored) and the previous value (for the frozen-value rule).
rule_state = Table(
    "rule_state",
    metadata,
    Column("device_kind", String(16), nullable=False),
    Column("device_id", BigInteger, nullable=False),
    Column("rule", String(64), nullable=False),
    _ts("last_ts", nullable=False),
    Column("breach_n", Integer, nullable=False, server_default="0"),
    Column("ok_n", Integer, nullable=False, server_default="0"),
    Column("prev_value", Float, nullable=True),
    PrimaryKeyConstraint("device_kind", "device_id", "rule"),
)

# Threshold overrides: system default (the rule catalogue) → org unit → transformer.
threshold = Table(
    "threshold",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("rule", String(64), nullable=False),
    Column("level", String(16), nullable=False),
    Column("target_id", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("updated_by", String(64), nullable=True),
    _ts("updated_at", nullable=False),
    CheckConstraint(_in("level", THRESHOLD_LEVELS), name="threshold_level_allowed"),
    UniqueConstraint("rule", "level", "target_id", name="uq_threshold_rule_level_target"),
)

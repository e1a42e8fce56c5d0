"""Downlink commands to terminals (PostgreSQL schema ``terminal``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "terminal"
metadata = MetaData(schema=SCHEMA)

COMMAND_KINDS = ("set_interval", "sync_meters", "read_now", "time_sync")
COMMAND_STATUSES = ("pending", "sent", "acked", "failed", "expired")

command = Table(
    "command",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("terminal_id", BigInteger, nullable=False),
    Column("terminal", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("params", JSONB, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_by", String(64), nullable=True),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("result", JSONB, nullable=True),
    Column("error", Text, nullable=True),
    CheckConstraint(
        "kind IN ('set_interval', 'sync_meters', 'read_now', 'time_sync')",
        name="command_kind_allowed",
    ),
    CheckConstraint(
        "status IN ('pending', 'sent', 'acked', 'failed', 'expired')",
        name="command_status_allowed",
    ),
    Index("ix_command_due", "status", "next_attempt_at"),
    Index("ix_command_terminal_created", "terminal_id", "created_at"),
)

"""telemetry and terminal commands

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 02:51:38.106944
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Readings are partitioned by time; partitions live in telemetry_parts (created at run time).
    op.execute("CREATE SCHEMA IF NOT EXISTS telemetry")
    op.execute("CREATE SCHEMA IF NOT EXISTS telemetry_parts")
    op.execute("CREATE SCHEMA IF NOT EXISTS terminal")
    op.create_table(
        "device_event",
        sa.Column("device_kind", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_kind", "device_id", "ts", "event"),
        schema="telemetry",
    )
    op.create_index("ix_device_event_ts", "device_event", ["ts"], unique=False, schema="telemetry")
    op.create_table(
        "dt_reading",
        sa.Column("transformer_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_min", sa.SmallInteger(), nullable=False),
        sa.Column("terminal_id", sa.BigInteger(), nullable=True),
        sa.Column("v_a_v", sa.Float(), nullable=True),
        sa.Column("v_b_v", sa.Float(), nullable=True),
        sa.Column("v_c_v", sa.Float(), nullable=True),
        sa.Column("i_a_a", sa.Float(), nullable=True),
        sa.Column("i_b_a", sa.Float(), nullable=True),
        sa.Column("i_c_a", sa.Float(), nullable=True),
        sa.Column("i_n_a", sa.Float(), nullable=True),
        sa.Column("p_kw", sa.Float(), nullable=True),
        sa.Column("p_a_kw", sa.Float(), nullable=True),
        sa.Column("p_b_kw", sa.Float(), nullable=True),
        sa.Column("p_c_kw", sa.Float(), nullable=True),
        sa.Column("q_kvar", sa.Float(), nullable=True),
        sa.Column("s_kva", sa.Float(), nullable=True),
        sa.Column("pf", sa.Float(), nullable=True),
        sa.Column("freq_hz", sa.Float(), nullable=True),
        sa.Column("e_imp_kwh", sa.Float(), nullable=True),
        sa.Column("e_exp_kwh", sa.Float(), nullable=True),
        sa.Column("eq_kvarh", sa.Float(), nullable=True),
        sa.Column("thd_v_pct", sa.Float(), nullable=True),
        sa.Column("thd_i_pct", sa.Float(), nullable=True),
        sa.Column("oil_temp_c", sa.Float(), nullable=True),
        sa.Column("amb_temp_c", sa.Float(), nullable=True),
        sa.Column("humidity_pct", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("transformer_id", "ts"),
        schema="telemetry",
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_table(
        "ingest_counter",
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("received", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("stored", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("quarantined", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("duplicates", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("source"),
        schema="telemetry",
    )
    op.create_table(
        "latest",
        sa.Column("device_kind", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_kind", "device_id"),
        schema="telemetry",
    )
    op.create_table(
        "meter_daily",
        sa.Column("meter_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("e_imp_kwh", sa.Float(), nullable=True),
        sa.Column("e_exp_kwh", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("meter_id", "day"),
        schema="telemetry",
        postgresql_partition_by="RANGE (day)",
    )
    op.create_table(
        "meter_reading",
        sa.Column("meter_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_min", sa.SmallInteger(), nullable=False),
        sa.Column("v_v", sa.Float(), nullable=True),
        sa.Column("v_a_v", sa.Float(), nullable=True),
        sa.Column("v_b_v", sa.Float(), nullable=True),
        sa.Column("v_c_v", sa.Float(), nullable=True),
        sa.Column("i_a", sa.Float(), nullable=True),
        sa.Column("i_a_a", sa.Float(), nullable=True),
        sa.Column("i_b_a", sa.Float(), nullable=True),
        sa.Column("i_c_a", sa.Float(), nullable=True),
        sa.Column("p_kw", sa.Float(), nullable=True),
        sa.Column("e_imp_kwh", sa.Float(), nullable=True),
        sa.Column("e_exp_kwh", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("meter_id", "ts"),
        schema="telemetry",
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("ref", sa.String(length=300), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("message_type", sa.String(length=32), nullable=True),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("payload", postgresql.BYTEA(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="telemetry",
    )
    op.create_index(
        "ix_quarantine_reason_received",
        "quarantine",
        ["reason", "received_at"],
        unique=False,
        schema="telemetry",
    )
    op.create_index(
        "ix_quarantine_received", "quarantine", ["received_at"], unique=False, schema="telemetry"
    )
    op.create_table(
        "terminal_liveness",
        sa.Column("terminal_id", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("terminal_id"),
        schema="telemetry",
    )
    op.create_table(
        "terminal_meter_list",
        sa.Column("terminal_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meters", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("terminal_id"),
        schema="telemetry",
    )
    op.create_table(
        "command",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("terminal_id", sa.BigInteger(), nullable=False),
        sa.Column("terminal", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('set_interval', 'sync_meters', 'read_now', 'time_sync')",
            name="command_kind_allowed",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'acked', 'failed', 'expired')",
            name="command_status_allowed",
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="terminal",
    )
    op.create_index(
        "ix_command_due", "command", ["status", "next_attempt_at"], unique=False, schema="terminal"
    )
    op.create_index(
        "ix_command_terminal_created",
        "command",
        ["terminal_id", "created_at"],
        unique=False,
        schema="terminal",
    )


def downgrade() -> None:
    op.drop_index("ix_command_terminal_created", table_name="command", schema="terminal")
    op.drop_index("ix_command_due", table_name="command", schema="terminal")
    op.drop_table("command", schema="terminal")
    op.drop_table("terminal_meter_list", schema="telemetry")
    op.drop_table("terminal_liveness", schema="telemetry")
    op.drop_index("ix_quarantine_received", table_name="quarantine", schema="telemetry")
    op.drop_index("ix_quarantine_reason_received", table_name="quarantine", schema="telemetry")
    op.drop_table("quarantine", schema="telemetry")
    op.drop_table("meter_reading", schema="telemetry")
    op.drop_table("meter_daily", schema="telemetry")
    op.drop_table("latest", schema="telemetry")
    op.drop_table("ingest_counter", schema="telemetry")
    op.drop_table("dt_reading", schema="telemetry")
    op.drop_index("ix_device_event_ts", table_name="device_event", schema="telemetry")
    op.drop_table("device_event", schema="telemetry")
    op.execute("DROP SCHEMA IF EXISTS terminal")
    op.execute("DROP SCHEMA IF EXISTS telemetry_parts CASCADE")
    op.execute("DROP SCHEMA IF EXISTS telemetry")

"""Alarms (schema ``alarms``): one row per episode of a rule on a device, at most one not cleared
per device and rule (partial unique index). Terminal meter lists: the phases a terminal reports
(optional) and a GIN index to find which terminals report a meter.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
NOT_CLEARED = "state <> 'cleared'"


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS alarms")
    op.create_table(
        "alarm",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("device_kind", sa.String(16), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("asset_number", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="active"),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("cleared_at", TS, nullable=True),
        sa.Column("peak_value", sa.Float(), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "advice", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column(
            "details", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "severity IN ('critical', 'major', 'minor', 'warning')", name="alarm_severity_allowed"
        ),
        sa.CheckConstraint(
            "state IN ('active', 'acknowledged', 'cleared')", name="alarm_state_allowed"
        ),
        sa.CheckConstraint(
            "device_kind IN ('terminal', 'transformer', 'meter')", name="alarm_device_kind_allowed"
        ),
        sa.CheckConstraint(
            "(state = 'cleared') = (cleared_at IS NOT NULL)", name="alarm_cleared_at_set"
        ),
        sa.CheckConstraint(
            "state <> 'acknowledged' OR acknowledged_at IS NOT NULL",
            name="alarm_acknowledged_at_set",
        ),
        schema="alarms",
    )
    op.create_index(
        "uq_alarm_open_per_device_rule",
        "alarm",
        ["device_kind", "device_id", "rule"],
        unique=True,
        postgresql_where=sa.text(NOT_CLEARED),
        schema="alarms",
    )
    op.create_index("ix_alarm_started_at", "alarm", ["started_at"], schema="alarms")
    op.create_index("ix_alarm_state_started_at", "alarm", ["state", "started_at"], schema="alarms")
    op.create_index(
        "ix_alarm_device", "alarm", ["device_kind", "device_id", "started_at"], schema="alarms"
    )

    op.add_column(
        "terminal_meter_list",
        sa.Column("phases", postgresql.JSONB(), nullable=True),
        schema="telemetry",
    )
    op.create_index(
        "ix_terminal_meter_list_meters",
        "terminal_meter_list",
        ["meters"],
        postgresql_using="gin",
        schema="telemetry",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_terminal_meter_list_meters", table_name="terminal_meter_list", schema="telemetry"
    )
    op.drop_column("terminal_meter_list", "phases", schema="telemetry")
    op.drop_table("alarm", schema="alarms")
    op.execute("DROP SCHEMA IF EXISTS alarms")

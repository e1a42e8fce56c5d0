"""Alarm engine: per device and rule evaluation state (``alarms.rule_state``) and threshold
overrides per org unit or transformer (``alarms.threshold``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rule_state",
        sa.Column("device_kind", sa.String(16), nullable=False),
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("last_ts", TS, nullable=False),
        sa.Column("breach_n", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("ok_n", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("prev_value", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("device_kind", "device_id", "rule"),
        schema="alarms",
    )
    op.create_table(
        "threshold",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("level IN ('org_unit', 'transformer')", name="threshold_level_allowed"),
        sa.UniqueConstraint("rule", "level", "target_id", name="uq_threshold_rule_level_target"),
        schema="alarms",
    )


def downgrade() -> None:
    op.drop_table("threshold", schema="alarms")
    op.drop_table("rule_state", schema="alarms")

"""Acquisition quality: per meter and per terminal and local day, the counts behind the
success, completeness, timeliness and online rates (``quality.meter_day``,
``quality.terminal_day``) and the days computed (``quality.computed_day``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _counts() -> list[sa.Column[object]]:
    return [
        sa.Column("interval_min", sa.SmallInteger(), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS quality")
    op.create_table(
        "meter_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("meter_id", sa.BigInteger(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("transformer_id", sa.BigInteger(), nullable=True),
        sa.Column("terminal_id", sa.BigInteger(), nullable=True),
        *_counts(),
        sa.Column("daily_ok", sa.Boolean(), nullable=False),
        sa.Column("daily_received_at", TS, nullable=True),
        sa.Column("computed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("day", "meter_id"),
        schema="quality",
    )
    op.create_index("ix_meter_day_meter_day", "meter_day", ["meter_id", "day"], schema="quality")
    op.create_index("ix_meter_day_terminal_day", "meter_day", ["terminal_id", "day"],
                    schema="quality")  # fmt: skip
    op.create_table(
        "terminal_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("terminal_id", sa.BigInteger(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("transformer_id", sa.BigInteger(), nullable=True),
        *_counts(),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("online_s", sa.Float(), nullable=False),
        sa.Column("span_s", sa.Float(), nullable=False),
        sa.Column("last_heard_at", TS, nullable=True),
        sa.Column("computed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("day", "terminal_id"),
        schema="quality",
    )
    op.create_index("ix_terminal_day_terminal_day", "terminal_day", ["terminal_id", "day"],
                    schema="quality")  # fmt: skip
    op.create_table(
        "computed_day",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("computed_at", TS, nullable=False),
        sa.Column("meters", sa.Integer(), nullable=False),
        sa.Column("terminals", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        schema="quality",
    )


def downgrade() -> None:
    op.drop_table("computed_day", schema="quality")
    op.drop_table("terminal_day", schema="quality")
    op.drop_table("meter_day", schema="quality")
    op.execute("DROP SCHEMA IF EXISTS quality")

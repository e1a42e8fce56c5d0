"""Drop telemetry.latest: live values are read from the newest reading instead.

Keeping a per-device latest row meant one UPDATE (with a JSONB merge) per reading, which halved
ingest throughput; the newest reading is one backward index scan on the reading tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("latest", schema="telemetry")


def downgrade() -> None:
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

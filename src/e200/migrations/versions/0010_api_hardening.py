"""API hardening: rate-limit counters for sign-in and token endpoints (``auth.rate_limit``).

One row per key (``address:<ip>`` or ``username:<name>``) and fixed window, counted with an
upsert, so that every process serving the API shares the same counts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start"),
        schema="auth",
    )
    op.create_index("ix_rate_limit_window_start", "rate_limit", ["window_start"], schema="auth")


def downgrade() -> None:
    op.drop_index("ix_rate_limit_window_start", table_name="rate_limit", schema="auth")
    op.drop_table("rate_limit", schema="auth")

"""Liveness heard from: arrival-time facts for terminals, counters without a hot row.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # reserved: filled in by the change that owns it


def downgrade() -> None:
    pass

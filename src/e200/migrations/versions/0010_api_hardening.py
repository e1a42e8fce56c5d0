"""API hardening: rate-limit counters for sign-in and token endpoints.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # reserved: filled in by the change that owns it


def downgrade() -> None:
    pass

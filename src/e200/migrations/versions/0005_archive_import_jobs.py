"""Archive import jobs: who imported which file when, with what options, its progress, counts,
report and the file of rejected rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "import_job",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("scope_paths", postgresql.ARRAY(sa.String(1000)), nullable=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("on_error", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("rows_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rows_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "counts", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column(
            "report", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("rejected_file", sa.LargeBinary(), nullable=True),
        sa.Column("rejected_name", sa.String(500), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'verifying', 'writing', 'done', 'failed')",
            name="import_job_status_allowed",
        ),
        sa.CheckConstraint("mode IN ('create', 'upsert')", name="import_job_mode_allowed"),
        sa.CheckConstraint(
            "on_error IN ('all_or_nothing', 'valid_rows')", name="import_job_on_error_allowed"
        ),
        sa.CheckConstraint("format IN ('csv', 'xlsx')", name="import_job_format_allowed"),
        schema="archives",
    )
    op.create_index("ix_import_job_created_at", "import_job", ["created_at"], schema="archives")
    op.create_index("ix_import_job_created_by", "import_job", ["created_by"], schema="archives")


def downgrade() -> None:
    op.drop_table("import_job", schema="archives")

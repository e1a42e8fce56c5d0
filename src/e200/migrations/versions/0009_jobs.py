"""Jobs: procrastinate's queue (schema ``procrastinate``, the pinned version's own schema SQL),
the job run history (``jobs.job_run``), and imports that run as jobs (their uploads kept in
``archives.import_upload``; ``archives.import_job.progress_at``, a sign of life).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # procrastinate's objects are created unqualified: into its own schema, then the search
    # path is put back for the migrations that follow in this transaction.
    op.execute("CREATE SCHEMA IF NOT EXISTS procrastinate")
    op.execute("SELECT set_config('e200.saved_search_path', current_setting('search_path'), true)")
    op.execute("SET LOCAL search_path TO procrastinate")
    # psycopg itself, without parameters: the SQL holds '%' that are not placeholders.
    raw = op.get_bind().connection.driver_connection
    raw.execute(SchemaManager.get_schema())  # type: ignore[union-attr]
    # Its functions and triggers name their tables unqualified: pin their search path, so they
    # work from any session (a trigger fired by E200's own connections included).
    raw.execute(  # type: ignore[union-attr]
        """DO $$ DECLARE f record; BEGIN
             FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                        JOIN pg_namespace n ON n.oid = p.pronamespace
                       WHERE n.nspname = 'procrastinate' LOOP
               EXECUTE format('ALTER FUNCTION %s SET search_path = procrastinate', f.sig);
             END LOOP;
           END $$"""
    )
    op.execute("SELECT set_config('search_path', current_setting('e200.saved_search_path'), true)")

    op.execute("CREATE SCHEMA IF NOT EXISTS jobs")
    op.create_table(
        "job_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("queue_job_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("scheduled_for", TS, nullable=True),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("started_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False, server_default="running"),
        sa.Column("summary", sa.Text(), nullable=True),
        schema="jobs",
    )
    op.create_index("ix_job_run_name_started", "job_run", ["name", "started_at"], schema="jobs")
    op.create_index("ix_job_run_queue_job", "job_run", ["queue_job_id"], schema="jobs")

    op.add_column("import_job", sa.Column("progress_at", TS, nullable=True), schema="archives")
    op.create_table(
        "import_upload",
        sa.Column(
            "job_id",
            sa.BigInteger(),
            sa.ForeignKey("archives.import_job.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("file_no", sa.SmallInteger(), primary_key=True),
        sa.Column("chunk_no", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("sheet", sa.String(100), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        schema="archives",
    )


def downgrade() -> None:
    op.drop_table("import_upload", schema="archives")
    op.drop_column("import_job", "progress_at", schema="archives")
    op.execute("DROP SCHEMA IF EXISTS jobs CASCADE")
    op.execute("DROP SCHEMA IF EXISTS procrastinate CASCADE")

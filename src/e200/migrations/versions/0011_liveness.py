"""Liveness heard from: arrival-time facts for terminals, counters without a hot row.

The alarm engine's per-terminal silence timers (``alarms.rule_state`` rows of
``terminal_offline``, stamped with message time) are dropped: the offline check reads when E200
heard from a terminal (``telemetry.terminal_liveness.last_seen_at``).

``telemetry.ingest_counter`` gets a ``slot``: one row per concurrent writer of a source, so two
ingest processes reading one Kafka topic no longer queue on a single counter row.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The offline timer now judges terminals by telemetry.terminal_liveness (arrival time); the
    # alarm engine's own silence timers (message time) are gone.
    op.execute("DELETE FROM alarms.rule_state WHERE device_kind = 'terminal' "
               "AND rule = 'terminal_offline'")  # fmt: skip
    op.add_column(
        "ingest_counter",
        sa.Column("slot", sa.SmallInteger(), server_default="0", nullable=False),
        schema="telemetry",
    )
    op.drop_constraint("ingest_counter_pkey", "ingest_counter", schema="telemetry", type_="primary")
    op.create_primary_key(
        "ingest_counter_pkey", "ingest_counter", ["source", "slot"], schema="telemetry"
    )


def downgrade() -> None:
    # Fold the slots into one row per source before the key shrinks back to the source.
    op.execute(
        "CREATE TEMP TABLE e200_counter_sum ON COMMIT DROP AS SELECT source, sum(received) AS "
        "received, sum(stored) AS stored, sum(quarantined) AS quarantined, sum(duplicates) AS "
        "duplicates, max(updated_at) AS updated_at FROM telemetry.ingest_counter GROUP BY source"
    )
    op.execute("DELETE FROM telemetry.ingest_counter")
    op.execute(
        "INSERT INTO telemetry.ingest_counter (source, slot, received, stored, quarantined, "
        "duplicates, updated_at) SELECT source, 0, received, stored, quarantined, duplicates, "
        "updated_at FROM e200_counter_sum"
    )
    op.drop_constraint("ingest_counter_pkey", "ingest_counter", schema="telemetry", type_="primary")
    op.create_primary_key("ingest_counter_pkey", "ingest_counter", ["source"], schema="telemetry")
    op.drop_column("ingest_counter", "slot", schema="telemetry")

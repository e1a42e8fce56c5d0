"""foundation: archives and auth

Revision ID: 0001
Revises:
Create Date: 2026-11-27 02:26:34.817571
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One schema per slice; btree_gist backs the "no overlapping period" exclusion constraints
    # (a trusted extension: a database owner may create it without being superuser).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("CREATE SCHEMA IF NOT EXISTS archives")
    op.execute("CREATE SCHEMA IF NOT EXISTS auth")
    op.create_table(
        "feeder",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("asset_number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("voltage_kv", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="in_service", nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'retired') = (retired_at IS NOT NULL)", name="feeder_retired_at_set"
        ),
        sa.CheckConstraint(
            "status IN ('in_service', 'out_of_service', 'retired')", name="feeder_status_allowed"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_number"),
        schema="archives",
    )
    op.create_table(
        "meter",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("asset_number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("customer_account", sa.String(length=64), nullable=True),
        sa.Column("customer_name", sa.String(length=200), nullable=True),
        sa.Column("wiring", sa.String(length=16), server_default="single_phase", nullable=False),
        sa.Column("ct_ratio", sa.Float(), server_default="1", nullable=False),
        sa.Column("pt_ratio", sa.Float(), server_default="1", nullable=False),
        sa.Column(
            "multiplier",
            sa.Float(),
            sa.Computed("ct_ratio * pt_ratio", persisted=True),
            nullable=True,
        ),
        sa.Column("tariff", sa.String(length=64), nullable=True),
        sa.Column(
            "collection_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="in_service", nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'retired') = (retired_at IS NOT NULL)", name="meter_retired_at_set"
        ),
        sa.CheckConstraint(
            "status IN ('in_service', 'out_of_service', 'retired')", name="meter_status_allowed"
        ),
        sa.CheckConstraint(
            "wiring IN ('single_phase', 'three_phase')", name="meter_wiring_allowed"
        ),
        sa.CheckConstraint("ct_ratio > 0 AND pt_ratio > 0", name="meter_ratios_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_number"),
        schema="archives",
    )
    op.create_table(
        "org_unit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('company', 'region', 'branch', 'operating_unit', 'district', 'team')",
            name="org_unit_kind_allowed",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["archives.org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("path"),
        schema="archives",
    )
    op.create_index(
        "ix_org_unit_parent_id", "org_unit", ["parent_id"], unique=False, schema="archives"
    )
    op.create_index(
        "ix_org_unit_path_prefix",
        "org_unit",
        ["path"],
        unique=False,
        schema="archives",
        postgresql_ops={"path": "text_pattern_ops"},
    )
    op.create_table(
        "substation",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("asset_number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("voltage_kv", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="in_service", nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'retired') = (retired_at IS NOT NULL)", name="substation_retired_at_set"
        ),
        sa.CheckConstraint(
            "status IN ('in_service', 'out_of_service', 'retired')",
            name="substation_status_allowed",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_number"),
        schema="archives",
    )
    op.create_table(
        "terminal",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("asset_number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=16), server_default="ttu", nullable=False),
        sa.Column("protocol", sa.String(length=32), nullable=True),
        sa.Column("imei", sa.String(length=32), nullable=True),
        sa.Column("sim_iccid", sa.String(length=32), nullable=True),
        sa.Column("firmware", sa.String(length=64), nullable=True),
        sa.Column("reporting_interval_min", sa.Integer(), server_default="15", nullable=False),
        sa.Column(
            "collection_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), server_default="in_service", nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'retired') = (retired_at IS NOT NULL)", name="terminal_retired_at_set"
        ),
        sa.CheckConstraint("kind IN ('ttu', 'concentrator', 'dcu')", name="terminal_kind_allowed"),
        sa.CheckConstraint(
            "status IN ('in_service', 'out_of_service', 'retired')", name="terminal_status_allowed"
        ),
        sa.CheckConstraint(
            "reporting_interval_min IN (5, 15, 30, 60)", name="terminal_reporting_interval_allowed"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_number"),
        schema="archives",
    )
    op.create_table(
        "transformer",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("asset_number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("rated_kva", sa.Float(), nullable=False),
        sa.Column("primary_rated_kv", sa.Float(), nullable=False),
        sa.Column("secondary_rated_v", sa.Float(), nullable=False),
        sa.Column("phases", sa.Integer(), server_default="3", nullable=False),
        sa.Column("vector_group", sa.String(length=16), nullable=True),
        sa.Column("no_load_loss_kw", sa.Float(), nullable=True),
        sa.Column("load_loss_kw", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="in_service", nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'retired') = (retired_at IS NOT NULL)", name="transformer_retired_at_set"
        ),
        sa.CheckConstraint(
            "status IN ('in_service', 'out_of_service', 'retired')",
            name="transformer_status_allowed",
        ),
        sa.CheckConstraint("phases IN (1, 3)", name="transformer_phases_allowed"),
        sa.CheckConstraint("rated_kva > 0", name="transformer_rated_kva_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_number"),
        schema="archives",
    )
    op.create_table(
        "feeder_org_unit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("feeder_id", sa.BigInteger(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("feeder_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="feeder_org_unit_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="feeder_org_unit_period_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["archives.feeder.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["archives.org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="archives",
    )
    op.create_index(
        "ix_feeder_org_unit_feeder_id",
        "feeder_org_unit",
        ["feeder_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_index(
        "ix_feeder_org_unit_org_unit_id",
        "feeder_org_unit",
        ["org_unit_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_table(
        "feeder_substation",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("feeder_id", sa.BigInteger(), nullable=False),
        sa.Column("substation_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("feeder_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="feeder_substation_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="feeder_substation_period_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["archives.feeder.id"],
        ),
        sa.ForeignKeyConstraint(
            ["substation_id"],
            ["archives.substation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="archives",
    )
    op.create_index(
        "ix_feeder_substation_feeder_id",
        "feeder_substation",
        ["feeder_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_index(
        "ix_feeder_substation_substation_id",
        "feeder_substation",
        ["substation_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_table(
        "meter_org_unit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("meter_id", sa.BigInteger(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("meter_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="meter_org_unit_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="meter_org_unit_period_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["meter_id"],
            ["archives.meter.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["archives.org_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="archives",
    )
    op.create_index(
        "ix_meter_org_unit_meter_id",
        "meter_org_unit",
        ["meter_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_index(
        "ix_meter_org_unit_org_unit_id",
        "meter_org_unit",
        ["org_unit_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_table(
        "meter_transformer",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("meter_id", sa.BigInteger(), nullable=False),
        sa.Column("transformer_id", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=3), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("meter_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="meter_transformer_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="meter_transformer_period_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["meter_id"],
            ["archives.meter.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transformer_id"],
            ["archives.transformer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="archives",
    )
    op.create_index(
        "ix_meter_transformer_meter_id",
        "meter_transformer",
        ["meter_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_index(
        "ix_meter_transformer_transformer_id",
        "meter_transformer",
        ["transformer_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_table(
        "substation_org_unit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("substation_id", sa.BigInteger(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("substation_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="substation_org_unit_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="substation_org_unit_period_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["archives.org_unit.id"],
        ),
        sa.ForeignKeyConstraint(
            ["substation_id"],
            ["archives.substation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="archives",
    )
    op.create_index(
        "ix_substation_org_unit_org_unit_id",
        "substation_org_unit",
        ["org_unit_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_index(
        "ix_substation_org_unit_substation_id",
        "substation_org_unit",
        ["substation_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_table(
        "terminal_org_unit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("terminal_id", sa.BigInteger(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("terminal_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="terminal_org_unit_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="terminal_org_unit_period_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["archives.org_unit.id"],
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["archives.terminal.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="archives",
    )
    op.create_index(
        "ix_terminal_org_unit_org_unit_id",
        "terminal_org_unit",
        ["org_unit_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_index(
        "ix_terminal_org_unit_terminal_id",
        "terminal_org_unit",
        ["terminal_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_table(
        "terminal_transformer",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("terminal_id", sa.BigInteger(), nullable=False),
        sa.Column("transformer_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("terminal_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="terminal_transformer_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="terminal_transformer_period_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["archives.terminal.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transformer_id"],
            ["archives.transformer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="archives",
    )
    op.create_index(
        "ix_terminal_transformer_terminal_id",
        "terminal_transformer",
        ["terminal_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_index(
        "ix_terminal_transformer_transformer_id",
        "terminal_transformer",
        ["transformer_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_table(
        "transformer_feeder",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transformer_id", sa.BigInteger(), nullable=False),
        sa.Column("feeder_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("transformer_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="transformer_feeder_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="transformer_feeder_period_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["feeder_id"],
            ["archives.feeder.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transformer_id"],
            ["archives.transformer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="archives",
    )
    op.create_index(
        "ix_transformer_feeder_feeder_id",
        "transformer_feeder",
        ["feeder_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_index(
        "ix_transformer_feeder_transformer_id",
        "transformer_feeder",
        ["transformer_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_table(
        "transformer_org_unit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transformer_id", sa.BigInteger(), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("transformer_id"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="transformer_org_unit_no_overlap",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name="transformer_org_unit_period_ordered"
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["archives.org_unit.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transformer_id"],
            ["archives.transformer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="archives",
    )
    op.create_index(
        "ix_transformer_org_unit_org_unit_id",
        "transformer_org_unit",
        ["org_unit_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_index(
        "ix_transformer_org_unit_transformer_id",
        "transformer_org_unit",
        ["transformer_id", "valid_from"],
        unique=False,
        schema="archives",
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column(
            "must_change_password", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('active', 'disabled', 'retired')", name="user_status_allowed"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
        schema="auth",
    )


def downgrade() -> None:
    op.drop_table("user_account", schema="auth")
    op.drop_index(
        "ix_transformer_org_unit_transformer_id",
        table_name="transformer_org_unit",
        schema="archives",
    )
    op.drop_index(
        "ix_transformer_org_unit_org_unit_id", table_name="transformer_org_unit", schema="archives"
    )
    op.drop_table("transformer_org_unit", schema="archives")
    op.drop_index(
        "ix_transformer_feeder_transformer_id", table_name="transformer_feeder", schema="archives"
    )
    op.drop_index(
        "ix_transformer_feeder_feeder_id", table_name="transformer_feeder", schema="archives"
    )
    op.drop_table("transformer_feeder", schema="archives")
    op.drop_index(
        "ix_terminal_transformer_transformer_id",
        table_name="terminal_transformer",
        schema="archives",
    )
    op.drop_index(
        "ix_terminal_transformer_terminal_id", table_name="terminal_transformer", schema="archives"
    )
    op.drop_table("terminal_transformer", schema="archives")
    op.drop_index(
        "ix_terminal_org_unit_terminal_id", table_name="terminal_org_unit", schema="archives"
    )
    op.drop_index(
        "ix_terminal_org_unit_org_unit_id", table_name="terminal_org_unit", schema="archives"
    )
    op.drop_table("terminal_org_unit", schema="archives")
    op.drop_index(
        "ix_substation_org_unit_substation_id", table_name="substation_org_unit", schema="archives"
    )
    op.drop_index(
        "ix_substation_org_unit_org_unit_id", table_name="substation_org_unit", schema="archives"
    )
    op.drop_table("substation_org_unit", schema="archives")
    op.drop_index(
        "ix_meter_transformer_transformer_id", table_name="meter_transformer", schema="archives"
    )
    op.drop_index(
        "ix_meter_transformer_meter_id", table_name="meter_transformer", schema="archives"
    )
    op.drop_table("meter_transformer", schema="archives")
    op.drop_index("ix_meter_org_unit_org_unit_id", table_name="meter_org_unit", schema="archives")
    op.drop_index("ix_meter_org_unit_meter_id", table_name="meter_org_unit", schema="archives")
    op.drop_table("meter_org_unit", schema="archives")
    op.drop_index(
        "ix_feeder_substation_substation_id", table_name="feeder_substation", schema="archives"
    )
    op.drop_index(
        "ix_feeder_substation_feeder_id", table_name="feeder_substation", schema="archives"
    )
    op.drop_table("feeder_substation", schema="archives")
    op.drop_index("ix_feeder_org_unit_org_unit_id", table_name="feeder_org_unit", schema="archives")
    op.drop_index("ix_feeder_org_unit_feeder_id", table_name="feeder_org_unit", schema="archives")
    op.drop_table("feeder_org_unit", schema="archives")
    op.drop_table("transformer", schema="archives")
    op.drop_table("terminal", schema="archives")
    op.drop_table("substation", schema="archives")
    op.drop_index(
        "ix_org_unit_path_prefix",
        table_name="org_unit",
        schema="archives",
        postgresql_ops={"path": "text_pattern_ops"},
    )
    op.drop_index("ix_org_unit_parent_id", table_name="org_unit", schema="archives")
    op.drop_table("org_unit", schema="archives")
    op.drop_table("meter", schema="archives")
    op.drop_table("feeder", schema="archives")
    op.execute("DROP SCHEMA IF EXISTS auth")
    op.execute("DROP SCHEMA IF EXISTS archives")

"""Users, roles, data scope, sessions, API keys, OIDC login flows and the append-only audit log.

The audit log refuses UPDATE, DELETE and TRUNCATE by trigger, for every role including the one
the application connects as: rows can only be added.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    add = op.add_column
    add("user_account", sa.Column("email", sa.String(254), nullable=True), schema="auth")
    add(
        "user_account",
        sa.Column("source", sa.String(16), nullable=False, server_default="local"),
        schema="auth",
    )
    add("user_account", sa.Column("external_id", sa.String(500), nullable=True), schema="auth")
    add(
        "user_account",
        sa.Column("scope_all", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        schema="auth",
    )
    add(
        "user_account",
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default=sa.text("0")),
        schema="auth",
    )
    add("user_account", sa.Column("locked_until", TS, nullable=True), schema="auth")
    add("user_account", sa.Column("password_changed_at", TS, nullable=True), schema="auth")
    add("user_account", sa.Column("last_login_at", TS, nullable=True), schema="auth")
    add(
        "user_account",
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        schema="auth",
    )
    op.create_check_constraint(
        "user_source_allowed", "user_account", "source IN ('local', 'ldap', 'oidc')", schema="auth"
    )
    # The admin created by the foundation sees the whole grid.
    op.execute("UPDATE auth.user_account SET scope_all = true WHERE username = 'admin'")

    op.create_table(
        "role",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("permissions", postgresql.ARRAY(sa.String(64)), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        schema="auth",
    )
    op.create_table(
        "user_role",
        sa.Column("user_id", sa.BigInteger(), primary_key=True),
        sa.Column("role_name", sa.String(64), primary_key=True),
        sa.ForeignKeyConstraint(["user_id"], ["auth.user_account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role_name"], ["auth.role.name"], ondelete="CASCADE"),
        schema="auth",
    )
    op.create_table(
        "user_scope",
        sa.Column("user_id", sa.BigInteger(), primary_key=True),
        sa.Column("org_unit_id", sa.BigInteger(), primary_key=True),
        sa.ForeignKeyConstraint(["user_id"], ["auth.user_account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_unit_id"], ["archives.org_unit.id"], ondelete="CASCADE"),
        schema="auth",
    )
    op.create_table(
        "session",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("last_seen_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("source_ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.CheckConstraint("kind IN ('console', 'token')", name="session_kind_allowed"),
        sa.ForeignKeyConstraint(["user_id"], ["auth.user_account.id"], ondelete="CASCADE"),
        schema="auth",
    )
    op.create_index("ix_session_user", "session", ["user_id"], schema="auth")
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["auth.user_account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["auth.user_account.id"]),
        schema="auth",
    )
    op.create_index("ix_api_key_user", "api_key", ["user_id"], schema="auth")
    op.create_table(
        "login_flow",
        sa.Column("state", sa.String(100), primary_key=True),
        sa.Column("code_verifier", sa.String(200), nullable=False),
        sa.Column("nonce", sa.String(100), nullable=False),
        sa.Column("return_to", sa.String(500), nullable=False, server_default="/console/"),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        schema="auth",
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(500), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("source_ip", sa.String(64), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('success', 'failure', 'denied')", name="audit_outcome_allowed"
        ),
        schema="auth",
    )
    op.create_index("ix_audit_at", "audit_event", ["at"], schema="auth")
    op.create_index("ix_audit_actor_at", "audit_event", ["actor", "at"], schema="auth")
    op.create_index("ix_audit_action_at", "audit_event", ["action", "at"], schema="auth")
    op.execute(
        """
        CREATE FUNCTION auth.audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON auth.audit_event
            FOR EACH ROW EXECUTE FUNCTION auth.audit_is_append_only();
        CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON auth.audit_event
            FOR EACH STATEMENT EXECUTE FUNCTION auth.audit_is_append_only();
        REVOKE UPDATE, DELETE, TRUNCATE ON auth.audit_event FROM PUBLIC;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE auth.audit_event")  # the triggers go with the table
    op.execute("DROP FUNCTION auth.audit_is_append_only()")
    for name in ("login_flow", "api_key", "session", "user_scope", "user_role", "role"):
        op.drop_table(name, schema="auth")
    op.drop_constraint("user_source_allowed", "user_account", schema="auth")
    for column in (
        "updated_at",
        "last_login_at",
        "password_changed_at",
        "locked_until",
        "failed_logins",
        "scope_all",
        "external_id",
        "source",
        "email",
    ):
        op.drop_column("user_account", column, schema="auth")

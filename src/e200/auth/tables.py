"""Tables of the auth slice (PostgreSQL schema ``auth``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from e200.archives import org_unit_table

SCHEMA = "auth"
metadata = MetaData(schema=SCHEMA)


def _ts(name: str, *, nullable: bool = True, default_now: bool = False) -> Column[object]:
    return Column(
        name,
        DateTime(timezone=True),
        nullable=nullable,
        server_default=func.now() if default_now else None,
    )


user_account = Table(
    "user_account",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=True),
    Column("email", String(254), nullable=True),
    Column("password_hash", String(255), nullable=True),  # argon2id; NULL for directory users
    Column("must_change_password", Boolean, nullable=False, server_default=text("false")),
    Column("status", String(16), nullable=False, server_default="active"),
    _ts("created_at", nullable=False, default_now=True),
    # Where the account comes from: local, or provisioned on login by LDAP/AD or OIDC.
    Column("source", String(16), nullable=False, server_default="local"),
    Column("external_id", String(500), nullable=True),
    Column("scope_all", Boolean, nullable=False, server_default=text("false")),
    Column("failed_logins", Integer, nullable=False, server_default=text("0")),
    _ts("locked_until"),
    _ts("password_changed_at"),
    _ts("last_login_at"),
    _ts("updated_at", nullable=False, default_now=True),
    CheckConstraint("status IN ('active', 'disabled', 'retired')", name="user_status_allowed"),
    CheckConstraint("source IN ('local', 'ldap', 'oidc')", name="user_source_allowed"),
)

role = Table(
    "role",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("description", String(500), nullable=False, server_default=""),
    Column("permissions", ARRAY(String(64)), nullable=False),
    Column("builtin", Boolean, nullable=False, server_default=text("false")),
)

user_role = Table(
    "user_role",
    metadata,
    Column(
        "user_id", BigInteger, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("role_name", String(64), ForeignKey("role.name", ondelete="CASCADE"), primary_key=True),
)

# A user's data scope: the subtrees of these org units (plus everything when scope_all).
user_scope = Table(
    "user_scope",
    metadata,
    Column(
        "user_id", BigInteger, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "org_unit_id",
        BigInteger,
        ForeignKey(org_unit_table.c.id, ondelete="CASCADE"),
        primary_key=True,
    ),
)

# Console sessions and REST bearer tokens; only a hash of the secret is stored.
session = Table(
    "session",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column(
        "user_id", BigInteger, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False
    ),
    Column("kind", String(16), nullable=False),
    _ts("created_at", nullable=False, default_now=True),
    _ts("last_seen_at", nullable=False, default_now=True),
    _ts("expires_at", nullable=False),
    _ts("revoked_at"),
    Column("source_ip", String(64), nullable=True),
    Column("user_agent", String(300), nullable=True),
    CheckConstraint("kind IN ('console', 'token')", name="session_kind_allowed"),
    Index("ix_session_user", "user_id"),
)

api_key = Table(
    "api_key",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "user_id", BigInteger, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),  # shown in lists, finds the row
    Column("secret_hash", String(64), nullable=False),
    Column("created_by", BigInteger, ForeignKey("user_account.id"), nullable=True),
    _ts("created_at", nullable=False, default_now=True),
    _ts("expires_at"),
    _ts("revoked_at"),
    _ts("last_used_at"),
    Index("ix_api_key_user", "user_id"),
)

# Pending OIDC logins: state -> PKCE verifier and nonce, kept server-side for 10 minutes.
login_flow = Table(
    "login_flow",
    metadata,
    Column("state", String(100), primary_key=True),
    Column("code_verifier", String(200), nullable=False),
    Column("nonce", String(100), nullable=False),
    Column("return_to", String(500), nullable=False, server_default="/console/"),
    _ts("created_at", nullable=False, default_now=True),
)

# Append-only: migration 0004 adds triggers that refuse UPDATE, DELETE and TRUNCATE.
audit_event = Table(
    "audit_event",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _ts("at", nullable=False, default_now=True),
    Column("actor_user_id", BigInteger, nullable=True),  # no FK: users may be retired, rows stay
    Column("actor", String(64), nullable=True),  # the username as typed/known at the time
    Column("action", String(100), nullable=False),
    Column("target", String(500), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("source_ip", String(64), nullable=True),
    Column("detail", JSONB, nullable=True),
    CheckConstraint("outcome IN ('success', 'failure', 'denied')", name="audit_outcome_allowed"),
    Index("ix_audit_at", "at"),
    Index("ix_audit_actor_at", "actor", "at"),
    Index("ix_audit_action_at", "action", "at"),
)

# Sign-in attempts per key (``address:<ip>``, ``username:<name>``) and fixed window: the rate
# limit of the login and token endpoints, shared by every process serving the API.
rate_limit = Table(
    "rate_limit",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("window_start", DateTime(timezone=True), primary_key=True),
    Column("hits", Integer, nullable=False),
    Index("ix_rate_limit_window_start", "window_start"),
)

"""Tables of the auth slice (PostgreSQL schema ``auth``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    MetaData,
    String,
    Table,
    func,
    text,
)

SCHEMA = "auth"
metadata = MetaData(schema=SCHEMA)

user_account = Table(
    "user_account",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=True),
    Column("password_hash", String(255), nullable=True),  # argon2id; NULL for directory users
    Column("must_change_password", Boolean, nullable=False, server_default=text("false")),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('active', 'disabled', 'retired')", name="user_status_allowed"),
)

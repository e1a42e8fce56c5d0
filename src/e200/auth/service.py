"""Local accounts. Full authentication (sessions, SSO, roles, scope) arrives with the auth issue."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import Engine, insert, select

from e200.auth.tables import user_account

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

ADMIN_USERNAME = "admin"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False


def ensure_admin(engine: Engine) -> str | None:
    """Create the ``admin`` account on first start; return its one-time password, else None."""
    with engine.begin() as conn:
        exists = conn.execute(
            select(user_account.c.id).where(user_account.c.username == ADMIN_USERNAME)
        ).first()
        if exists:
            return None
        password = secrets.token_urlsafe(12)
        conn.execute(
            insert(user_account).values(
                username=ADMIN_USERNAME,
                display_name="Administrator",
                password_hash=hash_password(password),
                must_change_password=True,
            )
        )
        return password


def check_login(engine: Engine, username: str, password: str) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            select(user_account.c.password_hash, user_account.c.status).where(
                user_account.c.username == username
            )
        ).first()
    if row is None or row.password_hash is None or row.status != "active":
        return False
    return verify_password(row.password_hash, password)

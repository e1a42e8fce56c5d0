"""Test users: real accounts with real roles and scopes, and API keys to act as them."""

from __future__ import annotations

import functools

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert

from e200.archives import org_unit_table
from e200.auth import ensure_admin, hash_password
from e200.auth.credentials import create_api_key
from e200.auth.tables import user_account, user_role, user_scope

TEST_PASSWORD = "Grid-Test-Pass-2026"


@functools.cache
def _hash(password: str) -> str:
    return hash_password(password)  # argon2 is slow on purpose; tests reuse one hash


def make_user(
    engine: Engine,
    username: str,
    *,
    roles: tuple[str, ...] = (),
    org_units: tuple[str, ...] = (),
    scope_all: bool = False,
    password: str = TEST_PASSWORD,
) -> int:
    """A local user (password already changed) with these roles and scope; returns its id."""
    ensure_admin(engine)  # also writes the predefined roles
    with engine.begin() as conn:
        user_id: int = conn.execute(
            insert(user_account)
            .values(username=username, password_hash=_hash(password), scope_all=scope_all)
            .on_conflict_do_update(
                index_elements=["username"],
                set_={"password_hash": _hash(password), "scope_all": scope_all},
            )
            .returning(user_account.c.id)
        ).scalar_one()
        for name in roles:
            conn.execute(
                insert(user_role).values(user_id=user_id, role_name=name).on_conflict_do_nothing()
            )
        for code in org_units:
            unit_id = conn.execute(
                select(org_unit_table.c.id).where(org_unit_table.c.code == code)
            ).scalar_one()
            conn.execute(
                insert(user_scope)
                .values(user_id=user_id, org_unit_id=unit_id)
                .on_conflict_do_nothing()
            )
    return user_id


def api_key(engine: Engine, username: str = "admin") -> str:
    """A fresh API key acting as ``username`` (the admin sees everything and may do anything)."""
    ensure_admin(engine)
    with engine.begin() as conn:
        user_id = conn.execute(
            select(user_account.c.id).where(user_account.c.username == username)
        ).scalar_one()
        if username == "admin":  # the tests act as an admin whose first password is changed
            conn.execute(
                update(user_account)
                .where(user_account.c.id == user_id)
                .values(must_change_password=False)
            )
        key, _ = create_api_key(conn, user_id, "tests", created_by=None)
    return key

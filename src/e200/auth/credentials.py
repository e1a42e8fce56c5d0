"""Sessions, bearer tokens and API keys, and turning one of them into a ``Principal``.

Secrets are random and only their SHA-256 is stored (they carry 256 bits, so a slow hash adds
nothing); every request re-reads the account, so disabling a user, revoking a key or ending a
session takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from e200.archives import org_unit_table
from e200.auth.tables import api_key, role, session, user_account, user_role, user_scope
from e200.config import Settings
from e200.kernel import NotFoundError, Permission, Principal, Scope, utc_now

API_KEY_PREFIX = "e200k_"
# Sessions remember activity at most this often: one write per minute, not one per request.
_TOUCH_EVERY = timedelta(seconds=60)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedSession:
    id: int
    token: str
    expires_at: datetime


def create_session(
    conn: Connection,
    settings: Settings,
    user_id: int,
    *,
    kind: str,
    source_ip: str | None = None,
    user_agent: str | None = None,
) -> IssuedSession:
    token = secrets.token_urlsafe(32)
    expires_at = utc_now() + timedelta(hours=settings.session_absolute_hours)
    session_id = conn.execute(
        insert(session)
        .values(
            token_hash=_digest(token),
            user_id=user_id,
            kind=kind,
            expires_at=expires_at,
            source_ip=source_ip,
            user_agent=(user_agent or "")[:300] or None,
        )
        .returning(session.c.id)
    ).scalar_one()
    return IssuedSession(session_id, token, expires_at)


def revoke_session(conn: Connection, session_id: int) -> None:
    conn.execute(
        update(session)
        .where(session.c.id == session_id, session.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


def revoke_user_sessions(conn: Connection, user_id: int, *, keep: int | None = None) -> None:
    conditions = [session.c.user_id == user_id, session.c.revoked_at.is_(None)]
    if keep is not None:
        conditions.append(session.c.id != keep)
    conn.execute(update(session).where(*conditions).values(revoked_at=func.now()))


def create_api_key(
    conn: Connection,
    user_id: int,
    name: str,
    *,
    created_by: int | None,
    expires_at: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """Return the key (shown once) and its stored description."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    row = (
        conn.execute(
            insert(api_key)
            .values(
                user_id=user_id,
                name=name,
                prefix=prefix,
                secret_hash=_digest(secret),
                created_by=created_by,
                expires_at=expires_at,
            )
            .returning(*_API_KEY_COLUMNS)
        )
        .mappings()
        .one()
    )
    return f"{API_KEY_PREFIX}{prefix}_{secret}", dict(row)


_API_KEY_COLUMNS = (
    api_key.c.id,
    api_key.c.name,
    api_key.c.prefix,
    api_key.c.created_at,
    api_key.c.expires_at,
    api_key.c.revoked_at,
    api_key.c.last_used_at,
)


def list_api_keys(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(*_API_KEY_COLUMNS).where(api_key.c.user_id == user_id).order_by(api_key.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def revoke_api_key(conn: Connection, key_id: int, *, owner_ids: Any = None) -> dict[str, Any]:
    """Revoke one key. ``owner_ids`` (a subquery) limits it to the keys of those users."""
    conditions = [api_key.c.id == key_id]
    if owner_ids is not None:
        conditions.append(api_key.c.user_id.in_(owner_ids))
    row = (
        conn.execute(
            update(api_key)
            .where(*conditions)
            .values(revoked_at=func.coalesce(api_key.c.revoked_at, func.now()))
            .returning(*_API_KEY_COLUMNS, api_key.c.user_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError("API key", str(key_id))
    return dict(row)


def load_principal(
    conn: Connection,
    user_id: int,
    *,
    via: str,
    credential_id: int | None = None,
) -> Principal | None:
    """The account's current roles and scope, or None when it may not sign in any more."""
    account = conn.execute(
        select(
            user_account.c.username,
            user_account.c.status,
            user_account.c.scope_all,
            user_account.c.must_change_password,
        ).where(user_account.c.id == user_id)
    ).first()
    if account is None or account.status != "active":
        return None
    granted = conn.execute(
        select(func.unnest(role.c.permissions))
        .select_from(user_role.join(role, role.c.name == user_role.c.role_name))
        .where(user_role.c.user_id == user_id)
    ).scalars()
    permissions = frozenset(Permission(p) for p in granted if p in Permission._value2member_map_)
    if account.scope_all:
        scope = Scope.everything()
    else:
        paths = conn.execute(
            select(org_unit_table.c.path)
            .select_from(
                user_scope.join(org_unit_table, org_unit_table.c.id == user_scope.c.org_unit_id)
            )
            .where(user_scope.c.user_id == user_id)
            .order_by(org_unit_table.c.path)
        ).scalars()
        scope = Scope(tuple(paths))
    return Principal(
        user_id=user_id,
        username=account.username,
        permissions=permissions,
        scope=scope,
        via=via,
        must_change_password=account.must_change_password,
        credential_id=credential_id,
    )


def principal_from_session(conn: Connection, settings: Settings, token: str) -> Principal | None:
    now = utc_now()
    row = conn.execute(
        select(session.c.id, session.c.user_id, session.c.kind, session.c.last_seen_at).where(
            session.c.token_hash == _digest(token),
            session.c.revoked_at.is_(None),
            session.c.expires_at > now,
            session.c.last_seen_at > now - timedelta(minutes=settings.session_idle_minutes),
        )
    ).first()
    if row is None:
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        conn.execute(update(session).where(session.c.id == row.id).values(last_seen_at=now))
    via = "session" if row.kind == "console" else "token"
    return load_principal(conn, row.user_id, via=via, credential_id=row.id)


def principal_from_api_key(conn: Connection, key: str) -> Principal | None:
    body = key.removeprefix(API_KEY_PREFIX)
    prefix, _, secret = body.partition("_")
    if not prefix or not secret:
        return None
    now = utc_now()
    row = conn.execute(
        select(
            api_key.c.id, api_key.c.user_id, api_key.c.secret_hash, api_key.c.last_used_at
        ).where(
            api_key.c.prefix == prefix,
            api_key.c.revoked_at.is_(None),
            or_(api_key.c.expires_at.is_(None), api_key.c.expires_at > now),
        )
    ).first()
    if row is None or not secrets.compare_digest(row.secret_hash, _digest(secret)):
        return None
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        conn.execute(update(api_key).where(api_key.c.id == row.id).values(last_used_at=now))
    return load_principal(conn, row.user_id, via="api_key", credential_id=row.id)


def principal_from_credentials(
    conn: Connection,
    settings: Settings,
    *,
    bearer: str | None,
    api_key_header: str | None,
    session_cookie: str | None,
) -> Principal | None:
    """An explicit credential (header) wins over the browser's cookie."""
    for credential in (api_key_header, bearer):
        if credential:
            if credential.startswith(API_KEY_PREFIX):
                return principal_from_api_key(conn, credential)
            return principal_from_session(conn, settings, credential)
    if session_cookie:
        return principal_from_session(conn, settings, session_cookie)
    return None


def purge_expired(conn: Connection, settings: Settings) -> int:
    """Delete sessions that ended more than a day ago (the audit log keeps the logins)."""
    cutoff = utc_now() - timedelta(days=1)
    result = conn.execute(
        session.delete().where(
            or_(
                session.c.expires_at < cutoff,
                session.c.revoked_at < cutoff,
                and_(session.c.last_seen_at < cutoff),
            )
        )
    )
    return int(result.rowcount or 0)

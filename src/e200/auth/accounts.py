"""User and role administration, password changes, the first administrator.

A user manager only manages the users whose whole scope lies inside their own, may only grant
org units inside their own scope and only roles whose permissions they hold themselves: managing
users never widens what anyone can see or do beyond the manager's own reach.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, Engine, Select, delete, exists, func, not_, select, update
from sqlalchemy.dialects.postgresql import insert

from e200.archives import org_unit_table, scope_clause
from e200.auth.credentials import revoke_user_sessions
from e200.auth.passwords import check_policy, hash_password, verify_password
from e200.auth.roles import ensure_builtin_roles
from e200.auth.tables import role, user_account, user_role, user_scope
from e200.config import Settings
from e200.kernel import (
    ConflictError,
    DuplicateKeyError,
    InvalidInputError,
    NotFoundError,
    Permission,
    PermissionDeniedError,
    Principal,
    UnknownReferenceError,
    utc_now,
)

ADMIN_USERNAME = "admin"
STATUSES = ("active", "disabled", "retired")
USER_COLUMNS = (
    user_account.c.id,
    user_account.c.username,
    user_account.c.display_name,
    user_account.c.email,
    user_account.c.status,
    user_account.c.source,
    user_account.c.scope_all,
    user_account.c.must_change_password,
    user_account.c.locked_until,
    user_account.c.failed_logins,
    user_account.c.last_login_at,
    user_account.c.created_at,
)


def ensure_admin(engine: Engine) -> str | None:
    """Write the built-in roles and, on first start, create the ``admin`` account.

    Returns the admin's one-time password (to be changed at first login), else None."""
    with engine.begin() as conn:
        ensure_builtin_roles(conn)
        user_id = conn.execute(
            select(user_account.c.id).where(user_account.c.username == ADMIN_USERNAME)
        ).scalar()
        password = None
        if user_id is None:
            password = secrets.token_urlsafe(12)
            user_id = conn.execute(
                insert(user_account)
                .values(
                    username=ADMIN_USERNAME,
                    display_name="Administrator",
                    password_hash=hash_password(password),
                    must_change_password=True,
                    scope_all=True,
                )
                .returning(user_account.c.id)
            ).scalar_one()
        conn.execute(
            insert(user_role)
            .values(user_id=user_id, role_name="administrator")
            .on_conflict_do_nothing()
        )
        return password


# --- who may manage whom ---------------------------------------------------------------------


def manageable_user_ids(manager: Principal) -> Select[Any]:
    """Ids of the users ``manager`` may see and change (subquery)."""
    query = select(user_account.c.id)
    if manager.scope.is_unrestricted:
        return query
    outside = (
        select(user_scope.c.user_id)
        .join(org_unit_table, org_unit_table.c.id == user_scope.c.org_unit_id)
        .where(
            user_scope.c.user_id == user_account.c.id,
            not_(scope_clause(org_unit_table.c.path, manager.scope)),
        )
    )
    return query.where(user_account.c.scope_all.is_(False), not_(exists(outside)))


def _user_row(conn: Connection, manager: Principal, username: str) -> Any:
    row = conn.execute(
        select(*USER_COLUMNS).where(
            user_account.c.username == username,
            user_account.c.id.in_(manageable_user_ids(manager)),
        )
    ).first()
    if row is None:
        raise NotFoundError("user", username)  # also when outside the manager's reach
    return row


def _describe(conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    roles_of: dict[int, list[str]] = {i: [] for i in ids}
    units_of: dict[int, list[str]] = {i: [] for i in ids}
    for user_id, role_name in conn.execute(
        select(user_role.c.user_id, user_role.c.role_name)
        .where(user_role.c.user_id.in_(ids))
        .order_by(user_role.c.role_name)
    ):
        roles_of[user_id].append(role_name)
    for user_id, code in conn.execute(
        select(user_scope.c.user_id, org_unit_table.c.code)
        .join(org_unit_table, org_unit_table.c.id == user_scope.c.org_unit_id)
        .where(user_scope.c.user_id.in_(ids))
        .order_by(org_unit_table.c.code)
    ):
        units_of[user_id].append(code)
    now = utc_now()
    return [
        {
            **row._asdict(),
            "locked": bool(row.locked_until and row.locked_until > now),
            "roles": roles_of[row.id],
            "org_units": units_of[row.id],
        }
        for row in rows
    ]


def list_users(
    conn: Connection, manager: Principal, *, q: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    query = select(*USER_COLUMNS).where(user_account.c.id.in_(manageable_user_ids(manager)))
    if q:
        pattern = f"%{q.replace('%', '').replace('_', '')}%"
        query = query.where(
            user_account.c.username.ilike(pattern) | user_account.c.display_name.ilike(pattern)
        )
    if status:
        query = query.where(user_account.c.status == status)
    rows = list(conn.execute(query.order_by(user_account.c.username)))
    return _describe(conn, rows)


def get_user(conn: Connection, manager: Principal, username: str) -> dict[str, Any]:
    return _describe(conn, [_user_row(conn, manager, username)])[0]


def user_by_id(conn: Connection, user_id: int) -> dict[str, Any]:
    row = conn.execute(select(*USER_COLUMNS).where(user_account.c.id == user_id)).first()
    if row is None:
        raise NotFoundError("user", str(user_id))
    return _describe(conn, [row])[0]


def _check_grants(
    conn: Connection,
    manager: Principal,
    *,
    roles: list[str] | None,
    org_units: list[str] | None,
    scope_all: bool | None,
) -> tuple[list[str] | None, list[int] | None]:
    """Validate what a manager wants to grant; return role names and org unit ids."""
    if scope_all and not manager.scope.is_unrestricted:
        raise PermissionDeniedError("only a user who sees the whole grid may grant it")
    unit_ids: list[int] | None = None
    if org_units is not None:
        unit_ids = []
        for code in dict.fromkeys(org_units):
            row = conn.execute(
                select(org_unit_table.c.id, org_unit_table.c.path).where(
                    org_unit_table.c.code == code
                )
            ).first()
            if row is None or not manager.scope.allows(row.path):
                raise UnknownReferenceError("org unit", code, field="org_units")
            unit_ids.append(row.id)
    if roles is not None:
        roles = list(dict.fromkeys(roles))
        found = {
            r.name: set(r.permissions)
            for r in conn.execute(
                select(role.c.name, role.c.permissions).where(role.c.name.in_(roles))
            )
        }
        for name in roles:
            if name not in found:
                raise UnknownReferenceError("role", name, field="roles")
            beyond = found[name] - {p.value for p in manager.permissions}
            if beyond:
                raise PermissionDeniedError(
                    f"role {name!r} grants {sorted(beyond)}, which you do not hold yourself"
                )
    return roles, unit_ids


def _write_grants(
    conn: Connection, user_id: int, roles: list[str] | None, unit_ids: list[int] | None
) -> None:
    if roles is not None:
        conn.execute(delete(user_role).where(user_role.c.user_id == user_id))
        for name in roles:
            conn.execute(insert(user_role).values(user_id=user_id, role_name=name))
    if unit_ids is not None:
        conn.execute(delete(user_scope).where(user_scope.c.user_id == user_id))
        for unit_id in unit_ids:
            conn.execute(insert(user_scope).values(user_id=user_id, org_unit_id=unit_id))


def create_user(
    conn: Connection, settings: Settings, manager: Principal, data: dict[str, Any]
) -> dict[str, Any]:
    """A local account; its first password is set by the manager and must be changed."""
    username = data["username"]
    if conn.execute(select(user_account.c.id).where(user_account.c.username == username)).first():
        raise DuplicateKeyError("user", username, field="username")
    check_policy(data["password"], username=username, min_length=settings.password_min_length)
    roles, unit_ids = _check_grants(
        conn,
        manager,
        roles=data.get("roles", []),
        org_units=data.get("org_units", []),
        scope_all=data.get("scope_all", False),
    )
    user_id = conn.execute(
        insert(user_account)
        .values(
            username=username,
            display_name=data.get("display_name"),
            email=data.get("email"),
            password_hash=hash_password(data["password"]),
            must_change_password=True,
            scope_all=bool(data.get("scope_all", False)),
        )
        .returning(user_account.c.id)
    ).scalar_one()
    _write_grants(conn, user_id, roles, unit_ids)
    return user_by_id(conn, user_id)


def update_user(
    conn: Connection, manager: Principal, username: str, changes: dict[str, Any]
) -> dict[str, Any]:
    row = _user_row(conn, manager, username)
    if row.id == manager.user_id and (
        changes.get("status", "active") != "active" or "roles" in changes
    ):
        raise ConflictError(
            "you cannot disable yourself or change your own roles",
            field="status" if "status" in changes else "roles",
        )
    if row.status == "retired" and changes.get("status") not in (None, "retired"):
        raise ConflictError("a retired user stays retired", field="status")
    if changes.get("status") not in (None, *STATUSES):
        raise InvalidInputError(f"status: one of {', '.join(STATUSES)}", field="status")
    roles, unit_ids = _check_grants(
        conn,
        manager,
        roles=changes.get("roles"),
        org_units=changes.get("org_units"),
        scope_all=changes.get("scope_all"),
    )
    values = {
        key: changes[key]
        for key in ("display_name", "email", "status", "scope_all", "must_change_password")
        if key in changes and changes[key] is not None
    }
    if values:
        conn.execute(
            update(user_account)
            .where(user_account.c.id == row.id)
            .values(**values, updated_at=func.now())
        )
    _write_grants(conn, row.id, roles, unit_ids)
    if values.get("status") in ("disabled", "retired"):
        revoke_user_sessions(conn, row.id)
    return user_by_id(conn, row.id)


def unlock_user(conn: Connection, manager: Principal, username: str) -> dict[str, Any]:
    row = _user_row(conn, manager, username)
    conn.execute(
        update(user_account)
        .where(user_account.c.id == row.id)
        .values(locked_until=None, failed_logins=0, updated_at=func.now())
    )
    return user_by_id(conn, row.id)


def reset_password(
    conn: Connection, settings: Settings, manager: Principal, username: str, password: str
) -> dict[str, Any]:
    """A manager sets a temporary password; the user must change it at the next login."""
    row = _user_row(conn, manager, username)
    if row.source != "local":
        raise ConflictError(
            f"{username} signs in through {row.source}; reset it there", field="password"
        )
    check_policy(password, username=username, min_length=settings.password_min_length)
    conn.execute(
        update(user_account)
        .where(user_account.c.id == row.id)
        .values(
            password_hash=hash_password(password),
            must_change_password=True,
            failed_logins=0,
            locked_until=None,
            updated_at=func.now(),
        )
    )
    revoke_user_sessions(conn, row.id)
    return user_by_id(conn, row.id)


def change_own_password(
    conn: Connection,
    settings: Settings,
    principal: Principal,
    current_password: str,
    new_password: str,
) -> None:
    row = conn.execute(
        select(user_account.c.password_hash, user_account.c.source).where(
            user_account.c.id == principal.user_id
        )
    ).one()
    if row.source != "local":
        raise ConflictError(
            f"your account signs in through {row.source}; change it there", field="new_password"
        )
    if not verify_password(row.password_hash, current_password):
        raise InvalidInputError("current_password: wrong password", field="current_password")
    if new_password == current_password:
        raise InvalidInputError(
            "new_password: must differ from the current one", field="new_password"
        )
    try:
        check_policy(
            new_password, username=principal.username, min_length=settings.password_min_length
        )
    except InvalidInputError as exc:
        raise InvalidInputError("new_" + exc.detail, field="new_password") from exc
    conn.execute(
        update(user_account)
        .where(user_account.c.id == principal.user_id)
        .values(
            password_hash=hash_password(new_password),
            must_change_password=False,
            password_changed_at=func.now(),
            updated_at=func.now(),
        )
    )
    # Other sessions end: whoever knew the old password is signed out everywhere else.
    keep = principal.credential_id if principal.via in ("session", "token") else None
    revoke_user_sessions(conn, principal.user_id, keep=keep)


# --- roles ------------------------------------------------------------------------------------


def list_roles(conn: Connection) -> list[dict[str, Any]]:
    counts: dict[str, int] = {
        name: count
        for name, count in conn.execute(
            select(user_role.c.role_name, func.count()).group_by(user_role.c.role_name)
        )
    }
    rows = conn.execute(select(role).order_by(role.c.builtin.desc(), role.c.name)).mappings()
    return [{**dict(r), "users": counts.get(r["name"], 0)} for r in rows]


def _valid_permissions(manager: Principal, permissions: list[str]) -> list[str]:
    known = {p.value for p in Permission}
    for name in permissions:
        if name not in known:
            raise InvalidInputError(
                f"permissions: unknown permission {name!r}; one of {', '.join(sorted(known))}",
                field="permissions",
            )
        if Permission(name) not in manager.permissions:
            raise PermissionDeniedError(f"you cannot grant {name!r}, which you do not hold")
    return sorted(set(permissions))


def create_role(conn: Connection, manager: Principal, data: dict[str, Any]) -> dict[str, Any]:
    if conn.execute(select(role.c.name).where(role.c.name == data["name"])).first():
        raise DuplicateKeyError("role", data["name"], field="name")
    values = {
        "name": data["name"],
        "description": data.get("description") or "",
        "permissions": _valid_permissions(manager, data["permissions"]),
        "builtin": False,
    }
    conn.execute(insert(role).values(**values))
    return {**values, "users": 0}


def update_role(
    conn: Connection, manager: Principal, name: str, data: dict[str, Any]
) -> dict[str, Any]:
    row = conn.execute(select(role).where(role.c.name == name)).first()
    if row is None:
        raise NotFoundError("role", name)
    if row.builtin:
        raise ConflictError(f"role {name!r} is predefined; define a new role instead", field="name")
    values: dict[str, Any] = {}
    if data.get("description") is not None:
        values["description"] = data["description"]
    if data.get("permissions") is not None:
        values["permissions"] = _valid_permissions(manager, data["permissions"])
    if values:
        conn.execute(update(role).where(role.c.name == name).values(**values))
    return next(r for r in list_roles(conn) if r["name"] == name)


def delete_role(conn: Connection, name: str) -> None:
    row = conn.execute(select(role.c.builtin).where(role.c.name == name)).first()
    if row is None:
        raise NotFoundError("role", name)
    if row.builtin:
        raise ConflictError(f"role {name!r} is predefined and cannot be deleted", field="name")
    in_use = conn.execute(select(func.count()).where(user_role.c.role_name == name)).scalar_one()
    if in_use:
        raise ConflictError(
            f"role {name!r} is held by {in_use} user(s); take it away first", field="name"
        )
    conn.execute(delete(role).where(role.c.name == name))


def role_permissions(conn: Connection, names: list[str]) -> set[str]:
    rows = conn.execute(select(role.c.permissions).where(role.c.name.in_(names))).scalars()
    return {p for perms in rows for p in perms}

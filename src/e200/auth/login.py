"""Signing in: local passwords with lockout, LDAP/AD binds and OIDC identities, both mapped to
E200 roles and scopes by configuration; and the directory sync that disables departed users.

Every attempt, success or failure, goes to the audit log with its source address, in its own
transaction so that a refused login still leaves its trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from e200.archives import org_unit_table
from e200.auth import audit, directory
from e200.auth.identity import DirectoryUnavailableError, ExternalIdentity
from e200.auth.passwords import verify_password
from e200.auth.roles import ensure_builtin_roles
from e200.auth.tables import role, user_account, user_role, user_scope
from e200.config import GroupMapping, Settings
from e200.kernel import AuthenticationRequiredError, E200Error, utc_now


class LoginFailedError(AuthenticationRequiredError):
    title = "Login failed"


class DirectoryDownError(E200Error):
    status = 503
    title = "Directory unavailable"


WRONG_CREDENTIALS = "wrong user name or password"


@dataclass(frozen=True, slots=True)
class Grants:
    roles: tuple[str, ...]
    org_units: tuple[str, ...]
    all_org_units: bool

    @property
    def empty(self) -> bool:
        return not self.roles


def map_groups(groups: tuple[str, ...], mappings: dict[str, GroupMapping]) -> Grants:
    """Union of what each of the user's groups grants (group names compare case-insensitively,
    as directories do)."""
    by_name = {name.lower(): mapping for name, mapping in mappings.items()}
    roles: dict[str, None] = {}
    units: dict[str, None] = {}
    everything = False
    for group in groups:
        mapping = by_name.get(group.lower())
        if mapping is None:
            continue
        roles.update(dict.fromkeys(mapping.roles))
        units.update(dict.fromkeys(mapping.org_units))
        everything = everything or mapping.all_org_units
    return Grants(tuple(roles), tuple(units), everything)


def authenticate(
    engine: Engine,
    settings: Settings,
    username: str,
    password: str,
    *,
    source_ip: str | None,
) -> int:
    """Check the credentials; return the user's id or raise ``LoginFailedError``.

    Local accounts are checked locally (the directory being down never locks out the local
    administrator); other names go to the directory when one is configured."""
    username = username.strip()
    with engine.connect() as conn:  # commits explicitly: a failure's counter must persist
        account = conn.execute(
            select(
                user_account.c.id,
                user_account.c.password_hash,
                user_account.c.status,
                user_account.c.source,
                user_account.c.locked_until,
                user_account.c.failed_logins,
            )
            .where(user_account.c.username == username)
            .with_for_update()
        ).first()
        if account is not None and account.source == "local":
            return _local_login(conn, engine, settings, account, username, password, source_ip)
    if account is not None and account.source == "oidc":
        _fail(engine, username, "signs in through single sign-on", source_ip, account.id)
    if not settings.ldap_url:
        verify_password(None, password)  # same time as a wrong password: names are not probed
        _fail(engine, username, "unknown user", source_ip)
    return _directory_login(engine, settings, username, password, source_ip)


def _local_login(
    conn: Connection,
    engine: Engine,
    settings: Settings,
    account: Any,
    username: str,
    password: str,
    source_ip: str | None,
) -> int:
    now = utc_now()
    if account.locked_until is not None and account.locked_until > now:
        conn.commit()
        until = account.locked_until.strftime("%Y-%m-%d %H:%M UTC")
        _fail(
            engine,
            username,
            "locked",
            source_ip,
            account.id,
            detail=f"account locked after repeated failed logins until {until}",
        )
    if not verify_password(account.password_hash, password):
        failures = account.failed_logins + 1
        locked_until = None
        if failures >= settings.lockout_after_failures:
            locked_until = now + timedelta(minutes=settings.lockout_minutes)
            failures = 0
        conn.execute(
            update(user_account)
            .where(user_account.c.id == account.id)
            .values(failed_logins=failures, locked_until=locked_until)
        )
        conn.commit()
        reason = "wrong password" + (", account locked" if locked_until else "")
        _fail(engine, username, reason, source_ip, account.id)
    if account.status != "active":
        conn.commit()
        _fail(
            engine,
            username,
            f"account {account.status}",
            source_ip,
            account.id,
            detail=f"this account is {account.status}",
        )
    conn.execute(
        update(user_account)
        .where(user_account.c.id == account.id)
        .values(failed_logins=0, locked_until=None, last_login_at=func.now())
    )
    audit.record(
        conn,
        action="login",
        outcome="success",
        actor=username,
        actor_user_id=account.id,
        source_ip=source_ip,
        detail={"method": "password"},
    )
    conn.commit()
    return int(account.id)


def _directory_login(
    engine: Engine, settings: Settings, username: str, password: str, source_ip: str | None
) -> int:
    try:
        identity = directory.authenticate(settings, username, password)
    except DirectoryUnavailableError as exc:
        audit.record(
            engine,
            action="login",
            outcome="failure",
            actor=username,
            source_ip=source_ip,
            detail={"method": "ldap", "reason": str(exc)},
        )
        raise DirectoryDownError(f"{exc}; local accounts can still sign in") from exc
    if identity is None:
        _fail(engine, username, "wrong password or unknown in directory", source_ip, method="ldap")
    return complete_external_login(engine, settings, identity, source_ip=source_ip)


def complete_external_login(
    engine: Engine, settings: Settings, identity: ExternalIdentity, *, source_ip: str | None
) -> int:
    """Create or update the E200 user for a directory/OIDC identity; return its id."""
    mappings = (
        settings.ldap_group_mappings
        if identity.source == "ldap"
        else (settings.oidc_group_mappings)
    )
    grants = map_groups(identity.groups, mappings)
    if grants.empty:
        _fail(
            engine,
            identity.username,
            "no mapped group",
            source_ip,
            method=identity.source,
            detail="your directory groups grant no E200 role; ask an administrator",
        )
    with engine.connect() as conn:
        account = conn.execute(
            select(user_account.c.id, user_account.c.source, user_account.c.status)
            .where(user_account.c.username == identity.username)
            .with_for_update()
        ).first()
        if account is not None and account.source != identity.source:
            conn.rollback()
            _fail(
                engine,
                identity.username,
                f"name taken by a {account.source} account",
                source_ip,
                account.id,
                method=identity.source,
            )
        if account is not None and account.status != "active":
            conn.rollback()
            _fail(
                engine,
                identity.username,
                f"account {account.status}",
                source_ip,
                account.id,
                method=identity.source,
                detail=f"this account is {account.status}",
            )
        user_id = provision(conn, identity, grants)
        conn.execute(
            update(user_account)
            .where(user_account.c.id == user_id)
            .values(last_login_at=func.now())
        )
        audit.record(
            conn,
            action="login",
            outcome="success",
            actor=identity.username,
            actor_user_id=user_id,
            source_ip=source_ip,
            detail={"method": identity.source, "roles": list(grants.roles)},
        )
        conn.commit()
    return user_id


def provision(conn: Connection, identity: ExternalIdentity, grants: Grants) -> int:
    """The directory is the source of truth for its users' roles and scope: replace them."""
    values = {
        "display_name": identity.display_name,
        "email": identity.email,
        "external_id": identity.external_id,
        "scope_all": grants.all_org_units,
        "updated_at": func.now(),
    }
    user_id: int = conn.execute(
        insert(user_account)
        .values(username=identity.username, source=identity.source, **values)
        .on_conflict_do_update(index_elements=["username"], set_=values)
        .returning(user_account.c.id)
    ).scalar_one()
    known_roles = set(conn.execute(select(role.c.name)).scalars())
    conn.execute(delete(user_role).where(user_role.c.user_id == user_id))
    for name in grants.roles:
        if name in known_roles:  # a mapping naming a deleted role grants nothing
            conn.execute(insert(user_role).values(user_id=user_id, role_name=name))
    conn.execute(delete(user_scope).where(user_scope.c.user_id == user_id))
    if grants.org_units:
        unit_ids = conn.execute(
            select(org_unit_table.c.id).where(org_unit_table.c.code.in_(grants.org_units))
        ).scalars()
        for unit_id in unit_ids:
            conn.execute(insert(user_scope).values(user_id=user_id, org_unit_id=unit_id))
    return user_id


def _fail(
    engine: Engine,
    username: str,
    reason: str,
    source_ip: str | None,
    user_id: int | None = None,
    *,
    method: str = "password",
    detail: str = WRONG_CREDENTIALS,
) -> NoReturn:
    audit.record(
        engine,
        action="login",
        outcome="failure",
        actor=username[:64],
        actor_user_id=user_id,
        source_ip=source_ip,
        detail={"method": method, "reason": reason},
    )
    raise LoginFailedError(detail)


@dataclass(frozen=True, slots=True)
class SyncResult:
    directory_users: int
    updated: int
    disabled: list[str]


def sync_directory(engine: Engine, settings: Settings) -> SyncResult:
    """Disable E200 users the directory no longer has; refresh the others' roles and scope."""
    if not settings.ldap_url:
        raise DirectoryDownError("no directory configured (E200_LDAP_URL)")
    try:
        people = {p.username.lower(): p for p in directory.list_users(settings)}
    except DirectoryUnavailableError as exc:
        raise DirectoryDownError(str(exc)) from exc
    disabled: list[str] = []
    updated = 0
    with engine.begin() as conn:
        ensure_builtin_roles(conn)  # a sync may run before the first `e200 up`
        accounts = conn.execute(
            select(user_account.c.id, user_account.c.username).where(
                user_account.c.source == "ldap", user_account.c.status == "active"
            )
        ).all()
        for account in accounts:
            identity = people.get(account.username.lower())
            grants = map_groups(identity.groups, settings.ldap_group_mappings) if identity else None
            if identity is None or grants is None or grants.empty:
                conn.execute(
                    update(user_account)
                    .where(user_account.c.id == account.id)
                    .values(status="disabled", updated_at=func.now())
                )
                disabled.append(account.username)
                reason = "removed from directory" if identity is None else "no mapped group"
                audit.record(
                    conn,
                    action="directory_sync.disable_user",
                    outcome="success",
                    actor="directory-sync",
                    target=f"username={account.username}",
                    detail={"reason": reason},
                )
            else:
                provision(conn, identity, grants)
                updated += 1
        audit.record(
            conn,
            action="directory_sync",
            outcome="success",
            actor="directory-sync",
            detail={"directory_users": len(people), "updated": updated, "disabled": disabled},
        )
    return SyncResult(len(people), updated, disabled)

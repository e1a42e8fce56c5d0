"""Who uses the console: the signed-in user behind each page, and the one way the console changes
anything (the auth slice's functions, checked against a fresh principal and audited).

The browser signs in through the REST login, which sets the HTTP-only session cookie; every page
reads that cookie when it is opened. Reads of a page use the principal of that moment (its data
scope goes into the page's ``Reader``); every change looks the session up again, so a user who
signed out, was disabled or lost a role cannot act from a page left open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request
from nicegui import run
from sqlalchemy import Connection, Engine

from e200 import auth
from e200.config import Settings
from e200.console.reader import Reader
from e200.kernel import (
    AuthenticationRequiredError,
    E200Error,
    Permission,
    PermissionDeniedError,
    Principal,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Console:
    """What every page of this server shares."""

    engine: Engine
    settings: Settings
    tz: tzinfo
    mount_path: str = "/console"
    # Queues background work (an import) on the job queue; None: this server queues none.
    defer_job: Callable[[str, dict[str, Any]], int] | None = None

    def url(self, path: str) -> str:
        """Absolute path of a console page (for redirects and ``location.href``)."""
        return self.mount_path.rstrip("/") + path

    def principal_now(self, token: str | None) -> Principal | None:
        """The user of a session token (None when it is unknown, expired, revoked or disabled)."""
        if not token:
            return None
        with self.engine.begin() as conn:  # begin: a session's last use is written back
            return auth.principal_from_credentials(
                conn, self.settings, bearer=None, api_key_header=None, session_cookie=token
            )

    async def principal(self, token: str | None) -> Principal | None:
        boxed = await run.io_bound(lambda: (self.principal_now(token),))
        if boxed is None:  # shutting down
            raise asyncio.CancelledError
        principal: Principal | None = boxed[0]
        return principal

    def safe_next(self, target: str | None) -> str:
        """Where to go after signing in: a console page of this site only (no open redirect)."""
        root = self.mount_path.rstrip("/")
        if (
            not target
            or not (target == root or target.startswith(root + "/"))
            or "//" in target
            or "\\" in target
            or target.startswith(root + "/login")
        ):
            return root + "/"
        return target

    def login_url(self, next_path: str | None = None) -> str:
        target = self.safe_next(next_path)
        if target == self.url("/"):
            return self.url("/login")
        return self.url(f"/login?next={quote(target, safe='/')}")


def requested_path(request: Request) -> str:
    """The page's path and query as the browser asked for it (with the mount path)."""
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def failure_outcome(exc: E200Error) -> str:
    """Audit outcome of a refused change, as the API's audit middleware names it."""
    return "denied" if exc.status in (401, 403, 404) else "failure"


class Session:
    """One page's signed-in user."""

    def __init__(
        self, console: Console, token: str, principal: Principal, source_ip: str | None
    ) -> None:
        self.console = console
        self.token = token
        self.principal = principal
        self.source_ip = source_ip
        self.reader = Reader(console.engine, principal.scope)

    @property
    def username(self) -> str:
        return self.principal.username

    def can(self, permission: Permission | None) -> bool:
        return permission is None or self.principal.can(permission)

    # -- reads ---------------------------------------------------------------------------------

    def _read_now(self, call: Callable[[Connection, Principal], T]) -> tuple[T]:
        with self.console.engine.connect() as conn:
            return (call(conn, self.principal),)

    async def read(self, call: Callable[[Connection, Principal], T]) -> T:
        """``call(conn, principal)`` in a worker thread (slice functions that take the manager)."""
        boxed = await run.io_bound(self._read_now, call)
        if boxed is None:
            raise asyncio.CancelledError
        result: T = boxed[0]
        return result

    # -- changes -------------------------------------------------------------------------------

    def change_now(
        self,
        action: str,
        call: Callable[[Connection, Principal], T],
        *,
        permission: Permission | None,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        detail_of: Callable[[T], dict[str, Any]] | None = None,
    ) -> T:
        """Do one change as the user is now, in one transaction with its audit row.

        A refused or failed change is recorded in its own transaction (the change's is rolled
        back), with the same action names the REST routes use."""
        engine = self.console.engine
        principal = self.console.principal_now(self.token)
        if principal is None:
            raise AuthenticationRequiredError("your session has ended; sign in again")
        audit_detail: dict[str, Any] = {"via": "console", **(detail or {})}
        try:
            if principal.must_change_password and action != "change_password":
                raise PermissionDeniedError("change your initial password first")
            if permission is not None and not principal.can(permission):
                raise PermissionDeniedError(f"your roles do not grant {permission.value!r}")
            with engine.begin() as conn:
                result = call(conn, principal)
                if detail_of is not None:
                    audit_detail.update(detail_of(result))
                auth.audit.record_for(
                    conn,
                    principal,
                    action=action,
                    outcome="success",
                    target=target,
                    source_ip=self.source_ip,
                    detail=_jsonable(audit_detail),
                )
        except E200Error as exc:
            auth.audit.record_for(
                engine,
                principal,
                action=action,
                outcome=failure_outcome(exc),
                target=target,
                source_ip=self.source_ip,
                detail=_jsonable({**audit_detail, "error": exc.detail}),
            )
            raise
        self.principal = principal
        return result

    async def change(
        self,
        action: str,
        call: Callable[[Connection, Principal], T],
        *,
        permission: Permission | None,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        detail_of: Callable[[T], dict[str, Any]] | None = None,
    ) -> T:
        """``change_now`` in a worker thread."""
        boxed = await run.io_bound(
            lambda: (
                self.change_now(
                    action,
                    call,
                    permission=permission,
                    target=target,
                    detail=detail,
                    detail_of=detail_of,
                ),
            )
        )
        if boxed is None:
            raise asyncio.CancelledError
        result: T = boxed[0]
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)

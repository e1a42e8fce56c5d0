"""Request-scoped helpers shared by every slice's router: the transaction, the signed-in
principal, the permission a route needs and the caller's data scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from e200.kernel import (
    AuthenticationRequiredError,
    PasswordChangeRequiredError,
    Permission,
    PermissionDeniedError,
    Principal,
    Scope,
)

PrincipalResolver = Callable[[Request], Principal | None]


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def transaction(request: Request) -> Iterator[Connection]:
    """One transaction per request: committed when the route returns, rolled back on any error,
    so a rejected request writes nothing."""
    with engine_of(request).begin() as conn:
        yield conn


def current_principal(request: Request) -> Principal | None:
    """Who sent the request (None: nobody signed in). The auth slice installs the resolver."""
    cached: Principal | str | None = getattr(request.state, "principal", "unresolved")
    if cached != "unresolved":
        return cached  # type: ignore[return-value]
    resolver: PrincipalResolver | None = getattr(request.app.state, "principal_resolver", None)
    principal = resolver(request) if resolver else None
    request.state.principal = principal
    return principal


class Requires:
    """Route dependency: signed in, and holding ``permission`` (None: any signed-in user).

    Every API route carries one of these or ``Public``; the app refuses to start otherwise and
    the permission test reads them to check every route (tests/auth/test_permissions.py)."""

    def __init__(
        self,
        permission: Permission | None,
        *,
        during_password_change: bool = False,
        whole_grid: bool = False,
    ) -> None:
        self.permission = permission
        self.during_password_change = during_password_change
        self.whole_grid = whole_grid  # grid-wide views (ingest counters): no partial answer

    def __call__(self, request: Request) -> Principal:
        request.state.requirement = self  # the audit middleware reads what the route needed
        principal = current_principal(request)
        if principal is None:
            raise AuthenticationRequiredError()
        if principal.must_change_password and not self.during_password_change:
            raise PasswordChangeRequiredError()
        if self.permission is not None and not principal.can(self.permission):
            raise PermissionDeniedError(f"your roles do not grant {self.permission.value!r}")
        if self.whole_grid and not principal.scope.is_unrestricted:
            raise PermissionDeniedError("this view covers the whole grid; your scope is limited")
        return principal


class Public:
    """Route dependency marking a route open to everyone (health, login, published schemas)."""

    def __call__(self) -> None:
        return None


def requires(
    permission: Permission | None, *, during_password_change: bool = False, whole_grid: bool = False
) -> Any:
    return Depends(
        Requires(permission, during_password_change=during_password_change, whole_grid=whole_grid)
    )


PUBLIC: Any = Depends(Public())


def request_principal(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise AuthenticationRequiredError()
    return principal


def request_scope(request: Request) -> Scope:
    """The caller's data scope: the org-unit subtrees of their account."""
    return request_principal(request).scope


ConnDep = Annotated[Connection, Depends(transaction)]
ScopeDep = Annotated[Scope, Depends(request_scope)]
PrincipalDep = Annotated[Principal, Depends(request_principal)]

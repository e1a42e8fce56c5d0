"""Request-scoped database helpers shared by every slice's router."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from e200.kernel import Scope


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def transaction(request: Request) -> Iterator[Connection]:
    """One transaction per request: committed when the route returns, rolled back on any error,
    so a rejected request writes nothing."""
    with engine_of(request).begin() as conn:
        yield conn


def request_scope(request: Request) -> Scope:
    """The caller's data scope. The app factory installs the resolver (auth decides it)."""
    resolver: Callable[[Request], Scope] = request.app.state.scope_resolver
    return resolver(request)


ConnDep = Annotated[Connection, Depends(transaction)]
ScopeDep = Annotated[Scope, Depends(request_scope)]

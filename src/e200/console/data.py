"""How the console reads the archive: one connection per call, off the event loop.

The console only calls the archive facade (``e200.archives``); it never builds a query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from nicegui import run
from sqlalchemy import Connection, Engine

from e200.kernel import Scope

T = TypeVar("T")


def _scope() -> Scope:
    # Until the console has logins, every operator sees the whole grid. The auth slice will
    # replace this with the signed-in user's scope.
    return Scope.everything()


class Reader:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def read_now(self, call: Callable[[Connection, Scope], T]) -> T:
        with self._engine.connect() as conn:
            return call(conn, _scope())

    def _boxed(self, call: Callable[[Connection, Scope], T]) -> tuple[T]:
        return (self.read_now(call),)

    async def read(self, call: Callable[[Connection, Scope], T]) -> T:
        """``call(conn, scope)`` in a worker thread, so a slow query does not freeze the UI."""
        boxed = await run.io_bound(self._boxed, call)
        if boxed is None:  # NiceGUI is shutting down (NiceGUI 4 raises this itself)
            raise asyncio.CancelledError
        return boxed[0]

"""How the console reads the archive: one connection per call, off the event loop, always cut
down to the signed-in user's data scope.

The console only calls the slices' facades (``e200.archives``, ``e200.telemetry``); it never
builds a query. A ``Reader`` belongs to one page of one user: it carries that user's ``Scope``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from nicegui import run
from sqlalchemy import Connection, Engine

from e200.kernel import Scope

T = TypeVar("T")


class Reader:
    def __init__(self, engine: Engine, scope: Scope) -> None:
        self._engine = engine
        self.scope = scope

    def read_now(self, call: Callable[[Connection, Scope], T]) -> T:
        with self._engine.connect() as conn:
            return call(conn, self.scope)

    def _boxed(self, call: Callable[[Connection, Scope], T]) -> tuple[T]:
        return (self.read_now(call),)

    async def read(self, call: Callable[[Connection, Scope], T]) -> T:
        """``call(conn, scope)`` in a worker thread, so a slow query does not freeze the UI."""
        boxed = await run.io_bound(self._boxed, call)
        if boxed is None:  # NiceGUI is shutting down (NiceGUI 4 raises this itself)
            raise asyncio.CancelledError
        return boxed[0]

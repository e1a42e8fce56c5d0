"""A marker, visible to every process, that simulated or buffered history is being loaded:
checks that describe the present (a terminal silent right now) wait while it is held.

A PostgreSQL advisory lock held on a connection of its own: it ends with that connection, so a
loader that dies never leaves it set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

HISTORY_REPLAY_LOCK = 0x4532_3030_4849  # "E200HI": the advisory lock key


@contextmanager
def history_replay(engine: Engine) -> Iterator[None]:
    """Hold the marker while the body loads history (shared: several loaders may run)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": HISTORY_REPLAY_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": HISTORY_REPLAY_LOCK})
            conn.commit()


def history_replay_running(conn: Connection) -> bool:
    """Whether any process is loading history now."""
    key = HISTORY_REPLAY_LOCK
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = :hi AND objid = :lo AND objsubid = 1)"
            ),
            {"hi": key >> 32, "lo": key & 0xFFFF_FFFF},
        ).scalar_one()
    )

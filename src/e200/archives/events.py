"""Relation changes as events, for slices above the archive that must react to them.

The archive cannot import the slices that depend on it (the terminal slice pushes a terminal's
meter list when its station area changes), so it announces each effective-dated change of a
relation to the listeners registered here. Listeners run inside the caller's transaction: what
they write commits or rolls back together with the change itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection


@dataclass(frozen=True, slots=True, kw_only=True)
class RelationChange:
    """One child attached to, moved between or detached from parents, from ``valid_from``.

    ``old_parent`` is the parent in force at ``valid_from`` before the change (None: none);
    ``new_parent`` the parent from ``valid_from`` on (None: detached or retired). For a move
    within the same parent (a phase change) both are equal."""

    relation: str  # the relation's name, e.g. "meter_transformer"
    child_kind: str
    child: str  # asset number
    old_parent: str | None
    new_parent: str | None
    phase: str | None
    valid_from: datetime
    valid_to: datetime | None
    actor: str | None  # user name of whoever made the change, if known


RelationListener = Callable[[Connection, RelationChange], None]
_listeners: list[RelationListener] = []


def on_relation_change(listener: RelationListener) -> None:
    """Register ``listener`` (once: registering the same function again changes nothing)."""
    if listener not in _listeners:
        _listeners.append(listener)


def announce(conn: Connection, change: RelationChange) -> None:
    for listener in tuple(_listeners):
        listener(conn, change)


# Imports write many assets at once; processes that cache archive facts (the ingest pipeline's
# device cache) are told to forget them. Callbacks run after the import's commit.
_written: list[Callable[[], None]] = []


def on_archive_written(callback: Callable[[], None]) -> None:
    """Register ``callback`` for "archive written in bulk" (once per function)."""
    if callback not in _written:
        _written.append(callback)


def announce_written() -> None:
    for callback in tuple(_written):
        callback()

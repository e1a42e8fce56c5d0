"""Rows of an effective-dated relation (half-open ``[valid_from, valid_to)`` periods): insert a
period, close the one in force, read the parent in force at an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, null, or_, select, update

from e200.archives.common import active, translate_db_errors
from e200.archives.tables import ASSET_TABLES, RELATION_TABLES, RelationSpec, org_unit
from e200.kernel import ConflictError


def insert_relation(
    conn: Connection, spec: RelationSpec, child_id: int, parent_id: int,
    valid_from: datetime, valid_to: datetime | None = None, phase: str | None = None,
) -> None:  # fmt: skip
    values: dict[str, Any] = {
        spec.child_col: child_id, spec.parent_col: parent_id,
        "valid_from": valid_from, "valid_to": valid_to,
    }  # fmt: skip
    if spec.with_phase:
        values["phase"] = phase
    with translate_db_errors(spec.name):
        conn.execute(insert(RELATION_TABLES[spec.name]).values(**values))


def close_open_period(conn: Connection, spec: RelationSpec, child_id: int, at: datetime) -> None:
    rel = RELATION_TABLES[spec.name]
    later = conn.execute(
        select(func.count()).where(rel.c[spec.child_col] == child_id, rel.c.valid_from >= at)
    ).scalar_one()
    if later:
        raise ConflictError(
            "valid_from: a later period of this relation already exists; "
            "give a valid_to to record a bounded period instead",
            field="valid_from",
        )
    conn.execute(
        update(rel)
        .where(rel.c[spec.child_col] == child_id, rel.c.valid_from < at,
               or_(rel.c.valid_to.is_(None), rel.c.valid_to > at))
        .values(valid_to=at)
    )  # fmt: skip


def parent_at(
    conn: Connection, spec: RelationSpec, child_id: int, at: datetime
) -> tuple[str, str | None] | None:
    """(parent key, phase) of the period in force at ``at``, or None."""
    rel = RELATION_TABLES[spec.name]
    parent_table = org_unit if spec.parent == "org_unit" else ASSET_TABLES[spec.parent]
    key = parent_table.c.code if spec.parent == "org_unit" else parent_table.c.asset_number
    columns: list[Any] = [key, rel.c.phase if spec.with_phase else null()]
    found = conn.execute(
        select(*columns)
        .select_from(rel.join(parent_table, parent_table.c.id == rel.c[spec.parent_col]))
        .where(rel.c[spec.child_col] == child_id, active(rel, at))
    ).first()
    return (str(found[0]), found[1]) if found is not None else None

"""Org units: create, read, update, list (as a tree), and the materialised path a ``Scope`` is
built from. Every function takes the caller's ``Connection`` and a ``Scope``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from e200.archives.common import scope_clause, translate_db_errors
from e200.archives.model import OrgUnitIn, OrgUnitOut, OrgUnitPatch
from e200.archives.tables import org_unit
from e200.kernel import (
    DuplicateKeyError,
    InvalidInputError,
    NotFoundError,
    Scope,
    UnknownReferenceError,
)


def _org_out(row: Row[Any], parent_code: str | None) -> OrgUnitOut:
    return OrgUnitOut(
        code=row.code, name=row.name, kind=row.kind, parent=parent_code,
        depth=row.path.count(".") - 1,
    )  # fmt: skip


def org_by_code(conn: Connection, code: str, scope: Scope) -> Row[Any] | None:
    row = conn.execute(select(org_unit).where(org_unit.c.code == code)).first()
    if row is None or not scope.allows(row.path):
        return None
    return row


def org_path(conn: Connection, code: str) -> str | None:
    """Materialised path of an org unit (used to build a ``Scope``)."""
    return conn.execute(select(org_unit.c.path).where(org_unit.c.code == code)).scalar()


def create_org_unit(conn: Connection, data: OrgUnitIn, scope: Scope) -> OrgUnitOut:
    if conn.execute(select(org_unit.c.id).where(org_unit.c.code == data.code)).first():
        raise DuplicateKeyError("org unit", data.code, field="code")
    parent_path = ""
    parent_id = None
    if data.parent is not None:
        parent = org_by_code(conn, data.parent, scope)
        if parent is None:
            raise UnknownReferenceError("org unit", data.parent, field="parent")
        parent_path, parent_id = parent.path, parent.id
    elif not scope.is_unrestricted:
        raise InvalidInputError("parent: required (you may only add units inside your scope)",
                                field="parent")  # fmt: skip
    with translate_db_errors("org unit"):
        new_id = conn.execute(
            insert(org_unit)
            .values(code=data.code, name=data.name, kind=data.kind, parent_id=parent_id,
                    path=f"tmp-{uuid.uuid4()}")
            .returning(org_unit.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            update(org_unit).where(org_unit.c.id == new_id).values(path=f"{parent_path}{new_id}.")
        )
    return get_org_unit(conn, data.code, scope)


def get_org_unit(conn: Connection, code: str, scope: Scope) -> OrgUnitOut:
    row = org_by_code(conn, code, scope)
    if row is None:
        raise NotFoundError("org unit", code)
    parent_code = None
    if row.parent_id is not None:
        parent_code = conn.execute(
            select(org_unit.c.code).where(org_unit.c.id == row.parent_id)
        ).scalar_one()
    return _org_out(row, parent_code)


def update_org_unit(conn: Connection, code: str, patch: OrgUnitPatch, scope: Scope) -> OrgUnitOut:
    row = org_by_code(conn, code, scope)
    if row is None:
        raise NotFoundError("org unit", code)
    values = patch.model_dump(exclude_unset=True, exclude_none=True)
    if values:
        conn.execute(update(org_unit).where(org_unit.c.id == row.id).values(**values))
    return get_org_unit(conn, code, scope)


def list_org_units(
    conn: Connection, scope: Scope, *, under: str | None = None, children_of: str | None = None
) -> list[OrgUnitOut]:
    """Units in scope ordered as a tree; ``under`` limits to a subtree, ``children_of`` to one
    level below a unit."""
    parent = org_unit.alias("parent")
    query = (
        select(org_unit, parent.c.code.label("parent_code"))
        .select_from(org_unit.outerjoin(parent, parent.c.id == org_unit.c.parent_id))
        .where(scope_clause(org_unit.c.path, scope))
        .order_by(org_unit.c.path)
    )
    for code in (under, children_of):
        if code is not None and org_by_code(conn, code, scope) is None:
            raise NotFoundError("org unit", code)
    if under is not None:
        base = org_by_code(conn, under, scope)
        assert base is not None
        query = query.where(org_unit.c.path.like(base.path + "%"))
    if children_of is not None:
        query = query.where(parent.c.code == children_of)
    return [_org_out(row, row.parent_code) for row in conn.execute(query)]

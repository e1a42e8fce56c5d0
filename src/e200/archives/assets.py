"""Assets of every kind: create (with their org unit and parent relations), read, list, update,
retire. Every function takes the caller's ``Connection`` (a failed request writes nothing) and a
``Scope`` (records outside it answer as if they did not exist)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Row, Select, and_, func, insert, or_, select, update

from e200.archives.common import active, scope_clause, translate_db_errors
from e200.archives.events import RelationChange, announce
from e200.archives.kinds import KINDS, AssetKind
from e200.archives.model import Page
from e200.archives.org_units import org_by_code
from e200.archives.periods import close_open_period, insert_relation, parent_at
from e200.archives.tables import (
    ASSET_TABLES,
    RELATION_SPECS,
    RELATION_TABLES,
    RelationSpec,
    org_unit,
)
from e200.kernel import (
    ConflictError,
    DuplicateKeyError,
    InvalidInputError,
    NotFoundError,
    RetiredAssetError,
    Scope,
    UnknownReferenceError,
    as_utc,
    utc_now,
)

MAX_PAGE = 1000


_OUT_META = ("status", "retired_at", "created_at", "updated_at")


def asset_select(kind: AssetKind, at: datetime) -> Select[Any]:
    """The asset with its relations in force at ``at`` (org unit, parent, phase)."""
    t = kind.table
    org_rel = RELATION_TABLES[kind.org_relation.name]
    columns: list[Any] = [t.c.id, t.c.asset_number]
    columns += [t.c[c] for c in kind.attribute_columns]
    if kind.name == "meter":
        columns.append(t.c.multiplier)
    columns += [t.c[c] for c in _OUT_META]
    columns += [org_unit.c.code.label("org_unit"), org_unit.c.path.label("org_path")]
    joined = t.outerjoin(
        org_rel, and_(org_rel.c[kind.org_relation.child_col] == t.c.id, active(org_rel, at))
    ).outerjoin(org_unit, org_unit.c.id == org_rel.c.org_unit_id)
    spec = kind.parent_relation
    if spec is not None:
        rel = RELATION_TABLES[spec.name]
        parent = ASSET_TABLES[spec.parent].alias("parent")
        joined = joined.outerjoin(
            rel, and_(rel.c[spec.child_col] == t.c.id, active(rel, at))
        ).outerjoin(parent, parent.c.id == rel.c[spec.parent_col])
        columns.append(parent.c.asset_number.label(spec.parent))
        if spec.with_phase:
            columns.append(rel.c.phase)
    return select(*columns).select_from(joined)


def as_dict(row: Row[Any]) -> dict[str, Any]:
    out = dict(row._mapping)
    out.pop("id", None)
    out.pop("org_path", None)
    return out


def asset_row(
    conn: Connection, kind: AssetKind, asset_number: str, scope: Scope, at: datetime | None = None
) -> Row[Any] | None:
    query = asset_select(kind, at or utc_now()).where(kind.table.c.asset_number == asset_number)
    row = conn.execute(query).first()
    if row is None:
        return None
    if not scope.is_unrestricted and (row.org_path is None or not scope.allows(row.org_path)):
        return None  # outside the caller's scope: as if it did not exist
    return row


def numbers_in_scope(
    conn: Connection, kind_name: str, asset_numbers: list[str], scope: Scope
) -> set[str]:
    """Which of these asset numbers lie inside ``scope`` today (for scoped ingest)."""
    if scope.is_unrestricted or not asset_numbers:
        return set(asset_numbers)
    kind = KINDS[kind_name]
    query = asset_select(kind, utc_now()).where(
        kind.table.c.asset_number.in_(asset_numbers), scope_clause(org_unit.c.path, scope)
    )
    return {row.asset_number for row in conn.execute(query)}


def get_asset(conn: Connection, kind: AssetKind, asset_number: str, scope: Scope) -> dict[str, Any]:
    row = asset_row(conn, kind, asset_number, scope)
    if row is None:
        raise NotFoundError(kind.name, asset_number)
    return as_dict(row)


def parent_for(
    conn: Connection, spec: RelationSpec, key: str, scope: Scope, at: datetime
) -> Row[Any]:
    """The live parent named by ``key`` (field named after the parent kind)."""
    field = "parent" if spec.parent == "org_unit" else spec.parent
    if spec.parent == "org_unit":
        row = org_by_code(conn, key, scope)
        if row is None:
            raise UnknownReferenceError("org unit", key, field=field)
        return row
    parent_kind = KINDS[spec.parent]
    row = asset_row(conn, parent_kind, key, scope, at)
    if row is None:
        raise UnknownReferenceError(parent_kind.name, key, field=field)
    if row.status == "retired":
        raise RetiredAssetError(parent_kind.name, key, field=field)
    return row


def check_phase(kind: AssetKind, wiring: str | None, phase: str | None, field: str) -> str | None:
    if kind.name != "meter":
        return None
    if wiring == "three_phase":
        if phase not in (None, "ABC"):
            raise InvalidInputError(f"{field}: a three-phase meter is on phases 'ABC'", field=field)
        return "ABC"
    if phase not in ("A", "B", "C"):
        raise InvalidInputError(
            f"{field}: a single-phase meter needs its phase (A, B or C)", field=field
        )
    return phase


def create_asset(
    conn: Connection, kind: AssetKind, data: BaseModel, scope: Scope
) -> dict[str, Any]:
    """Create an asset with its org unit and parent relations, all in the caller's transaction."""
    asset_number: str = getattr(data, "asset_number")  # noqa: B009
    valid_from_in: datetime | None = getattr(data, "valid_from", None)
    at = as_utc(valid_from_in) if valid_from_in else utc_now()
    exists = conn.execute(
        select(kind.table.c.id).where(kind.table.c.asset_number == asset_number)
    ).first()
    if exists:
        raise DuplicateKeyError(kind.name, asset_number, field="asset_number")

    parent_row = None
    phase = None
    spec = kind.parent_relation
    if spec is not None:
        parent_key = getattr(data, spec.parent)
        if parent_key is not None:
            parent_row = parent_for(conn, spec, parent_key, scope, at)
            phase = check_phase(kind, getattr(data, "wiring", None), getattr(data, "phase", None),
                                 "phase")  # fmt: skip
    org_code: str | None = getattr(data, "org_unit", None)
    if org_code is not None:
        org = org_by_code(conn, org_code, scope)
        if org is None:
            raise UnknownReferenceError("org unit", org_code, field="org_unit")
        org_id = org.id
    elif parent_row is not None and parent_row.org_unit is not None:
        org = org_by_code(conn, parent_row.org_unit, scope)
        assert org is not None
        org_id = org.id
    else:
        raise InvalidInputError(
            "org_unit: required when the asset has no parent to inherit it from", field="org_unit"
        )

    values = {c: getattr(data, c) for c in kind.attribute_columns}
    with translate_db_errors(kind.name):
        new_id = conn.execute(
            insert(kind.table)
            .values(asset_number=asset_number, **values)
            .returning(kind.table.c.id)
        ).scalar_one()
    insert_relation(conn, kind.org_relation, new_id, org_id, at)
    if spec is not None and parent_row is not None:
        insert_relation(conn, spec, new_id, parent_row.id, at, phase=phase)
    return get_asset(conn, kind, asset_number, scope)


def list_assets(
    conn: Connection,
    kind: AssetKind,
    scope: Scope,
    *,
    org_unit_code: str | None = None,
    subtree: bool = True,
    parent: str | None = None,
    q: str | None = None,
    status: str | None = None,
    sort: str = "asset_number",
    limit: int = 50,
    offset: int = 0,
    at: datetime | None = None,
) -> Page:
    at = as_utc(at) if at else utc_now()
    query = asset_select(kind, at).where(scope_clause(org_unit.c.path, scope))
    if org_unit_code is not None:
        org = org_by_code(conn, org_unit_code, scope)
        if org is None:
            raise UnknownReferenceError("org unit", org_unit_code, field="org_unit")
        query = query.where(
            org_unit.c.path.like(org.path + "%") if subtree else org_unit.c.id == org.id
        )
    if parent is not None:
        if kind.parent_relation is None:
            raise InvalidInputError(f"parent: a {kind.name} has no parent asset", field="parent")
        query = query.where(query.selected_columns[kind.parent_relation.parent] == parent)
    if q:
        pattern = q.replace("%", r"\%").replace("_", r"\_")
        query = query.where(
            or_(kind.table.c.asset_number.ilike(pattern + "%"),
                kind.table.c.name.ilike("%" + pattern + "%"))
        )  # fmt: skip
    if status is not None:
        query = query.where(kind.table.c.status == status)
    descending = sort.startswith("-")
    sort_key = sort.lstrip("-")
    sortable = {"asset_number", "name", "status", "created_at", "updated_at", "org_unit",
                *kind.attribute_columns}  # fmt: skip
    if sort_key not in sortable:
        raise InvalidInputError(
            f"sort: {sort_key!r} is not sortable; use one of {sorted(sortable)}", field="sort"
        )
    order_col = query.selected_columns[sort_key]
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit: must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise InvalidInputError("offset: must not be negative", field="offset")
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(
        query.order_by(order_col.desc() if descending else order_col.asc(), kind.table.c.id)
        .limit(limit)
        .offset(offset)
    )
    return Page(items=[as_dict(r) for r in rows], total=total, limit=limit, offset=offset)


def update_asset(
    conn: Connection, kind: AssetKind, asset_number: str, patch: BaseModel, scope: Scope
) -> dict[str, Any]:
    row = asset_row(conn, kind, asset_number, scope)
    if row is None:
        raise NotFoundError(kind.name, asset_number)
    if row.status == "retired":
        raise RetiredAssetError(kind.name, asset_number, field="asset_number")
    values = patch.model_dump(exclude_unset=True)
    for name, value in values.items():
        column = kind.table.c[name]
        if value is None and not column.nullable:
            raise InvalidInputError(f"{name}: may not be empty", field=name)
    if values:
        with translate_db_errors(kind.name):
            conn.execute(
                update(kind.table)
                .where(kind.table.c.id == row.id)
                .values(**values, updated_at=func.now())
            )
    return get_asset(conn, kind, asset_number, scope)


def retire_asset(
    conn: Connection, kind: AssetKind, asset_number: str, at: datetime | None, scope: Scope,
    actor: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Retire an asset: close its topology relation at ``at``. Its org unit stays, so the record
    remains visible to those who own it. Refused while children are still attached."""
    at = as_utc(at) if at else utc_now()
    row = asset_row(conn, kind, asset_number, scope, at)
    if row is None:
        raise NotFoundError(kind.name, asset_number)
    if row.status == "retired":
        raise RetiredAssetError(kind.name, asset_number, field="asset_number")
    for rel_name in kind.child_relations:
        rel = RELATION_TABLES[rel_name]
        spec = RELATION_SPECS[rel_name]
        attached = conn.execute(
            select(func.count()).where(
                rel.c[spec.parent_col] == row.id, or_(rel.c.valid_to.is_(None), rel.c.valid_to > at)
            )
        ).scalar_one()
        if attached:
            raise ConflictError(
                f"asset_number: {kind.name} {asset_number!r} still has {attached} {spec.child}(s) "
                "attached; move or retire them first",
                field="asset_number",
            )
    topo = kind.parent_relation
    old = parent_at(conn, topo, row.id, at) if topo is not None else None
    if topo is not None:
        close_open_period(conn, topo, row.id, at)
    conn.execute(
        update(kind.table)
        .where(kind.table.c.id == row.id)
        .values(status="retired", retired_at=at, updated_at=func.now())
    )
    if topo is not None and old is not None:
        announce(conn, RelationChange(
            relation=topo.name, child_kind=kind.name, child=asset_number, old_parent=old[0],
            new_parent=None, phase=None, valid_from=at, valid_to=None, actor=actor,
        ))  # fmt: skip
    return get_asset(conn, kind, asset_number, scope)

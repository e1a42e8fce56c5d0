"""Archive services: create, read, list, update, retire assets; effective-dated relations;
topology as of a time; the browser tree. Every function takes a ``Connection`` (the caller owns
the transaction, so a failed request writes nothing) and a ``Scope`` (what the caller may see).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg.errors
from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    Table,
    and_,
    false,
    func,
    insert,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError

from e200.archives.events import RelationChange, announce
from e200.archives.kinds import KINDS, AssetKind
from e200.archives.model import (
    OrgUnitIn,
    OrgUnitOut,
    OrgUnitPatch,
    Page,
    RelationIn,
    RelationOut,
    Topology,
    TopologyMeter,
    TreeNode,
)
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


def _active(rel: Table, at: datetime) -> ColumnElement[bool]:
    """The relation row in force at ``at`` (periods are half-open: [valid_from, valid_to))."""
    return and_(rel.c.valid_from <= at, or_(rel.c.valid_to.is_(None), rel.c.valid_to > at))


def scope_clause(path_column: ColumnElement[str], scope: Scope) -> ColumnElement[bool]:
    """The one place a query is cut down to the caller's org-unit subtrees."""
    if scope.org_paths is None:
        return true()
    if not scope.org_paths:
        return false()  # an empty scope sees nothing
    return or_(*(path_column.like(root + "%") for root in scope.org_paths))


@contextmanager
def _translate_db_errors(kind_label: str) -> Iterator[None]:
    """Constraint violations that slip past the checks (races) become typed domain errors."""
    try:
        yield
    except IntegrityError as exc:
        orig = exc.orig
        if isinstance(orig, psycopg.errors.UniqueViolation):
            raise ConflictError(f"{kind_label}: a record with this key already exists",
                                field="asset_number") from exc  # fmt: skip
        if isinstance(orig, psycopg.errors.ExclusionViolation):
            raise ConflictError(
                "valid_from: the period overlaps another period of the same relation",
                field="valid_from",
            ) from exc
        if isinstance(orig, psycopg.errors.CheckViolation):
            raise InvalidInputError(f"{kind_label}: {orig.diag.message_primary}") from exc
        raise


# -- org units ---------------------------------------------------------------------------------


def _org_out(row: Row[Any], parent_code: str | None) -> OrgUnitOut:
    return OrgUnitOut(
        code=row.code, name=row.name, kind=row.kind, parent=parent_code,
        depth=row.path.count(".") - 1,
    )  # fmt: skip


def _org_by_code(conn: Connection, code: str, scope: Scope) -> Row[Any] | None:
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
        parent = _org_by_code(conn, data.parent, scope)
        if parent is None:
            raise UnknownReferenceError("org unit", data.parent, field="parent")
        parent_path, parent_id = parent.path, parent.id
    elif not scope.is_unrestricted:
        raise InvalidInputError("parent: required (you may only add units inside your scope)",
                                field="parent")  # fmt: skip
    with _translate_db_errors("org unit"):
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
    row = _org_by_code(conn, code, scope)
    if row is None:
        raise NotFoundError("org unit", code)
    parent_code = None
    if row.parent_id is not None:
        parent_code = conn.execute(
            select(org_unit.c.code).where(org_unit.c.id == row.parent_id)
        ).scalar_one()
    return _org_out(row, parent_code)


def update_org_unit(conn: Connection, code: str, patch: OrgUnitPatch, scope: Scope) -> OrgUnitOut:
    row = _org_by_code(conn, code, scope)
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
        if code is not None and _org_by_code(conn, code, scope) is None:
            raise NotFoundError("org unit", code)
    if under is not None:
        base = _org_by_code(conn, under, scope)
        assert base is not None
        query = query.where(org_unit.c.path.like(base.path + "%"))
    if children_of is not None:
        query = query.where(parent.c.code == children_of)
    return [_org_out(row, row.parent_code) for row in conn.execute(query)]


# -- assets ------------------------------------------------------------------------------------


def _asset_select(kind: AssetKind, at: datetime) -> Select[Any]:
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
        org_rel, and_(org_rel.c[kind.org_relation.child_col] == t.c.id, _active(org_rel, at))
    ).outerjoin(org_unit, org_unit.c.id == org_rel.c.org_unit_id)
    spec = kind.parent_relation
    if spec is not None:
        rel = RELATION_TABLES[spec.name]
        parent = ASSET_TABLES[spec.parent].alias("parent")
        joined = joined.outerjoin(
            rel, and_(rel.c[spec.child_col] == t.c.id, _active(rel, at))
        ).outerjoin(parent, parent.c.id == rel.c[spec.parent_col])
        columns.append(parent.c.asset_number.label(spec.parent))
        if spec.with_phase:
            columns.append(rel.c.phase)
    return select(*columns).select_from(joined)


def _as_dict(row: Row[Any]) -> dict[str, Any]:
    out = dict(row._mapping)
    out.pop("id", None)
    out.pop("org_path", None)
    return out


def _asset_row(
    conn: Connection, kind: AssetKind, asset_number: str, scope: Scope, at: datetime | None = None
) -> Row[Any] | None:
    query = _asset_select(kind, at or utc_now()).where(kind.table.c.asset_number == asset_number)
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
    query = _asset_select(kind, utc_now()).where(
        kind.table.c.asset_number.in_(asset_numbers), scope_clause(org_unit.c.path, scope)
    )
    return {row.asset_number for row in conn.execute(query)}


def get_asset(conn: Connection, kind: AssetKind, asset_number: str, scope: Scope) -> dict[str, Any]:
    row = _asset_row(conn, kind, asset_number, scope)
    if row is None:
        raise NotFoundError(kind.name, asset_number)
    return _as_dict(row)


def _parent_for(
    conn: Connection, spec: RelationSpec, key: str, scope: Scope, at: datetime
) -> Row[Any]:
    """The live parent named by ``key`` (field named after the parent kind)."""
    field = "parent" if spec.parent == "org_unit" else spec.parent
    if spec.parent == "org_unit":
        row = _org_by_code(conn, key, scope)
        if row is None:
            raise UnknownReferenceError("org unit", key, field=field)
        return row
    parent_kind = KINDS[spec.parent]
    row = _asset_row(conn, parent_kind, key, scope, at)
    if row is None:
        raise UnknownReferenceError(parent_kind.name, key, field=field)
    if row.status == "retired":
        raise RetiredAssetError(parent_kind.name, key, field=field)
    return row


def _check_phase(kind: AssetKind, wiring: str | None, phase: str | None, field: str) -> str | None:
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


def _insert_relation(
    conn: Connection, spec: RelationSpec, child_id: int, parent_id: int,
    valid_from: datetime, valid_to: datetime | None = None, phase: str | None = None,
) -> None:  # fmt: skip
    values: dict[str, Any] = {
        spec.child_col: child_id, spec.parent_col: parent_id,
        "valid_from": valid_from, "valid_to": valid_to,
    }  # fmt: skip
    if spec.with_phase:
        values["phase"] = phase
    with _translate_db_errors(spec.name):
        conn.execute(insert(RELATION_TABLES[spec.name]).values(**values))


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
            parent_row = _parent_for(conn, spec, parent_key, scope, at)
            phase = _check_phase(kind, getattr(data, "wiring", None), getattr(data, "phase", None),
                                 "phase")  # fmt: skip
    org_code: str | None = getattr(data, "org_unit", None)
    if org_code is not None:
        org = _org_by_code(conn, org_code, scope)
        if org is None:
            raise UnknownReferenceError("org unit", org_code, field="org_unit")
        org_id = org.id
    elif parent_row is not None and parent_row.org_unit is not None:
        org = _org_by_code(conn, parent_row.org_unit, scope)
        assert org is not None
        org_id = org.id
    else:
        raise InvalidInputError(
            "org_unit: required when the asset has no parent to inherit it from", field="org_unit"
        )

    values = {c: getattr(data, c) for c in kind.attribute_columns}
    with _translate_db_errors(kind.name):
        new_id = conn.execute(
            insert(kind.table)
            .values(asset_number=asset_number, **values)
            .returning(kind.table.c.id)
        ).scalar_one()
    _insert_relation(conn, kind.org_relation, new_id, org_id, at)
    if spec is not None and parent_row is not None:
        _insert_relation(conn, spec, new_id, parent_row.id, at, phase=phase)
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
    query = _asset_select(kind, at).where(scope_clause(org_unit.c.path, scope))
    if org_unit_code is not None:
        org = _org_by_code(conn, org_unit_code, scope)
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
    return Page(items=[_as_dict(r) for r in rows], total=total, limit=limit, offset=offset)


def update_asset(
    conn: Connection, kind: AssetKind, asset_number: str, patch: BaseModel, scope: Scope
) -> dict[str, Any]:
    row = _asset_row(conn, kind, asset_number, scope)
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
        with _translate_db_errors(kind.name):
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
    row = _asset_row(conn, kind, asset_number, scope, at)
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
    old = _parent_at(conn, topo, row.id, at) if topo is not None else None
    if topo is not None:
        _close_open_period(conn, topo, row.id, at)
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


def _close_open_period(conn: Connection, spec: RelationSpec, child_id: int, at: datetime) -> None:
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


def relation_spec(kind: AssetKind, relation: str) -> RelationSpec:
    """``relation`` is the parent's kind: 'org_unit' or the topology parent ('transformer'...)."""
    if relation == "org_unit":
        return kind.org_relation
    if kind.parent_relation is not None and kind.parent_relation.parent == relation:
        return kind.parent_relation
    raise NotFoundError("relation", f"{kind.name}/{relation}")


def set_relation(
    conn: Connection, kind: AssetKind, asset_number: str, relation: str, data: RelationIn,
    scope: Scope, actor: str | None = None,
) -> list[RelationOut]:  # fmt: skip
    """Attach the asset to ``data.parent`` from ``valid_from``. Without ``valid_to`` this is a move:
    the period in force at ``valid_from`` is closed there. With ``valid_to`` it records a bounded
    (historical) period, which must not overlap another. The change is announced to the
    relation listeners (``events.on_relation_change``) in the same transaction."""
    spec = relation_spec(kind, relation)
    valid_from = as_utc(data.valid_from) if data.valid_from else utc_now()
    valid_to = as_utc(data.valid_to) if data.valid_to else None
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidInputError("valid_to: must be after valid_from", field="valid_to")
    row = _asset_row(conn, kind, asset_number, scope)
    if row is None:
        raise NotFoundError(kind.name, asset_number)
    if row.status == "retired":
        raise RetiredAssetError(kind.name, asset_number, field="asset_number")
    parent = _parent_for(conn, spec, data.parent, scope, valid_from)
    phase = None
    if spec.with_phase:
        phase = _check_phase(kind, row.wiring, data.phase, "phase")
    old = _parent_at(conn, spec, row.id, valid_from)
    if valid_to is None:
        _close_open_period(conn, spec, row.id, valid_from)
    _insert_relation(conn, spec, row.id, parent.id, valid_from, valid_to, phase)
    new_parent = parent.code if spec.parent == "org_unit" else parent.asset_number
    announce(conn, RelationChange(
        relation=spec.name, child_kind=kind.name, child=asset_number,
        old_parent=old[0] if old else None, new_parent=new_parent, phase=phase,
        valid_from=valid_from, valid_to=valid_to, actor=actor,
    ))  # fmt: skip
    return relation_history(conn, kind, asset_number, relation, scope)


def detach_relation(
    conn: Connection, kind: AssetKind, asset_number: str, relation: str, at: datetime | None,
    scope: Scope, actor: str | None = None,
) -> list[RelationOut]:  # fmt: skip
    """End the period of the topology relation in force at ``at`` (default now) without a new
    parent: a meter taken off its transformer, a terminal taken off its transformer. The org
    unit relation cannot be detached (every asset belongs to a unit)."""
    spec = relation_spec(kind, relation)
    if spec.parent == "org_unit":
        raise InvalidInputError("relation: an asset always belongs to an org unit; move it "
                                "to another unit instead", field="relation")  # fmt: skip
    at = as_utc(at) if at else utc_now()
    row = _asset_row(conn, kind, asset_number, scope)
    if row is None:
        raise NotFoundError(kind.name, asset_number)
    old = _parent_at(conn, spec, row.id, at)
    if old is None:
        raise ConflictError(f"valid_from: {kind.name} {asset_number!r} has no {spec.parent} "
                            f"at {at.isoformat()}", field="valid_from")  # fmt: skip
    _close_open_period(conn, spec, row.id, at)
    announce(conn, RelationChange(
        relation=spec.name, child_kind=kind.name, child=asset_number, old_parent=old[0],
        new_parent=None, phase=None, valid_from=at, valid_to=None, actor=actor,
    ))  # fmt: skip
    return relation_history(conn, kind, asset_number, relation, scope)


def _parent_at(
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
        .where(rel.c[spec.child_col] == child_id, _active(rel, at))
    ).first()
    return (str(found[0]), found[1]) if found is not None else None


def relation_history(
    conn: Connection, kind: AssetKind, asset_number: str, relation: str, scope: Scope
) -> list[RelationOut]:
    spec = relation_spec(kind, relation)
    row = _asset_row(conn, kind, asset_number, scope)
    if row is None:
        raise NotFoundError(kind.name, asset_number)
    rel = RELATION_TABLES[spec.name]
    parent_table = org_unit if spec.parent == "org_unit" else ASSET_TABLES[spec.parent]
    key = parent_table.c.code if spec.parent == "org_unit" else parent_table.c.asset_number
    columns: list[Any] = [key.label("parent"), rel.c.valid_from, rel.c.valid_to]
    if spec.with_phase:
        columns.append(rel.c.phase)
    rows = conn.execute(
        select(*columns)
        .select_from(rel.join(parent_table, parent_table.c.id == rel.c[spec.parent_col]))
        .where(rel.c[spec.child_col] == row.id)
        .order_by(rel.c.valid_from)
    )
    return [RelationOut(**r._mapping) for r in rows]


# -- topology ----------------------------------------------------------------------------------


def topology(
    conn: Connection, transformer_number: str, at: datetime | None, scope: Scope
) -> Topology:
    """The station area of a transformer as it was at ``at``: its feeder, substation, org unit,
    terminals and meters (with phases)."""
    at = as_utc(at) if at else utc_now()
    kind = KINDS["transformer"]
    row = _asset_row(conn, kind, transformer_number, scope, at)
    if row is None:
        raise NotFoundError("transformer", transformer_number)
    substation = None
    if row.feeder is not None:
        feeder_row = _asset_row(conn, KINDS["feeder"], row.feeder, Scope.everything(), at)
        substation = feeder_row.substation if feeder_row is not None else None
    term_rel = RELATION_TABLES["terminal_transformer"]
    term = ASSET_TABLES["terminal"]
    terminals = conn.execute(
        select(term.c.asset_number)
        .select_from(term_rel.join(term, term.c.id == term_rel.c.terminal_id))
        .where(term_rel.c.transformer_id == row.id, _active(term_rel, at))
        .order_by(term.c.asset_number)
    ).scalars()
    meter_rel = RELATION_TABLES["meter_transformer"]
    meter = ASSET_TABLES["meter"]
    meters = conn.execute(
        select(meter.c.asset_number, meter.c.customer_account, meter_rel.c.phase, meter.c.status,
               meter_rel.c.valid_from, meter_rel.c.valid_to)
        .select_from(meter_rel.join(meter, meter.c.id == meter_rel.c.meter_id))
        .where(meter_rel.c.transformer_id == row.id, _active(meter_rel, at))
        .order_by(meter.c.asset_number)
    )  # fmt: skip
    return Topology(
        at=at,
        transformer=_as_dict(row),
        org_unit=row.org_unit,
        feeder=row.feeder,
        substation=substation,
        terminals=list(terminals),
        meters=[TopologyMeter(**m._mapping) for m in meters],
    )


# -- browser tree ------------------------------------------------------------------------------

_TREE_CHILD: dict[str, tuple[str, ...]] = {
    "substation": ("feeder",),
    "feeder": ("transformer",),
    "transformer": ("terminal", "meter"),
}
TREE_CHILD_LIMIT = 500


def _label(number: object, name: object) -> str:
    return f"{number} · {name}" if name else str(number)


def tree_children(
    conn: Connection, node_kind: str | None, key: str | None, scope: Scope
) -> list[TreeNode]:
    """Children of one node of the archive tree: org units hold org units and substations;
    substation → feeders → transformers → terminals and meters (as of now)."""
    if node_kind is None:
        units = list_org_units(conn, scope)
        depth_min = min((u.depth for u in units), default=0)
        return [TreeNode(kind="org_unit", key=u.code, label=u.name, has_children=True)
                for u in units if u.depth == depth_min]  # fmt: skip
    if node_kind == "org_unit":
        assert key is not None
        units = list_org_units(conn, scope, children_of=key)
        nodes = [TreeNode(kind="org_unit", key=u.code, label=u.name, has_children=True)
                 for u in units]  # fmt: skip
        page = list_assets(conn, KINDS["substation"], scope, org_unit_code=key, subtree=False,
                           limit=TREE_CHILD_LIMIT)  # fmt: skip
        nodes += [TreeNode(kind="substation", key=str(i["asset_number"]),
                           label=_label(str(i["asset_number"]), i["name"]), has_children=True)
                  for i in page.items]  # fmt: skip
        return nodes
    nodes = []
    assert key is not None
    if _asset_row(conn, KINDS[node_kind], key, scope) is None:
        raise NotFoundError(node_kind, key)
    for child in _TREE_CHILD.get(node_kind, ()):
        page = list_assets(conn, KINDS[child], scope, parent=key, limit=TREE_CHILD_LIMIT)
        nodes += [TreeNode(kind=child, key=str(i["asset_number"]),
                           label=_label(str(i["asset_number"]), i.get("name")),
                           has_children=child in _TREE_CHILD)
                  for i in page.items]  # fmt: skip
    return nodes


def tree_path(conn: Connection, node_kind: str, key: str, scope: Scope) -> list[tuple[str, str]]:
    """The chain of (kind, key) from the top of the tree down to a node, for search results."""
    chain: list[tuple[str, str]] = []
    kind_name: str | None = node_kind
    current: str | None = key
    org_code: str | None = None
    while kind_name is not None and kind_name != "org_unit" and current is not None:
        row = _asset_row(conn, KINDS[kind_name], current, scope)
        if row is None:
            raise NotFoundError(kind_name, current)
        chain.append((kind_name, current))
        org_code = row.org_unit
        spec = KINDS[kind_name].parent_relation
        if spec is None:
            break
        kind_name, current = spec.parent, getattr(row, spec.parent)
    if node_kind == "org_unit":
        org_code = key
    unit = _org_by_code(conn, org_code, scope) if org_code else None
    if unit is not None:
        ids = [int(p) for p in unit.path.rstrip(".").split(".")]
        rows = conn.execute(select(org_unit.c.id, org_unit.c.code, org_unit.c.path)
                            .where(org_unit.c.id.in_(ids))).all()  # fmt: skip
        by_id = {r.id: r for r in rows}
        for org_id in reversed(ids):
            r = by_id[org_id]
            if scope.allows(r.path):
                chain.append(("org_unit", r.code))
    return list(reversed(chain))


def search_assets(conn: Connection, q: str, scope: Scope, limit: int = 20) -> list[TreeNode]:
    """Assets whose number starts with ``q`` (any kind), for the console's search box."""
    results: list[TreeNode] = []
    for kind in KINDS.values():
        page = list_assets(conn, kind, scope, q=q, limit=limit)
        results += [TreeNode(kind=kind.name, key=str(i["asset_number"]),
                             label=_label(str(i["asset_number"]), i.get("name")),
                             has_children=kind.name in _TREE_CHILD)
                    for i in page.items]  # fmt: skip
    return results[:limit]


def counts(conn: Connection, scope: Scope) -> dict[str, int]:
    """Assets in service per kind, for the overview page."""
    out: dict[str, int] = {}
    for kind in KINDS.values():
        page = list_assets(conn, kind, scope, status="in_service", limit=1)
        out[kind.plural] = page.total
    return out


# -- device lookup for ingest ------------------------------------------------------------------

SQRT3 = 3**0.5


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """What ingest needs to know of a device: its id and the ratings its ranges scale with."""

    id: int
    kind: str
    status: str
    rating: dict[str, float]
    reporting_interval_min: int | None = None


def _dt_rating(rated_kva: float, secondary_v: float, phases: int) -> dict[str, float]:
    if phases == 1:
        return {"v_phase": secondary_v, "i_rated": rated_kva * 1000 / secondary_v,
                "s_rated": rated_kva}  # fmt: skip
    return {"v_phase": secondary_v / SQRT3, "i_rated": rated_kva * 1000 / (SQRT3 * secondary_v),
            "s_rated": rated_kva}  # fmt: skip


def lookup_devices(
    conn: Connection, kind_name: str, asset_numbers: list[str], default_v_phase: float = 230.0
) -> dict[str, DeviceRef]:
    """Devices by asset number (unknown numbers are simply absent). Meters take their nominal
    voltage from the transformer they are attached to now."""
    if not asset_numbers:
        return {}
    if kind_name == "transformer":
        t = ASSET_TABLES["transformer"]
        rows = conn.execute(
            select(t.c.id, t.c.asset_number, t.c.status, t.c.rated_kva, t.c.secondary_rated_v,
                   t.c.phases).where(t.c.asset_number.in_(asset_numbers))
        )  # fmt: skip
        return {r.asset_number: DeviceRef(r.id, "transformer", r.status,
                                          _dt_rating(r.rated_kva, r.secondary_rated_v, r.phases))
                for r in rows}  # fmt: skip
    if kind_name == "terminal":
        term = ASSET_TABLES["terminal"]
        rows = conn.execute(
            select(term.c.id, term.c.asset_number, term.c.status,
                   term.c.reporting_interval_min).where(term.c.asset_number.in_(asset_numbers))
        )  # fmt: skip
        return {r.asset_number: DeviceRef(r.id, "terminal", r.status, {},
                                          r.reporting_interval_min) for r in rows}  # fmt: skip
    if kind_name == "meter":
        m = ASSET_TABLES["meter"]
        t = ASSET_TABLES["transformer"]
        rel = RELATION_TABLES["meter_transformer"]
        rows = conn.execute(
            select(m.c.id, m.c.asset_number, m.c.status, t.c.secondary_rated_v, t.c.phases)
            .select_from(
                m.outerjoin(rel, and_(rel.c.meter_id == m.c.id, _active(rel, utc_now()))).outerjoin(
                    t, t.c.id == rel.c.transformer_id
                )
            )
            .where(m.c.asset_number.in_(asset_numbers))
        )
        out = {}
        for r in rows:
            v_phase = default_v_phase
            if r.secondary_rated_v is not None:
                v_phase = r.secondary_rated_v / (SQRT3 if r.phases == 3 else 1)
            out[r.asset_number] = DeviceRef(r.id, "meter", r.status, {"v_phase": v_phase})
        return out
    raise ValueError(f"no device lookup for {kind_name!r}")


def set_reporting_interval(conn: Connection, terminal_number: str, interval_min: int) -> None:
    """Record the interval a terminal confirmed (after a downlink command was acknowledged)."""
    t = ASSET_TABLES["terminal"]
    conn.execute(update(t).where(t.c.asset_number == terminal_number)
                 .values(reporting_interval_min=interval_min, updated_at=func.now()))  # fmt: skip

"""An asset's effective-dated relations: move it or record a bounded period, detach it, read the
history; and the topology a transformer's station area had at an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from e200.archives.assets import as_dict, asset_row, check_phase, parent_for
from e200.archives.common import active
from e200.archives.events import RelationChange, announce
from e200.archives.kinds import KINDS, AssetKind
from e200.archives.model import RelationIn, RelationOut, Topology, TopologyMeter
from e200.archives.periods import close_open_period, insert_relation, parent_at
from e200.archives.tables import ASSET_TABLES, RELATION_TABLES, RelationSpec, org_unit
from e200.kernel import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RetiredAssetError,
    Scope,
    as_utc,
    utc_now,
)


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
    row = asset_row(conn, kind, asset_number, scope)
    if row is None:
        raise NotFoundError(kind.name, asset_number)
    if row.status == "retired":
        raise RetiredAssetError(kind.name, asset_number, field="asset_number")
    parent = parent_for(conn, spec, data.parent, scope, valid_from)
    phase = None
    if spec.with_phase:
        phase = check_phase(kind, row.wiring, data.phase, "phase")
    old = parent_at(conn, spec, row.id, valid_from)
    if valid_to is None:
        close_open_period(conn, spec, row.id, valid_from)
    insert_relation(conn, spec, row.id, parent.id, valid_from, valid_to, phase)
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
    row = asset_row(conn, kind, asset_number, scope)
    if row is None:
        raise NotFoundError(kind.name, asset_number)
    old = parent_at(conn, spec, row.id, at)
    if old is None:
        raise ConflictError(f"valid_from: {kind.name} {asset_number!r} has no {spec.parent} "
                            f"at {at.isoformat()}", field="valid_from")  # fmt: skip
    close_open_period(conn, spec, row.id, at)
    announce(conn, RelationChange(
        relation=spec.name, child_kind=kind.name, child=asset_number, old_parent=old[0],
        new_parent=None, phase=None, valid_from=at, valid_to=None, actor=actor,
    ))  # fmt: skip
    return relation_history(conn, kind, asset_number, relation, scope)


def relation_history(
    conn: Connection, kind: AssetKind, asset_number: str, relation: str, scope: Scope
) -> list[RelationOut]:
    spec = relation_spec(kind, relation)
    row = asset_row(conn, kind, asset_number, scope)
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


def topology(
    conn: Connection, transformer_number: str, at: datetime | None, scope: Scope
) -> Topology:
    """The station area of a transformer as it was at ``at``: its feeder, substation, org unit,
    terminals and meters (with phases)."""
    at = as_utc(at) if at else utc_now()
    kind = KINDS["transformer"]
    row = asset_row(conn, kind, transformer_number, scope, at)
    if row is None:
        raise NotFoundError("transformer", transformer_number)
    substation = None
    if row.feeder is not None:
        feeder_row = asset_row(conn, KINDS["feeder"], row.feeder, Scope.everything(), at)
        substation = feeder_row.substation if feeder_row is not None else None
    term_rel = RELATION_TABLES["terminal_transformer"]
    term = ASSET_TABLES["terminal"]
    terminals = conn.execute(
        select(term.c.asset_number)
        .select_from(term_rel.join(term, term.c.id == term_rel.c.terminal_id))
        .where(term_rel.c.transformer_id == row.id, active(term_rel, at))
        .order_by(term.c.asset_number)
    ).scalars()
    meter_rel = RELATION_TABLES["meter_transformer"]
    meter = ASSET_TABLES["meter"]
    meters = conn.execute(
        select(meter.c.asset_number, meter.c.customer_account, meter_rel.c.phase, meter.c.status,
               meter_rel.c.valid_from, meter_rel.c.valid_to)
        .select_from(meter_rel.join(meter, meter.c.id == meter_rel.c.meter_id))
        .where(meter_rel.c.transformer_id == row.id, active(meter_rel, at))
        .order_by(meter.c.asset_number)
    )  # fmt: skip
    return Topology(
        at=at,
        transformer=as_dict(row),
        org_unit=row.org_unit,
        feeder=row.feeder,
        substation=substation,
        terminals=list(terminals),
        meters=[TopologyMeter(**m._mapping) for m in meters],
    )

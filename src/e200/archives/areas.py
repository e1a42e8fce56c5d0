"""Bulk reads of station areas for the slices above the archive: which meters the archive puts
under each terminal (through the terminal's transformer), where given meters are placed, and a
scope filter for rows that name a device by kind and id (alarms)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Subquery,
    and_,
    exists,
    func,
    or_,
    select,
    true,
)

from e200.archives.common import active, scope_clause
from e200.archives.kinds import KINDS
from e200.archives.org_units import org_by_code
from e200.archives.tables import ASSET_TABLES, RELATION_TABLES, org_unit
from e200.kernel import NotFoundError, Scope, as_utc, utc_now

DEVICE_KINDS = ("terminal", "transformer", "meter")
SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True, slots=True)
class StationArea:
    """A terminal with the station area the archive gives it at one instant: its transformer
    and that transformer's meters (asset number → phase)."""

    terminal: str
    terminal_id: int
    status: str
    org_unit: str | None
    transformer: str | None
    meters: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MeterPlacement:
    """Where the archive puts a meter at one instant."""

    meter: str
    status: str
    wiring: str
    transformer: str | None
    phase: str | None
    terminals: tuple[str, ...]  # the terminals at that transformer


def station_areas(
    conn: Connection,
    scope: Scope,
    *,
    terminals: list[str] | None = None,
    org_unit_code: str | None = None,
    at: datetime | None = None,
) -> list[StationArea]:
    """Terminals in ``scope`` (all of them, or those named, or those under an org unit) that are
    not retired, with their station area at ``at`` (default now), ordered by asset number.
    Meters that are retired are left out."""
    at = as_utc(at) if at else utc_now()
    term = ASSET_TABLES["terminal"]
    meter = ASSET_TABLES["meter"]
    trafo = ASSET_TABLES["transformer"]
    org_rel = RELATION_TABLES[KINDS["terminal"].org_relation.name]
    term_rel = RELATION_TABLES["terminal_transformer"]
    meter_rel = RELATION_TABLES["meter_transformer"]
    query = (
        select(term.c.id, term.c.asset_number, term.c.status, org_unit.c.code.label("org_unit"),
               trafo.c.asset_number.label("transformer"),
               meter.c.asset_number.label("meter"), meter_rel.c.phase)
        .select_from(
            term.join(org_rel, and_(org_rel.c.terminal_id == term.c.id, active(org_rel, at)))
            .join(org_unit, org_unit.c.id == org_rel.c.org_unit_id)
            .outerjoin(term_rel, and_(term_rel.c.terminal_id == term.c.id,
                                      active(term_rel, at)))
            .outerjoin(trafo, trafo.c.id == term_rel.c.transformer_id)
            .outerjoin(meter_rel, and_(meter_rel.c.transformer_id == trafo.c.id,
                                       active(meter_rel, at)))
            .outerjoin(meter, and_(meter.c.id == meter_rel.c.meter_id,
                                   meter.c.status != "retired"))
        )
        .where(term.c.status != "retired", scope_clause(org_unit.c.path, scope))
        .order_by(term.c.asset_number, meter.c.asset_number)
    )  # fmt: skip
    if terminals is not None:
        query = query.where(term.c.asset_number.in_(terminals))
    if org_unit_code is not None:
        unit = org_by_code(conn, org_unit_code, scope)
        if unit is None:
            raise NotFoundError("org unit", org_unit_code, field="org_unit")
        query = query.where(org_unit.c.path.like(unit.path + "%"))
    out: dict[int, StationArea] = {}
    for row in conn.execute(query):
        area = out.get(row.id)
        if area is None:
            area = out[row.id] = StationArea(
                row.asset_number, row.id, row.status, row.org_unit, row.transformer
            )
        if row.meter is not None:
            area.meters[row.meter] = row.phase
    return list(out.values())


def meter_placements(
    conn: Connection, meters: list[str], at: datetime | None = None
) -> dict[str, MeterPlacement]:
    """Where the archive puts each of these meters at ``at`` (unknown numbers are absent).
    No scope here: callers decide what of it they may show."""
    if not meters:
        return {}
    at = as_utc(at) if at else utc_now()
    meter = ASSET_TABLES["meter"]
    trafo = ASSET_TABLES["transformer"]
    term = ASSET_TABLES["terminal"]
    meter_rel = RELATION_TABLES["meter_transformer"]
    term_rel = RELATION_TABLES["terminal_transformer"]
    rows = conn.execute(
        select(meter.c.asset_number, meter.c.status, meter.c.wiring,
               trafo.c.asset_number.label("transformer"), meter_rel.c.phase,
               term.c.asset_number.label("terminal"))
        .select_from(
            meter.outerjoin(meter_rel, and_(meter_rel.c.meter_id == meter.c.id,
                                            active(meter_rel, at)))
            .outerjoin(trafo, trafo.c.id == meter_rel.c.transformer_id)
            .outerjoin(term_rel, and_(term_rel.c.transformer_id == trafo.c.id,
                                      active(term_rel, at)))
            .outerjoin(term, and_(term.c.id == term_rel.c.terminal_id,
                                  term.c.status != "retired"))
        )
        .where(meter.c.asset_number.in_(sorted(set(meters))))
        .order_by(meter.c.asset_number, term.c.asset_number)
    )  # fmt: skip
    found: dict[str, tuple[Any, list[str]]] = {}
    for row in rows:
        entry = found.setdefault(row.asset_number, (row, []))
        if row.terminal is not None:
            entry[1].append(row.terminal)
    return {
        number: MeterPlacement(number, row.status, row.wiring, row.transformer, row.phase,
                               tuple(terms))
        for number, (row, terms) in found.items()
    }  # fmt: skip


def terminals_at(
    conn: Connection, transformer: str, at: datetime | None = None,
    attached_from: datetime | None = None,
) -> list[str]:  # fmt: skip
    """The terminals (not retired) attached to a transformer at ``at``; with ``attached_from``
    only those whose attachment in force then began at that instant."""
    at = as_utc(at) if at else utc_now()
    trafo = ASSET_TABLES["transformer"]
    term = ASSET_TABLES["terminal"]
    rel = RELATION_TABLES["terminal_transformer"]
    query = (
        select(term.c.asset_number)
        .select_from(rel.join(term, term.c.id == rel.c.terminal_id)
                     .join(trafo, trafo.c.id == rel.c.transformer_id))
        .where(trafo.c.asset_number == transformer, term.c.status != "retired",
               active(rel, at))
        .order_by(term.c.asset_number)
    )  # fmt: skip
    if attached_from is not None:
        query = query.where(rel.c.valid_from == as_utc(attached_from))
    return list(conn.execute(query).scalars())


def asset_numbers(conn: Connection, kind_name: str, ids: list[int]) -> dict[int, str]:
    """Asset numbers of devices given by id (unknown ids are absent)."""
    if not ids:
        return {}
    table = ASSET_TABLES[kind_name]
    rows = conn.execute(select(table.c.id, table.c.asset_number).where(table.c.id.in_(ids)))
    return {row.id: row.asset_number for row in rows}


def devices_in_scope(
    kind_column: ColumnElement[str], id_column: ColumnElement[int], scope: Scope
) -> ColumnElement[bool]:
    """A WHERE clause for rows naming a device by kind ('terminal', 'transformer', 'meter') and
    id: the device's org unit now lies inside ``scope``. Unrestricted scopes pass everything."""
    if scope.is_unrestricted:
        return true()
    now = utc_now()
    clauses = []
    for name in DEVICE_KINDS:
        spec = KINDS[name].org_relation
        rel = RELATION_TABLES[spec.name]
        owned = exists(
            select(rel.c.id)
            .select_from(rel.join(org_unit, org_unit.c.id == rel.c.org_unit_id))
            .where(rel.c[spec.child_col] == id_column, active(rel, now),
                   scope_clause(org_unit.c.path, scope))
        )  # fmt: skip
        clauses.append(and_(kind_column == name, owned))
    return or_(*clauses)


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What an evaluator needs of a device: its asset number, its org unit's path now (None
    when it has none), and the columns of its asset row it asked for."""

    id: int
    asset_number: str
    org_path: str | None
    columns: dict[str, Any] = field(default_factory=dict)


def device_facts(
    conn: Connection, kind: str, ids: list[int], columns: tuple[str, ...] = ()
) -> dict[int, DeviceFacts]:
    """Asset number, org-unit path (now) and the named asset columns of devices, by id."""
    if kind not in DEVICE_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {DEVICE_KINDS}")
    if not ids:
        return {}
    table = ASSET_TABLES[kind]
    spec = KINDS[kind].org_relation
    rel = RELATION_TABLES[spec.name]
    now = utc_now()
    path = (
        select(org_unit.c.path)
        .select_from(rel.join(org_unit, org_unit.c.id == rel.c.org_unit_id))
        .where(rel.c[spec.child_col] == table.c.id, active(rel, now))
        .limit(1)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(table.c.id, table.c.asset_number, path.label("org_path"),
               *(table.c[c] for c in columns))
        .where(table.c.id.in_(ids))
    )  # fmt: skip
    return {
        r.id: DeviceFacts(r.id, r.asset_number, r.org_path, {c: r._mapping[c] for c in columns})
        for r in rows
    }


@dataclass(frozen=True, slots=True)
class TransformerSite:
    """A transformer in service with what monitoring needs of it: rating, losses, location,
    feeder, org unit and the terminal measuring it (with its reporting interval)."""

    id: int
    asset_number: str
    status: str
    org_unit: str
    org_path: str
    feeder: str | None
    rated_kva: float
    secondary_rated_v: float
    phases: int
    no_load_loss_kw: float | None
    load_loss_kw: float | None
    lat: float | None
    lon: float | None
    terminal: str | None
    terminal_id: int | None
    reporting_interval_min: int | None

    @property
    def v_phase(self) -> float:
        """Nominal phase-to-neutral voltage of the low-voltage side (V)."""
        return self.secondary_rated_v if self.phases == 1 else self.secondary_rated_v / SQRT3


def first_terminals(at: datetime, pick: ColumnElement[Any], label: str) -> Subquery:
    """Per transformer, the first (min of ``pick``) terminal not retired measuring it at
    ``at``: (transformer_id, ``label``)."""
    term = ASSET_TABLES["terminal"]
    term_rel = RELATION_TABLES["terminal_transformer"]
    return (
        select(term_rel.c.transformer_id, func.min(pick).label(label))
        .select_from(term_rel.join(term, and_(term.c.id == term_rel.c.terminal_id,
                                              term.c.status != "retired")))
        .where(active(term_rel, at))
        .group_by(term_rel.c.transformer_id)
        .subquery()
    )  # fmt: skip


def transformer_sites(
    conn: Connection,
    scope: Scope,
    *,
    org_unit_code: str | None = None,
    transformers: list[str] | None = None,
    at: datetime | None = None,
) -> list[TransformerSite]:
    """Transformers in ``scope`` that are not retired (all, those named, or those under an org
    unit) with their feeder and first terminal at ``at`` — one query, ordered by asset number."""
    at = as_utc(at) if at else utc_now()
    trafo = ASSET_TABLES["transformer"]
    term = ASSET_TABLES["terminal"]
    feeder = ASSET_TABLES["feeder"]
    org_rel = RELATION_TABLES[KINDS["transformer"].org_relation.name]
    feeder_rel = RELATION_TABLES["transformer_feeder"]
    first_term = first_terminals(at, term.c.asset_number, "terminal")
    query = (
        select(trafo.c.id, trafo.c.asset_number, trafo.c.status, org_unit.c.code.label("org_unit"),
               org_unit.c.path.label("org_path"), feeder.c.asset_number.label("feeder"),
               trafo.c.rated_kva, trafo.c.secondary_rated_v, trafo.c.phases,
               trafo.c.no_load_loss_kw, trafo.c.load_loss_kw, trafo.c.lat, trafo.c.lon,
               term.c.asset_number.label("terminal"), term.c.id.label("terminal_id"),
               term.c.reporting_interval_min)
        .select_from(
            trafo.join(org_rel, and_(org_rel.c.transformer_id == trafo.c.id,
                                     active(org_rel, at)))
            .join(org_unit, org_unit.c.id == org_rel.c.org_unit_id)
            .outerjoin(feeder_rel, and_(feeder_rel.c.transformer_id == trafo.c.id,
                                        active(feeder_rel, at)))
            .outerjoin(feeder, feeder.c.id == feeder_rel.c.feeder_id)
            .outerjoin(first_term, first_term.c.transformer_id == trafo.c.id)
            .outerjoin(term, term.c.asset_number == first_term.c.terminal)
        )
        .where(trafo.c.status != "retired", scope_clause(org_unit.c.path, scope))
        .order_by(trafo.c.asset_number)
    )  # fmt: skip
    if transformers is not None:
        query = query.where(trafo.c.asset_number.in_(transformers))
    if org_unit_code is not None:
        unit = org_by_code(conn, org_unit_code, scope)
        if unit is None:
            raise NotFoundError("org unit", org_unit_code, field="org_unit")
        query = query.where(org_unit.c.path.like(unit.path + "%"))
    return [TransformerSite(**row._mapping) for row in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class MeterSite:
    """A meter that is not retired, with what the data-query analysis groups it by at one
    instant: org unit, transformer, feeder (through the transformer), customer type (its tariff)
    and the CT × PT multiplier that turns its registers into primary energy."""

    id: int
    asset_number: str
    org_unit: str
    transformer: str | None
    feeder: str | None
    customer_type: str | None
    multiplier: float


def meter_sites(
    conn: Connection,
    scope: Scope,
    *,
    org_unit_code: str | None = None,
    at: datetime | None = None,
) -> list[MeterSite]:
    """Meters in ``scope`` that are not retired (all, or those under an org unit) with their
    transformer and feeder at ``at`` — one query, ordered by asset number."""
    at = as_utc(at) if at else utc_now()
    meter = ASSET_TABLES["meter"]
    trafo = ASSET_TABLES["transformer"]
    feeder = ASSET_TABLES["feeder"]
    org_rel = RELATION_TABLES[KINDS["meter"].org_relation.name]
    meter_rel = RELATION_TABLES["meter_transformer"]
    feeder_rel = RELATION_TABLES["transformer_feeder"]
    query = (
        select(meter.c.id, meter.c.asset_number, org_unit.c.code.label("org_unit"),
               trafo.c.asset_number.label("transformer"), feeder.c.asset_number.label("feeder"),
               meter.c.tariff.label("customer_type"), meter.c.multiplier)
        .select_from(
            meter.join(org_rel, and_(org_rel.c.meter_id == meter.c.id, active(org_rel, at)))
            .join(org_unit, org_unit.c.id == org_rel.c.org_unit_id)
            .outerjoin(meter_rel, and_(meter_rel.c.meter_id == meter.c.id,
                                       active(meter_rel, at)))
            .outerjoin(trafo, trafo.c.id == meter_rel.c.transformer_id)
            .outerjoin(feeder_rel, and_(feeder_rel.c.transformer_id == trafo.c.id,
                                        active(feeder_rel, at)))
            .outerjoin(feeder, feeder.c.id == feeder_rel.c.feeder_id)
        )
        .where(meter.c.status != "retired", scope_clause(org_unit.c.path, scope))
        .order_by(meter.c.asset_number)
    )  # fmt: skip
    if org_unit_code is not None:
        unit = org_by_code(conn, org_unit_code, scope)
        if unit is None:
            raise NotFoundError("org unit", org_unit_code, field="org_unit")
        query = query.where(org_unit.c.path.like(unit.path + "%"))
    return [MeterSite(**row._mapping) for row in conn.execute(query)]

"""Thresholds of the alarm rules, inherited: system default (the rule catalogue) → org unit (the
nearest one up the tree with an override) → transformer.

The engine reads the effective thresholds of a batch's devices in one query per batch, so a
change takes effect on the next batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert

from e200 import archives
from e200.alarms.catalog import RULES, RULES_BY_KEY, RuleSpec
from e200.alarms.tables import threshold
from e200.kernel import InvalidInputError, NotFoundError, Scope, utc_now

Level = Literal["org_unit", "transformer"]
Origin = Literal["default", "org_unit", "transformer"]


class EffectiveThreshold(BaseModel):
    rule: str
    label: str
    value: float
    unit: str
    origin: Origin = Field(description="Where the value comes from: default, org_unit, "
                                       "transformer.")  # fmt: skip
    origin_key: str | None = Field(
        default=None, description="The org unit code or transformer asset number it is set on."
    )
    default: float
    condition: str
    duration_intervals: int
    severity: str


class ThresholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float = Field(description="In the unit of the rule (see GET /api/v1/alarm-rules).")


def _ancestors(path: str | None) -> list[int]:
    """Org unit ids of a materialised path ("1.5.9."), top first."""
    return [int(p) for p in (path or "").split(".") if p]


def effective_for(
    conn: Connection, facts: Iterable[archives.DeviceFacts], *, transformer_level: bool = True
) -> dict[int, dict[str, tuple[float, Origin, int | None]]]:
    """Per device id: rule key → (value, origin, id of the org unit or transformer it is set
    on). Only rules with an override appear; the rest use the catalogue default."""
    facts = list(facts)
    org_ids = {oid for f in facts for oid in _ancestors(f.org_path)}
    dev_ids = {f.id for f in facts} if transformer_level else set()
    if not org_ids and not dev_ids:
        return {}
    rows = conn.execute(
        select(threshold.c.rule, threshold.c.level, threshold.c.target_id, threshold.c.value).where(
            or_(
                and_(threshold.c.level == "org_unit", threshold.c.target_id.in_(org_ids)),
                and_(threshold.c.level == "transformer", threshold.c.target_id.in_(dev_ids)),
            )
        )
    ).all()
    if not rows:
        return {}
    by_org: dict[int, dict[str, float]] = {}
    by_dev: dict[int, dict[str, float]] = {}
    for r in rows:
        (by_org if r.level == "org_unit" else by_dev).setdefault(r.target_id, {})[r.rule] = r.value
    out: dict[int, dict[str, tuple[float, Origin, int | None]]] = {}
    for f in facts:
        eff: dict[str, tuple[float, Origin, int | None]] = {}
        for oid in _ancestors(f.org_path):  # top first: deeper units override
            for rule, value in by_org.get(oid, {}).items():
                eff[rule] = (value, "org_unit", oid)
        for rule, value in by_dev.get(f.id, {}).items():
            eff[rule] = (value, "transformer", f.id)
        if eff:
            out[f.id] = eff
    return out


def in_force(
    conn: Connection, facts: Iterable[archives.DeviceFacts], *, transformer_level: bool = True
) -> dict[int, dict[str, float]]:
    """Per device id: every rule's threshold in force there — the override (transformer, else
    the nearest org unit) or the catalogue default. What the engine judges a device by, for
    any view that shows the same judgement (e.g. the monitoring view's loading level)."""
    facts = list(facts)
    defaults = {spec.key: spec.threshold for spec in RULES}
    eff = effective_for(conn, facts, transformer_level=transformer_level)
    return {f.id: defaults | {rule: v[0] for rule, v in eff.get(f.id, {}).items()}
            for f in facts}  # fmt: skip


def _spec(rule: str) -> RuleSpec:
    spec = RULES_BY_KEY.get(rule)
    if spec is None:
        raise NotFoundError("alarm rule", rule)
    return spec


def _target(conn: Connection, level: Level, key: str, scope: Scope) -> tuple[int, str | None]:
    """(id, org path) of the org unit or transformer named by ``key``, within scope."""
    if level == "org_unit":
        archives.get_org_unit(conn, key, scope)  # 404 outside scope
        table = archives.org_unit_table
        row = conn.execute(select(table.c.id, table.c.path).where(table.c.code == key)).one()
        return int(row.id), str(row.path)
    archives.get_asset(conn, archives.KINDS["transformer"], key, scope)
    ref = archives.lookup_devices(conn, "transformer", [key])[key]
    facts = archives.device_facts(conn, "transformer", [ref.id])
    return ref.id, facts[ref.id].org_path if ref.id in facts else None


def _effective_list(
    conn: Connection, facts: archives.DeviceFacts, *, transformer_level: bool
) -> list[EffectiveThreshold]:
    eff = effective_for(conn, [facts], transformer_level=transformer_level).get(facts.id, {})
    names: dict[int, str] = {}
    ids = {v[2] for v in eff.values() if v[1] == "org_unit" and v[2] is not None}
    if ids:
        table = archives.org_unit_table
        rows = conn.execute(select(table.c.id, table.c.code).where(table.c.id.in_(ids)))
        names = {int(r.id): str(r.code) for r in rows}
    out = []
    for spec in RULES:
        value, origin, target = eff.get(spec.key, (spec.threshold, "default", None))
        key = (names.get(target) if origin == "org_unit" and target is not None
               else facts.asset_number if origin == "transformer" else None)  # fmt: skip
        out.append(EffectiveThreshold(
            rule=spec.key, label=spec.label, value=value, unit=spec.unit, origin=origin,
            origin_key=key, default=spec.threshold, condition=spec.condition,
            duration_intervals=spec.duration, severity=spec.severity,
        ))  # fmt: skip
    return out


def effective(conn: Connection, level: Level, key: str, scope: Scope) -> list[EffectiveThreshold]:
    """Every rule's effective threshold at an org unit or a transformer, with its origin."""
    target_id, path = _target(conn, level, key, scope)
    if level == "org_unit":
        facts = archives.DeviceFacts(target_id, key, path)
        return _effective_list(conn, facts, transformer_level=False)
    facts = archives.DeviceFacts(target_id, key, path)
    return _effective_list(conn, facts, transformer_level=True)


def set_override(
    conn: Connection, rule: str, level: Level, key: str, value: float, user: str, scope: Scope
) -> list[EffectiveThreshold]:
    """Set (or replace) the threshold of ``rule`` at an org unit or transformer."""
    spec = _spec(rule)
    lo, hi = spec.threshold_min, spec.threshold_max
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InvalidInputError(
            f"value: {rule} takes {lo if lo is not None else '−∞'}…"
            f"{hi if hi is not None else '∞'} {spec.unit}",
            field="value",
        )
    if spec.device_kind != "transformer" and level == "transformer":
        raise InvalidInputError(f"{rule}: set it per org unit (it is a terminal rule)",
                                field="level")  # fmt: skip
    target_id, _ = _target(conn, level, key, scope)
    stmt = insert(threshold).values(rule=rule, level=level, target_id=target_id, value=value,
                                    updated_by=user, updated_at=utc_now())  # fmt: skip
    conn.execute(stmt.on_conflict_do_update(
        constraint="uq_threshold_rule_level_target",
        set_={"value": stmt.excluded.value, "updated_by": stmt.excluded.updated_by,
              "updated_at": func.now()},
    ))  # fmt: skip
    return effective(conn, level, key, scope)


def clear_override(
    conn: Connection, rule: str, level: Level, key: str, scope: Scope
) -> list[EffectiveThreshold]:
    """Remove the override of ``rule`` at an org unit or transformer (idempotent: removing
    none is not an error); the value is inherited again."""
    _spec(rule)
    target_id, _ = _target(conn, level, key, scope)
    conn.execute(
        delete(threshold).where(threshold.c.rule == rule, threshold.c.level == level,
                                threshold.c.target_id == target_id)
    )  # fmt: skip
    return effective(conn, level, key, scope)

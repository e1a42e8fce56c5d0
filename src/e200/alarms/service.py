"""Alarm lifecycle: raise or update, clear, acknowledge; list and read within the caller's scope.

Writers (``raise_or_update``, ``clear``) take the caller's ``Connection``: an alarm raised by an
ingest hook or the command dispatcher commits with what caused it. They do not check scope —
they are internal. Readers and ``acknowledge`` take the caller's ``Scope``: an alarm is visible
when its device's org unit (now) lies inside it; otherwise it answers 404 like a missing one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Row, and_, case, func, literal_column, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert

from e200 import archives
from e200.alarms.model import AlarmCounts, AlarmOut, AlarmPage, BulkAcknowledgeOut
from e200.alarms.severity import SEVERITIES
from e200.alarms.tables import DEVICE_KINDS, NOT_CLEARED, STATES, alarm
from e200.kernel import ConflictError, InvalidInputError, NotFoundError, Scope, as_utc, utc_now

MAX_PAGE = 1000
# PostgreSQL channel on which every raise, clear and acknowledgement is announced (delivered at
# commit, so listeners never see an alarm that was rolled back). Open consoles listen to it.
CHANNEL = "e200_alarms"


def announce(conn: Connection, event: str, out: AlarmOut) -> None:
    """Tell listeners (open consoles, integrations) about an alarm's change when ``conn``
    commits. The payload is small (NOTIFY allows 8,000 bytes): listeners read the rest."""
    payload = json.dumps({
        "event": event, "id": out.id, "rule": out.rule, "severity": out.severity,
        "state": out.state, "device_kind": out.device_kind, "asset_number": out.asset_number,
        "at": out.last_seen_at.isoformat(),
    })  # fmt: skip
    conn.execute(select(func.pg_notify(CHANNEL, payload)))


def _out(row: Row[Any], now: datetime) -> AlarmOut:
    data = dict(row._mapping)
    data.pop("device_id", None)
    data.pop("raised", None)
    end = data["cleared_at"] or now
    data["duration_s"] = max((end - data["started_at"]).total_seconds(), 0.0)
    return AlarmOut(**data)


def raise_or_update(
    conn: Connection,
    *,
    device_kind: str,
    device_id: int,
    asset_number: str,
    rule: str,
    severity: str,
    message: str,
    advice: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
    value: float | None = None,
    peak: Literal["max", "min"] = "max",
    at: datetime | None = None,
    update_context: bool = True,
) -> tuple[AlarmOut, bool]:
    """Raise the alarm of ``rule`` on a device, or — if one is already active or acknowledged —
    update it (last seen, last and peak value, severity, and — unless ``update_context`` is
    False, as for the engine's periodic updates — message, advice, details). One
    statement on the partial unique index, so concurrent writers never make two. Returns the
    alarm and whether it was raised now (True) or was already there (False)."""
    if device_kind not in DEVICE_KINDS:
        raise ValueError(f"device_kind {device_kind!r} is not one of {DEVICE_KINDS}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {SEVERITIES}")
    at = as_utc(at) if at else utc_now()
    stmt = insert(alarm).values(
        device_kind=device_kind, device_id=device_id, asset_number=asset_number, rule=rule,
        severity=severity, state="active", started_at=at, last_seen_at=at, peak_value=value,
        last_value=value, message=message, advice=dict(advice or {}),
        details=dict(details or {}),
    )  # fmt: skip
    new = stmt.excluded
    extreme = func.greatest if peak == "max" else func.least  # both ignore NULLs
    changes: dict[str, Any] = {
        "last_seen_at": func.greatest(alarm.c.last_seen_at, new.last_seen_at),
        "last_value": func.coalesce(new.last_value, alarm.c.last_value),
        "peak_value": extreme(alarm.c.peak_value, new.peak_value),
        "severity": new.severity,
    }
    if update_context:
        changes |= {"message": new.message, "advice": new.advice, "details": new.details}
    stmt = stmt.on_conflict_do_update(
        index_elements=[alarm.c.device_kind, alarm.c.device_id, alarm.c.rule],
        index_where=literal_column(NOT_CLEARED),
        set_=changes,
    )
    row = conn.execute(stmt.returning(*alarm.c, literal_column("(xmax = 0)").label("raised"))).one()
    out = _out(row, at)
    if row.raised:
        announce(conn, "raised", out)
    return out, bool(row.raised)


def clear(
    conn: Connection,
    *,
    device_kind: str,
    device_id: int,
    rule: str,
    at: datetime | None = None,
    value: float | None = None,
) -> AlarmOut | None:
    """Clear the not-cleared alarm of ``rule`` on a device; None when there is none."""
    at = as_utc(at) if at else utc_now()
    row = conn.execute(
        sql_update(alarm)
        .where(alarm.c.device_kind == device_kind, alarm.c.device_id == device_id,
               alarm.c.rule == rule, alarm.c.state != "cleared")
        .values(state="cleared", cleared_at=func.greatest(at, alarm.c.started_at),
                last_value=func.coalesce(value, alarm.c.last_value))
        .returning(*alarm.c)
    ).first()  # fmt: skip
    if row is None:
        return None
    out = _out(row, at)
    announce(conn, "cleared", out)
    return out


def _visible(scope: Scope) -> ColumnElement[bool]:
    return archives.devices_in_scope(alarm.c.device_kind, alarm.c.device_id, scope)


def get(conn: Connection, alarm_id: int, scope: Scope) -> AlarmOut:
    row = conn.execute(select(alarm).where(alarm.c.id == alarm_id, _visible(scope))).first()
    if row is None:
        raise NotFoundError("alarm", str(alarm_id))
    return _out(row, utc_now())


def acknowledge(
    conn: Connection, alarm_id: int, user: str, comment: str | None, scope: Scope
) -> AlarmOut:
    """Record who acknowledged the alarm, when and why. An active alarm becomes
    ``acknowledged``; a cleared one keeps its state (it was cleared before anyone looked).
    Acknowledging twice is a conflict."""
    current = get(conn, alarm_id, scope)
    now = utc_now()
    row = conn.execute(
        sql_update(alarm)
        .where(alarm.c.id == alarm_id, alarm.c.acknowledged_at.is_(None))
        .values(acknowledged_by=user, acknowledged_at=now, ack_comment=comment,
                state=case((alarm.c.state == "active", "acknowledged"), else_=alarm.c.state))
        .returning(*alarm.c)
    ).first()  # fmt: skip
    if row is None:
        by = current.acknowledged_by or "someone"
        raise ConflictError(f"alarm {alarm_id}: already acknowledged by {by}", field="id")
    out = _out(row, now)
    announce(conn, "acknowledged", out)
    return out


def _choices(raw: str | None, allowed: tuple[str, ...], name: str) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise InvalidInputError(f"{name}: {', '.join(wrong)} not one of {', '.join(allowed)}",
                                field=name)  # fmt: skip
    return values


def list_alarms(
    conn: Connection,
    scope: Scope,
    *,
    state: str | None = None,
    severity: str | None = None,
    rule: str | None = None,
    device: str | None = None,
    org_unit: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AlarmPage:
    """Alarms in scope, newest first. ``state`` and ``severity`` take comma-separated values;
    ``org_unit`` keeps the devices under that unit; ``since``/``until`` keep the alarms that
    were not cleared at some instant of [since, until)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit: must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise InvalidInputError("offset: must not be negative", field="offset")
    condition = _filters(conn, scope, state=state, severity=severity, rule=rule, device=device,
                         org_unit=org_unit, since=since, until=until)  # fmt: skip
    total = conn.execute(select(func.count()).select_from(alarm).where(condition)).scalar_one()
    rows = conn.execute(
        select(alarm).where(condition)
        .order_by(alarm.c.started_at.desc(), alarm.c.id.desc()).limit(limit).offset(offset)
    )  # fmt: skip
    now = utc_now()
    return AlarmPage(items=[_out(r, now) for r in rows], total=total, limit=limit, offset=offset)


def _filters(
    conn: Connection,
    scope: Scope,
    *,
    state: str | None,
    severity: str | None,
    rule: str | None,
    device: str | None,
    org_unit: str | None,
    since: datetime | None,
    until: datetime | None,
) -> ColumnElement[bool]:
    where: list[ColumnElement[bool]] = [_visible(scope)]
    states = _choices(state, STATES, "state")
    if states:
        where.append(alarm.c.state.in_(states))
    severities = _choices(severity, SEVERITIES, "severity")
    if severities:
        where.append(alarm.c.severity.in_(severities))
    if rule:
        where.append(alarm.c.rule == rule)
    if device:
        where.append(alarm.c.asset_number == device)
    if org_unit:
        try:
            archives.get_org_unit(conn, org_unit, scope)
        except NotFoundError:
            raise InvalidInputError(f"org_unit: org unit {org_unit!r} does not exist",
                                    field="org_unit") from None  # fmt: skip
        path = archives.org_path(conn, org_unit)
        assert path is not None
        where.append(_visible(Scope((path,))))
    if since is not None:
        since = as_utc(since)
        where.append(or_(alarm.c.cleared_at.is_(None), alarm.c.cleared_at >= since))
    if until is not None:
        where.append(alarm.c.started_at < as_utc(until))
    return and_(*where)


def counts(
    conn: Connection,
    scope: Scope,
    *,
    state: str | None = None,
    severity: str | None = None,
    rule: str | None = None,
    device: str | None = None,
    org_unit: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AlarmCounts:
    """How many alarms match the filters, by rule, severity and state (one query)."""
    condition = _filters(conn, scope, state=state, severity=severity, rule=rule, device=device,
                         org_unit=org_unit, since=since, until=until)  # fmt: skip
    rows = conn.execute(
        select(alarm.c.rule, alarm.c.severity, alarm.c.state, func.count().label("n"))
        .where(condition).group_by(alarm.c.rule, alarm.c.severity, alarm.c.state)
    )  # fmt: skip
    out = AlarmCounts(total=0, by_rule={}, by_severity={}, by_state={})
    for r in rows:
        out.total += r.n
        out.by_rule[r.rule] = out.by_rule.get(r.rule, 0) + r.n
        out.by_severity[r.severity] = out.by_severity.get(r.severity, 0) + r.n
        out.by_state[r.state] = out.by_state.get(r.state, 0) + r.n
    return out


def acknowledge_many(
    conn: Connection, ids: list[int], user: str, comment: str | None, scope: Scope
) -> BulkAcknowledgeOut:
    """Acknowledge several alarms at once. Each id gets its own outcome (acknowledged, already
    acknowledged by someone, or not found — also when out of scope), so nothing is lost and
    the counts add up to the ids given."""
    out = BulkAcknowledgeOut(acknowledged=[], already=[], not_found=[])
    for alarm_id in dict.fromkeys(ids):
        try:
            acknowledge(conn, alarm_id, user, comment, scope)
            out.acknowledged.append(alarm_id)
        except NotFoundError:
            out.not_found.append(alarm_id)
        except ConflictError:
            out.already.append(alarm_id)
    return out


def active_by_device(conn: Connection, device_kind: str, ids: list[int]) -> dict[int, list[str]]:
    """The severities of the not-cleared alarms of each device (internal: no scope)."""
    if not ids:
        return {}
    rows = conn.execute(
        select(alarm.c.device_id, alarm.c.severity)
        .where(alarm.c.device_kind == device_kind, alarm.c.device_id.in_(ids),
               alarm.c.state != "cleared")
    )  # fmt: skip
    out: dict[int, list[str]] = {}
    for r in rows:
        out.setdefault(r.device_id, []).append(r.severity)
    return out


def open_alarm(conn: Connection, device_kind: str, device_id: int, rule: str) -> AlarmOut | None:
    """The not-cleared alarm of ``rule`` on a device, if any (internal: no scope)."""
    row = conn.execute(
        select(alarm).where(alarm.c.device_kind == device_kind, alarm.c.device_id == device_id,
                            alarm.c.rule == rule, alarm.c.state != "cleared")
    ).first()  # fmt: skip
    return _out(row, utc_now()) if row is not None else None

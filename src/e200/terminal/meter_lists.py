"""A terminal's station area and meter list: view, effective-dated edits, push to the terminal.

Edits go through the archive (``archives.set_relation`` / ``detach_relation``), which announces
each relation change; :func:`on_relation_change` answers every such change — from these routes,
from the generic archive routes or from anywhere else — by queueing a ``sync_meters`` command to
each terminal whose list it changes (the old station area's and the new one's), in the same
transaction. A change effective later is held until then. Syncs not yet sent are joined rather
than duplicated: the list is read from the archive when a command is first sent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, func, insert, select, update

from e200 import archives, telemetry
from e200.kernel import (
    ConflictError,
    E200Error,
    InvalidInputError,
    NotFoundError,
    Scope,
    as_utc,
    utc_now,
)
from e200.terminal.model import (
    AreaMeter,
    CommandOut,
    MeterChangeOut,
    MeterListOut,
    MetersAddIn,
    PhaseIn,
    ReportedList,
)
from e200.terminal.service import sync_params
from e200.terminal.tables import command

DEFAULT_SYNC_TTL_S = 900
_sync_ttl_s: ContextVar[int] = ContextVar("e200_sync_ttl_s", default=DEFAULT_SYNC_TTL_S)
TERMINAL = archives.KINDS["terminal"]
METER = archives.KINDS["meter"]


@contextmanager
def sync_ttl(ttl_s: int) -> Iterator[None]:
    """Syncs queued inside this block (also by the relation listener) expire after ``ttl_s``."""
    token = _sync_ttl_s.set(ttl_s)
    try:
        yield
    finally:
        _sync_ttl_s.reset(token)


# -- queueing syncs ------------------------------------------------------------------------------


def _joinable(conn: Connection, terminal_id: int, due: datetime, now: datetime, lock: bool
              ) -> Any:  # fmt: skip
    """An unsent sync of this terminal due at the same time (now, or the same later instant)."""
    same_time = command.c.next_attempt_at <= now if due <= now else command.c.next_attempt_at == due
    query = (
        select(command)
        .where(command.c.terminal_id == terminal_id, command.c.kind == "sync_meters",
               command.c.status == "pending", command.c.attempts == 0, same_time)
        .order_by(command.c.created_at.desc())
        .limit(1)
    )  # fmt: skip
    if lock:
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query).first()


def queue_sync(
    conn: Connection, terminal_number: str, *, at: datetime | None = None,
    actor: str | None = None, ttl_s: int | None = None,
) -> str | None:  # fmt: skip
    """Queue a ``sync_meters`` to a terminal, due at ``at`` (default now), or join the unsent
    one due then. Returns the command id; None when the terminal is retired, unknown or on no
    transformer at that time. No scope check: callers have checked what caused the sync."""
    now = utc_now()
    due = max(as_utc(at), now) if at is not None else now
    ttl = timedelta(seconds=ttl_s if ttl_s is not None else _sync_ttl_s.get())
    ref = archives.lookup_devices(conn, "terminal", [terminal_number]).get(terminal_number)
    if ref is None or ref.status == "retired":
        return None
    params = sync_params(conn, terminal_number, due)
    if params is None:
        return None
    existing = _joinable(conn, ref.id, due, now, lock=True)
    if existing is not None:
        conn.execute(
            update(command).where(command.c.id == existing.id)
            .values(params=params, expires_at=func.greatest(command.c.expires_at, due + ttl))
        )  # fmt: skip
        return str(existing.id)
    command_id = str(uuid.uuid4())
    conn.execute(insert(command).values(
        id=command_id, terminal_id=ref.id, terminal=terminal_number, kind="sync_meters",
        params=params, status="pending", next_attempt_at=due, expires_at=due + ttl,
        created_by=actor,
    ))  # fmt: skip
    return command_id


def _push_times(change: archives.RelationChange, now: datetime) -> list[datetime]:
    """When the terminals' lists change: from ``valid_from`` (now if already past) unless the
    period is over, and again at ``valid_to`` if that is still to come."""
    times = []
    if change.valid_to is None or change.valid_to > now:
        times.append(max(change.valid_from, now))
    if change.valid_to is not None and change.valid_to > now:
        times.append(change.valid_to)
    return times


def on_relation_change(conn: Connection, change: archives.RelationChange) -> None:
    """Relation listener (registered by the app): a meter moved between station areas, attached,
    detached, retired or given another phase → sync the old and the new terminal; a terminal
    moved to another transformer → sync the terminals there."""
    now = utc_now()
    for when in _push_times(change, now):
        terminals: set[str] = set()
        if change.relation == "meter_transformer":
            for transformer in {change.old_parent, change.new_parent} - {None}:
                assert transformer is not None
                terminals.update(archives.terminals_at(conn, transformer, when))
        elif change.relation == "terminal_transformer" and change.new_parent is not None:
            # The terminals attached there by this change (a bulk change — an import — may
            # announce several terminals' moves to one transformer as one change).
            terminals.update(archives.terminals_at(conn, change.new_parent, when,
                                                   attached_from=change.valid_from))  # fmt: skip
            terminals.add(change.child)
        for terminal_number in sorted(terminals):
            queue_sync(conn, terminal_number, at=when, actor=change.actor)


# -- reading -------------------------------------------------------------------------------------


def command_out(row: Any) -> CommandOut:
    return CommandOut(**{k: v for k, v in row._mapping.items() if k != "terminal_id"})


def latest_sync(conn: Connection, terminal_id: int) -> CommandOut | None:
    row = conn.execute(
        select(command)
        .where(command.c.terminal_id == terminal_id, command.c.kind == "sync_meters")
        .order_by(command.c.created_at.desc(), command.c.id.desc())
        .limit(1)
    ).first()
    return command_out(row) if row is not None else None


def open_sync_terminals(conn: Connection, terminal_ids: list[int]) -> set[int]:
    """Which of these terminals have a meter-list sync under way (pending or sent)."""
    if not terminal_ids:
        return set()
    rows = conn.execute(
        select(command.c.terminal_id)
        .distinct()
        .where(command.c.terminal_id.in_(terminal_ids), command.c.kind == "sync_meters",
               command.c.status.in_(("pending", "sent")))
    )  # fmt: skip
    return set(rows.scalars())


def list_version(reported: telemetry.ReportedMeterList) -> str:
    """Identifies one reported list (its time, meters and phases): an adopt names the version it
    reviewed and is refused if the terminal has reported another list since."""
    body = orjson.dumps([reported.ts.isoformat(), list(reported.meters), reported.phases],
                        option=orjson.OPT_SORT_KEYS)  # fmt: skip
    return hashlib.sha256(body).hexdigest()[:16]


def reported_out(reported: telemetry.ReportedMeterList | None) -> ReportedList | None:
    if reported is None:
        return None
    return ReportedList(ts=reported.ts, received_at=reported.received_at,
                        meters=list(reported.meters), phases=reported.phases,
                        version=list_version(reported))  # fmt: skip


def terminal_ref(
    conn: Connection, terminal_number: str, scope: Scope
) -> tuple[dict[str, Any], int]:
    """The terminal (404 outside the scope) and its id."""
    term = archives.get_asset(conn, TERMINAL, terminal_number, scope)
    ref = archives.lookup_devices(conn, "terminal", [terminal_number])[terminal_number]
    return term, ref.id


def meter_list(conn: Connection, terminal_number: str, scope: Scope) -> MeterListOut:
    """The archive's station area of the terminal now, and the list it last reported."""
    term, terminal_id = terminal_ref(conn, terminal_number, scope)
    now = utc_now()
    transformer = term.get("transformer")
    reported = telemetry.reported_meter_lists(conn, [terminal_id]).get(terminal_id)
    on_terminal = set(reported.meters) if reported is not None else None
    meters: list[AreaMeter] = []
    if transformer is not None:
        # The terminal is visible, so is what it collects (even from a transformer owned by
        # another unit).
        topo = archives.topology(conn, str(transformer), now, Scope.everything())
        meters = [AreaMeter(asset_number=m.asset_number, customer_account=m.customer_account,
                            phase=m.phase, status=m.status, valid_from=m.valid_from,
                            on_terminal=None if on_terminal is None
                            else m.asset_number in on_terminal)
                  for m in topo.meters]  # fmt: skip
    return MeterListOut(
        terminal=terminal_number, transformer=transformer, org_unit=term.get("org_unit"), at=now,
        meters=meters, reported=reported_out(reported), last_sync=latest_sync(conn, terminal_id),
    )  # fmt: skip


# -- editing -------------------------------------------------------------------------------------


@contextmanager
def field_prefix(prefix: str) -> Iterator[None]:
    """Errors of one item of a list name the item (``meters[2].phase``)."""
    try:
        yield
    except E200Error as exc:
        exc.field = f"{prefix}.{exc.field}" if exc.field else prefix
        exc.detail = f"{prefix}: {exc.detail}"
        raise


def _transformer_of(term: dict[str, Any]) -> str:
    transformer = term.get("transformer")
    if transformer is None:
        raise ConflictError(f"terminal: {term['asset_number']!r} is not attached to a "
                            "transformer, so it has no station area", field="terminal")  # fmt: skip
    return str(transformer)


def sync_due(conn: Connection, terminal_id: int, valid_from: datetime) -> CommandOut | None:
    """The unsent sync that carries a change effective at ``valid_from`` (if one was queued)."""
    now = utc_now()
    row = _joinable(conn, terminal_id, max(valid_from, now), now, lock=False)
    return command_out(row) if row is not None else None


def _changed(conn: Connection, terminal_number: str, changed: list[str], valid_from: datetime,
             scope: Scope) -> MeterChangeOut:  # fmt: skip
    area = meter_list(conn, terminal_number, scope)
    _, terminal_id = terminal_ref(conn, terminal_number, scope)
    return MeterChangeOut(changed=changed, valid_from=valid_from, area=area,
                          command=sync_due(conn, terminal_id, valid_from))  # fmt: skip


def add_meters(conn: Connection, terminal_number: str, data: MetersAddIn, scope: Scope,
               actor: str | None) -> MeterChangeOut:  # fmt: skip
    """Attach meters to the terminal's transformer (with their phases) from ``valid_from``;
    a meter in another station area moves (its old terminal is synced too)."""
    term, _ = terminal_ref(conn, terminal_number, scope)
    transformer = _transformer_of(term)
    valid_from = as_utc(data.valid_from) if data.valid_from else utc_now()
    names = [m.meter for m in data.meters]
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise InvalidInputError(f"meters[{i}].meter: {name!r} is listed twice",
                                    field=f"meters[{i}].meter")  # fmt: skip
        seen.add(name)
    with sync_ttl(data.ttl_s):
        for i, item in enumerate(data.meters):
            with field_prefix(f"meters[{i}]"):
                archives.get_asset(conn, METER, item.meter, scope)  # 404 outside the scope
                where = archives.meter_placements(conn, [item.meter], valid_from).get(item.meter)
                if (
                    where is not None
                    and where.transformer == transformer
                    and (item.phase is None or item.phase == where.phase)
                ):
                    raise ConflictError(f"meter {item.meter!r} is already in the station area "
                                        f"of {terminal_number!r}", field="meter")  # fmt: skip
                archives.set_relation(
                    conn, METER, item.meter, "transformer",
                    archives.RelationIn(parent=transformer, phase=item.phase,
                                        valid_from=valid_from),
                    scope, actor=actor,
                )  # fmt: skip
    return _changed(conn, terminal_number, names, valid_from, scope)


def _in_area(conn: Connection, transformer: str, meter: str, at: datetime, terminal: str) -> Any:
    where = archives.meter_placements(conn, [meter], at).get(meter)
    if where is None or where.transformer != transformer:
        raise NotFoundError(f"meter in the station area of {terminal}", meter)
    return where


def remove_meter(conn: Connection, terminal_number: str, meter: str, valid_from: datetime | None,
                 ttl_s: int, scope: Scope, actor: str | None) -> MeterChangeOut:  # fmt: skip
    """Take a meter out of the terminal's station area from ``valid_from`` (it stays in the
    archive, on no transformer, until it is attached elsewhere or retired)."""
    term, _ = terminal_ref(conn, terminal_number, scope)
    transformer = _transformer_of(term)
    at = as_utc(valid_from) if valid_from else utc_now()
    archives.get_asset(conn, METER, meter, scope)
    _in_area(conn, transformer, meter, at, terminal_number)
    with sync_ttl(ttl_s):
        archives.detach_relation(conn, METER, meter, "transformer", at, scope, actor=actor)
    return _changed(conn, terminal_number, [meter], at, scope)


def change_phase(conn: Connection, terminal_number: str, meter: str, data: PhaseIn, scope: Scope,
                 actor: str | None) -> MeterChangeOut:  # fmt: skip
    """Put a meter of the station area on another phase from ``valid_from``."""
    term, _ = terminal_ref(conn, terminal_number, scope)
    transformer = _transformer_of(term)
    at = as_utc(data.valid_from) if data.valid_from else utc_now()
    archives.get_asset(conn, METER, meter, scope)
    where = _in_area(conn, transformer, meter, at, terminal_number)
    if where.phase == data.phase:
        raise ConflictError(f"phase: meter {meter!r} is already on phase {data.phase}",
                            field="phase")  # fmt: skip
    with sync_ttl(data.ttl_s):
        archives.set_relation(
            conn, METER, meter, "transformer",
            archives.RelationIn(parent=transformer, phase=data.phase, valid_from=at),
            scope, actor=actor,
        )  # fmt: skip
    return _changed(conn, terminal_number, [meter], at, scope)

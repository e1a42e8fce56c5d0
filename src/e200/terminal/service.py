"""Downlink commands: issue, dispatch with retry, close on ack, expire on timeout.

States: pending → sent → acked | failed (the terminal answered an error) | expired (no answer
before ``expires_at``; a sent command is re-sent every ``retry_after`` until then). The ack comes
back through ingest as a ``command_ack`` message and is applied in the same transaction that
stores it (``ack_hook``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, insert, or_, select, update

from e200 import alarms, archives
from e200.bus import Sink
from e200.kernel import InvalidInputError, NotFoundError, Scope, as_utc, utc_now
from e200.telemetry import Validated
from e200.terminal.rules import SYNC_FAILED
from e200.terminal.tables import command

COMMAND_TOPIC = "e200.commands"


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="set_interval | sync_meters | read_now | time_sync")
    params: dict[str, Any] = Field(default_factory=dict)
    ttl_s: int = Field(default=900, ge=30, le=86_400, description="Expire without an answer.")


@dataclass(frozen=True)
class DownlinkPolicy:
    retry_after: timedelta = timedelta(seconds=60)
    max_attempts: int = 5


def sync_params(conn: Connection, terminal_number: str, at: datetime | None = None
                ) -> dict[str, Any] | None:  # fmt: skip
    """What a ``sync_meters`` command sends: the meters the archive puts in the terminal's
    station area at ``at`` (default now) and their phases; None when the terminal is attached to
    no transformer then."""
    areas = archives.station_areas(conn, Scope.everything(), terminals=[terminal_number], at=at)
    if not areas or areas[0].transformer is None:
        return None
    meters = areas[0].meters
    return {"meters": sorted(meters),
            "phases": {m: p for m, p in sorted(meters.items()) if p is not None}}  # fmt: skip


def _params(conn: Connection, kind: str, terminal: dict[str, Any], params: dict[str, Any],
            at: datetime) -> dict[str, Any]:  # fmt: skip
    if kind == "set_interval":
        interval = params.get("interval_min")
        if interval not in (5, 15, 30, 60):
            raise InvalidInputError("params.interval_min: one of 5, 15, 30, 60",
                                    field="params.interval_min")  # fmt: skip
        return {"interval_min": interval}
    if kind == "sync_meters":
        # The meter list the archive says this terminal must collect (its transformer's meters);
        # computed again when the command is first sent (``dispatch_due``).
        synced = sync_params(conn, str(terminal["asset_number"]), at)
        if synced is None:
            raise InvalidInputError("terminal: not attached to a transformer", field="terminal")
        return synced
    if kind == "read_now":
        quantities = params.get("quantities")
        meters = params.get("meters")
        out = {"quantities": quantities, "meters": meters}
        # optional window: re-read the intervals ending in (from, to] (a re-collection)
        for key in ("from", "to"):
            if params.get(key) is not None:
                try:
                    out[key] = as_utc(datetime.fromisoformat(str(params[key]))).isoformat()
                except ValueError as exc:
                    raise InvalidInputError(f"params.{key}: ISO 8601 time",
                                            field=f"params.{key}") from exc  # fmt: skip
        return out
    if kind == "time_sync":
        return {"utc": utc_now().isoformat()}
    raise InvalidInputError(f"kind: {kind!r} is not one of set_interval, sync_meters, read_now, "
                            "time_sync", field="kind")  # fmt: skip


def issue(conn: Connection, terminal_number: str, data: CommandIn, scope: Scope,
          created_by: str | None = None, not_before: datetime | None = None
          ) -> dict[str, Any]:  # fmt: skip
    """Queue a command. ``not_before``: hold it until then (a change effective later); its
    time to live counts from then."""
    terminal = archives.get_asset(conn, archives.KINDS["terminal"], terminal_number, scope)
    if terminal["status"] == "retired":
        raise InvalidInputError("terminal: retired", field="terminal")
    now = utc_now()
    due = max(as_utc(not_before), now) if not_before is not None else now
    params = _params(conn, data.kind, terminal, data.params, due)
    ref = archives.lookup_devices(conn, "terminal", [terminal_number])[terminal_number]
    command_id = str(uuid.uuid4())
    conn.execute(insert(command).values(
        id=command_id, terminal_id=ref.id, terminal=terminal_number, kind=data.kind,
        params=params, status="pending", next_attempt_at=due,
        expires_at=due + timedelta(seconds=data.ttl_s), created_by=created_by,
    ))  # fmt: skip
    return get(conn, command_id, scope)


def get(conn: Connection, command_id: str, scope: Scope) -> dict[str, Any]:
    row = conn.execute(select(command).where(command.c.id == command_id)).first()
    if row is None:
        raise NotFoundError("command", command_id)
    archives.get_asset(conn, archives.KINDS["terminal"], row.terminal, scope)  # scope check
    return dict(row._mapping)


def list_for(conn: Connection, terminal_number: str, scope: Scope, limit: int = 100
             ) -> list[dict[str, Any]]:  # fmt: skip
    archives.get_asset(conn, archives.KINDS["terminal"], terminal_number, scope)
    rows = conn.execute(select(command).where(command.c.terminal == terminal_number)
                        .order_by(command.c.created_at.desc()).limit(limit))  # fmt: skip
    return [dict(r._mapping) for r in rows]


def wire_message(row: Any, params: Any = None) -> bytes:
    return orjson.dumps({
        "v": 1, "type": "command", "command_id": row.id, "terminal": row.terminal,
        "kind": row.kind, "params": row.params if params is None else params,
        "expires_at": row.expires_at.isoformat(),
    })  # fmt: skip


def topic_for(terminal: str, transport: str) -> str:
    """Kafka: one command topic keyed by terminal; MQTT: one topic per terminal."""
    return f"e200/terminals/{terminal}/commands" if transport == "mqtt" else COMMAND_TOPIC


def dispatch_due(conn: Connection, sink: Sink, transport: str, policy: DownlinkPolicy,
                 now: datetime | None = None, limit: int = 500) -> dict[str, int]:  # fmt: skip
    """Send what is due (new, or sent without answer and due for a retry); expire what ran out
    of time. Rows are locked so several dispatchers never send the same attempt twice."""
    now = now or utc_now()
    expired = conn.execute(
        update(command)
        .where(command.c.status.in_(("pending", "sent")),
               or_(command.c.expires_at <= now,  # out of time, or the last attempt unanswered
                   (command.c.attempts >= policy.max_attempts)
                   & (command.c.next_attempt_at <= now)))
        .values(status="expired", closed_at=now, error="no answer before expiry")
        .returning(command.c.kind, command.c.terminal_id)
    ).all()  # fmt: skip
    sync_outcomes(conn, {r.terminal_id for r in expired if r.kind == "sync_meters"}, now)
    due = conn.execute(
        select(command)
        .where(command.c.status.in_(("pending", "sent")), command.c.next_attempt_at <= now,
               command.c.expires_at > now)
        .order_by(command.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()  # fmt: skip
    params = {row.id: _first_send_params(conn, row, now) for row in due}
    for row in due:
        sink.send(topic_for(row.terminal, transport), wire_message(row, params[row.id]),
                  key=row.terminal.encode())  # fmt: skip
    sink.flush()
    for row in due:
        conn.execute(update(command).where(command.c.id == row.id).values(
            status="sent", attempts=row.attempts + 1, sent_at=now, params=params[row.id],
            next_attempt_at=now + policy.retry_after))  # fmt: skip
    return {"sent": len(due), "expired": len(expired)}


def _first_send_params(conn: Connection, row: Any, now: datetime) -> Any:
    """A meter list goes out as the archive has it when first sent, not when queued: a command
    held for a change effective later must carry the changes made meanwhile too. Retries send
    the same list again."""
    if row.kind != "sync_meters" or row.attempts > 0:
        return row.params
    return sync_params(conn, row.terminal, now) or row.params


def ack_hook(conn: Connection, batch: Validated) -> None:
    """Close commands answered in this batch; an acked interval change updates the archive; a
    closed meter-list sync raises or clears the terminal's sync alarm."""
    synced: set[int] = set()
    for ack in batch.acks:
        status = "acked" if ack["status"] == "ok" else "failed"
        row = conn.execute(
            update(command)
            .where(and_(command.c.id == ack["command_id"],
                        command.c.terminal_id == ack["terminal_id"],
                        command.c.status.in_(("pending", "sent"))))
            .values(status=status, closed_at=utc_now(), result=ack.get("result"),
                    error=None if status == "acked" else str(ack.get("result"))[:500])
            .returning(command.c.kind, command.c.params, command.c.terminal)
        ).first()  # fmt: skip
        if row is not None and status == "acked" and row.kind == "set_interval":
            archives.set_reporting_interval(conn, row.terminal, int(row.params["interval_min"]))
        if row is not None and row.kind == "sync_meters":
            synced.add(int(ack["terminal_id"]))
    sync_outcomes(conn, synced)


def sync_outcomes(conn: Connection, terminal_ids: set[int], at: datetime | None = None) -> None:
    """The newest closed meter-list sync of each terminal decides its ``terminal_sync_failed``
    alarm: failed or expired raises it (or updates the one already there), acked clears it. An
    older command that closes late never overrides a newer outcome."""
    for terminal_id in sorted(terminal_ids):
        last = conn.execute(
            select(command)
            .where(command.c.terminal_id == terminal_id, command.c.kind == "sync_meters",
                   command.c.status.in_(("acked", "failed", "expired")))
            .order_by(command.c.created_at.desc(), command.c.id.desc())
            .limit(1)
        ).first()  # fmt: skip
        if last is None:
            continue
        rule = SYNC_FAILED
        if last.status == "acked":
            alarms.clear(conn, device_kind="terminal", device_id=terminal_id, rule=rule.key, at=at)
            continue
        answer = "answered with an error" if last.status == "failed" else "did not answer"
        alarms.raise_or_update(
            conn, device_kind="terminal", device_id=terminal_id, asset_number=last.terminal,
            rule=rule.key, severity=rule.severity, advice=rule.advice.as_json(),
            message=f"Terminal {last.terminal} {answer} to the meter list sync "
                    f"({last.status} after {last.attempts} attempt(s))",
            details={"command_id": last.id, "status": last.status, "error": last.error,
                     "attempts": last.attempts, "meters": len(last.params.get("meters", []))},
            at=at,
        )  # fmt: skip


Dispatcher = Callable[[], dict[str, int]]

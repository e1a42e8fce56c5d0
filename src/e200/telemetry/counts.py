"""Counts of what arrived, as SQL selects for set-based daily statistics (acquisition quality):
interval readings per device in a window with how many arrived within 5/15/30/60 minutes of
their interval's end, the daily frozen readings of a day, and the instants each terminal was
heard from (its own interval readings and events — what terminal liveness counts too)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Select, Subquery, func, literal, select, union_all

from e200.kernel import as_utc
from e200.telemetry.tables import device_event, dt_reading, meter_daily, meter_reading

WITHIN_MIN = (5, 15, 30, 60)
"""Delays (minutes after the interval's end) the counts are split at: one reporting interval."""


def _counts(table, key: str, start: datetime, end: datetime) -> Select:  # type: ignore[no-untyped-def,type-arg]
    delay = table.c.received_at - table.c.ts
    return (
        select(table.c[key].label("device_id"), func.count().label("received"),
               *(func.count().filter(delay <= timedelta(minutes=m)).label(f"within_{m}")
                 for m in WITHIN_MIN))
        .where(table.c.ts > as_utc(start), table.c.ts <= as_utc(end))
        .group_by(table.c[key])
    )  # fmt: skip


def meter_point_counts(start: datetime, end: datetime) -> Select:  # type: ignore[type-arg]
    """(device_id = meter id, received, within_5 … within_60) of the meter interval readings
    stamped in (start, end]."""
    return _counts(meter_reading, "meter_id", start, end)


def dt_point_counts(start: datetime, end: datetime) -> Select:  # type: ignore[type-arg]
    """(device_id = transformer id, received, within_5 … within_60) of the transformer interval
    readings stamped in (start, end]."""
    return _counts(dt_reading, "transformer_id", start, end)


def daily_readings(day: date) -> Select:  # type: ignore[type-arg]
    """(meter_id, received_at) of the daily frozen readings of ``day``."""
    return select(meter_daily.c.meter_id, meter_daily.c.received_at).where(meter_daily.c.day == day)


def terminal_messages(received_from: datetime, received_to: datetime,
                      stamped_after: datetime) -> Subquery:  # fmt: skip
    """(terminal_id, received_at): when each terminal was heard from in [received_from,
    received_to) — its transformer readings (stamped after ``stamped_after``, which bounds the
    partitions read) and its own events."""
    lo, hi = as_utc(received_from), as_utc(received_to)
    readings = select(dt_reading.c.terminal_id, dt_reading.c.received_at).where(
        dt_reading.c.terminal_id.is_not(None), dt_reading.c.ts > as_utc(stamped_after),
        dt_reading.c.received_at >= lo, dt_reading.c.received_at < hi)  # fmt: skip
    events = select(device_event.c.device_id, device_event.c.received_at).where(
        device_event.c.device_kind == literal("terminal"),
        device_event.c.ts > as_utc(stamped_after),
        device_event.c.received_at >= lo, device_event.c.received_at < hi)  # fmt: skip
    return union_all(readings, events).subquery("terminal_messages")


def reading_receipts(conn: Connection, kind: str, device_id: int, start: datetime,
                     end: datetime) -> dict[datetime, datetime]:  # fmt: skip
    """Interval end → when it was received, for one meter's or transformer's readings stamped
    in (start, end]."""
    table, key = (meter_reading, "meter_id") if kind == "meter" else (dt_reading, "transformer_id")
    rows = conn.execute(
        select(table.c.ts, table.c.received_at).where(
            table.c[key] == device_id, table.c.ts > as_utc(start), table.c.ts <= as_utc(end)
        )
    )
    return {r.ts: r.received_at for r in rows}

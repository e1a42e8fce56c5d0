"""Reading back what was ingested: latest values, curves, events, quarantine, counters, liveness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, Table, func, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from e200 import archives
from e200.kernel import InvalidInputError, NotFoundError, Scope, as_utc, utc_now
from e200.telemetry.contract import DT_QUANTITIES, EVENT_KINDS, METER_QUANTITIES, Quantity
from e200.telemetry.liveness import Liveness
from e200.telemetry.tables import (
    device_event,
    dt_reading,
    ingest_counter,
    meter_reading,
    quarantine,
    terminal_liveness,
    terminal_meter_list,
)

MAX_READINGS = 50_000
MAX_EVENTS = 10_000
_DEVICE_KINDS = ("transformer", "meter", "terminal")


def find_device(conn: Connection, asset_number: str, scope: Scope) -> tuple[str, dict[str, Any]]:
    """The device with this asset number that the caller may see (transformer, meter, terminal)."""
    for kind in _DEVICE_KINDS:
        try:
            return kind, archives.get_asset(conn, archives.KINDS[kind], asset_number, scope)
        except NotFoundError:
            continue
    raise NotFoundError("device", asset_number)


def _device_id(conn: Connection, kind: str, asset_number: str) -> int:
    refs = archives.lookup_devices(conn, kind, [asset_number])
    return refs[asset_number].id


def device_latest(conn: Connection, asset_number: str, scope: Scope,
                  offline_after_intervals: int = 3) -> dict[str, Any]:  # fmt: skip
    kind, asset = find_device(conn, asset_number, scope)
    device_id = _device_id(conn, kind, asset_number)
    out: dict[str, Any] = {"asset_number": asset_number, "kind": kind}
    if kind == "terminal":
        row = conn.execute(select(terminal_liveness).where(
            terminal_liveness.c.terminal_id == device_id)).first()  # fmt: skip
        live = Liveness(row.last_seen_at if row else None, int(asset["reporting_interval_min"]),
                        offline_after_intervals)  # fmt: skip
        out.update(last_seen_at=live.heard_at, last_ts=row.last_ts if row else None,
                   online=live.online(utc_now()),
                   offline_after_min=live.silent_after / timedelta(minutes=1))  # fmt: skip
        return out
    # The newest reading is the live value (one backward index scan per partition).
    table, key, quantities = _reading_table(kind)
    row = conn.execute(
        select(table).where(table.c[key] == device_id, table.c.ts <= func.now() + timedelta(
            minutes=5)).order_by(table.c.ts.desc()).limit(1)
    ).first()  # fmt: skip
    values = {q.name: row._mapping[q.name] for q in quantities
              if row is not None and row._mapping[q.name] is not None}  # fmt: skip
    out.update(
        ts=row.ts if row else None,
        received_at=row.received_at if row else None,
        interval_min=row.interval_min if row else None,
        values=values,
    )
    return out


def _reading_table(kind: str) -> tuple[Table, str, tuple[Quantity, ...]]:
    if kind == "transformer":
        return dt_reading, "transformer_id", DT_QUANTITIES
    return meter_reading, "meter_id", METER_QUANTITIES


def device_readings(
    conn: Connection,
    asset_number: str,
    scope: Scope,
    start: datetime | None,
    end: datetime | None,
    quantities: list[str] | None,
) -> dict[str, Any]:
    """Interval readings of a transformer or meter in [start, end) — default the last 7 days."""
    kind, _ = find_device(conn, asset_number, scope)
    if kind == "terminal":
        raise InvalidInputError("asset_number: a terminal has no readings of its own; ask for "
                                "its transformer", field="asset_number")  # fmt: skip
    end = as_utc(end) if end else utc_now()
    start = as_utc(start) if start else end - timedelta(days=7)
    if start >= end:
        raise InvalidInputError("from: must be before to", field="from")
    table, key, known = _reading_table(kind)
    names = [q.name for q in known]
    if quantities:
        unknown = [q for q in quantities if q not in names]
        if unknown:
            raise InvalidInputError(f"quantities: {unknown[0]!r} is not a {kind} quantity; "
                                    f"use {names}", field="quantities")  # fmt: skip
        names = quantities
    device_id = _device_id(conn, kind, asset_number)
    rows = conn.execute(
        select(table.c.ts, *(table.c[n] for n in names))
        .where(table.c[key] == device_id, table.c.ts >= start, table.c.ts < end)
        .order_by(table.c.ts)
        .limit(MAX_READINGS)
    ).all()
    return {"asset_number": asset_number, "kind": kind, "from": start, "to": end,
            "quantities": names, "ts": [r[0] for r in rows],
            "values": {n: [r[i + 1] for r in rows] for i, n in enumerate(names)}}  # fmt: skip


def device_events(
    conn: Connection,
    asset_number: str,
    scope: Scope,
    start: datetime | None,
    end: datetime | None,
    kinds: list[str] | None = None,
    limit: int = 1000,
) -> dict[str, Any]:
    """Events of a meter, transformer or terminal stamped in [start, end) — default the last 7
    days — newest first, at most ``limit`` (``truncated`` says older ones were left out)."""
    kind, _ = find_device(conn, asset_number, scope)
    end = as_utc(end) if end else utc_now()
    start = as_utc(start) if start else end - timedelta(days=7)
    if start >= end:
        raise InvalidInputError("from: must be before to", field="from")
    if kinds:
        unknown = [k for k in kinds if k not in EVENT_KINDS]
        if unknown:
            raise InvalidInputError(f"kind: {unknown[0]!r} is not an event kind; use "
                                    f"{list(EVENT_KINDS)}", field="kind")  # fmt: skip
    if not 1 <= limit <= MAX_EVENTS:
        raise InvalidInputError(f"limit: from 1 to {MAX_EVENTS}", field="limit")
    e = device_event
    query = (
        select(e.c.ts, e.c.event, e.c.detail, e.c.received_at)
        .where(e.c.device_kind == kind, e.c.device_id == _device_id(conn, kind, asset_number),
               e.c.ts >= start, e.c.ts < end)
        .order_by(e.c.ts.desc(), e.c.event)
        .limit(limit + 1)
    )  # fmt: skip
    if kinds:
        query = query.where(e.c.event.in_(kinds))
    rows = conn.execute(query).all()
    return {"asset_number": asset_number, "kind": kind, "from": start, "to": end,
            "kinds": kinds or list(EVENT_KINDS), "truncated": len(rows) > limit,
            "events": [{"ts": r.ts, "event": r.event, "detail": r.detail,
                        "received_at": r.received_at} for r in rows[:limit]]}  # fmt: skip


def counters(conn: Connection) -> list[dict[str, Any]]:
    """Per source: received, stored, quarantined, duplicates (the sum of its writers' rows)."""
    c = ingest_counter.c
    return [dict(r._mapping) for r in conn.execute(
        select(c.source, *(func.sum(col).cast(BigInteger).label(col.name) for col in
                           (c.received, c.stored, c.quarantined, c.duplicates)),
               func.max(c.updated_at).label("updated_at"))
        .group_by(c.source).order_by(c.source))]  # fmt: skip


def quarantine_summary(conn: Connection, since: datetime | None = None) -> list[dict[str, Any]]:
    query = select(quarantine.c.reason, func.count().label("count"),
                   func.max(quarantine.c.received_at).label("last_at")).group_by(
        quarantine.c.reason).order_by(func.count().desc())  # fmt: skip
    if since is not None:
        query = query.where(quarantine.c.received_at >= as_utc(since))
    return [dict(r._mapping) for r in conn.execute(query)]


def quarantine_entries(conn: Connection, reason: str | None, device: str | None, limit: int,
                       offset: int) -> list[dict[str, Any]]:  # fmt: skip
    query = select(quarantine).order_by(quarantine.c.id.desc()).limit(limit).offset(offset)
    if reason:
        query = query.where(quarantine.c.reason == reason)
    if device:
        query = query.where(quarantine.c.device == device)
    out = []
    for row in conn.execute(query):
        item = dict(row._mapping)
        item["payload"] = bytes(item["payload"]).decode("utf-8", errors="replace")
        out.append(item)
    return out


def unknown_devices(conn: Connection, limit: int = 500) -> list[dict[str, Any]]:
    """Devices that report but are not in the archive — for an operator to add."""
    rows = conn.execute(
        select(quarantine.c.device, quarantine.c.message_type, func.count().label("messages"),
               func.min(quarantine.c.received_at).label("first_at"),
               func.max(quarantine.c.received_at).label("last_at"))
        .where(quarantine.c.reason == "unknown_device", quarantine.c.device.is_not(None))
        .group_by(quarantine.c.device, quarantine.c.message_type)
        .order_by(func.count().desc())
        .limit(limit)
    )  # fmt: skip
    return [dict(r._mapping) for r in rows]


# -- meter lists the terminals report ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportedMeterList:
    """The last ``terminal_meters`` message of a terminal."""

    terminal_id: int
    ts: datetime  # the terminal's time of the list
    received_at: datetime
    meters: tuple[str, ...]
    phases: dict[str, str] | None  # meter -> phase, if the terminal reports phases


def reported_meter_lists(conn: Connection, terminal_ids: list[int]) -> dict[int, ReportedMeterList]:
    """The last list each of these terminals reported (terminals that never did are absent)."""
    if not terminal_ids:
        return {}
    t = terminal_meter_list
    rows = conn.execute(select(t).where(t.c.terminal_id.in_(terminal_ids)))
    return {
        r.terminal_id: ReportedMeterList(r.terminal_id, r.ts, r.received_at, tuple(r.meters),
                                         r.phases)
        for r in rows
    }  # fmt: skip


def terminals_reporting(conn: Connection, meters: list[str]) -> dict[str, list[int]]:
    """For each of these meters, the terminals whose last list holds it (GIN-indexed)."""
    if not meters:
        return {}
    rows = conn.execute(
        text("SELECT m.meter, l.terminal_id FROM telemetry.terminal_meter_list AS l, "
             "unnest(l.meters) AS m(meter) "
             "WHERE l.meters && CAST(:wanted AS text[]) AND m.meter = ANY(CAST(:wanted AS text[])) "
             "ORDER BY m.meter, l.terminal_id"),
        {"wanted": sorted(set(meters))},
    )  # fmt: skip
    out: dict[str, list[int]] = {}
    for meter, terminal_id in rows:
        out.setdefault(meter, []).append(terminal_id)
    return out


def latest_dt_readings(
    conn: Connection, transformer_ids: list[int], since: datetime
) -> dict[int, dict[str, Any]]:
    """The newest reading of each transformer stamped after ``since`` (and not in the future
    beyond the ingest tolerance): one ``DISTINCT ON`` query over the recent partitions."""
    if not transformer_ids:
        return {}
    rows = conn.execute(
        select(dt_reading)
        .distinct(dt_reading.c.transformer_id)
        .where(dt_reading.c.transformer_id.in_(transformer_ids),
               dt_reading.c.ts > as_utc(since),
               dt_reading.c.ts <= func.now() + timedelta(minutes=5))
        .order_by(dt_reading.c.transformer_id, dt_reading.c.ts.desc())
    )  # fmt: skip
    return {row.transformer_id: dict(row._mapping) for row in rows}


def terminals_last_seen(conn: Connection, terminal_ids: list[int] | None = None
                        ) -> dict[int, datetime]:  # fmt: skip
    """When E200 last heard from each terminal — the arrival of its newest delivery (absent:
    never); ``None``: every terminal ever heard from."""
    query = select(terminal_liveness.c.terminal_id, terminal_liveness.c.last_seen_at)
    if terminal_ids is not None:
        if not terminal_ids:
            return {}
        query = query.where(terminal_liveness.c.terminal_id == func.any(
            literal(terminal_ids, ARRAY(BigInteger))))  # fmt: skip
    return {row.terminal_id: row.last_seen_at for row in conn.execute(query)}


@dataclass(frozen=True, slots=True)
class VoltageDay:
    """One transformer's voltage intervals of one local calendar day against its limits.

    ``n`` counts intervals with supply (highest phase at or above the outage voltage); the
    others are outages and count nowhere else. An interval is out of limits when any phase is
    above ``hi`` (over) or below ``lo`` (under)."""

    transformer_id: int
    day: date
    n: int
    n_out: int
    n_over: int
    n_under: int
    n_over_midday: int  # over-voltage 10:00–16:00 local
    n_over_reverse: int  # over-voltage while power flows back to MV (p_kw < 0)
    n_under_evening: int  # under-voltage 17:00–23:00 local
    n_outage: int
    v_min: float | None
    v_max: float | None


_VOLTAGE_DAYS = text("""
WITH lim AS (
  SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:lo AS float8[]), CAST(:hi AS float8[]),
                       CAST(:outage AS float8[])) AS l(transformer_id, lo, hi, outage)
), r AS (
  SELECT d.transformer_id, (d.ts - interval '1 microsecond') AT TIME ZONE :tz AS local_ts,
         LEAST(d.v_a_v, d.v_b_v, d.v_c_v) AS vmin, GREATEST(d.v_a_v, d.v_b_v, d.v_c_v) AS vmax,
         d.p_kw, l.lo, l.hi, l.outage
  FROM telemetry.dt_reading d JOIN lim l ON l.transformer_id = d.transformer_id
  WHERE d.ts > :start AND d.ts <= :end
), c AS (
  SELECT r.*, vmax >= outage AS supplied, extract(hour FROM local_ts) AS hour FROM r
  WHERE vmax IS NOT NULL
)
SELECT transformer_id, CAST(local_ts AS date) AS day,
  count(*) FILTER (WHERE supplied) AS n,
  count(*) FILTER (WHERE supplied AND (vmax > hi OR vmin < lo)) AS n_out,
  count(*) FILTER (WHERE supplied AND vmax > hi) AS n_over,
  count(*) FILTER (WHERE supplied AND vmin < lo) AS n_under,
  count(*) FILTER (WHERE supplied AND vmax > hi AND hour >= 10 AND hour < 16) AS n_over_midday,
  count(*) FILTER (WHERE supplied AND vmax > hi AND p_kw < 0) AS n_over_reverse,
  count(*) FILTER (WHERE supplied AND vmin < lo AND hour >= 17 AND hour < 23) AS n_under_evening,
  count(*) FILTER (WHERE NOT supplied) AS n_outage,
  min(vmin) FILTER (WHERE supplied) AS v_min, max(vmax) FILTER (WHERE supplied) AS v_max
FROM c GROUP BY 1, 2 ORDER BY 1, 2
""")


def dt_voltage_days(
    conn: Connection,
    limits: dict[int, tuple[float, float, float]],
    start: datetime,
    end: datetime,
    tz: str,
) -> list[VoltageDay]:
    """Per transformer (id → (lo_v, hi_v, outage_v) phase-to-neutral) and local day in ``tz``:
    how many of its intervals in (start, end] were out of limits, when and how — one
    set-based query."""
    if not limits:
        return []
    ids = list(limits)
    rows = conn.execute(_VOLTAGE_DAYS, {
        "ids": ids, "lo": [limits[i][0] for i in ids], "hi": [limits[i][1] for i in ids],
        "outage": [limits[i][2] for i in ids], "start": as_utc(start), "end": as_utc(end),
        "tz": tz,
    })  # fmt: skip
    return [VoltageDay(**row._mapping) for row in rows]

"""Daily acquisition-quality figures, computed set-based for one local calendar day.

For every meter that should be read (``archives.meter_roster`` as of the day's end) one row with
the day's expected interval points, those received, received on time (within T = one reporting
interval of the interval's end), late and missing, and whether the daily frozen reading arrived
by the deadline; for every terminal that should report, its transformer's interval curve counted
the same way, whether it was online at the end of the day and for how many seconds of the day it
was (a terminal is offline once not heard from for k × its reporting interval, k the
``terminal_offline`` alarm threshold in force for it: ``alarms.offline_after``). Each part is
one ``INSERT … SELECT`` after deleting the day's rows, in the caller's transaction: recomputing
a day replaces it, so late data and re-collections never count twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    column,
    delete,
    extract,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import insert

from e200 import alarms, archives, telemetry
from e200.kernel import InvalidInputError, as_utc, utc_now
from e200.quality.tables import computed_day, meter_day, terminal_day


@dataclass(frozen=True, kw_only=True)
class QualityRules:
    """How the daily figures are judged (../shared/DOMAIN.md, "Acquisition quality")."""

    point_interval_min: int = 15
    """Resolution of interval data: a day has 24 × 60 / 15 = 96 points (92 or 100 on the days
    daylight saving starts or ends)."""
    deadline_h: float = 24.0
    """The daily frozen reading of day D counts as a success when it arrives at most this many
    hours after D's local midnight (default: by the end of D)."""
    lookback_days: int = 3
    """Transformer readings stamped this long before the day may still show a terminal alive in
    the day (a late delivery); older ones are not read."""


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """The local calendar day's start and end in UTC (23 or 25 hours apart on DST days)."""
    zone = ZoneInfo(tz)
    nxt = day + timedelta(days=1)
    return (as_utc(datetime(day.year, day.month, day.day, tzinfo=zone)),
            as_utc(datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)))  # fmt: skip


def local_today(tz: str, now: datetime | None = None) -> date:
    return (now or utc_now()).astimezone(ZoneInfo(tz)).date()


@dataclass(frozen=True)
class DayComputed:
    day: date
    meters: int
    terminals: int
    seconds: float
    partial: bool
    start: datetime
    end: datetime  # the observed span ends here (the day's end, or now for today)


def _minutes(col: Any) -> Any:
    return col * literal_column("interval '1 minute'")


def compute_day(conn: Connection, day: date, tz: str, rules: QualityRules = QualityRules(),
                now: datetime | None = None) -> DayComputed:  # fmt: skip
    """Replace ``day``'s rows with freshly computed ones (in the caller's transaction)."""
    t0 = time.perf_counter()
    now = as_utc(now) if now else utc_now()
    d0, d1 = day_bounds(day, tz)
    if now <= d0:
        raise InvalidInputError(f"day: {day} has not begun", field="day")
    partial = now < d1
    step = timedelta(minutes=rules.point_interval_min)
    end = d1 if not partial else d0 + step * int((now - d0) / step)
    at = d1 - timedelta(microseconds=1) if not partial else now
    seen_to = d1 if not partial else now  # liveness is observed up to now, not to `end`
    expected = int((end - d0) / step)
    deadline = d0 + timedelta(hours=rules.deadline_h)
    conn.execute(delete(meter_day).where(meter_day.c.day == day))
    conn.execute(delete(terminal_day).where(terminal_day.c.day == day))
    meters = _meters(conn, day, d0, end, at, expected, deadline, now)
    terminals = _terminals(conn, day, d0, end, seen_to, at, expected, rules, now)
    seconds = time.perf_counter() - t0
    stmt = insert(computed_day).values(
        day=day,
        computed_at=now,
        meters=meters,
        terminals=terminals,
        seconds=seconds,
        partial=partial,
    )
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["day"], set_={c: stmt.excluded[c] for c in
                                      ("computed_at", "meters", "terminals", "seconds",
                                       "partial")}))  # fmt: skip
    return DayComputed(day, meters, terminals, seconds, partial, d0, end)


def _within(counts: Any, interval_min: Any) -> Any:
    c = counts.c
    return case(
        (interval_min <= 5, c.within_5),
        (interval_min <= 15, c.within_15),
        (interval_min <= 30, c.within_30),
        else_=c.within_60,
    )


def _meters(conn: Connection, day: date, d0: datetime, end: datetime, at: datetime,
            expected: int, deadline: datetime, now: datetime) -> int:  # fmt: skip
    ro = archives.meter_roster(at).subquery("ro")
    pc = _materialize(conn, "quality_meter_counts", telemetry.meter_point_counts(d0, end))
    dl = telemetry.daily_readings(day).subquery("dl")
    exp = literal(expected)
    base = (
        select(ro.c.meter_id, ro.c.org_unit_id, ro.c.transformer_id, ro.c.terminal_id,
               ro.c.interval_min,
               func.least(func.coalesce(pc.c.received, 0), exp).label("received"),
               func.coalesce(_within(pc, ro.c.interval_min), 0).label("within"),
               dl.c.received_at)
        .select_from(ro.outerjoin(pc, pc.c.device_id == ro.c.meter_id)
                     .outerjoin(dl, dl.c.meter_id == ro.c.meter_id))
    ).cte("base")  # fmt: skip
    on_time = func.least(base.c.within, base.c.received)
    rows = select(
        literal(day), base.c.meter_id, base.c.org_unit_id, base.c.transformer_id,
        base.c.terminal_id, base.c.interval_min, exp, base.c.received, on_time,
        base.c.received - on_time, exp - base.c.received,
        and_(base.c.received_at.is_not(None), base.c.received_at <= deadline),
        base.c.received_at, literal(now),
    )  # fmt: skip
    cols = ["day", "meter_id", "org_unit_id", "transformer_id", "terminal_id", "interval_min",
            "expected", "received", "on_time", "late", "missing", "daily_ok",
            "daily_received_at", "computed_at"]  # fmt: skip
    conn.execute(insert(meter_day).from_select(cols, rows))
    return _count(conn, meter_day, day)


def _terminals(conn: Connection, day: date, d0: datetime, end: datetime, seen_to: datetime,
               at: datetime, expected: int, rules: QualityRules, now: datetime
               ) -> int:  # fmt: skip
    """``end``: the last interval end counted (points); ``seen_to``: where the observed span of
    liveness ends — the day's end, or for today ``now``, so that a message received since the
    last quarter hour counts (it is what keeps a terminal online right now)."""
    ro = archives.terminal_roster(at).subquery("ro")
    kq, k_max = _offline_k(conn, ro)
    dc = telemetry.dt_point_counts(d0, end).subquery("dc")
    longest = timedelta(minutes=60 * k_max)
    msg = telemetry.terminal_messages(d0 - longest, seen_to,
                                      d0 - timedelta(days=rules.lookback_days))  # fmt: skip
    heard = select(msg.c.terminal_id, msg.c.received_at).distinct().subquery("heard")
    nxt = func.lead(heard.c.received_at).over(partition_by=heard.c.terminal_id,
                                              order_by=heard.c.received_at)  # fmt: skip
    w = select(heard.c.terminal_id, heard.c.received_at.label("r"), nxt.label("nxt")).subquery("w")
    silent = _minutes(ro.c.interval_min * kq.c.k)
    covered_to = func.least(w.c.r + silent, func.coalesce(w.c.nxt, seen_to), literal(seen_to))
    seconds = func.greatest(extract("epoch", covered_to - func.greatest(w.c.r, literal(d0))), 0)
    cov = (
        select(w.c.terminal_id, func.sum(seconds).label("online_s"),
               func.max(w.c.r).label("last_heard"))
        .select_from(w.join(ro, ro.c.terminal_id == w.c.terminal_id)
                     .join(kq, kq.c.terminal_id == w.c.terminal_id))
        .group_by(w.c.terminal_id)
    ).subquery("cov")  # fmt: skip
    exp = literal(expected)
    base = (
        select(ro.c.terminal_id, ro.c.org_unit_id, ro.c.transformer_id, ro.c.interval_min,
               func.least(func.coalesce(dc.c.received, 0), exp).label("received"),
               func.coalesce(_within(dc, ro.c.interval_min), 0).label("within"),
               cast(func.coalesce(cov.c.online_s, 0), Float).label("online_s"),
               cov.c.last_heard, kq.c.k)
        .select_from(ro.outerjoin(dc, dc.c.device_id == ro.c.transformer_id)
                     .outerjoin(cov, cov.c.terminal_id == ro.c.terminal_id)
                     .join(kq, kq.c.terminal_id == ro.c.terminal_id))
    ).cte("tbase")  # fmt: skip
    on_time = func.least(base.c.within, base.c.received)
    silent_for = _minutes(base.c.interval_min * base.c.k)
    # online at the end: heard from less than k × interval before it (telemetry.Liveness)
    online = and_(base.c.last_heard.is_not(None),
                  base.c.last_heard > literal(seen_to) - silent_for)  # fmt: skip
    rows = select(
        literal(day), base.c.terminal_id, base.c.org_unit_id, base.c.transformer_id,
        base.c.interval_min, exp, base.c.received, on_time, base.c.received - on_time,
        exp - base.c.received, online, base.c.online_s, literal((seen_to - d0).total_seconds()),
        base.c.last_heard, literal(now),
    )  # fmt: skip
    cols = ["day", "terminal_id", "org_unit_id", "transformer_id", "interval_min", "expected",
            "received", "on_time", "late", "missing", "online", "online_s", "span_s",
            "last_heard_at", "computed_at"]  # fmt: skip
    conn.execute(insert(terminal_day).from_select(cols, rows))
    return _count(conn, terminal_day, day)


def _offline_k(conn: Connection, roster: Any) -> tuple[Any, float]:
    """(terminal_id, k) of the roster's terminals — k from the alarm slice, the one owner of a
    terminal's liveness (``alarms.offline_after``) — as a subquery, and the largest k."""
    ids = [int(t) for (t,) in conn.execute(select(roster.c.terminal_id).distinct())]
    facts = archives.device_facts(conn, "terminal", ids)
    k = alarms.offline_after(facts.values(), conn)
    kq = (text("SELECT * FROM unnest(CAST(:kq_ids AS bigint[]), CAST(:kq_ks AS float8[])) "
               "AS u(terminal_id, k)")
          .bindparams(kq_ids=list(k), kq_ks=list(k.values()))
          .columns(column("terminal_id", BigInteger), column("k", Float))
          .subquery("kq"))  # fmt: skip
    return kq, max(k.values(), default=alarms.RULES_BY_KEY["terminal_offline"].threshold)


def _count(conn: Connection, table: Any, day: date) -> int:
    # (an INSERT … SELECT with a CTE reports no row count through the driver)
    return int(conn.execute(select(func.count()).where(table.c.day == day)).scalar_one())


def _materialize(conn: Connection, name: str, query: Select[Any]) -> Any:
    """The rows of ``query`` as a temporary table dropped at commit. PostgreSQL runs the scan
    of a ``CREATE TABLE … AS`` with parallel workers, never the one inside an ``INSERT …
    SELECT`` — the day's readings are by far the largest input."""
    compiled = query.compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{name}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {compiled}",
                         compiled.params)  # fmt: skip
    conn.exec_driver_sql(f"ANALYZE pg_temp.{name}")
    return table(name, *(column(str(c.key)) for c in query.selected_columns)).alias("pc")


def purge_before(conn: Connection, cutoff: date) -> int:
    """Delete the figures of days before ``cutoff`` (retention); returns the days dropped."""
    conn.execute(delete(meter_day).where(meter_day.c.day < cutoff))
    conn.execute(delete(terminal_day).where(terminal_day.c.day < cutoff))
    return int(conn.execute(delete(computed_day).where(computed_day.c.day < cutoff)).rowcount)

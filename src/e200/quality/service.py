"""Reading the daily figures back: per org unit at every level (tree rollup), per terminal and
meter, a meter's missing intervals, weak points, trends; re-collection of missing points.

Rows are attributed to the org unit the device belonged to when its day was computed; the
caller's scope keeps the units (and devices) whose unit path it allows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from e200 import archives, telemetry, terminal
from e200.kernel import InvalidInputError, NotFoundError, Scope, utc_now
from e200.quality.compute import QualityRules, day_bounds, local_today
from e200.quality.model import (
    ChronicMisser,
    Counts,
    DevicePage,
    DeviceRow,
    MissingOut,
    NeverReported,
    RankedTerminal,
    RankedUnit,
    RecollectCommand,
    RecollectIn,
    RecollectOut,
    SummaryOut,
    TerminalDiagnosis,
    TrendOut,
    TrendPoint,
    UnitRow,
    WeakPointsOut,
)
from e200.quality.tables import computed_day, meter_day, terminal_day

M_SUMS = ("meters", "daily_ok", "expected", "received", "on_time", "late", "missing")
T_SUMS = ("terminals", "terminals_online", "online_s", "span_s", "dt_expected", "dt_received",
          "dt_on_time")  # fmt: skip
RATES = ("success", "completeness", "timeliness", "online")


@dataclass(frozen=True, kw_only=True)
class WeakPointRules:
    """When a device counts as failing on a day, and when failures are terminal-wide."""

    fail_missing_pct: float = 10.0
    """A meter fails on a day when at least this share of its points is missing, or its frozen
    reading did not arrive by the deadline."""
    terminal_wide_share: float = 0.8
    """A terminal's meters fail together when at least this share of them fail the same day
    (with at least ``terminal_wide_min_meters`` meters)."""
    terminal_wide_min_meters: int = 2


def _pct(num: float, den: float) -> float | None:
    return round(100.0 * num / den, 4) if den else None


def counts(sums: dict[str, Any]) -> dict[str, Any]:
    """The rates of a dict of sums (missing keys count 0)."""
    s = {k: sums.get(k, 0) or 0 for k in (*M_SUMS, *T_SUMS)}
    s["online_s"], s["span_s"] = float(s["online_s"]), float(s["span_s"])
    return {
        **s,
        "success_rate_pct": _pct(s["daily_ok"], s["meters"]),
        "completeness_rate_pct": _pct(s["received"], s["expected"]),
        "timeliness_rate_pct": _pct(s["on_time"], s["expected"]),
        "online_rate_pct": _pct(s["terminals_online"], s["terminals"]),
        "online_time_rate_pct": _pct(s["online_s"], s["span_s"]),
        "dt_completeness_rate_pct": _pct(s["dt_received"], s["dt_expected"]),
    }


def _add(into: dict[str, Any], row: Any, keys: Iterable[str]) -> None:
    for k in keys:
        into[k] = into.get(k, 0) + (row._mapping[k] or 0)


def parse_day(value: date | None, tz: str) -> date:
    return value if value is not None else local_today(tz) - timedelta(days=1)


def _units(conn: Connection, scope: Scope, org_unit: str | None) -> dict[int, Any]:
    """Org units in scope (under ``org_unit`` when given) by id."""
    t = archives.org_unit_table
    rows = {r.id: r for r in conn.execute(select(t.c.id, t.c.code, t.c.name, t.c.kind,
                                                  t.c.parent_id, t.c.path))}  # fmt: skip
    prefix = ""
    if org_unit is not None:
        unit = next((r for r in rows.values() if r.code == org_unit and scope.allows(r.path)), None)
        if unit is None:
            raise NotFoundError("org unit", org_unit, field="org_unit")
        prefix = unit.path
    return {i: r for i, r in rows.items() if scope.allows(r.path) and r.path.startswith(prefix)}


def _ancestors(path: str) -> list[int]:
    return [int(p) for p in path.strip(".").split(".") if p]


def _sums_by_unit(conn: Connection, start: date, end: date) -> dict[int, dict[str, Any]]:
    """Per org unit (devices attributed to it directly), the sums over days in [start, end]."""
    m, t = meter_day, terminal_day
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    for row in conn.execute(
        select(m.c.org_unit_id, func.count().label("meters"),
               func.count().filter(m.c.daily_ok).label("daily_ok"),
               *(func.sum(m.c[c]).label(c) for c in M_SUMS[2:]))
        .where(m.c.day >= start, m.c.day <= end).group_by(m.c.org_unit_id)
    ):  # fmt: skip
        _add(out[row.org_unit_id], row, M_SUMS)
    for row in conn.execute(
        select(t.c.org_unit_id, func.count().label("terminals"),
               func.count().filter(t.c.online).label("terminals_online"),
               func.sum(t.c.online_s).label("online_s"), func.sum(t.c.span_s).label("span_s"),
               func.sum(t.c.expected).label("dt_expected"),
               func.sum(t.c.received).label("dt_received"),
               func.sum(t.c.on_time).label("dt_on_time"))
        .where(t.c.day >= start, t.c.day <= end).group_by(t.c.org_unit_id)
    ):  # fmt: skip
        _add(out[row.org_unit_id], row, T_SUMS)
    return out


def computed_days(conn: Connection, start: date, end: date) -> list[date]:
    return list(conn.execute(select(computed_day.c.day).where(
        computed_day.c.day >= start, computed_day.c.day <= end).order_by(computed_day.c.day)
    ).scalars())  # fmt: skip


def summary(conn: Connection, scope: Scope, *, day_from: date, day_to: date,
            org_unit: str | None = None) -> SummaryOut:  # fmt: skip
    """Rates and counts for every org unit in scope (each over its whole subtree) and in total,
    summed over the days in [day_from, day_to]."""
    if day_to < day_from:
        raise InvalidInputError("to: must not be before from", field="to")
    units = _all_paths(conn)
    visible = _units(conn, scope, org_unit)
    direct = _sums_by_unit(conn, day_from, day_to)
    tree: dict[int, dict[str, Any]] = {i: {} for i in visible}
    for unit_id, sums in direct.items():
        for anc in _ancestors(units.get(unit_id, "")):
            if anc in tree:
                for k, v in sums.items():
                    tree[anc][k] = tree[anc].get(k, 0) + v
    top = [i for i, u in visible.items() if u.parent_id not in visible]
    total: dict[str, Any] = {}
    for i in top:
        for k, v in tree[i].items():
            total[k] = total.get(k, 0) + v
    codes = {i: u.code for i, u in units_rows(conn).items()}
    rows = [UnitRow(org_unit=u.code, name=u.name, kind=u.kind, parent=codes.get(u.parent_id),
                    depth=len(_ancestors(u.path)) - 1, **counts(tree[i]))
            for i, u in sorted(visible.items(), key=lambda kv: kv[1].path)]  # fmt: skip
    return SummaryOut(day_from=day_from, day_to=day_to,
                      days_computed=computed_days(conn, day_from, day_to),
                      total=Counts(**counts(total)) if top else None, units=rows)  # fmt: skip


def units_rows(conn: Connection) -> dict[int, Any]:
    t = archives.org_unit_table
    return {r.id: r for r in conn.execute(select(t.c.id, t.c.code, t.c.name, t.c.parent_id,
                                                  t.c.path))}  # fmt: skip


def _all_paths(conn: Connection) -> dict[int, str]:
    return {i: r.path for i, r in units_rows(conn).items()}


def trend(conn: Connection, scope: Scope, *, org_unit: str | None, day_from: date, day_to: date,
          step: str = "day") -> TrendOut:  # fmt: skip
    """The rates of an org unit's subtree (default: everything in scope) per day or month."""
    if step not in ("day", "month"):
        raise InvalidInputError("step: day | month", field="step")
    if day_to < day_from:
        raise InvalidInputError("to: must not be before from", field="to")
    visible = _units(conn, scope, org_unit)
    m, t = meter_day, terminal_day
    per: dict[str, dict[str, Any]] = defaultdict(dict)

    def key(d: date) -> str:
        return d.isoformat() if step == "day" else d.isoformat()[:7]

    for row in conn.execute(
        select(m.c.day, m.c.org_unit_id, func.count().label("meters"),
               func.count().filter(m.c.daily_ok).label("daily_ok"),
               *(func.sum(m.c[c]).label(c) for c in M_SUMS[2:]))
        .where(m.c.day >= day_from, m.c.day <= day_to).group_by(m.c.day, m.c.org_unit_id)
    ):  # fmt: skip
        if row.org_unit_id in visible:
            _add(per[key(row.day)], row, M_SUMS)
    for row in conn.execute(
        select(t.c.day, t.c.org_unit_id, func.count().label("terminals"),
               func.count().filter(t.c.online).label("terminals_online"),
               func.sum(t.c.online_s).label("online_s"), func.sum(t.c.span_s).label("span_s"),
               func.sum(t.c.expected).label("dt_expected"),
               func.sum(t.c.received).label("dt_received"),
               func.sum(t.c.on_time).label("dt_on_time"))
        .where(t.c.day >= day_from, t.c.day <= day_to).group_by(t.c.day, t.c.org_unit_id)
    ):  # fmt: skip
        if row.org_unit_id in visible:
            _add(per[key(row.day)], row, T_SUMS)
    return TrendOut(
        org_unit=org_unit,
        step=step,
        points=[TrendPoint(period=p, **counts(per[p])) for p in sorted(per)],
    )


# -- devices -----------------------------------------------------------------------------------

METER_SORTS = ("missing", "late", "asset_number", "completeness_rate_pct")


def devices(conn: Connection, scope: Scope, *, kind: str, day: date, org_unit: str | None = None,
            terminal_number: str | None = None, only_failing: bool = False, limit: int = 100,
            offset: int = 0) -> DevicePage:  # fmt: skip
    """Meters or terminals of a day with their counts and rates, most missing first."""
    visible = _units(conn, scope, org_unit)
    table = meter_day if kind == "meter" else terminal_day
    key = "meter_id" if kind == "meter" else "terminal_id"
    query = select(table).where(table.c.day == day, table.c.org_unit_id.in_(list(visible)))
    if terminal_number is not None:
        archives.get_asset(conn, archives.KINDS["terminal"], terminal_number, scope)  # else 404
        ref = archives.lookup_devices(conn, "terminal", [terminal_number])[terminal_number]
        query = query.where(table.c.terminal_id == ref.id)
    if only_failing:
        query = query.where(table.c.missing > 0) if kind == "terminal" else query.where(
            (table.c.missing > 0) | ~table.c.daily_ok)  # fmt: skip
    rows = conn.execute(query.order_by(table.c.missing.desc(), table.c.late.desc(),
                                       table.c[key])).all()  # fmt: skip
    page = rows[offset : offset + limit]
    names = archives.asset_numbers(conn, kind, [r._mapping[key] for r in page])
    terms = archives.asset_numbers(conn, "terminal", [r.terminal_id for r in page
                                                      if r.terminal_id is not None])  # fmt: skip
    items = [DeviceRow(asset_number=names.get(r._mapping[key], str(r._mapping[key])),
                       kind=kind,
                       org_unit=visible[r.org_unit_id].code if r.org_unit_id in visible else None,
                       terminal=terms.get(r.terminal_id) if r.terminal_id else None,
                       interval_min=r.interval_min, **counts(_row_sums(kind, r)))
             for r in page]  # fmt: skip
    return DevicePage(day=day, total=len(rows), limit=limit, offset=offset, items=items)


def _row_sums(kind: str, r: Any) -> dict[str, Any]:
    if kind == "meter":
        return {"meters": 1, "daily_ok": int(r.daily_ok), "expected": r.expected,
                "received": r.received, "on_time": r.on_time, "late": r.late,
                "missing": r.missing}  # fmt: skip
    return {"terminals": 1, "terminals_online": int(r.online), "online_s": r.online_s,
            "span_s": r.span_s, "dt_expected": r.expected, "dt_received": r.received,
            "dt_on_time": r.on_time}  # fmt: skip


def missing_intervals(conn: Connection, scope: Scope, meter: str, day: date, tz: str,
                      rules: QualityRules = QualityRules()) -> MissingOut:  # fmt: skip
    """The interval ends of ``day`` with no reading of the meter stored, and those late."""
    archives.get_asset(conn, archives.KINDS["meter"], meter, scope)  # 404 outside the scope
    ref = archives.lookup_devices(conn, "meter", [meter])[meter]
    row = conn.execute(select(meter_day).where(meter_day.c.day == day,
                                               meter_day.c.meter_id == ref.id)).first()  # fmt: skip
    d0, d1 = day_bounds(day, tz)
    step = timedelta(minutes=rules.point_interval_min)
    if row is not None:
        expected, interval_min, daily_at = row.expected, row.interval_min, row.daily_received_at
    else:  # not computed yet: the day so far, T = 15 min
        expected = int((min(d1, utc_now()) - d0) / step) if utc_now() > d0 else 0
        interval_min, daily_at = 15, None
    ends = [d0 + step * (k + 1) for k in range(expected)]
    got = telemetry.reading_receipts(conn, "meter", ref.id, d0, ends[-1] if ends else d0)
    limit = timedelta(minutes=interval_min)
    return MissingOut(meter=meter, day=day, interval_min=interval_min, expected=expected,
                      received=sum(1 for e in ends if e in got),
                      missing=[e for e in ends if e not in got],
                      late=[e for e in ends if e in got and got[e] - e > limit],
                      daily_received_at=daily_at)  # fmt: skip


# -- weak points -------------------------------------------------------------------------------


def weak_points(conn: Connection, scope: Scope, *, day: date, n: int = 3, m: int = 7,
                org_unit: str | None = None, limit: int = 20,
                rules: WeakPointRules = WeakPointRules()) -> WeakPointsOut:  # fmt: skip
    """Where the rates are lost on ``day`` (units and terminals ranked by points lost), devices
    silent on every computed day of the last ``m``, chronic missers (failing on ≥ ``n`` of
    them) and, per terminal with failing meters, whether they fail together (terminal) or
    scattered (meter)."""
    if not 1 <= n <= m:
        raise InvalidInputError("n: 1 ≤ n ≤ m", field="n")
    visible = _units(conn, scope, org_unit)
    ids = list(visible)
    first = day - timedelta(days=m - 1)
    days = computed_days(conn, first, day)
    md, td = meter_day, terminal_day
    # -- ranking on the day
    direct = _sums_by_unit(conn, day, day)
    total = counts({k: sum(d.get(k, 0) for u, d in direct.items() if u in visible)
                    for k in (*M_SUMS, *T_SUMS)})  # fmt: skip
    lost_of: dict[str, Callable[[dict[str, Any]], float]] = {
        "success": lambda s: s.get("meters", 0) - s.get("daily_ok", 0),
        "completeness": lambda s: s.get("missing", 0),
        "timeliness": lambda s: s.get("expected", 0) - s.get("on_time", 0),
        "online": lambda s: s.get("span_s", 0) - s.get("online_s", 0),
    }
    base = {"success": total["meters"], "completeness": total["expected"],
            "timeliness": total["expected"], "online": total["span_s"]}  # fmt: skip
    units: dict[str, list[RankedUnit]] = {}
    for rate, lost in lost_of.items():
        ranked = []
        for u, sums in direct.items():
            if u not in visible or not lost(sums):
                continue
            c = counts(sums)
            ranked.append(RankedUnit(org_unit=visible[u].code, name=visible[u].name,
                                     lost=int(lost(sums)),
                                     rate_drop_pct=round(100.0 * lost(sums) / base[rate], 4)
                                     if base[rate] else 0.0,
                                     rate_pct=c[f"{rate}_rate_pct"]))  # fmt: skip
        ranked.sort(key=lambda r: (-r.lost, r.org_unit))
        units[rate] = ranked[:limit]
    # per terminal: its meters' losses plus its own liveness
    per_t: dict[int, dict[str, Any]] = defaultdict(dict)
    for row in conn.execute(
        select(md.c.terminal_id, func.count().label("meters"),
               func.count().filter(md.c.daily_ok).label("daily_ok"),
               *(func.sum(md.c[c]).label(c) for c in M_SUMS[2:]))
        .where(md.c.day == day, md.c.org_unit_id.in_(ids), md.c.terminal_id.is_not(None))
        .group_by(md.c.terminal_id)
    ):  # fmt: skip
        _add(per_t[row.terminal_id], row, M_SUMS)
    t_org: dict[int, int] = {}
    for row in conn.execute(select(td).where(td.c.day == day, td.c.org_unit_id.in_(ids))):
        per_t[row.terminal_id].update(terminals=1, terminals_online=int(row.online),
                                      online_s=row.online_s, span_s=row.span_s)  # fmt: skip
        t_org[row.terminal_id] = row.org_unit_id
    names = archives.asset_numbers(conn, "terminal", list(per_t))
    terminals: dict[str, list[RankedTerminal]] = {}
    for rate, lost in lost_of.items():
        ranked_t = []
        for tid, sums in per_t.items():
            if not lost(sums):
                continue
            c = counts(sums)
            org = visible.get(t_org.get(tid, -1))
            ranked_t.append(RankedTerminal(
                terminal=names.get(tid, str(tid)), org_unit=org.code if org else None,
                lost=int(lost(sums)),
                rate_drop_pct=round(100.0 * lost(sums) / base[rate], 4) if base[rate] else 0.0,
                rate_pct=c[f"{rate}_rate_pct"]))  # fmt: skip
        ranked_t.sort(key=lambda r: (-r.lost, r.terminal))
        terminals[rate] = ranked_t[:limit]
    # -- history over the last m computed days
    fail = ((md.c.missing * 100.0 >= md.c.expected * rules.fail_missing_pct) & (md.c.missing > 0)
            ) | ~md.c.daily_ok  # fmt: skip
    hist = conn.execute(
        select(md.c.meter_id, md.c.terminal_id, md.c.org_unit_id,
               func.count().label("days"),
               func.count().filter(fail).label("days_failing"),
               func.sum(md.c.missing).label("missing"),
               func.count().filter(~md.c.daily_ok).label("failed_daily"),
               func.sum(md.c.received).label("received"),
               func.count().filter(md.c.daily_ok).label("daily_ok"))
        .where(md.c.day >= first, md.c.day <= day, md.c.org_unit_id.in_(ids))
        .group_by(md.c.meter_id, md.c.terminal_id, md.c.org_unit_id)
        .having(or_(func.count().filter(fail) >= n,
                    and_(func.sum(md.c.received) == 0, func.count().filter(md.c.daily_ok) == 0)))
    ).all()  # only chronic missers and silent meters come back  # fmt: skip
    chronic_rows = [h for h in hist if h.days_failing >= n]
    never_rows = [h for h in hist if h.received == 0 and h.daily_ok == 0]
    meter_names = archives.asset_numbers(
        conn, "meter", [h.meter_id for h in (*chronic_rows, *never_rows)]
    )
    term_names = archives.asset_numbers(conn, "terminal", list({h.terminal_id for h in hist
                                                                 if h.terminal_id}))  # fmt: skip

    def org_code(uid: int) -> str | None:
        return visible[uid].code if uid in visible else None

    chronic = [ChronicMisser(asset_number=meter_names.get(h.meter_id, str(h.meter_id)),
                             kind="meter", org_unit=org_code(h.org_unit_id),
                             terminal=term_names.get(h.terminal_id) if h.terminal_id else None,
                             days_missing=h.days_failing, days_computed=h.days,
                             missing_points=int(h.missing), failed_daily=h.failed_daily)
               for h in chronic_rows]  # fmt: skip
    chronic.sort(key=lambda c: (-c.days_missing, -c.missing_points, c.asset_number))
    never = [NeverReported(asset_number=meter_names.get(h.meter_id, str(h.meter_id)),
                           kind="meter", org_unit=org_code(h.org_unit_id),
                           terminal=term_names.get(h.terminal_id) if h.terminal_id else None)
             for h in never_rows]  # fmt: skip
    silent_t = conn.execute(
        select(td.c.terminal_id, td.c.org_unit_id)
        .where(td.c.day >= first, td.c.day <= day, td.c.org_unit_id.in_(ids))
        .group_by(td.c.terminal_id, td.c.org_unit_id)
        .having(func.count(td.c.last_heard_at) == 0)
    ).all()  # fmt: skip
    t_names = archives.asset_numbers(conn, "terminal", [r.terminal_id for r in silent_t])
    never += [NeverReported(asset_number=t_names.get(r.terminal_id, str(r.terminal_id)),
                            kind="terminal", org_unit=org_code(r.org_unit_id), terminal=None)
              for r in silent_t]  # fmt: skip
    never.sort(key=lambda x: (x.kind, x.asset_number))
    chronic_ids = {h.meter_id for h in chronic_rows}
    diagnoses = _diagnose(conn, first, day, ids, fail, rules, visible, chronic_ids)
    return WeakPointsOut(day=day, days=days, n=n, m=m, units=units, terminals=terminals,
                         never_reported=never[: limit * 10], chronic=chronic[: limit * 50],
                         diagnoses=diagnoses)  # fmt: skip


def _diagnose(
    conn: Connection,
    first: date,
    day: date,
    ids: list[int],
    fail: Any,
    rules: WeakPointRules,
    visible: dict[int, Any],
    chronic_ids: set[int],
) -> list[TerminalDiagnosis]:
    """Per terminal and day: how many of its meters failed. A terminal problem when on some day
    at least ``terminal_wide_share`` of them failed together (the terminal or its channel); a
    meter problem when, without that, some of its meters are chronic missers (the failures are
    scattered over those meters). Occasional single failures are neither."""
    md = meter_day
    per_day = conn.execute(
        select(md.c.terminal_id, md.c.day, func.count().label("meters"),
               func.count().filter(fail).label("failing"),
               func.array_agg(md.c.meter_id).filter(fail).label("failing_ids"))
        .where(md.c.day >= first, md.c.day <= day, md.c.org_unit_id.in_(ids),
               md.c.terminal_id.is_not(None))
        .group_by(md.c.terminal_id, md.c.day)
        .having(func.count().filter(fail) > 0)
    ).all()  # fmt: skip
    by_t: dict[int, list[Any]] = defaultdict(list)
    for r in per_day:
        by_t[r.terminal_id].append(r)
    orgs = dict(conn.execute(select(terminal_day.c.terminal_id, terminal_day.c.org_unit_id)
                             .where(terminal_day.c.day == day)).all())  # fmt: skip
    t_names = archives.asset_numbers(conn, "terminal", list(by_t))
    failing_ids = sorted({i for rows in by_t.values() for r in rows for i in r.failing_ids})
    m_names = archives.asset_numbers(conn, "meter", failing_ids)
    out = []
    for tid, rows in by_t.items():
        wide = [r for r in rows if r.meters >= rules.terminal_wide_min_meters
                and r.failing >= rules.terminal_wide_share * r.meters]  # fmt: skip
        worst = max(rows, key=lambda r: (r.failing / r.meters, r.day))
        meters = max(r.meters for r in rows)
        ids_failing = sorted({i for r in rows for i in r.failing_ids})
        if wide:
            problem = "terminal"
            reason = (f"{len(wide)} day(s) with at least {rules.terminal_wide_share:.0%} of its "
                      f"meters failing together (worst {worst.failing}/{worst.meters} on "
                      f"{worst.day}): the terminal or its channel")  # fmt: skip
        else:
            ids_failing = [i for i in ids_failing if i in chronic_ids]
            if not ids_failing:
                continue
            problem = "meter"
            reason = (
                f"failures scattered: {len(ids_failing)} of {meters} meters fail again "
                f"and again (at most {worst.failing} on one day): the meters themselves"
            )
        org = visible.get(orgs.get(tid, -1))
        out.append(TerminalDiagnosis(
            terminal=t_names.get(tid, str(tid)), org_unit=org.code if org else None,
            problem=problem, reason=reason, meters=meters, worst_day=worst.day,
            worst_day_failing=worst.failing, days_terminal_wide=len(wide),
            failing_meters=[m_names.get(i, str(i)) for i in ids_failing][:50]))  # fmt: skip
    out.sort(key=lambda d: (d.problem != "terminal", -d.worst_day_failing, d.terminal))
    return out


# -- re-collection -----------------------------------------------------------------------------


def recollect(conn: Connection, data: RecollectIn, scope: Scope, tz: str,
              actor: str | None = None) -> RecollectOut:  # fmt: skip
    """One on-demand read (``read_now`` with the day's window and the meters that missed points
    or their frozen reading) per selected terminal; the terminal answers with the readings its
    meters hold, which ingest stores (what is already stored is ignored) — recomputing the day
    then shows them."""
    if (data.terminals is None) == (data.org_unit is None):
        raise InvalidInputError("give terminals or org_unit", field="terminals")
    if data.terminals is not None:
        areas = archives.station_areas(conn, scope, terminals=data.terminals)
        found = {a.terminal for a in areas}
        unknown = [t for t in data.terminals if t not in found]
        if unknown:
            raise NotFoundError("terminal", unknown[0], field="terminals")
    else:
        areas = archives.station_areas(conn, scope, org_unit_code=data.org_unit)
    d0, d1 = day_bounds(data.day, tz)
    end = min(d1, utc_now())
    md = meter_day
    ids = [a.terminal_id for a in areas]
    rows = conn.execute(
        select(md.c.terminal_id, md.c.meter_id, md.c.missing, md.c.daily_ok)
        .where(md.c.day == data.day, md.c.terminal_id.in_(ids),
               (md.c.missing > 0) | ~md.c.daily_ok)
    ).all()  # fmt: skip
    wanted: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        wanted[r.terminal_id].append(r)
    names = archives.asset_numbers(conn, "meter", [r.meter_id for r in rows])
    commands, skipped = [], []
    for area in areas:
        got = wanted.get(area.terminal_id)
        if not got:
            skipped.append(area.terminal)
            continue
        meters = sorted(names[r.meter_id] for r in got if r.meter_id in names)
        cmd = terminal.issue(conn, area.terminal, terminal.CommandIn(
            kind="read_now", ttl_s=data.ttl_s,
            params={"meters": meters, "from": d0.isoformat(), "to": end.isoformat()}),
            scope, actor)  # fmt: skip
        commands.append(RecollectCommand(terminal=area.terminal, command_id=str(cmd["id"]),
                                         status=cmd["status"], meters=len(meters),
                                         missing_points=sum(r.missing for r in got)))  # fmt: skip
    return RecollectOut(day=data.day, start=d0, end=end, commands=commands, skipped=skipped)

"""Transformer monitoring: the latest quantities with derived values and status, the fleet,
reporting intervals, and voltage insights and qualification.

Every read is set-based: the in-scope transformers come from one archive query
(``archives.transformer_sites``), their newest readings from one ``DISTINCT ON`` query, the
terminals' liveness from one query and the voltage counts from one aggregate per local day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from e200 import alarms, archives, telemetry, terminal
from e200.kernel import InvalidInputError, NotFoundError, Scope, as_utc, utc_now
from e200.monitoring.insights import CAUSE_TEXT, TrendRules, classify
from e200.monitoring.model import (
    Derived,
    FleetItem,
    FleetPage,
    InsightOut,
    InsightPage,
    IntervalCommand,
    QualificationPage,
    QualificationRow,
    ReportingIntervalIn,
    ReportingIntervalOut,
    TransformerStatus,
    WeekOut,
)

RECENT = timedelta(days=1)  # the fleet and page look this far back for the latest reading
HISTORY_DAYS = 182  # voltage insights classify on this much history up to the month's end
SORTS = ("asset_number", "status", "loading_pct", "v_min_v", "v_max_v", "last_report_at",
         "active_alarms", "worst_severity")  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class VoltageLimits:
    """Phase-to-neutral voltage limits as fractions of the nominal (../shared/DOMAIN.md).

    The defaults are the alarm rules' (``over_voltage``, ``under_voltage``, ``outage``); the
    views use each transformer's thresholds in force (``_limits_of``) unless a caller passes
    limits of its own."""

    over: float = alarms.RULES_BY_KEY["over_voltage"].threshold / 100 - 1
    """Over-voltage above nominal × (1 + over) — GB/T 12325, 220/230 V: +7 %."""
    under: float = 1 - alarms.RULES_BY_KEY["under_voltage"].threshold / 100
    """Under-voltage below nominal × (1 − under) — GB/T 12325, 220/230 V: −10 %."""
    outage: float = alarms.RULES_BY_KEY["outage"].threshold / 100
    """Out of supply when every phase is below nominal × outage (k, 50 %–80 %, default 60 %)."""

    def volts(self, v_nom: float) -> tuple[float, float, float]:
        return v_nom * (1 - self.under), v_nom * (1 + self.over), v_nom * self.outage

    @classmethod
    def of(cls, thresholds: dict[str, float]) -> VoltageLimits:
        """The limits a transformer's alarm thresholds in force (``alarms.thresholds_in_force``)
        stand for."""
        return cls(over=thresholds["over_voltage"] / 100 - 1,
                   under=1 - thresholds["under_voltage"] / 100,
                   outage=thresholds["outage"] / 100)  # fmt: skip


LIMITS = VoltageLimits()


def _phases(row: dict[str, Any], prefix: str, suffix: str) -> list[float]:
    return [row[f"{prefix}_{p}_{suffix}"] for p in "abc" if row.get(f"{prefix}_{p}_{suffix}")
            is not None]  # fmt: skip


def _reading(site: archives.TransformerSite, row: dict[str, Any]) -> alarms.Reading:
    rating = alarms.rating_of(site.rated_kva, site.secondary_rated_v, site.phases,
                              site.no_load_loss_kw, site.load_loss_kw)  # fmt: skip
    return alarms.reading_of(row, rating, row["ts"], row.get("interval_min") or 15)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def derive(site: archives.TransformerSite, row: dict[str, Any] | None,
           thresholds: dict[str, float] | None = None) -> Derived:  # fmt: skip
    """Loading, current unbalance, estimated loss, the voltage span of one reading and its
    loading level — the alarm slice's definitions and this transformer's thresholds in force,
    so the view says "overloaded" exactly when the overload rule sees the reading beyond its
    threshold."""
    if row is None:
        return Derived(loading_pct=None, current_unbalance_pct=None, loss_kw=None, v_min_v=None,
                       v_max_v=None, loading_level=None)  # fmt: skip
    r = _reading(site, row)
    volts = _phases(row, "v", "v")
    return Derived(
        loading_pct=_round(alarms.loading_pct(r), 2),
        current_unbalance_pct=_round(alarms.unbalance_pct(r), 2),
        loss_kw=_round(alarms.loss_kw(r), 3),
        v_min_v=min(volts) if volts else None,
        v_max_v=max(volts) if volts else None,
        loading_level=alarms.loading_level(r, thresholds),
    )


def status_of(site: archives.TransformerSite, row: dict[str, Any] | None,
              live: telemetry.Liveness, now: datetime,
              thresholds: dict[str, float] | None = None) -> tuple[str, str]:  # fmt: skip
    """online / offline (not heard from for k × interval: ``alarms.terminal_liveness``) /
    out_of_supply (the ``outage`` rule's threshold in force: every phase below it), with the
    reason in words."""
    if live.heard_at is None:
        return "offline", "never reported"
    if not live.online(now):
        return "offline", f"no report for {live.k:g} × {live.interval_min} min"
    if row is not None and "outage" in alarms.breaching(_reading(site, row), thresholds):
        pct = (thresholds or {}).get("outage", alarms.RULES_BY_KEY["outage"].threshold)
        return "out_of_supply", f"every phase below {site.v_phase * pct / 100:.0f} V " \
                                f"({pct:g} % of nominal)"  # fmt: skip
    return "online", "reporting"


@dataclass(frozen=True)
class _Snapshot:
    latest: dict[int, dict[str, Any]]  # transformer id -> newest reading
    live: dict[int, telemetry.Liveness]  # transformer id -> its terminal's liveness
    thresholds: dict[int, dict[str, float]]  # transformer id -> thresholds in force

    def last_report(self, site_id: int) -> datetime | None:
        """When the transformer's terminal was last heard from, or its newest reading arrived."""
        row = self.latest.get(site_id)
        times = [t for t in (self.live[site_id].heard_at, row["received_at"] if row else None)
                 if t is not None]  # fmt: skip
        return max(times) if times else None


def _snapshot(conn: Connection, sites: list[archives.TransformerSite]) -> _Snapshot:
    latest = telemetry.latest_dt_readings(conn, [s.id for s in sites], utc_now() - RECENT)
    terminals = alarms.terminal_liveness(
        conn, [s.terminal_id for s in sites if s.terminal_id is not None]
    )
    default_k = alarms.RULES_BY_KEY["terminal_offline"].threshold
    live = {}
    for s in sites:
        if s.terminal_id is not None and s.terminal_id in terminals:
            live[s.id] = terminals[s.terminal_id]
        else:  # no terminal: heard from when its newest reading arrived
            row = latest.get(s.id)
            interval = s.reporting_interval_min or (row["interval_min"] if row else 15)
            heard = row["received_at"] if row else None
            live[s.id] = telemetry.Liveness(heard, interval, default_k)
    facts = [archives.DeviceFacts(s.id, s.asset_number, s.org_path) for s in sites]
    return _Snapshot(latest, live, alarms.thresholds_in_force(conn, facts))


def transformer(conn: Connection, asset_number: str, scope: Scope) -> TransformerStatus:
    """The monitoring view of one transformer (404 when out of scope)."""
    sites = archives.transformer_sites(conn, scope, transformers=[asset_number])
    if not sites:
        raise NotFoundError("transformer", asset_number)
    site = sites[0]
    snap = _snapshot(conn, sites)
    row = snap.latest.get(site.id)
    th = snap.thresholds[site.id]
    status, reason = status_of(site, row, snap.live[site.id], utc_now(), th)
    values = (
        {}
        if row is None
        else {k: v for k, v in row.items() if isinstance(v, float) and k not in ("interval_min",)}
    )
    return TransformerStatus(
        asset_number=site.asset_number, org_unit=site.org_unit, feeder=site.feeder,
        terminal=site.terminal, rated_kva=site.rated_kva, v_phase_nominal_v=round(site.v_phase, 2),
        lat=site.lat, lon=site.lon, reporting_interval_min=site.reporting_interval_min,
        status=status, status_reason=reason, last_report_at=snap.last_report(site.id),
        reading_ts=row["ts"] if row else None, values=values, derived=derive(site, row, th),
        thresholds={k: th[k] for k in THRESHOLDS_SHOWN},
    )  # fmt: skip


# The thresholds in force a transformer's view is judged by (and shows).
THRESHOLDS_SHOWN = (*alarms.LOADING_RULES, "outage", "under_voltage", "over_voltage",
                    "terminal_offline")  # fmt: skip


def fleet(conn: Connection, scope: Scope, *, org_unit: str | None = None,
          sort: str = "asset_number", limit: int = 100, offset: int = 0) -> FleetPage:  # fmt: skip
    """Every in-scope transformer (under ``org_unit``) with status, loading and voltage span.
    ``sort`` is one of SORTS, ``-`` in front for descending; missing values sort last."""
    key = sort.removeprefix("-")
    if key not in SORTS:
        raise InvalidInputError(f"sort: one of {', '.join(SORTS)} (prefix - for descending)",
                                field="sort")  # fmt: skip
    try:
        sites = archives.transformer_sites(conn, scope, org_unit_code=org_unit)
    except NotFoundError as exc:
        raise NotFoundError("org unit", org_unit or "", field="org_unit") from exc
    snap = _snapshot(conn, sites)
    # A transformer's active alarms include its terminal's (offline, meter-list sync).
    own = alarms.active_by_device(conn, "transformer", [s.id for s in sites])
    of_terminal = alarms.active_by_device(
        conn, "terminal", [s.terminal_id for s in sites if s.terminal_id is not None]
    )
    now = utc_now()
    items = []
    for s in sites:
        row = snap.latest.get(s.id)
        th = snap.thresholds[s.id]
        status, _ = status_of(s, row, snap.live[s.id], now, th)
        d = derive(s, row, th)
        active = own.get(s.id, []) + (of_terminal.get(s.terminal_id, []) if s.terminal_id else [])
        items.append(FleetItem(
            asset_number=s.asset_number, org_unit=s.org_unit, feeder=s.feeder, lat=s.lat,
            lon=s.lon, status=status, loading_pct=d.loading_pct, loading_level=d.loading_level,
            v_min_v=d.v_min_v, v_max_v=d.v_max_v, last_report_at=snap.last_report(s.id),
            active_alarms=len(active), worst_severity=alarms.worst_severity(active)))  # fmt: skip

    def order(i: FleetItem) -> Any:
        value = getattr(i, key)
        return alarms.severity_rank(value) if key == "worst_severity" else value

    present = [i for i in items if getattr(i, key) is not None]
    absent = [i for i in items if getattr(i, key) is None]
    present.sort(key=order, reverse=sort.startswith("-"))
    ordered = present + absent
    by_status: dict[str, int] = defaultdict(int)
    for i in items:
        by_status[i.status] += 1
    return FleetPage(total=len(items), by_status=dict(by_status), limit=limit, offset=offset,
                     items=ordered[offset: offset + limit])  # fmt: skip


def set_reporting_interval(conn: Connection, data: ReportingIntervalIn, scope: Scope,
                           actor: str | None = None) -> ReportingIntervalOut:  # fmt: skip
    """Issue a ``set_interval`` command to one terminal or to every in-scope terminal under an
    org unit. The archive's interval changes when a terminal acknowledges
    (``terminal.ack_hook``)."""
    if data.terminal is not None:
        numbers = [data.terminal]
    else:
        assert data.org_unit is not None
        areas = archives.station_areas(conn, scope, org_unit_code=data.org_unit)
        numbers = [a.terminal for a in areas]
    out = []
    for number in numbers:
        cmd = terminal.issue(conn, number, terminal.CommandIn(
            kind="set_interval", params={"interval_min": data.interval_min}, ttl_s=data.ttl_s),
            scope, actor)  # fmt: skip
        asset = archives.get_asset(conn, archives.KINDS["terminal"], number, scope)
        out.append(IntervalCommand(
            terminal=number, command_id=str(cmd["id"]), status=cmd["status"],
            interval_min=data.interval_min,
            archive_interval_min=int(asset["reporting_interval_min"]),
            created_at=cmd["created_at"]))  # fmt: skip
    return ReportingIntervalOut(interval_min=data.interval_min, commands=out)


# -- voltage insights and qualification -------------------------------------------------------


def month_bounds(month: str | None, tz: str) -> tuple[str, datetime, datetime]:
    """``YYYY-MM`` (default: the current local month) → its local start and end in UTC."""
    zone = ZoneInfo(tz)
    if month is None:
        local = utc_now().astimezone(zone)
        month = f"{local.year:04d}-{local.month:02d}"
    try:
        first = date.fromisoformat(month + "-01")
    except ValueError as exc:
        raise InvalidInputError("month: YYYY-MM", field="month") from exc
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = datetime(first.year, first.month, 1, tzinfo=zone)
    end = datetime(nxt.year, nxt.month, 1, tzinfo=zone)
    return month, as_utc(start), as_utc(end)


def _days(conn: Connection, sites: list[archives.TransformerSite], start: datetime,
          end: datetime, tz: str, limits: VoltageLimits | None
          ) -> dict[int, list[telemetry.VoltageDay]]:  # fmt: skip
    """Voltage days judged by ``limits``, or (None) by each transformer's voltage alarm
    thresholds in force — an override of ``over_voltage`` at an org unit moves the limit here
    too."""
    if limits is None:
        facts = [archives.DeviceFacts(s.id, s.asset_number, s.org_path) for s in sites]
        th = alarms.thresholds_in_force(conn, facts)
        volts = {s.id: VoltageLimits.of(th[s.id]).volts(s.v_phase) for s in sites}
    else:
        volts = {s.id: limits.volts(s.v_phase) for s in sites}
    rows = telemetry.dt_voltage_days(conn, volts, start, end, tz)
    out: dict[int, list[telemetry.VoltageDay]] = defaultdict(list)
    for r in rows:
        out[r.transformer_id].append(r)
    return out


def voltage_insights(conn: Connection, scope: Scope, *, org_unit: str | None, month: str | None,
                     tz: str, limit: int = 50, ranking: str = "month",
                     rules: TrendRules = TrendRules(), limits: VoltageLimits | None = None
                     ) -> InsightPage:  # fmt: skip
    """Transformers with voltage out of limits in ``month`` (``ranking="history"``: anywhere in
    the history window), worst first, each classified on the history up to the month's end,
    with the evidence. Limits: ``limits``, or each transformer's voltage alarm thresholds in
    force (the page's ``limits`` then shows the system defaults)."""
    shown = limits or LIMITS
    if ranking not in ("month", "history"):
        raise InvalidInputError("ranking: month | history", field="ranking")
    month, m_start, m_end = month_bounds(month, tz)
    h_start = m_end - timedelta(days=HISTORY_DAYS)
    sites = archives.transformer_sites(conn, scope, org_unit_code=org_unit)
    by_id = _days(conn, sites, h_start, m_end, tz, limits)
    m_first = m_start.astimezone(ZoneInfo(tz)).date()
    items = []
    for s in sites:
        days = by_id.get(s.id, [])
        in_month = [d for d in days if d.day >= m_first]
        n = sum(d.n for d in in_month)
        n_out = sum(d.n_out for d in in_month)
        if not n_out and not (ranking == "history" and any(d.n_out for d in days)):
            continue
        ins = classify(days, rules)
        worst = ins.worst_day
        curve = None
        if worst is not None:
            w0 = as_utc(datetime(worst.year, worst.month, worst.day, tzinfo=ZoneInfo(tz)))
            curve = (f"/api/v1/devices/{s.asset_number}/readings?from={w0.isoformat()}"
                     f"&to={(w0 + timedelta(days=1)).isoformat()}"
                     "&quantities=v_a_v,v_b_v,v_c_v,p_kw").replace("+00:00", "Z")  # fmt: skip
        items.append(InsightOut(
            asset_number=s.asset_number, org_unit=s.org_unit, feeder=s.feeder, trend=ins.trend,
            cause=ins.cause, cause_text=CAUSE_TEXT.get(ins.cause or ""),
            month_out_pct=round(100.0 * n_out / n, 3) if n else 0.0,
            history_out_pct=ins.out_pct, bad_weeks=ins.bad_weeks,
            weeks=[WeekOut(week=w.week.isoformat(), n=w.n, out_pct=w.out_pct)
                   for w in ins.weeks],
            days_with_breaches=ins.days_with_breaches, longest_run_days=ins.longest_run_days,
            n_over=ins.n_over, n_under=ins.n_under,
            v_min_v=min((d.v_min for d in days if d.v_min is not None), default=None),
            v_max_v=max((d.v_max for d in days if d.v_max is not None), default=None),
            worst_day=worst.isoformat() if worst else None, evidence_curve=curve))  # fmt: skip
    order_by = "history_out_pct" if ranking == "history" else "month_out_pct"
    items.sort(key=lambda i: (-float(getattr(i, order_by)), i.asset_number))
    return InsightPage(
        month=month, history_from=h_start, history_to=m_end,
        limits={"over_pct": shown.over * 100, "under_pct": shown.under * 100,
                "outage_pct": shown.outage * 100, "bad_week_pct": rules.bad_week_pct},
        total=len(items), items=items[:limit])  # fmt: skip


def voltage_qualification(conn: Connection, scope: Scope, *, level: str, month: str | None,
                          tz: str, org_unit: str | None = None,
                          limits: VoltageLimits | None = None
                          ) -> QualificationPage:  # fmt: skip
    """Monthly voltage qualification rate = supplied intervals within limits ÷ supplied
    intervals × 100, per transformer, feeder, or org unit (each unit counts its whole subtree),
    worst first."""
    if level not in ("transformer", "feeder", "org_unit"):
        raise InvalidInputError("level: transformer | feeder | org_unit", field="level")
    month, m_start, m_end = month_bounds(month, tz)
    sites = archives.transformer_sites(conn, scope, org_unit_code=org_unit)
    by_id = _days(conn, sites, m_start, m_end, tz, limits)
    unit_codes: dict[str, str] = {}
    if level == "org_unit":
        ids = {int(p) for s in sites for p in s.org_path.strip(".").split(".") if p}
        t = archives.org_unit_table
        unit_codes = {str(r.id): r.code for r in conn.execute(
            select(t.c.id, t.c.code, t.c.path).where(t.c.id.in_(ids)))
            if scope.allows(r.path)}  # fmt: skip
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for s in sites:
        days = by_id.get(s.id, [])
        counts = (sum(d.n for d in days), sum(d.n_out for d in days),
                  sum(d.n_over for d in days), sum(d.n_under for d in days))  # fmt: skip
        if level == "transformer":
            keys = [s.asset_number]
        elif level == "feeder":
            keys = [s.feeder or "(no feeder)"]
        else:
            keys = [unit_codes[p] for p in s.org_path.strip(".").split(".") if p in unit_codes]
        for k in keys:
            for i, c in enumerate(counts):
                acc[k][i] += c
    rows = [QualificationRow(
        key=k, level=level, intervals=v[0], intervals_out=v[1],
        qualification_rate_pct=round(100.0 * (v[0] - v[1]) / v[0], 3) if v[0] else None,
        over=v[2], under=v[3]) for k, v in acc.items()]  # fmt: skip
    rows.sort(key=lambda r: (r.qualification_rate_pct is None,
                             r.qualification_rate_pct or 0.0, r.key))  # fmt: skip
    return QualificationPage(month=month, level=level, items=rows)

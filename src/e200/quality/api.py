"""REST routes of acquisition quality (under /api/v1/quality)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from e200.db.web import ConnDep, PrincipalDep, ScopeDep, requires
from e200.kernel import Offset, Permission
from e200.quality import service
from e200.quality.compute import QualityRules, compute_day
from e200.quality.model import (
    ComputeIn,
    ComputeOut,
    DevicePage,
    MissingOut,
    RecollectIn,
    RecollectOut,
    SummaryOut,
    TrendOut,
    WeakPointsOut,
)

router = APIRouter(prefix="/api/v1/quality", tags=["quality"])

Day = Annotated[date | None, Query(description="Local calendar day (default: yesterday)")]
OrgUnit = Annotated[str | None, Query(description="Org unit code (its subtree)")]


def _tz(request: Request) -> str:
    return str(request.app.state.settings.timezone)


@router.get("/summary", dependencies=[requires(Permission.VIEW_DATA)], response_model=SummaryOut)
def summary(
    conn: ConnDep, scope: ScopeDep, request: Request, day: Day = None,
    day_from: Annotated[date | None, Query(alias="from", description="First day (with to)")]
    = None,
    day_to: Annotated[date | None, Query(alias="to", description="Last day (inclusive)")] = None,
    org_unit: OrgUnit = None,
) -> SummaryOut:  # fmt: skip
    """Success, completeness, timeliness and online rates (also time-weighted) with the counts
    behind them, for every org unit in your scope (each over its whole subtree) and in total,
    for a day or a range of days."""
    d = service.parse_day(day, _tz(request))
    return service.summary(conn, scope, day_from=day_from or d, day_to=day_to or day_from or d,
                           org_unit=org_unit)  # fmt: skip


@router.get("/meters", dependencies=[requires(Permission.VIEW_DATA)], response_model=DevicePage)
def meters(
    conn: ConnDep, scope: ScopeDep, request: Request, day: Day = None, org_unit: OrgUnit = None,
    terminal: Annotated[str | None, Query(description="Only this terminal's meters")] = None,
    failing: Annotated[bool, Query(description="Only meters that missed points or their "
                                               "frozen reading")] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    offset: Offset = 0,
) -> DevicePage:  # fmt: skip
    """Per meter: the day's expected, received, on-time, late and missing points and whether its
    frozen reading arrived by the deadline; most missing first."""
    return service.devices(conn, scope, kind="meter", day=service.parse_day(day, _tz(request)),
                           org_unit=org_unit, terminal_number=terminal, only_failing=failing,
                           limit=limit, offset=offset)  # fmt: skip


@router.get("/terminals", dependencies=[requires(Permission.VIEW_DATA)],
            response_model=DevicePage)  # fmt: skip
def terminals(
    conn: ConnDep, scope: ScopeDep, request: Request, day: Day = None, org_unit: OrgUnit = None,
    failing: Annotated[bool, Query(description="Only terminals missing transformer points")]
    = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    offset: Offset = 0,
) -> DevicePage:  # fmt: skip
    """Per terminal: its transformer's interval curve counts, online at the end of the day and
    the seconds online (time-weighted)."""
    return service.devices(conn, scope, kind="terminal", day=service.parse_day(day, _tz(request)),
                           org_unit=org_unit, only_failing=failing, limit=limit,
                           offset=offset)  # fmt: skip


@router.get("/meters/{asset_number}/missing", dependencies=[requires(Permission.VIEW_DATA)],
            response_model=MissingOut)  # fmt: skip
def missing(asset_number: str, conn: ConnDep, scope: ScopeDep, request: Request,
            day: Day = None) -> MissingOut:  # fmt: skip
    """A meter's missing and late intervals of a day (drill-down)."""
    return service.missing_intervals(
        conn, scope, asset_number, service.parse_day(day, _tz(request)), _tz(request)
    )


@router.get("/weak-points", dependencies=[requires(Permission.VIEW_DATA)],
            response_model=WeakPointsOut)  # fmt: skip
def weak_points(
    conn: ConnDep, scope: ScopeDep, request: Request, day: Day = None, org_unit: OrgUnit = None,
    n: Annotated[int, Query(ge=1, le=366, description="Chronic: failing on at least n days")] = 3,
    m: Annotated[int, Query(ge=1, le=366, description="… of the last m days")] = 7,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> WeakPointsOut:  # fmt: skip
    """Org units and terminals ranked by what they cost each rate; devices silent on every
    computed day of the last m; chronic missers; terminals whose meters fail together (terminal
    or channel problem) versus scattered meter failures (meter problem)."""
    return service.weak_points(conn, scope, day=service.parse_day(day, _tz(request)), n=n, m=m,
                               org_unit=org_unit, limit=limit)  # fmt: skip


@router.get("/trend", dependencies=[requires(Permission.VIEW_DATA)], response_model=TrendOut)
def trend(
    conn: ConnDep, scope: ScopeDep, request: Request, org_unit: OrgUnit = None,
    day_from: Annotated[date | None, Query(alias="from", description="Default: 30 days back")]
    = None,
    day_to: Annotated[date | None, Query(alias="to", description="Default: yesterday")] = None,
    step: Annotated[str, Query(description="day | month")] = "day",
) -> TrendOut:  # fmt: skip
    """The rates of an org unit's subtree per day or per month."""
    to = service.parse_day(day_to, _tz(request))
    start = day_from or (to - timedelta(days=365 if step == "month" else 29))
    return service.trend(conn, scope, org_unit=org_unit, day_from=start, day_to=to, step=step)


@router.post("/compute", dependencies=[requires(Permission.VIEW_DATA)], response_model=ComputeOut)
def compute(data: ComputeIn, conn: ConnDep, request: Request) -> ComputeOut:
    """Recompute a day's figures for the whole grid now (they are derived data: a recompute
    replaces the day and never counts anything twice)."""
    day = service.parse_day(data.day, _tz(request))
    done = compute_day(conn, day, _tz(request), QualityRules())
    return ComputeOut(day=day, meters=done.meters, terminals=done.terminals,
                      seconds=round(done.seconds, 3), partial=done.partial)  # fmt: skip


@router.post("/recollect", dependencies=[requires(Permission.SEND_COMMANDS)],
             response_model=RecollectOut, status_code=202)  # fmt: skip
def recollect(data: RecollectIn, conn: ConnDep, principal: PrincipalDep,
              request: Request) -> RecollectOut:  # fmt: skip
    """Send on-demand reads (read_now with the day's window) for the missing points of the
    selected terminals' meters; recompute the day once they answered."""
    request.state.audit_detail = data.model_dump(mode="json")
    return service.recollect(conn, data, principal.scope, _tz(request), principal.username)

"""REST routes of transformer monitoring and voltage insights."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from e200.db.web import ConnDep, PrincipalDep, ScopeDep, requires
from e200.kernel import Offset, Permission
from e200.monitoring import service
from e200.monitoring.model import (
    FleetPage,
    InsightPage,
    QualificationPage,
    ReportingIntervalIn,
    ReportingIntervalOut,
    TransformerStatus,
)

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring"])


def _tz(request: Request) -> str:
    return str(request.app.state.settings.timezone)


@router.get("/transformers/{asset_number}", dependencies=[requires(Permission.VIEW_DATA)],
            response_model=TransformerStatus)  # fmt: skip
def transformer(asset_number: str, conn: ConnDep, scope: ScopeDep, request: Request
                ) -> TransformerStatus:  # fmt: skip
    """Latest quantities of a transformer, derived loading, current unbalance and loss, its
    status (online / offline / out_of_supply) and the time of its last report."""
    return service.transformer(conn, asset_number, scope)


@router.get("/fleet", dependencies=[requires(Permission.VIEW_DATA)], response_model=FleetPage)
def fleet(
    conn: ConnDep, scope: ScopeDep, request: Request,
    org_unit: Annotated[str | None, Query(description="Org unit code (its subtree)")] = None,
    sort: Annotated[str, Query(description=f"One of {', '.join(service.SORTS)}; "
                                           "prefix - for descending")] = "asset_number",
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    offset: Offset = 0,
) -> FleetPage:  # fmt: skip
    """Every transformer in your scope with location, status, loading and voltage span."""
    return service.fleet(conn, scope, org_unit=org_unit, sort=sort, limit=limit, offset=offset)


@router.post("/reporting-interval", dependencies=[requires(Permission.SEND_COMMANDS)],
             response_model=ReportingIntervalOut, status_code=202)  # fmt: skip
def reporting_interval(data: ReportingIntervalIn, conn: ConnDep, principal: PrincipalDep,
                       request: Request) -> ReportingIntervalOut:  # fmt: skip
    """Send a set_interval command to a terminal or to every terminal under an org unit; each
    stays pending until the terminal acknowledges, and the archive changes on the ack."""
    request.state.audit_detail = data.model_dump(mode="json")
    return service.set_reporting_interval(conn, data, principal.scope, principal.username)


@router.get("/voltage-insights", dependencies=[requires(Permission.VIEW_DATA)],
            response_model=InsightPage)  # fmt: skip
def voltage_insights(
    conn: ConnDep, scope: ScopeDep, request: Request,
    org_unit: Annotated[str | None, Query(description="Org unit code (its subtree)")] = None,
    month: Annotated[str | None, Query(description="YYYY-MM, local calendar (default: now)")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ranking: Annotated[str, Query(description="month (default): breaches in the month; "
                                              "history: anywhere in the 182 days")] = "month",
) -> InsightPage:  # fmt: skip
    """Transformers with voltage out of limits in the month, worst first: trend class
    (long-term / seasonal / episodic / recurring), likely cause and the evidence."""
    return service.voltage_insights(conn, scope, org_unit=org_unit, month=month, tz=_tz(request),
                                    limit=limit, ranking=ranking)  # fmt: skip


@router.get("/voltage-qualification", dependencies=[requires(Permission.VIEW_DATA)],
            response_model=QualificationPage)  # fmt: skip
def voltage_qualification(
    conn: ConnDep, scope: ScopeDep, request: Request,
    level: Annotated[str, Query(description="transformer | feeder | org_unit")] = "transformer",
    month: Annotated[str | None, Query(description="YYYY-MM, local calendar (default: now)")]
    = None,
    org_unit: Annotated[str | None, Query(description="Org unit code (its subtree)")] = None,
) -> QualificationPage:  # fmt: skip
    """Monthly voltage qualification rate (intervals within limits ÷ supplied intervals)."""
    return service.voltage_qualification(conn, scope, level=level, month=month, tz=_tz(request),
                                         org_unit=org_unit)  # fmt: skip

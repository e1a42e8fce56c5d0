"""REST routes of alarms: list, read, acknowledge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from e200.alarms import service
from e200.alarms.model import AcknowledgeIn, AlarmOut, AlarmPage
from e200.db.web import ConnDep, PrincipalDep, ScopeDep, requires
from e200.kernel import Permission

router = APIRouter(prefix="/api/v1", tags=["alarms"])


@router.get("/alarms", dependencies=[requires(Permission.VIEW_DATA)], response_model=AlarmPage)
def list_alarms(
    conn: ConnDep, scope: ScopeDep,
    state: Annotated[str | None, Query(description="active, acknowledged, cleared; "
                                                   "comma-separated")] = None,
    severity: Annotated[str | None, Query(description="critical, major, minor, warning; "
                                                      "comma-separated")] = None,
    rule: Annotated[str | None, Query(description="Rule key, e.g. terminal_sync_failed")] = None,
    device: Annotated[str | None, Query(description="Device asset number")] = None,
    org_unit: Annotated[str | None, Query(description="Org unit code (its subtree)")] = None,
    since: Annotated[datetime | None, Query(description="Not cleared before this time")] = None,
    until: Annotated[datetime | None, Query(description="Started before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AlarmPage:  # fmt: skip
    """Alarms of devices in your scope, newest first."""
    return service.list_alarms(
        conn, scope, state=state, severity=severity, rule=rule, device=device,
        org_unit=org_unit, since=since, until=until, limit=limit, offset=offset,
    )  # fmt: skip


@router.get(
    "/alarms/{alarm_id}", dependencies=[requires(Permission.VIEW_DATA)], response_model=AlarmOut
)
def get_alarm(alarm_id: int, conn: ConnDep, scope: ScopeDep) -> AlarmOut:
    return service.get(conn, alarm_id, scope)


@router.post(
    "/alarms/{alarm_id}/acknowledge",
    dependencies=[requires(Permission.ACKNOWLEDGE_ALARMS)],
    response_model=AlarmOut,
)
def acknowledge_alarm(
    alarm_id: int, conn: ConnDep, principal: PrincipalDep, request: Request,
    data: AcknowledgeIn | None = None,
) -> AlarmOut:  # fmt: skip
    """Acknowledge: you have seen it (with an optional comment). 409 if already acknowledged."""
    comment = data.comment if data else None
    request.state.audit_detail = {"comment": comment}
    return service.acknowledge(conn, alarm_id, principal.username, comment, principal.scope)

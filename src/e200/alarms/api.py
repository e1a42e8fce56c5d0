"""REST routes of alarms: list, read, acknowledge; the rule catalogue; thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from e200.alarms import service, thresholds
from e200.alarms.catalog import RULES
from e200.alarms.model import (
    AcknowledgeIn,
    AlarmCounts,
    AlarmOut,
    AlarmPage,
    BulkAcknowledgeIn,
    BulkAcknowledgeOut,
)
from e200.alarms.thresholds import EffectiveThreshold, Level, ThresholdIn
from e200.db.web import ConnDep, PrincipalDep, ScopeDep, requires
from e200.kernel import BigIntId, Offset, Permission

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
    offset: Offset = 0,
) -> AlarmPage:  # fmt: skip
    """Alarms of devices in your scope, newest first."""
    return service.list_alarms(
        conn, scope, state=state, severity=severity, rule=rule, device=device,
        org_unit=org_unit, since=since, until=until, limit=limit, offset=offset,
    )  # fmt: skip


@router.get("/alarms/counts", dependencies=[requires(Permission.VIEW_DATA)],
            response_model=AlarmCounts)  # fmt: skip
def alarm_counts(
    conn: ConnDep, scope: ScopeDep,
    state: Annotated[str | None, Query(description="active, acknowledged, cleared")] = None,
    severity: Annotated[str | None, Query(description="critical, major, minor, warning")] = None,
    rule: Annotated[str | None, Query()] = None,
    device: Annotated[str | None, Query()] = None,
    org_unit: Annotated[str | None, Query()] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> AlarmCounts:  # fmt: skip
    """How many alarms match (same filters as the list), by rule, severity and state."""
    return service.counts(conn, scope, state=state, severity=severity, rule=rule, device=device,
                          org_unit=org_unit, since=since, until=until)  # fmt: skip


@router.post("/alarms/acknowledge", dependencies=[requires(Permission.ACKNOWLEDGE_ALARMS)],
             response_model=BulkAcknowledgeOut)  # fmt: skip
def acknowledge_alarms(data: BulkAcknowledgeIn, conn: ConnDep, principal: PrincipalDep,
                       request: Request) -> BulkAcknowledgeOut:  # fmt: skip
    """Acknowledge several alarms with one comment; each id is reported as acknowledged,
    already acknowledged or not found."""
    out = service.acknowledge_many(conn, data.ids, principal.username, data.comment,
                                   principal.scope)  # fmt: skip
    request.state.audit_detail = {"comment": data.comment, "acknowledged": out.acknowledged,
                                  "already": out.already, "not_found": out.not_found}  # fmt: skip
    return out


@router.get(
    "/alarms/{alarm_id:int}", dependencies=[requires(Permission.VIEW_DATA)], response_model=AlarmOut
)
def get_alarm(alarm_id: BigIntId, conn: ConnDep, scope: ScopeDep) -> AlarmOut:
    return service.get(conn, alarm_id, scope)


@router.post(
    "/alarms/{alarm_id:int}/acknowledge",
    dependencies=[requires(Permission.ACKNOWLEDGE_ALARMS)],
    response_model=AlarmOut,
)
def acknowledge_alarm(
    alarm_id: BigIntId, conn: ConnDep, principal: PrincipalDep, request: Request,
    data: AcknowledgeIn | None = None,
) -> AlarmOut:  # fmt: skip
    """Acknowledge: you have seen it (with an optional comment). 409 if already acknowledged."""
    comment = data.comment if data else None
    request.state.audit_detail = {"comment": comment}
    return service.acknowledge(conn, alarm_id, principal.username, comment, principal.scope)


# -- rule catalogue and thresholds --------------------------------------------------------------


class RuleOut(BaseModel):
    key: str
    label: str
    device_kind: str
    value: str
    condition: str
    threshold: float
    unit: str
    threshold_min: float | None
    threshold_max: float | None
    duration_intervals: int
    hysteresis: float
    clear_duration_intervals: int
    severity: str
    description: str
    advice: dict[str, list[str]]


@router.get(
    "/alarm-rules", dependencies=[requires(Permission.VIEW_DATA)], response_model=list[RuleOut]
)
def list_rules() -> list[RuleOut]:
    """The rule catalogue with its system-default thresholds."""
    return [
        RuleOut(key=r.key, label=r.label, device_kind=r.device_kind, value=r.value,
                condition=r.condition, threshold=r.threshold, unit=r.unit,
                threshold_min=r.threshold_min, threshold_max=r.threshold_max,
                duration_intervals=r.duration, hysteresis=r.hysteresis,
                clear_duration_intervals=r.clear_duration, severity=r.severity,
                description=r.description, advice=r.advice.as_json())
        for r in RULES
    ]  # fmt: skip


_LEVELS: dict[str, Level] = {"org-units": "org_unit", "transformers": "transformer"}
LevelPath = Annotated[
    Literal["org-units", "transformers"],
    Path(description="org-units (key: org unit code) or transformers (key: asset number)"),
]


@router.get(
    "/alarm-thresholds/{level}/{key}",
    dependencies=[requires(Permission.VIEW_DATA)],
    response_model=list[EffectiveThreshold],
)
def effective_thresholds(
    level: LevelPath, key: str, conn: ConnDep, scope: ScopeDep
) -> list[EffectiveThreshold]:
    """Every rule's effective threshold at an org unit or transformer, and where it comes from
    (default, org_unit, transformer)."""
    return thresholds.effective(conn, _LEVELS[level], key, scope)


@router.put(
    "/alarm-thresholds/{level}/{key}/{rule}",
    dependencies=[requires(Permission.MANAGE_THRESHOLDS)],
    response_model=list[EffectiveThreshold],
)
def set_threshold(
    level: LevelPath, key: str, rule: str, data: ThresholdIn, conn: ConnDep,
    principal: PrincipalDep, request: Request,
) -> list[EffectiveThreshold]:  # fmt: skip
    """Override a rule's threshold at an org unit or transformer; the next batch uses it."""
    request.state.audit_detail = {"rule": rule, "level": _LEVELS[level], "key": key,
                                  "value": data.value}  # fmt: skip
    return thresholds.set_override(conn, rule, _LEVELS[level], key, data.value,
                                   principal.username, principal.scope)  # fmt: skip


@router.delete(
    "/alarm-thresholds/{level}/{key}/{rule}",
    dependencies=[requires(Permission.MANAGE_THRESHOLDS)],
    response_model=list[EffectiveThreshold],
)
def clear_threshold(
    level: LevelPath, key: str, rule: str, conn: ConnDep, principal: PrincipalDep,
    request: Request,
) -> list[EffectiveThreshold]:  # fmt: skip
    """Remove the override: the value is inherited again."""
    request.state.audit_detail = {"rule": rule, "level": _LEVELS[level], "key": key}
    return thresholds.clear_override(conn, rule, _LEVELS[level], key, principal.scope)

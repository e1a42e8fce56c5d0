"""REST routes of downlink commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from e200.db.web import ConnDep, PrincipalDep, ScopeDep, requires
from e200.kernel import Offset, Permission
from e200.terminal import consistency, meter_lists, service
from e200.terminal.model import (
    AdoptIn,
    AdoptOut,
    ConsistencyPage,
    ConsistencyReport,
    MeterChangeOut,
    MeterListOut,
    MetersAddIn,
    PhaseIn,
    PushIn,
    PushOut,
)
from e200.terminal.service import CommandIn

router = APIRouter(prefix="/api/v1", tags=["commands"])


@router.post(
    "/terminals/{asset_number}/commands",
    dependencies=[requires(Permission.SEND_COMMANDS)],
    status_code=202,
)
def issue_command(
    asset_number: str, data: CommandIn, conn: ConnDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Queue a command; the dispatcher sends it and the terminal's ack closes it."""
    return service.issue(conn, asset_number, data, principal.scope, principal.username)


@router.get("/terminals/{asset_number}/commands", dependencies=[requires(Permission.VIEW_DATA)])
def list_commands(asset_number: str, conn: ConnDep, scope: ScopeDep) -> list[dict[str, Any]]:
    return service.list_for(conn, asset_number, scope)


@router.get("/commands/{command_id}", dependencies=[requires(Permission.VIEW_DATA)])
def get_command(command_id: str, conn: ConnDep, scope: ScopeDep) -> dict[str, Any]:
    return service.get(conn, command_id, scope)


# -- a terminal's station area and meter list -------------------------------------------------


@router.get(
    "/terminals/{asset_number}/meters",
    dependencies=[requires(Permission.VIEW_DATA)],
    response_model=MeterListOut,
    tags=["terminal meter lists"],
)
def terminal_meters(asset_number: str, conn: ConnDep, scope: ScopeDep) -> MeterListOut:
    """The archive's meters of the terminal's station area now (with phases), the list the
    terminal last reported (with its time) and the newest sync command."""
    return meter_lists.meter_list(conn, asset_number, scope)


@router.post(
    "/terminals/{asset_number}/meters",
    dependencies=[requires(Permission.EDIT_ARCHIVES)],
    response_model=MeterChangeOut,
    tags=["terminal meter lists"],
)
def add_terminal_meters(
    asset_number: str, data: MetersAddIn, conn: ConnDep, principal: PrincipalDep,
    request: Request,
) -> MeterChangeOut:  # fmt: skip
    """Attach meters to the terminal's transformer (with phases) from ``valid_from``, then sync
    the terminal (and the terminals the meters leave)."""
    request.state.audit_detail = data.model_dump(mode="json")
    return meter_lists.add_meters(conn, asset_number, data, principal.scope, principal.username)


@router.delete(
    "/terminals/{asset_number}/meters/{meter}",
    dependencies=[requires(Permission.EDIT_ARCHIVES)],
    response_model=MeterChangeOut,
    tags=["terminal meter lists"],
)
def remove_terminal_meter(
    asset_number: str, meter: str, conn: ConnDep, principal: PrincipalDep, request: Request,
    valid_from: Annotated[datetime | None, Query(description="From when (default now).")] = None,
    ttl_s: Annotated[int, Query(ge=30, le=86_400)] = 900,
) -> MeterChangeOut:  # fmt: skip
    """Take a meter out of the terminal's station area from ``valid_from``, then sync."""
    request.state.audit_detail = {"valid_from": valid_from, "ttl_s": ttl_s}
    return meter_lists.remove_meter(conn, asset_number, meter, valid_from, ttl_s,
                                    principal.scope, principal.username)  # fmt: skip


@router.patch(
    "/terminals/{asset_number}/meters/{meter}",
    dependencies=[requires(Permission.EDIT_ARCHIVES)],
    response_model=MeterChangeOut,
    tags=["terminal meter lists"],
)
def change_terminal_meter_phase(
    asset_number: str, meter: str, data: PhaseIn, conn: ConnDep, principal: PrincipalDep,
    request: Request,
) -> MeterChangeOut:  # fmt: skip
    """Put a meter of the station area on another phase from ``valid_from``, then sync."""
    request.state.audit_detail = data.model_dump(mode="json")
    return meter_lists.change_phase(conn, asset_number, meter, data, principal.scope,
                                    principal.username)  # fmt: skip


# -- consistency of the archive with the terminals' lists -------------------------------------


@router.get(
    "/terminals/{asset_number}/consistency",
    dependencies=[requires(Permission.VIEW_DATA)],
    response_model=ConsistencyReport,
    tags=["terminal meter lists"],
)
def terminal_consistency(asset_number: str, conn: ConnDep, scope: ScopeDep) -> ConsistencyReport:
    """The archive's station area against the terminal's last reported list: every mismatch."""
    return consistency.check_terminal(conn, asset_number, scope)


@router.get(
    "/archives/consistency",
    dependencies=[requires(Permission.VIEW_DATA)],
    response_model=ConsistencyPage,
    tags=["terminal meter lists"],
)
def archive_consistency(
    conn: ConnDep, scope: ScopeDep,
    org_unit: Annotated[str | None, Query(description="Org unit code (its subtree)")] = None,
    status: Annotated[str | None, Query(description="consistent | mismatch (default) | "
                                                    "never_reported | all")] = None,
    limit: Annotated[int, Query(ge=1, le=consistency.MAX_PAGE)] = 50,
    offset: Offset = 0,
) -> ConsistencyPage:  # fmt: skip
    """Every terminal in your scope (under ``org_unit``): how many agree with the archive, and
    the reports of those with ``status`` (default: the mismatches)."""
    return consistency.check_many(conn, scope, org_unit=org_unit, status=status, limit=limit,
                                  offset=offset)  # fmt: skip


@router.post(
    "/terminals/{asset_number}/consistency/push",
    dependencies=[requires(Permission.SEND_COMMANDS)],
    response_model=PushOut,
    tags=["terminal meter lists"],
)
def push_archive_list(
    asset_number: str, conn: ConnDep, principal: PrincipalDep, data: PushIn | None = None
) -> PushOut:
    """Send the archive's meter list to the terminal (a sync_meters command)."""
    ttl_s = data.ttl_s if data else PushIn().ttl_s
    return consistency.push(conn, asset_number, ttl_s, principal.scope, principal.username)


@router.post(
    "/terminals/{asset_number}/consistency/adopt",
    dependencies=[requires(Permission.EDIT_ARCHIVES)],
    response_model=AdoptOut,
    tags=["terminal meter lists"],
)
def adopt_terminal_list(
    asset_number: str, data: AdoptIn, conn: ConnDep, principal: PrincipalDep, request: Request
) -> AdoptOut:
    """Take the terminal's list into the archive: the reviewed changes, effective-dated. 409 when
    the terminal reported another list since the review (``version``)."""
    request.state.audit_detail = data.model_dump(mode="json")
    return consistency.adopt(conn, asset_number, data, principal.scope, principal.username)

"""REST routes of downlink commands."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from e200.db.web import ConnDep, PrincipalDep, ScopeDep, requires
from e200.kernel import Permission
from e200.terminal import service
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

"""Every privileged request leaves an audit row: who, which operation, on what, with which
outcome, from where. Recorded after the response in its own transaction, so refused and failed
attempts are kept even though the request's own transaction was rolled back.

Privileged means: every request that changes something (not GET/HEAD/OPTIONS), and reads that
need a permission beyond viewing (exports). Ingest posts are data, not actions: their counts
live in the ingest counters instead. Routes that write richer rows themselves (login, logout)
set ``request.state.audited``; routes may add ``request.state.audit_detail``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute

from e200 import auth
from e200.db.web import Requires
from e200.kernel import Permission, Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_AUDITED = frozenset({Permission.INGEST_DATA})


def _is_privileged(request: Request) -> bool:
    requirement: Requires | None = getattr(request.state, "requirement", None)
    if requirement is None:
        return request.method not in SAFE_METHODS
    if requirement.permission in NOT_AUDITED:
        return False
    if request.method not in SAFE_METHODS:
        return True
    return requirement.permission not in (None, Permission.VIEW_DATA, Permission.MANAGE_USERS)


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    return "denied" if status in (401, 403, 404) else "failure"


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def _audit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        if not isinstance(route, APIRoute) or not request.url.path.startswith("/api/"):
            return response
        if getattr(request.state, "audited", False) or not _is_privileged(request):
            return response
        principal: Principal | None = getattr(request.state, "principal", None)
        if not isinstance(principal, Principal) and response.status_code == 401:
            return response  # anonymous knocking is not an action of anyone
        params = request.scope.get("path_params") or {}
        detail: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
        }
        extra = getattr(request.state, "audit_detail", None)
        if extra:
            detail["request"] = extra
        await asyncio.to_thread(
            auth.audit.record_for,
            request.app.state.engine,
            principal if isinstance(principal, Principal) else None,
            action=route.name,
            outcome=_outcome(response.status_code),
            target=",".join(f"{k}={v}" for k, v in params.items()) or None,
            source_ip=auth.source_ip(request),
            detail=_jsonable(detail),
        )
        return response


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)

"""REST routes of telemetry: HTTP ingest, latest values, curves, quarantine and counters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from e200.bus import Delivery
from e200.db.web import PUBLIC, ConnDep, PrincipalDep, ScopeDep, requires
from e200.kernel import InvalidInputError, Permission
from e200.telemetry import service
from e200.telemetry.pipeline import Pipeline
from e200.telemetry.schema import json_schemas

router = APIRouter(prefix="/api/v1", tags=["telemetry"])
MAX_INGEST_BYTES = 16 * 1024 * 1024
# Ingest operations views cover every source and device, so they need a whole-grid scope.
GRID_WIDE = [requires(Permission.MANAGE_INTEGRATIONS, whole_grid=True)]


@router.post(
    "/ingest",
    dependencies=[requires(Permission.INGEST_DATA)],
    summary="Ingest a batch of contract-v1 messages (object or array)",
)
async def ingest(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    """Stores what is valid, quarantines the rest; answers the counts and every rejection.
    Devices outside the sender's scope count as unknown devices."""
    body = await request.body()
    pipeline: Pipeline = request.app.state.pipeline
    if len(body) > MAX_INGEST_BYTES:
        raise InvalidInputError(f"body: larger than {MAX_INGEST_BYTES} bytes", field="body")
    client = request.client.host if request.client else "unknown"
    delivery = Delivery(payload=body, source="http", ref=f"http#{client}#{principal.username}")
    result = await run_in_threadpool(pipeline.process_with_retry, [delivery], "http", None,
                                     principal.scope)  # fmt: skip
    assert result is not None
    return {
        "received": result.received, "stored": result.stored,
        "quarantined": result.quarantined, "duplicates": result.duplicates,
        "rejected": [{"reason": r.reason, "detail": r.detail, "type": r.message_type,
                      "device": r.device} for r in result.rejected],
    }  # fmt: skip


@router.get("/devices/{asset_number}/latest", dependencies=[requires(Permission.VIEW_DATA)])
def device_latest(asset_number: str, conn: ConnDep, scope: ScopeDep, request: Request
                  ) -> dict[str, Any]:  # fmt: skip
    """Latest values of a transformer or meter; liveness (online/offline) of a terminal."""
    k = request.app.state.settings.offline_after_intervals
    return service.device_latest(conn, asset_number, scope, k)


@router.get("/devices/{asset_number}/readings", dependencies=[requires(Permission.VIEW_DATA)])
def device_readings(
    asset_number: str, conn: ConnDep, scope: ScopeDep,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    quantities: Annotated[str | None, Query(description="Comma-separated, e.g. v_a_v,p_kw")] = None,
) -> dict[str, Any]:  # fmt: skip
    """Interval readings as columns (``ts`` plus one list per quantity); default last 7 days."""
    names = [q.strip() for q in quantities.split(",") if q.strip()] if quantities else None
    return service.device_readings(conn, asset_number, scope, from_, to, names)


@router.get("/ingest/counters", dependencies=GRID_WIDE)
def ingest_counters(conn: ConnDep) -> list[dict[str, Any]]:
    """Per source: received = stored + quarantined + duplicates."""
    return service.counters(conn)


@router.get("/ingest/quarantine/summary", dependencies=GRID_WIDE)
def quarantine_summary(conn: ConnDep, since: datetime | None = None) -> list[dict[str, Any]]:
    return service.quarantine_summary(conn, since)


@router.get("/ingest/quarantine", dependencies=GRID_WIDE)
def quarantine_entries(
    conn: ConnDep, reason: str | None = None, device: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    return service.quarantine_entries(conn, reason, device, limit, offset)


@router.get("/ingest/unknown-devices", dependencies=GRID_WIDE)
def unknown_devices(conn: ConnDep) -> list[dict[str, Any]]:
    return service.unknown_devices(conn)


@router.get("/ingest/schemas", dependencies=[PUBLIC])
def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every message type of wire contract v1."""
    return json_schemas()

"""REST routes of telemetry: HTTP ingest, latest values, curves, events, quarantine, counters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from e200.bus import Delivery
from e200.db.web import PUBLIC, ConnDep, PrincipalDep, ScopeDep, requires
from e200.kernel import InvalidInputError, Offset, Permission
from e200.telemetry import queries, service
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


@router.get("/devices/{asset_number}/events", dependencies=[requires(Permission.VIEW_DATA)])
def device_events(
    asset_number: str, conn: ConnDep, scope: ScopeDep,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    kind: Annotated[str | None, Query(description="Comma-separated event kinds, e.g. "
                                                  "power_down,power_up")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_EVENTS)] = 1000,
) -> dict[str, Any]:  # fmt: skip
    """Events of a meter, transformer or terminal (power down, phase loss, cover open, …),
    newest first; default the last 7 days."""
    kinds = [k.strip() for k in kind.split(",") if k.strip()] if kind else None
    return service.device_events(conn, asset_number, scope, from_, to, kinds, limit)


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
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Offset = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    return service.quarantine_entries(conn, reason, device, limit, offset)


@router.get("/ingest/unknown-devices", dependencies=GRID_WIDE)
def unknown_devices(conn: ConnDep) -> list[dict[str, Any]]:
    return service.unknown_devices(conn)


@router.get("/ingest/schemas", dependencies=[PUBLIC])
def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every message type of wire contract v1."""
    return json_schemas()


# -- data queries (docs/queries.md) ------------------------------------------------------------

DevicesQ = Annotated[
    str,
    Query(
        description="Comma-separated transformer and meter asset numbers "
        f"(at most {queries.MAX_DEVICES})"
    ),
]
QuantitiesQ = Annotated[
    str | None, Query(description="Comma-separated, e.g. p_kw,v_a_v,e_imp_kwh (default p_kw)")
]
StepQ = Annotated[
    Literal["auto", "raw", "15min", "hour", "day", "month"],
    Query(
        description="auto: native up to max_points per series, downsampled beyond; raw: every "
        "reading; 15min/hour/day/month: aggregates in the local calendar"
    ),
]
MaxPointsQ = Annotated[
    int,
    Query(ge=10, le=queries.MAX_POINTS_LIMIT, description="Most points per series with step=auto"),
]
FromQ = Annotated[datetime | None, Query(alias="from", description="Default: to − 7 days")]
_JSON_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _curves(request: Request, conn: ConnDep, scope: ScopeDep, devices: str, from_: datetime | None,
            to: datetime | None, quantities: str | None, step: str, max_points: int
            ) -> queries.CurveResult:  # fmt: skip
    return queries.curves(
        conn,
        _names(devices) or [],
        scope,
        start=from_,
        end=to,
        quantities=_names(quantities),
        step=step,
        max_points=max_points,
        tz=request.app.state.settings.timezone,
    )


@router.get(
    "/telemetry/curves",
    dependencies=[requires(Permission.VIEW_DATA)],
    summary="Curves of one or many devices: native, downsampled or aggregated",
)
def curves(
    request: Request, conn: ConnDep, scope: ScopeDep, devices: DevicesQ, from_: FromQ = None,
    to: datetime | None = None, quantities: QuantitiesQ = None, step: StepQ = "auto",
    max_points: MaxPointsQ = 1000,
) -> Response:  # fmt: skip
    """One series per device and quantity (and statistic for aggregates: avg/min/max, energy as
    ``sum`` of register differences, ``readings`` counts); every device must be in scope."""
    result = _curves(request, conn, scope, devices, from_, to, quantities, step, max_points)
    return Response(orjson.dumps(result.as_dict(), option=_JSON_OPTS),
                    media_type="application/json")  # fmt: skip


@router.get(
    "/telemetry/curves/export",
    dependencies=[requires(Permission.EXPORT_DATA)],
    summary="The same curves as a CSV or XLSX file",
)
def curves_export(
    request: Request, conn: ConnDep, scope: ScopeDep, devices: DevicesQ, from_: FromQ = None,
    to: datetime | None = None, quantities: QuantitiesQ = None, step: StepQ = "auto",
    max_points: MaxPointsQ = 1000, format: Literal["csv", "xlsx"] = "csv",
) -> Response:  # fmt: skip
    """One row per device and time (UTC and local), one column per quantity and statistic."""
    result = _curves(request, conn, scope, devices, from_, to, quantities, step, max_points)
    request.state.audit_detail = {
        "devices": devices, "quantities": _names(quantities) or ["p_kw"],
        "from": result.start.isoformat(), "to": result.end.isoformat(), "step": step,
        "format": format,
    }  # fmt: skip
    media = ("text/csv; charset=utf-8" if format == "csv" else
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")  # fmt: skip
    name = f"curves-{result.start:%Y%m%d}-{result.end:%Y%m%d}.{format}"
    return Response(queries.export(result, format), media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.get(
    "/telemetry/analysis",
    dependencies=[requires(Permission.VIEW_DATA)],
    summary="Totals and distributions of a measure by org unit, feeder, transformer, customer type",
)
def analysis(
    request: Request, conn: ConnDep, scope: ScopeDep,
    measure: Annotated[str, Query(description="energy_kwh, peak_loading_pct, peak_p_kw, "
                                              "avg_p_kw, min_v_v")] = "energy_kwh",
    group_by: Annotated[str, Query(description="org_unit, feeder, transformer; for meters also "
                                               "customer_type (tariff), meter")] = "org_unit",
    device_kind: Literal["transformer", "meter"] = "transformer",
    from_: Annotated[datetime | None, Query(alias="from",
                                            description="Default: yesterday (local)")] = None,
    to: datetime | None = None,
    step: Literal["none", "hour", "day", "month"] = "day",
    org_unit: Annotated[str | None, Query(description="Only devices under this unit")] = None,
    at: Annotated[datetime | None, Query(description="Archive (groups) as at; default now")
                  ] = None,
) -> Response:  # fmt: skip
    """Per group and bucket: devices with data, total (additive measures), mean, min, p25,
    median, p75, max and the device with the max; groups from the archive as at ``at``."""
    result = queries.analysis(
        conn,
        scope,
        measure=measure,
        group_by=group_by,
        device_kind=device_kind,
        start=from_,
        end=to,
        step=step,
        org_unit=org_unit,
        tz=request.app.state.settings.timezone,
    )
    return Response(orjson.dumps(result, option=_JSON_OPTS), media_type="application/json")

"""The ASGI application: every slice's router, problem+json errors, operations endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI
from fastapi import routing as fastapi_routing
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from e200 import __version__, alarms, archives, auth, jobs, monitoring, quality, telemetry, terminal
from e200.api import auditing, guards, openapi, ops, problems
from e200.config import Settings
from e200.db.web import PUBLIC, Public, Requires


@dataclass(frozen=True, slots=True)
class RouteInfo:
    path: str  # as served, with the router's prefix
    methods: frozenset[str]
    name: str
    in_schema: bool
    requirement: Requires | Public | None


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every API route as served, with the permission it declares."""
    # FastAPI >= 0.160 keeps included routers lazily; iter_route_contexts flattens them.
    flatten = getattr(fastapi_routing, "iter_route_contexts", None)
    contexts: Iterable[Any] = flatten(app.routes) if flatten is not None else app.routes
    found = []
    for ctx in contexts:
        original = getattr(ctx, "original_route", ctx)
        if not isinstance(original, APIRoute):
            continue
        calls = [d.call for d in ctx.dependant.dependencies]
        requirement = next((c for c in calls if isinstance(c, Requires | Public)), None)
        found.append(
            RouteInfo(
                ctx.path_format,  # as in the OpenAPI document: `{alarm_id}`, not `{alarm_id:int}`
                frozenset(ctx.methods or ()),
                ctx.name,
                bool(ctx.include_in_schema),
                requirement,
            )
        )
    return found


def unclassified_routes(app: FastAPI) -> list[str]:
    """API routes that declare neither a permission nor ``PUBLIC`` (there must be none)."""
    return [f"{sorted(r.methods)} {r.path}" for r in api_routes(app) if r.requirement is None]


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    console: bool = True,
    pipeline: telemetry.Pipeline | None = None,
    queue: jobs.JobQueue | None = None,
) -> FastAPI:
    app = FastAPI(
        title="E200 master station",
        version=__version__,
        description="REST API of E200. Errors are application/problem+json with the field named.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        dependencies=[Depends(guards.refuse_unstorable_input)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.principal_resolver = auth.resolve_principal
    # The one wiring (e200.jobs): the pipeline with its hooks, the listeners between slices.
    app.state.pipeline = pipeline if pipeline is not None else jobs.make_pipeline(engine, settings)
    jobs.install_listeners(app.state.pipeline)
    app.state.job_queue = queue  # background work is queued here (None: this app queues none)
    problems.install(app)
    openapi.install(app)
    auditing.install(app)
    ops.install_request_metrics(app)
    # Outermost first: refuse cross-site writes and oversized bodies before anything runs;
    # the security headers wrap even Starlette's own error answers.
    app.add_middleware(guards.BodyLimitMiddleware)
    app.add_middleware(guards.CrossSiteGuardMiddleware)
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = (  # type: ignore[method-assign]
        lambda: guards.SecurityHeadersMiddleware(build_stack())
    )
    app.include_router(ops.router)
    app.include_router(auth.router)
    app.include_router(auth.sso_router)
    app.include_router(archives.router)
    app.include_router(telemetry.router)
    app.include_router(terminal.router)
    app.include_router(alarms.router)
    app.include_router(monitoring.router)
    app.include_router(quality.router)
    app.include_router(jobs.router)
    if console:
        from e200.console import mount

        mount(app, settings)
    else:

        @app.get("/", include_in_schema=False, dependencies=[PUBLIC])
        def _root() -> RedirectResponse:
            return RedirectResponse("/api/docs")

    # Fail safe: a route nobody classified would be open to the world.
    missing = unclassified_routes(app)
    if missing:
        raise RuntimeError(f"routes without a permission or PUBLIC: {missing}")
    return app

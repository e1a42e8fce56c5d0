"""The ASGI application: every slice's router, problem+json errors, operations endpoints."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from e200 import __version__, archives, auth, telemetry, terminal
from e200.api import auditing, ops, problems
from e200.config import Settings
from e200.db.web import PUBLIC, Public, Requires


def unclassified_routes(app: FastAPI) -> list[str]:
    """API routes that declare neither a permission nor ``PUBLIC`` (there must be none)."""
    missing = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = [d.call for d in route.dependant.dependencies]
        if not any(isinstance(c, Requires | Public) for c in calls):
            missing.append(f"{sorted(route.methods or ())} {route.path}")
    return missing


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    console: bool = True,
    pipeline: telemetry.Pipeline | None = None,
) -> FastAPI:
    app = FastAPI(
        title="E200 master station",
        version=__version__,
        description="REST API of E200. Errors are application/problem+json with the field named.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.principal_resolver = auth.resolve_principal
    if pipeline is None:
        pipeline = telemetry.Pipeline.from_settings(engine, settings)
        pipeline.hooks.append(terminal.ack_hook)
    app.state.pipeline = pipeline
    problems.install(app)
    auditing.install(app)
    ops.install_request_metrics(app)
    app.include_router(ops.router)
    app.include_router(auth.router)
    app.include_router(auth.sso_router)
    app.include_router(archives.router)
    app.include_router(telemetry.router)
    app.include_router(terminal.router)
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

"""The ASGI application: every slice's router, problem+json errors, operations endpoints."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine

from e200 import __version__, archives, telemetry, terminal
from e200.api import ops, problems
from e200.config import Settings
from e200.kernel import Scope


def _everything(request: Request) -> Scope:
    # Until the auth slice decides per user, every caller sees the whole grid.
    return Scope.everything()


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    console: bool = True,
    scope_resolver: Callable[[Request], Scope] = _everything,
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
    app.state.scope_resolver = scope_resolver
    if pipeline is None:
        pipeline = telemetry.Pipeline.from_settings(engine, settings)
        pipeline.hooks.append(terminal.ack_hook)
    app.state.pipeline = pipeline
    problems.install(app)
    ops.install_request_metrics(app)
    app.include_router(ops.router)
    app.include_router(archives.router)
    app.include_router(telemetry.router)
    app.include_router(terminal.router)
    if console:
        from e200.console import mount

        mount(app, settings)
    else:

        @app.get("/", include_in_schema=False)
        def _root() -> RedirectResponse:
            return RedirectResponse("/api/docs")

    return app

"""Errors as RFC 9457 problem+json, mapped in one place from the typed domain errors."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi import routing as fastapi_routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from e200.kernel import E200Error, TooManyRequestsError

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(E200Error)
    async def _domain(request: Request, exc: E200Error) -> JSONResponse:
        extra = {"field": exc.field} if exc.field else {}
        response = problem(exc.status, exc.title, exc.detail, instance=request.url.path, **extra)
        if isinstance(exc, TooManyRequestsError):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A safety net: slices translate the constraint violations they expect into typed errors.
        # One that gets here is a race (two requests storing the same key at once) or a check
        # the slice left to the database: the client's to resolve, not a server error.
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        if sqlstate in ("23502", "23514"):  # not null, check
            return problem(422, "Invalid input", "a value breaks a rule of the stored data",
                           instance=request.url.path)  # fmt: skip
        return problem(409, "Conflict", "conflicts with what is stored, possibly by a concurrent "
                       "request; read it again and retry", instance=request.url.path)  # fmt: skip

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # A safety net beside api/guards.py: a value the database cannot store or compare.
        return problem(422, "Invalid input", "a value is out of the range the database stores",
                       instance=request.url.path)  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_name(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid input", detail, instance=request.url.path,
                       field=errors[0]["field"] if errors else None, errors=errors)  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail), str(exc.detail),
                           instance=request.url.path)  # fmt: skip
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response


def _allowed_methods(request: Request) -> list[str]:
    """The methods of the path template the request matched first (as the router did):
    ``/alarms/acknowledge`` is not also ``/alarms/{alarm_id}``."""
    # FastAPI >= 0.160 keeps included routers lazily; iter_route_contexts flattens them.
    contexts = list(fastapi_routing.iter_route_contexts(request.app.router.routes))
    path = request.url.path
    template = next(
        (ctx.path for ctx in contexts
         if (regex := getattr(ctx.route, "path_regex", None)) and regex.match(path)),
        None,
    )  # fmt: skip
    methods = {m for ctx in contexts if ctx.path == template for m in ctx.methods or ()}
    return sorted(methods)

"""The OpenAPI document says what the API really answers: every error is problem+json.

FastAPI documents only the success answer and its own 422 shape; E200 answers errors as
``application/problem+json`` (``problems.py``). This adds the problem schema and, to every
operation, the error statuses it can give, so that clients (and schemathesis in
tests/api/test_schemathesis.py) can rely on the document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from e200.api.problems import PROBLEM_JSON
from e200.db.web import Public

PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; `field` names the input at fault.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "description": "Every problem of the input (422).",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until another attempt may succeed.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
WHY: dict[int, str] = {
    400: "Bad request",
    401: "No valid session, token or API key (sign-in: wrong user name or password)",
    403: "Your roles lack the permission, your initial password is not changed yet, "
    "or a cross-site request",
    404: "Not found, or outside your data scope",
    409: "Conflicts with what is stored",
    413: "Request body larger than this route accepts",
    422: "Malformed or out-of-range input; `errors` lists every problem",
    429: "Too many sign-in attempts; retry after `Retry-After` seconds",
    503: "The directory (LDAP) is unavailable",
}
SIGN_IN = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/token")}
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _statuses(method: str, path: str, public: bool, has_body: bool) -> list[int]:
    statuses = [400, 404, 409, 422]  # 409 also on reads: e.g. a terminal on no transformer
    if not public:
        statuses += [401, 403]
    if method in WRITES:
        statuses.append(403)
    if has_body or method in WRITES:
        statuses.append(413)
    if (method, path) in SIGN_IN:
        statuses += [401, 429, 503]
    return sorted(set(statuses))


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": WHY[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 429:
        response["headers"] = RETRY_AFTER
    return response


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that documents the problem answers."""
    from e200.api.app import api_routes  # the route list with each route's requirement

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        public = {
            (method, route.path)
            for route in api_routes(app)
            if isinstance(route.requirement, Public)
            for method in route.methods
        }
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM
        for path, operations in schema.get("paths", {}).items():
            for method_lower, operation in operations.items():
                method = method_lower.upper()
                responses = operation.setdefault("responses", {})
                statuses = _statuses(
                    method, path, (method, path) in public, "requestBody" in operation
                )
                for status in statuses:
                    responses[str(status)] = _problem_response(status)
        if path_ready := schema.get("paths", {}).get("/readyz", {}).get("get"):
            path_ready["responses"]["503"] = {
                "description": "Not ready: the database does not answer or its schema is behind",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

"""Guards against hostile input, in front of every route: values PostgreSQL cannot store (NUL
characters, subnormal numbers, integers beyond bigint), request bodies larger than their route
allows, cross-site requests riding on the console's session cookie, and the security headers of
every response (API and console).

Each guard is declared once here and applies to every route, present and future; the limits
are data (``BODY_LIMITS``), so a route that needs a larger body adds one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request

from e200.kernel import BIGINT_MAX, InvalidInputError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROBLEM_JSON = b"application/problem+json"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MiB = 1 << 20

# --- values PostgreSQL cannot store -------------------------------------------------------------
# PostgreSQL text cannot hold U+0000, a double precision cannot hold a subnormal number (5e-324:
# "underflow"), a bigint ends at 2**63 - 1. Such values reached the database and failed there
# (500). No E200 input has a use for them, so they are refused at the door, naming the field.

DOUBLE_MIN_NORMAL = 2.2250738585072014e-308
# A day, month or time in the first or last year of the calendar (0001, 9999): a day or a month
# added or taken away leaves Python's calendar (OverflowError). "9999-12-31" was one such 500.
ISO_TIME = re.compile(r"(\d{4})-\d{2}(-\d{2}([T ].*)?)?")
YEARS = range(2, 9999)


def _unstorable(value: Any) -> str | None:
    """Why PostgreSQL cannot store this scalar, or E200 compute with it (None: it can)."""
    if isinstance(value, str):
        if "\x00" in value:
            return "text must not contain NUL (\\x00) characters"
        iso = ISO_TIME.fullmatch(value)
        if iso and int(iso.group(1)) not in YEARS:
            return f"a time in the years {YEARS.start:04d} to {YEARS.stop - 1} is required"
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -BIGINT_MAX - 1 <= value <= BIGINT_MAX else "integer out of range"
    if isinstance(value, float) and value != 0 and abs(value) < DOUBLE_MIN_NORMAL:
        return "number too close to zero to store (subnormal)"
    return None


def _find_unstorable(value: Any, path: tuple[str, ...]) -> tuple[str, str] | None:
    if isinstance(value, dict):
        for key, item in value.items():
            where = (*path, str(key))
            if "\x00" in str(key):
                return ".".join(where).replace("\x00", "\\x00"), "NUL (\\x00) in a name"
            found = _find_unstorable(item, where)
            if found:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_unstorable(item, (*path, str(index)))
            if found:
                return found
        return None
    why = _unstorable(value)
    return (".".join(path) or "body", why) if why else None


async def refuse_unstorable_input(request: Request) -> None:
    """App-wide dependency: no NUL (U+0000) and no time in the calendar's first or last year in
    path or query parameters, nor those, a subnormal number or an integer beyond bigint anywhere
    in a JSON body."""
    found = _find_unstorable(dict(request.path_params), ())
    if found is None:
        for name, value in parse_qsl(request.url.query, keep_blank_values=True):
            why = _unstorable("\x00") if "\x00" in name else _unstorable(value)
            if why:
                found = (name.replace("\x00", "\\x00") or "query", why)
                break
    content_type = request.headers.get("content-type", "")
    declares_body = getattr(request.scope.get("route"), "body_field", None) is not None
    if found is None and declares_body and "json" in content_type:
        try:  # FastAPI has parsed the declared body already; this reads its cached copy
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = None  # malformed JSON: the route's own validation answers 422
        found = _find_unstorable(body, ())
    if found is not None:
        field, why = found
        raise InvalidInputError(f"{field}: {why}", field=field)


# --- ASGI helpers --------------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_problem(send: Send, status: int, title: str, detail: str, path: str) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": path,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- request body limits -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """The largest request body a route accepts (``path`` is a regular expression, whole)."""

    method: str
    path: str
    max_bytes: int
    why: str


DEFAULT_BODY_LIMIT = 1 * MiB  # JSON writes: the largest (a meter list, a bulk acknowledge) ≪ 1 MiB
BODY_LIMITS: tuple[BodyLimit, ...] = (
    BodyLimit("POST", r"/api/v1/ingest", 16 * MiB, "a batch of telemetry messages"),
    BodyLimit("POST", r"/api/v1/archives/imports", 513 * MiB,
              "an archive import upload (512 MiB file plus the form around it)"),
    BodyLimit("POST", r"/console/_nicegui/client/[^/]+/upload/[^/]+", 513 * MiB,
              "the console's uploads (archive import)"),
)  # fmt: skip


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 problem+json for a body over its route's limit: at once when ``Content-Length`` says
    so, else as soon as the streamed body passes the limit (chunked uploads)."""

    def __init__(self, app: ASGIApp, limits: tuple[BodyLimit, ...] = BODY_LIMITS,
                 default: int = DEFAULT_BODY_LIMIT) -> None:  # fmt: skip
        self.app = app
        self.default = default
        self.limits = [(lim.method, re.compile(lim.path), lim.max_bytes) for lim in limits]

    def limit_for(self, method: str, path: str) -> int:
        for allowed_method, pattern, max_bytes in self.limits:
            if method == allowed_method and pattern.fullmatch(path):
                return max_bytes
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.limit_for(scope["method"], path)
        detail = f"body: larger than this route accepts ({limit:,} bytes)"
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_problem(send, 413, "Content too large", detail, path)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the route made of the broken read, the answer is 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _send_problem(send, 413, "Content too large", detail, path)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await _send_problem(send, 413, "Content too large", detail, path)


# --- cross-site requests -------------------------------------------------------------------------


def _cross_site(scope: Scope) -> str | None:
    """Why a browser request comes from another site (None: same origin, or not a browser).

    Fetch metadata first (``Sec-Fetch-Site``, sent by every current browser), else the
    ``Origin`` header against the ``Host`` the request was sent to. A request with neither is
    not a browser's cross-site request (browsers send ``Origin`` on every state-changing one)."""
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None:
        return None if fetch_site in ("same-origin", "none") else f"Sec-Fetch-Site: {fetch_site}"
    origin = _header(scope, b"origin")
    if origin is None:
        return None
    host = _header(scope, b"host")
    if origin == "null" or host is None or urlsplit(origin).netloc.lower() != host.lower():
        return f"Origin: {origin}"
    return None


class CrossSiteGuardMiddleware:
    """Refuses state-changing requests that another site's page makes the browser send with the
    console's session cookie (403 problem+json), and WebSocket handshakes from other origins.

    Requests with ``Authorization`` or ``X-API-Key`` are left alone: a browser adds neither to a
    cross-site request without a CORS preflight, which E200 never grants."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            explicit = _header(scope, b"authorization") or _header(scope, b"x-api-key")
            reason = None if explicit else _cross_site(scope)
            if reason is not None:
                await _send_problem(
                    send, 403, "Cross-site request refused",
                    f"a state-changing request from another site ({reason}); "
                    "send it from the console, or with a bearer token or API key",
                    scope.get("path", ""),
                )  # fmt: skip
                return
        elif scope["type"] == "websocket" and _cross_site(scope) is not None:
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


# --- security headers ----------------------------------------------------------------------------

# The console (NiceGUI: Vue templates compiled in the browser, inline scripts and styles, its
# socket to the same origin) needs 'unsafe-inline' and 'unsafe-eval'; everything comes from this
# origin (ECharts, AG Grid, Leaflet ship in NiceGUI's wheel), nothing may frame the pages.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (/api/docs) loads its script and style from FastAPI's default CDN.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_CONTENT_SECURITY_POLICY = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {DOCS_CDN}; "
    f"style-src 'self' 'unsafe-inline' {DOCS_CDN}; img-src 'self' data: https:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response, error pages included (it wraps the
    whole application, outside Starlette's own error handler)."""

    def __init__(self, app: ASGIApp, docs_path: str = "/api/docs") -> None:
        self.app = app
        self.docs_path = docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_docs = scope.get("path", "").startswith(self.docs_path)
        policy = DOCS_CONTENT_SECURITY_POLICY if is_docs else CONTENT_SECURITY_POLICY

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(k).lower() for k, _ in headers}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, with_headers)

"""A real, minimal OpenID provider for tests: discovery, authorization code flow with PKCE
(S256 only), RS256 ID tokens, JWKS and userinfo, served over HTTP by uvicorn on 127.0.0.1.

There is no login page: ``/authorize`` logs in the user named by the ``login_hint`` parameter,
else ``provider.next_user``. Misbehaviour for negative tests is one-shot (the next ID token is
signed with a rogue key, or gets tampered claims); ``reset()`` undoes every test knob.

Use the session fixture ``oidc_provider`` (import it into a conftest.py), or
``with OidcProvider() as provider:`` for a private one (e.g. to stop it mid-test).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

DEFAULT_REDIRECT_URIS = (
    "http://testserver/auth/oidc/callback",  # FastAPI's TestClient
    "http://127.0.0.1:8000/auth/oidc/callback",
)
CODE_LIFETIME_S = 60
TOKEN_LIFETIME_S = 300
_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass
class ProviderUser:
    username: str
    sub: str
    name: str | None = None
    email: str | None = None
    groups: list[str] = field(default_factory=list)


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    user: ProviderUser
    scope: list[str]
    nonce: str | None
    code_challenge: str
    expires: float


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)


class OidcProvider:
    def __init__(self, client_id: str = "e200-console", client_secret: str | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.key = _new_key()
        self.rogue_key = _new_key()  # never published in the JWKS
        self.users: dict[str, ProviderUser] = {}
        self.redirect_uris: set[str] = set(DEFAULT_REDIRECT_URIS)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request served
        self.token_auth_used: list[str] = []  # client authentication method of each /token call
        self._codes: dict[str, _Grant] = {}
        self._access_tokens: dict[str, tuple[ProviderUser, list[str], float]] = {}
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # --- test knobs ---

    def reset(self) -> None:
        """Back to a well-behaved provider (users and redirect URIs stay)."""
        self.next_user: str | None = None
        self.groups_in_id_token = True  # False: groups only from userinfo
        self.auth_methods_supported: list[str] = list(_AUTH_METHODS)
        self._rogue_next: str | None = None  # None, "same-kid" or "own-kid"
        self._claims_next: dict[str, Any] = {}

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        email: str | None = None,
        groups: list[str] | tuple[str, ...] = (),
        sub: str | None = None,
    ) -> ProviderUser:
        user = ProviderUser(
            username, sub or f"sub-{secrets.token_hex(8)}", name, email, list(groups)
        )
        self.users[username] = user
        return user

    def add_redirect_uri(self, uri: str) -> None:
        self.redirect_uris.add(uri)

    def sign_next_id_token_with_rogue_key(self, *, same_kid: bool = True) -> None:
        """The next ID token is signed by a key the JWKS does not hold; with ``same_kid`` its
        header still names the real key's id, so only the signature check can catch it."""
        self._rogue_next = "same-kid" if same_kid else "own-kid"

    def tamper_next_id_token(self, **claims: Any) -> None:
        """Override claims of the next ID token; a value of None removes the claim."""
        self._claims_next = dict(claims)

    def settings_kwargs(self) -> dict[str, Any]:
        """The ``oidc_*`` fields of e200.config.Settings that point at this provider."""
        return {
            "oidc_issuer": self.issuer,
            "oidc_client_id": self.client_id,
            "oidc_client_secret": self.client_secret,
            "oidc_scopes": "openid profile email",
            "oidc_username_claim": "preferred_username",
            "oidc_groups_claim": "groups",
        }

    # --- lifecycle ---

    def start(self) -> OidcProvider:
        config = uvicorn.Config(self._app(), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test OpenID provider did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP ---

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/jwks", self._jwks),
                Route("/userinfo", self._userinfo, methods=["GET", "POST"]),
            ]
        )

    def _log(self, request: Request) -> None:
        self.requests.append((request.method, request.url.path))

    async def _discovery(self, request: Request) -> Response:
        self._log(request)
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "groups"],
                "token_endpoint_auth_methods_supported": self.auth_methods_supported,
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "name",
                    "email",
                    "preferred_username",
                    "groups",
                ],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        self._log(request)
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def _authorize(self, request: Request) -> Response:
        self._log(request)
        q = request.query_params
        # RFC 6749 4.1.2.1: with a bad client or redirect URI, never redirect
        if q.get("client_id") != self.client_id:
            return PlainTextResponse("unknown client_id", status_code=400)
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return PlainTextResponse("redirect_uri not registered", status_code=400)
        state = q.get("state")

        def back(**params: str) -> Response:
            if state is not None:
                params["state"] = state
            url = httpx.URL(redirect_uri).copy_merge_params(params)
            return RedirectResponse(str(url), status_code=302)

        if q.get("response_type") != "code":
            return back(error="unsupported_response_type")
        scope = q.get("scope", "").split()
        if "openid" not in scope:
            return back(error="invalid_scope", error_description="openid scope missing")
        if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
            return back(error="invalid_request", error_description="PKCE S256 required")
        username = q.get("login_hint") or self.next_user
        user = self.users.get(username or "")
        if user is None:
            return back(error="access_denied", error_description=f"no user {username!r}")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                user=user,
                scope=scope,
                nonce=q.get("nonce"),
                code_challenge=q["code_challenge"],
                expires=time.time() + CODE_LIFETIME_S,
            )
        return back(code=code)

    def _client(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
        """(client_id, method) of an authenticated client, else (None, reason)."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                raw = base64.b64decode(header[6:]).decode()
                cid, _, secret = raw.partition(":")
                cid, secret = unquote_plus(cid), unquote_plus(secret)
            except ValueError:
                return None, "malformed Basic header"
            method = "client_secret_basic"
        elif "client_secret" in form:
            cid, secret = form.get("client_id", ""), form["client_secret"]
            method = "client_secret_post"
        else:
            return None, "no client authentication"
        if method not in self.auth_methods_supported:
            return None, f"{method} not allowed"
        if cid != self.client_id or not secrets.compare_digest(secret, self.client_secret):
            return None, "wrong client credentials"
        self.token_auth_used.append(method)
        return cid, method

    async def _token(self, request: Request) -> Response:
        self._log(request)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        client_id, why = self._client(request, form)
        if client_id is None:
            return _error("invalid_client", why or "", status=401)
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type", "only authorization_code")
        with self._lock:
            # Single use: the code is gone whatever happens next
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None:
            return _error("invalid_grant", "unknown or already used code")
        if grant.expires < time.time():
            return _error("invalid_grant", "code expired")
        if grant.client_id != client_id:
            return _error("invalid_grant", "code issued to another client")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _error("invalid_grant", "redirect_uri differs from the authorization request")
        verifier = form.get("code_verifier", "")
        if not verifier or not secrets.compare_digest(_s256(verifier), grant.code_challenge):
            return _error("invalid_grant", "PKCE code_verifier does not match")

        access_token = secrets.token_urlsafe(24)
        now = int(time.time())
        with self._lock:
            self._access_tokens[access_token] = (grant.user, grant.scope, now + TOKEN_LIFETIME_S)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.user.sub,
            "aud": client_id,
            "azp": client_id,
            "exp": now + TOKEN_LIFETIME_S,
            "iat": now,
            "auth_time": now,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self._profile(grant.user, grant.scope))
        if not self.groups_in_id_token:
            claims.pop("groups", None)
        for name, value in self._claims_next.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        self._claims_next = {}
        key, kid = self.key, self.key.kid
        if self._rogue_next is not None:
            key = self.rogue_key
            kid = self.key.kid if self._rogue_next == "same-kid" else self.rogue_key.kid
            self._rogue_next = None
        id_token = jwt.encode({"alg": "RS256", "kid": kid}, claims, key)
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "id_token": id_token,
                "scope": " ".join(grant.scope),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    async def _userinfo(self, request: Request) -> Response:
        self._log(request)
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        entry = self._access_tokens.get(token)
        if entry is None or entry[2] < time.time():
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        user, scope, _ = entry
        return JSONResponse({"sub": user.sub, **self._profile(user, scope)})

    @staticmethod
    def _profile(user: ProviderUser, scope: list[str]) -> dict[str, Any]:
        claims: dict[str, Any] = {"groups": list(user.groups)}
        if "profile" in scope:
            claims["preferred_username"] = user.username
            if user.name is not None:
                claims["name"] = user.name
        if "email" in scope and user.email is not None:
            claims["email"] = user.email
            claims["email_verified"] = True
        return claims


def _error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """One provider for the test session; tests call ``reset()`` to undo their knobs."""
    with OidcProvider() as provider:
        yield provider

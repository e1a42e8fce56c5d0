"""OpenID Connect sign-on, client side: authorization code flow with PKCE (RFC 7636).

The console calls :func:`begin_login`, keeps the returned state, nonce and code_verifier in the
user's pre-login session and redirects the browser to ``authorize_url``. On the callback it checks
``state`` itself, then calls :func:`finish_login`, which exchanges the code and validates the ID
token. Both functions block (HTTP with 5 s timeouts): call them from a worker thread.

JOSE is done with ``joserfc``, the library authlib itself uses since 1.7 (``authlib.jose`` is
deprecated and warns on import).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from e200.auth.identity import DirectoryUnavailableError, ExternalIdentity
from e200.config import Settings

TIMEOUT_S = 5.0
_CACHE_TTL_S = 600.0  # discovery document and JWKS; a provider rotating keys is re-read at once
_CLOCK_LEEWAY_S = 60  # tolerated clock skew between E200 and the provider
# Asymmetric algorithms only: HS256 would make the client secret a signing key, and "none" is
# never acceptable for an ID token received by a confidential client.
_SIGNING_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class OidcError(Exception):
    """The provider refused the login or sent something that does not pass validation."""


@dataclass
class LoginStart:
    authorize_url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class _Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    auth_methods: tuple[str, ...]
    signing_algs: tuple[str, ...]


_lock = threading.Lock()
_discovery_cache: dict[str, tuple[float, _Provider]] = {}
_jwks_cache: dict[str, tuple[float, KeySet]] = {}


def clear_cache() -> None:
    """Forget discovery documents and keys (after a configuration change, and in tests)."""
    with _lock:
        _discovery_cache.clear()
        _jwks_cache.clear()


def begin_login(settings: Settings, redirect_uri: str) -> LoginStart:
    """Build the provider's authorization URL with fresh state, nonce and PKCE verifier."""
    issuer, client_id, _ = _configured(settings)
    provider = _discover(issuer)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
    scopes = settings.oidc_scopes.split()
    if "openid" not in scopes:
        scopes.insert(0, "openid")  # without it the provider issues no ID token
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": _s256(code_verifier),
        "code_challenge_method": "S256",
    }
    # copy_merge_params keeps any query the provider put in its endpoint (e.g. a tenant)
    url = httpx.URL(provider.authorization_endpoint).copy_merge_params(params)
    return LoginStart(str(url), state, nonce, code_verifier)


def finish_login(
    settings: Settings, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
) -> ExternalIdentity:
    """Exchange the authorization code and return who logged in.

    The caller must already have checked the callback's ``state`` against :class:`LoginStart`.
    """
    issuer, client_id, client_secret = _configured(settings)
    provider = _discover(issuer)
    tokens = _exchange_code(
        provider,
        client_id,
        client_secret,
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
    )
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError(f"OpenID provider {issuer} returned no ID token (is 'openid' a scope?)")
    claims = _validate_id_token(provider, client_id, id_token, nonce)

    wanted = (settings.oidc_username_claim, settings.oidc_groups_claim, "name", "email")
    access_token = tokens.get("access_token")
    # In the code flow, providers may put profile and group claims only in userinfo (OIDC Core
    # 5.4); the ID token's own values win because they are signed.
    if (
        provider.userinfo_endpoint
        and isinstance(access_token, str)
        and any(claim not in claims for claim in wanted)
    ):
        userinfo = _userinfo(provider, access_token)
        if userinfo.get("sub") != claims["sub"]:
            raise OidcError(f"OpenID provider {issuer}: userinfo is about another subject")
        claims = {**userinfo, **claims}

    sub = str(claims["sub"])
    username = claims.get(settings.oidc_username_claim)
    return ExternalIdentity(
        source="oidc",
        username=username if isinstance(username, str) and username else sub,
        display_name=_optional_str(claims.get("name")),
        email=_optional_str(claims.get("email")),
        groups=_groups(claims.get(settings.oidc_groups_claim), settings.oidc_groups_claim),
        external_id=sub,
    )


def _configured(settings: Settings) -> tuple[str, str, str | None]:
    if not settings.oidc_issuer or not settings.oidc_client_id:
        raise OidcError("single sign-on is not configured (set oidc_issuer and oidc_client_id)")
    return settings.oidc_issuer.rstrip("/"), settings.oidc_client_id, settings.oidc_client_secret


def _s256(code_verifier: str) -> str:
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _request(issuer: str, what: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One HTTP exchange; an unreachable or failing provider is a DirectoryUnavailableError so
    the console can say "use a local account" instead of "login refused"."""
    try:
        with httpx.Client(timeout=TIMEOUT_S) as client:
            response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise DirectoryUnavailableError(
            f"OpenID provider {issuer} is unreachable ({what}: {type(exc).__name__}: {exc})"
        ) from exc
    if response.status_code >= 500:
        raise DirectoryUnavailableError(
            f"OpenID provider {issuer} is failing ({what}: HTTP {response.status_code})"
        )
    return response


def _json_object(issuer: str, what: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise OidcError(f"OpenID provider {issuer}: {what} is not JSON") from exc
    if not isinstance(body, dict):
        raise OidcError(f"OpenID provider {issuer}: {what} is not a JSON object")
    return body


def _discover(issuer: str) -> _Provider:
    now = time.monotonic()
    with _lock:
        cached = _discovery_cache.get(issuer)
    if cached and now - cached[0] < _CACHE_TTL_S:
        return cached[1]
    url = f"{issuer}/.well-known/openid-configuration"
    response = _request(issuer, "discovery", "GET", url)
    if response.status_code != 200:
        raise OidcError(
            f"OpenID provider {issuer}: no discovery document at {url} "
            f"(HTTP {response.status_code}); check oidc_issuer"
        )
    doc = _json_object(issuer, "discovery document", response)
    # OIDC Discovery 4.3: the document must name the issuer we asked, else tokens from another
    # issuer could be accepted; a trailing slash is a common configuration slip, not an attack.
    if str(doc.get("issuer", "")).rstrip("/") != issuer:
        raise OidcError(
            f"OpenID provider {issuer}: discovery names issuer {doc.get('issuer')!r} instead"
        )
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if k not in doc]
    if missing:
        raise OidcError(f"OpenID provider {issuer}: discovery lacks {', '.join(missing)}")
    algs = [a for a in doc.get("id_token_signing_alg_values_supported", ["RS256"]) if a]
    provider = _Provider(
        issuer=str(doc["issuer"]),
        authorization_endpoint=str(doc["authorization_endpoint"]),
        token_endpoint=str(doc["token_endpoint"]),
        jwks_uri=str(doc["jwks_uri"]),
        userinfo_endpoint=_optional_str(doc.get("userinfo_endpoint")),
        # The spec's default when the provider does not say (OIDC Discovery 3)
        auth_methods=tuple(doc.get("token_endpoint_auth_methods_supported", []))
        or ("client_secret_basic",),
        signing_algs=tuple(a for a in algs if a in _SIGNING_ALGS) or ("RS256",),
    )
    with _lock:
        _discovery_cache[issuer] = (now, provider)
    return provider


def _exchange_code(
    provider: _Provider,
    client_id: str,
    client_secret: str | None,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    auth: httpx.BasicAuth | None = None
    if client_secret is None:
        form["client_id"] = client_id  # public client: PKCE is its only proof
    elif "client_secret_basic" in provider.auth_methods:
        # RFC 6749 2.3.1: id and secret are form-encoded before going into the Basic header
        auth = httpx.BasicAuth(quote(client_id, safe=""), quote(client_secret, safe=""))
    else:
        form["client_id"] = client_id
        form["client_secret"] = client_secret
    response = _request(
        provider.issuer,
        "token endpoint",
        "POST",
        provider.token_endpoint,
        data=form,
        auth=auth,
        headers={"Accept": "application/json"},
    )
    body = _json_object(provider.issuer, "token response", response)
    if response.status_code != 200 or "error" in body:
        error = body.get("error", f"HTTP {response.status_code}")
        detail = body.get("error_description")
        raise OidcError(
            f"OpenID provider {provider.issuer} refused the code: {error}"
            + (f" ({detail})" if detail else "")
        )
    token_type = body.get("token_type")
    if isinstance(token_type, str) and token_type.lower() != "bearer":
        raise OidcError(f"OpenID provider {provider.issuer}: unexpected token type {token_type}")
    return body


def _keys(provider: _Provider, *, refresh: bool = False) -> KeySet:
    now = time.monotonic()
    with _lock:
        cached = _jwks_cache.get(provider.jwks_uri)
    if cached and not refresh and now - cached[0] < _CACHE_TTL_S:
        return cached[1]
    response = _request(provider.issuer, "JWKS", "GET", provider.jwks_uri)
    if response.status_code != 200:
        raise OidcError(f"OpenID provider {provider.issuer}: JWKS answered {response.status_code}")
    body = _json_object(provider.issuer, "JWKS", response)
    try:
        keys = KeySet.import_key_set(body)  # type: ignore[arg-type]  # checked by joserfc
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        raise OidcError(f"OpenID provider {provider.issuer}: unusable JWKS ({exc})") from exc
    with _lock:
        _jwks_cache[provider.jwks_uri] = (now, keys)
    return keys


def _validate_id_token(
    provider: _Provider, client_id: str, id_token: str, nonce: str
) -> dict[str, Any]:
    issuer = provider.issuer
    try:
        try:
            token = jwt.decode(id_token, _keys(provider), algorithms=provider.signing_algs)
        except InvalidKeyIdError:
            # A key id we do not know: the provider may have rotated its keys since we cached them
            token = jwt.decode(
                id_token, _keys(provider, refresh=True), algorithms=provider.signing_algs
            )
    except JoseError as exc:
        raise OidcError(f"OpenID provider {issuer}: ID token rejected ({exc})") from exc
    except ValueError as exc:  # joserfc raises it for malformed compact serialisations
        raise OidcError(f"OpenID provider {issuer}: ID token malformed ({exc})") from exc

    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=_CLOCK_LEEWAY_S,
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OidcError(f"OpenID provider {issuer}: ID token rejected ({exc})") from exc
    # OIDC Core 3.1.3.7: with several audiences, azp must name us; if present it always must
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise OidcError(f"OpenID provider {issuer}: ID token was issued to {azp!r}, not to us")
    return claims


def _userinfo(provider: _Provider, access_token: str) -> dict[str, Any]:
    assert provider.userinfo_endpoint is not None
    response = _request(
        provider.issuer,
        "userinfo",
        "GET",
        provider.userinfo_endpoint,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    if response.status_code != 200:
        raise OidcError(
            f"OpenID provider {provider.issuer}: userinfo answered {response.status_code}"
        )
    if response.headers.get("content-type", "").startswith("application/jwt"):
        raise OidcError(
            f"OpenID provider {provider.issuer}: signed userinfo responses are not supported; "
            "configure the provider to put the claims in the ID token or return plain JSON"
        )
    return _json_object(provider.issuer, "userinfo", response)


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _groups(value: object, claim: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise OidcError(f"the {claim!r} claim must be a string or a list of strings, not {value!r}")

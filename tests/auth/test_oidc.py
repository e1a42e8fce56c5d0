"""OpenID Connect client against a real provider over HTTP: code flow with PKCE, ID token
validation, userinfo, and what happens when the provider misbehaves or is down."""

from __future__ import annotations

import base64
import hashlib
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from e200.auth import oidc
from e200.auth.identity import DirectoryUnavailableError, ExternalIdentity
from e200.auth.oidc import LoginStart, OidcError, begin_login, finish_login
from e200.config import Settings
from tests.auth.oidc_provider import OidcProvider

REDIRECT_URI = "http://testserver/auth/oidc/callback"


@pytest.fixture(autouse=True)
def _clean(oidc_provider: OidcProvider) -> Iterator[None]:
    oidc_provider.reset()
    oidc.clear_cache()
    yield
    oidc_provider.reset()
    oidc.clear_cache()


@pytest.fixture
def provider(oidc_provider: OidcProvider) -> OidcProvider:
    if "jdoe" not in oidc_provider.users:
        oidc_provider.add_user(
            "jdoe",
            name="Jane Doe",
            email="jdoe@example.org",
            groups=["grid-operators", "region-north"],
        )
    return oidc_provider


def settings_for(provider: OidcProvider, **overrides: Any) -> Settings:
    return Settings(**{**provider.settings_kwargs(), **overrides})


def authorize(start: LoginStart, login_hint: str | None = "jdoe") -> dict[str, str]:
    """What the browser does: follow the authorize URL, return the callback's query."""
    url = httpx.URL(start.authorize_url)
    if login_hint is not None:
        url = url.copy_merge_params({"login_hint": login_hint})
    response = httpx.get(url, follow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def login(provider: OidcProvider, settings: Settings | None = None) -> ExternalIdentity:
    settings = settings or settings_for(provider)
    start = begin_login(settings, REDIRECT_URI)
    callback = authorize(start)
    assert callback["state"] == start.state
    return finish_login(
        settings,
        code=callback["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=start.code_verifier,
        nonce=start.nonce,
    )


def test_code_flow_with_pkce_gives_identity_with_groups(provider: OidcProvider) -> None:
    settings = settings_for(provider)
    start = begin_login(settings, REDIRECT_URI)

    query = parse_qs(urlsplit(start.authorize_url).query)
    assert start.authorize_url.startswith(f"{provider.issuer}/authorize?")
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [provider.client_id]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["scope"] == ["openid profile email"]
    assert query["state"] == [start.state] and query["nonce"] == [start.nonce]
    assert query["code_challenge_method"] == ["S256"]
    digest = hashlib.sha256(start.code_verifier.encode()).digest()
    assert query["code_challenge"] == [base64.urlsafe_b64encode(digest).rstrip(b"=").decode()]
    assert len({start.state, start.nonce, start.code_verifier}) == 3
    assert 43 <= len(start.code_verifier) <= 128

    callback = authorize(start)
    assert callback["state"] == start.state
    userinfo_calls = provider.requests.count(("GET", "/userinfo"))
    identity = finish_login(
        settings,
        code=callback["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=start.code_verifier,
        nonce=start.nonce,
    )
    assert identity == ExternalIdentity(
        source="oidc",
        username="jdoe",
        display_name="Jane Doe",
        email="jdoe@example.org",
        groups=("grid-operators", "region-north"),
        external_id=provider.users["jdoe"].sub,
    )
    # Every wanted claim was in the ID token, so userinfo was not needed
    assert provider.requests.count(("GET", "/userinfo")) == userinfo_calls
    assert provider.token_auth_used[-1] == "client_secret_basic"


def test_discovery_is_cached(provider: OidcProvider) -> None:
    before = provider.requests.count(("GET", "/.well-known/openid-configuration"))
    login(provider)
    login(provider)
    after = provider.requests.count(("GET", "/.well-known/openid-configuration"))
    assert after - before == 1


def test_next_user_set_on_provider(provider: OidcProvider) -> None:
    provider.add_user("ops1", name="Operator One", groups=["control-room"])
    provider.next_user = "ops1"
    settings = settings_for(provider)
    start = begin_login(settings, REDIRECT_URI)
    callback = authorize(start, login_hint=None)
    identity = finish_login(
        settings,
        code=callback["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=start.code_verifier,
        nonce=start.nonce,
    )
    assert identity.username == "ops1"
    assert identity.groups == ("control-room",)
    assert identity.email is None


def test_groups_read_from_userinfo_when_not_in_id_token(provider: OidcProvider) -> None:
    provider.groups_in_id_token = False
    identity = login(provider)
    assert identity.groups == ("grid-operators", "region-north")
    assert provider.requests[-1] == ("GET", "/userinfo")


def test_groups_claim_as_single_string(provider: OidcProvider) -> None:
    provider.tamper_next_id_token(groups="grid-operators")
    assert login(provider).groups == ("grid-operators",)


def test_username_falls_back_to_sub(provider: OidcProvider) -> None:
    identity = login(provider, settings_for(provider, oidc_username_claim="upn"))
    assert identity.username == provider.users["jdoe"].sub == identity.external_id


def test_client_secret_post_when_basic_not_offered(provider: OidcProvider) -> None:
    provider.auth_methods_supported = ["client_secret_post"]
    assert login(provider).username == "jdoe"
    assert provider.token_auth_used[-1] == "client_secret_post"


def test_wrong_client_secret_is_refused(provider: OidcProvider) -> None:
    with pytest.raises(OidcError, match="invalid_client"):
        login(provider, settings_for(provider, oidc_client_secret="not-the-secret"))


def test_wrong_code_verifier_fails(provider: OidcProvider) -> None:
    settings = settings_for(provider)
    start = begin_login(settings, REDIRECT_URI)
    callback = authorize(start)
    other_verifier = begin_login(settings, REDIRECT_URI).code_verifier
    with pytest.raises(OidcError, match="invalid_grant"):
        finish_login(
            settings,
            code=callback["code"],
            redirect_uri=REDIRECT_URI,
            code_verifier=other_verifier,
            nonce=start.nonce,
        )


def test_replayed_code_fails(provider: OidcProvider) -> None:
    settings = settings_for(provider)
    start = begin_login(settings, REDIRECT_URI)
    callback = authorize(start)
    kwargs = {
        "code": callback["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": start.code_verifier,
        "nonce": start.nonce,
    }
    assert finish_login(settings, **kwargs).username == "jdoe"
    with pytest.raises(OidcError, match="invalid_grant"):
        finish_login(settings, **kwargs)


def test_nonce_mismatch_fails(provider: OidcProvider) -> None:
    settings = settings_for(provider)
    start = begin_login(settings, REDIRECT_URI)
    callback = authorize(start)
    with pytest.raises(OidcError, match="nonce"):
        finish_login(
            settings,
            code=callback["code"],
            redirect_uri=REDIRECT_URI,
            code_verifier=start.code_verifier,
            nonce=begin_login(settings, REDIRECT_URI).nonce,
        )


@pytest.mark.parametrize("same_kid", [True, False], ids=["real-kid", "unknown-kid"])
def test_id_token_signed_by_another_key_fails(provider: OidcProvider, same_kid: bool) -> None:
    provider.sign_next_id_token_with_rogue_key(same_kid=same_kid)
    jwks_before = provider.requests.count(("GET", "/jwks"))
    with pytest.raises(OidcError, match="ID token rejected"):
        login(provider)
    # An unknown key id makes the client re-read the JWKS once (key rotation), no more
    assert provider.requests.count(("GET", "/jwks")) - jwks_before == (1 if same_kid else 2)
    assert login(provider).username == "jdoe"  # the next, honest token passes


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"aud": "another-client"}, "aud"),
        ({"iss": "https://evil.example.org"}, "iss"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nonce": None}, "nonce"),
        ({"aud": ["e200-console", "another-client"], "azp": "another-client"}, "issued to"),
    ],
    ids=["audience", "issuer", "expired", "no-nonce", "azp"],
)
def test_tampered_id_token_fails(
    provider: OidcProvider, claims: dict[str, Any], message: str
) -> None:
    provider.tamper_next_id_token(**claims)
    with pytest.raises(OidcError, match=message):
        login(provider)


def test_discovery_for_another_issuer_is_refused(provider: OidcProvider) -> None:
    settings = settings_for(provider, oidc_issuer=provider.issuer.replace("127.0.0.1", "localhost"))
    with pytest.raises(OidcError, match="discovery names issuer"):
        begin_login(settings, REDIRECT_URI)


def test_not_configured() -> None:
    with pytest.raises(OidcError, match="not configured"):
        begin_login(Settings(oidc_issuer=None, oidc_client_id=None), REDIRECT_URI)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_provider_down_is_directory_unavailable() -> None:
    issuer = f"http://127.0.0.1:{_closed_port()}"
    settings = Settings(oidc_issuer=issuer, oidc_client_id="e200", oidc_client_secret="s")
    with pytest.raises(DirectoryUnavailableError, match=issuer):
        begin_login(settings, REDIRECT_URI)
    with pytest.raises(DirectoryUnavailableError, match=issuer):
        finish_login(settings, code="c", redirect_uri=REDIRECT_URI, code_verifier="v", nonce="n")


def test_provider_going_down_mid_login_is_directory_unavailable() -> None:
    with OidcProvider() as own:
        own.add_user("jdoe")
        settings = settings_for(own)
        start = begin_login(settings, REDIRECT_URI)
        callback = authorize(start)
    with pytest.raises(DirectoryUnavailableError, match=own.issuer):
        finish_login(
            settings,
            code=callback["code"],
            redirect_uri=REDIRECT_URI,
            code_verifier=start.code_verifier,
            nonce=start.nonce,
        )


def test_provider_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oidc, "TIMEOUT_S", 0.3)
    with socket.socket() as silent:  # listens, never accepts: connect works, the read times out
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        issuer = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = Settings(oidc_issuer=issuer, oidc_client_id="e200")
        began = time.monotonic()
        with pytest.raises(DirectoryUnavailableError, match=f"{issuer}.*Timeout"):
            begin_login(settings, REDIRECT_URI)
        assert time.monotonic() - began < 3

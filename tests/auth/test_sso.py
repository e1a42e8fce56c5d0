"""Single sign-on end to end through the REST API, against a real OpenLDAP and a real OpenID
provider: group mappings become roles and org-unit scope, directory changes reach E200 (at the
next login, or through `e200 auth sync-directory`), and every refusal is clear and audited."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from ldap3 import MODIFY_ADD, MODIFY_DELETE
from sqlalchemy import Engine
from typer.testing import CliRunner

from e200.api import create_app
from e200.auth import BUILTIN_ROLES, oidc
from e200.cli import app as cli_app
from e200.config import Settings
from tests.auth.oidc_provider import OidcProvider
from tests.auth.slapd import GROUP_BASE, SlapdServer
from tests.users import TEST_PASSWORD, make_user

# A documentation address (RFC 5737): the audit log must show where a login came from.
SOURCE_IP = "192.0.2.10"
NORTH_GROUP, SOUTH_GROUP = "dispatchers", "lineloss"  # seeded groups of tests/auth/slapd.py
LDAP_MAPPINGS: dict[str, Any] = {
    NORTH_GROUP: {"roles": ["dispatcher"], "org_units": ["NORTH"]},
    SOUTH_GROUP: {"roles": ["line_loss_analyst"], "org_units": ["SOUTH"]},
}
OIDC_MAPPINGS: dict[str, Any] = {
    "grid-north": {"roles": ["dispatcher"], "org_units": ["NORTH"]},
    "head-office": {"roles": ["viewer"], "all_org_units": True},
}
NO_ROLE = "your directory groups grant no E200 role; ask an administrator"
WRONG_CREDENTIALS = "wrong user name or password"


def permissions_of(role_name: str) -> list[str]:
    role = next(r for r in BUILTIN_ROLES if r.name == role_name)
    return sorted(p.value for p in role.permissions)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail: str = response.json()["detail"]
    return detail


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture()
def grid(client: TestClient) -> None:
    """Company CO with two sibling regions, one substation in each."""
    ok(client.post("/api/v1/org-units", json={"code": "CO", "name": "Co", "kind": "company"}), 201)
    for code in ("NORTH", "SOUTH"):
        unit = {"code": code, "name": code.title(), "kind": "region", "parent": "CO"}
        ok(client.post("/api/v1/org-units", json=unit), 201)
        substation = {"asset_number": f"SS-{code}", "name": f"{code} 110 kV", "org_unit": code}
        ok(client.post("/api/v1/substations", json=substation), 201)


SsoApp = Callable[..., TestClient]


@pytest.fixture()
def sso_app(
    engine: Engine,
    tmp_path: Path,
    slapd_server: SlapdServer,
    oidc_provider: OidcProvider,
    grid: None,
) -> Iterator[SsoApp]:
    """Build the app with the directory and the OpenID provider configured (keyword arguments
    override settings); requests come from SOURCE_IP and redirects are not followed."""
    oidc_provider.reset()
    oidc.clear_cache()
    with ExitStack() as stack:

        def build(**overrides: Any) -> TestClient:
            settings = Settings(
                **{
                    "data_dir": tmp_path,
                    "database_url": "unused://",
                    **slapd_server.settings_kwargs(),
                    **oidc_provider.settings_kwargs(),
                    "ldap_group_mappings": LDAP_MAPPINGS,
                    "oidc_group_mappings": OIDC_MAPPINGS,
                    **overrides,
                }
            )
            test_client = TestClient(
                create_app(settings, engine, console=False),
                client=(SOURCE_IP, 50123),
                follow_redirects=False,
            )
            return stack.enter_context(test_client)

        yield build
    oidc_provider.reset()
    oidc.clear_cache()


DirectoryUser = Callable[..., str]


@pytest.fixture()
def directory_user(slapd_server: SlapdServer) -> Iterator[DirectoryUser]:
    """Add users to the shared slapd (a fresh uid unless one is given); removed afterwards."""
    added: list[str] = []

    def add(*groups: str, uid: str | None = None, password: str = "dir-Password-1") -> str:
        uid = uid or f"sso{uuid.uuid4().hex[:8]}"
        added.append(uid)
        slapd_server.add_user(uid, password, groups=groups, display_name=f"{uid} (directory)")
        return uid

    yield add
    for uid in added:
        slapd_server.delete_user(uid)


def move_user(server: SlapdServer, uid: str, source: str, target: str) -> None:
    """What an administrator does in the directory: take the user out of one group, put them
    into another."""
    dn = f"uid={uid},{server.user_base}"
    conn = server.admin()
    try:
        assert conn.modify(f"cn={target},{GROUP_BASE}", {"member": [(MODIFY_ADD, [dn])]})
        assert conn.modify(f"cn={source},{GROUP_BASE}", {"member": [(MODIFY_DELETE, [dn])]})
    finally:
        conn.unbind()


def token_of(api: TestClient, username: str, password: str = "dir-Password-1") -> str:
    token: str = ok(
        api.post("/api/v1/auth/token", json={"username": username, "password": password})
    )["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def failures(admin: TestClient, actor: str) -> list[dict[str, Any]]:
    page = ok(admin.get("/api/v1/audit", params={"actor": actor, "outcome": "failure"}))
    items: list[dict[str, Any]] = page["items"]
    return items


# --- LDAP ----------------------------------------------------------------------------------


def test_directory_login_gets_mapped_role_and_scope(
    sso_app: SsoApp, directory_user: DirectoryUser
) -> None:
    api = sso_app()
    uid = directory_user(NORTH_GROUP)
    token = token_of(api, uid)

    me = ok(api.get("/api/v1/auth/me", headers=bearer(token)))
    assert me["username"] == uid
    assert me["source"] == "ldap"
    assert me["display_name"] == f"{uid} (directory)"
    assert me["roles"] == ["dispatcher"]
    assert me["org_units"] == ["NORTH"]
    assert me["scope_all"] is False
    assert me["permissions"] == permissions_of("dispatcher")
    assert me["via"] == "token"

    assert ok(api.get("/api/v1/substations/SS-NORTH", headers=bearer(token)))["org_unit"] == "NORTH"
    refused(api.get("/api/v1/substations/SS-SOUTH", headers=bearer(token)), 404)
    listed = ok(api.get("/api/v1/substations", headers=bearer(token)))
    assert [s["asset_number"] for s in listed["items"]] == ["SS-NORTH"]


def test_group_change_in_the_directory_applies_at_the_next_login(
    sso_app: SsoApp, directory_user: DirectoryUser, slapd_server: SlapdServer
) -> None:
    api = sso_app()
    uid = directory_user(NORTH_GROUP)
    first = token_of(api, uid)
    assert ok(api.get("/api/v1/auth/me", headers=bearer(first)))["roles"] == ["dispatcher"]

    move_user(slapd_server, uid, NORTH_GROUP, SOUTH_GROUP)
    second = token_of(api, uid)

    me = ok(api.get("/api/v1/auth/me", headers=bearer(second)))
    assert (me["roles"], me["org_units"]) == (["line_loss_analyst"], ["SOUTH"])
    assert me["permissions"] == permissions_of("line_loss_analyst")
    ok(api.get("/api/v1/substations/SS-SOUTH", headers=bearer(second)))
    refused(api.get("/api/v1/substations/SS-NORTH", headers=bearer(second)), 404)
    # Roles belong to the user, not to a session: the earlier token changed along.
    refused(api.get("/api/v1/substations/SS-NORTH", headers=bearer(first)), 404)


def test_directory_user_without_a_mapped_group_is_refused(
    sso_app: SsoApp, directory_user: DirectoryUser, client: TestClient
) -> None:
    api = sso_app()
    for groups in (("visitors",), ()):
        uid = directory_user(*groups)
        response = api.post(
            "/api/v1/auth/token", json={"username": uid, "password": "dir-Password-1"}
        )
        assert refused(response, 401) == NO_ROLE
        [failure] = failures(client, uid)
        assert failure["detail"] == {"method": "ldap", "reason": "no mapped group"}
        refused(client.get(f"/api/v1/users/{uid}"), 404)  # no E200 account was made


def test_wrong_password_is_refused_and_audited_with_the_source_address(
    sso_app: SsoApp, directory_user: DirectoryUser, client: TestClient
) -> None:
    api = sso_app()
    uid = directory_user(NORTH_GROUP)
    wrong = api.post("/api/v1/auth/token", json={"username": uid, "password": "not-it"})
    unknown = api.post("/api/v1/auth/token", json={"username": "nobody-here", "password": "x"})
    # A wrong password and an unknown name read the same: names cannot be probed.
    assert refused(wrong, 401) == refused(unknown, 401) == WRONG_CREDENTIALS

    [failure] = failures(client, uid)
    assert failure["action"] == "login"
    assert failure["source_ip"] == SOURCE_IP
    assert failure["detail"] == {
        "method": "ldap",
        "reason": "wrong password or unknown in directory",
    }
    assert len(failures(client, "nobody-here")) == 1


def test_sync_directory_disables_a_deleted_user_and_their_token_stops_at_once(
    sso_app: SsoApp,
    directory_user: DirectoryUser,
    slapd_server: SlapdServer,
    client: TestClient,
    fresh_db_url: str,
) -> None:
    api = sso_app()
    gone, staying = directory_user(NORTH_GROUP), directory_user(SOUTH_GROUP)
    token = token_of(api, gone)
    other = token_of(api, staying)
    ok(api.get("/api/v1/auth/me", headers=bearer(token)))

    slapd_server.delete_user(gone)
    env = {
        f"E200_{key.upper()}": str(value) for key, value in slapd_server.settings_kwargs().items()
    }
    env |= {
        "E200_DATABASE_URL": fresh_db_url,
        "E200_LDAP_GROUP_MAPPINGS": json.dumps(LDAP_MAPPINGS),
    }
    result = CliRunner().invoke(cli_app, ["auth", "sync-directory"], env=env)
    assert result.exit_code == 0, result.output
    assert gone in result.output and staying not in result.output

    refused(api.get("/api/v1/auth/me", headers=bearer(token)), 401)
    assert ok(client.get(f"/api/v1/users/{gone}"))["status"] == "disabled"
    assert ok(api.get("/api/v1/auth/me", headers=bearer(other)))["username"] == staying
    # Gone from the directory: no way back in.
    response = api.post("/api/v1/auth/token", json={"username": gone, "password": "dir-Password-1"})
    refused(response, 401)


def test_unreachable_directory_answers_503_but_the_local_admin_signs_in(
    sso_app: SsoApp, engine: Engine, client: TestClient
) -> None:
    url = f"ldap://127.0.0.1:{closed_port()}"
    api = sso_app(ldap_url=url, ldap_timeout_s=2)
    response = api.post("/api/v1/auth/token", json={"username": "alice", "password": "pw"})
    detail = refused(response, 503)
    assert url in detail and "local accounts can still sign in" in detail
    [failure] = failures(client, "alice")
    assert failure["source_ip"] == SOURCE_IP and url in failure["detail"]["reason"]

    make_user(engine, "admin", roles=("administrator",), scope_all=True)  # a known password
    me = ok(api.get("/api/v1/auth/me", headers=bearer(token_of(api, "admin", TEST_PASSWORD))))
    assert (me["username"], me["source"], me["roles"]) == ("admin", "local", ["administrator"])


def test_a_directory_user_cannot_take_over_the_local_admin(
    sso_app: SsoApp, directory_user: DirectoryUser, engine: Engine, client: TestClient
) -> None:
    api = sso_app()
    make_user(engine, "admin", roles=("administrator",), scope_all=True)
    directory_user(NORTH_GROUP, uid="admin", password="directory-admin-pw")

    for name in ("admin", "Admin", "ADMIN"):
        response = api.post(
            "/api/v1/auth/token", json={"username": name, "password": "directory-admin-pw"}
        )
        assert refused(response, 401) == WRONG_CREDENTIALS
    reasons = sorted(f["detail"]["reason"] for f in failures(client, "admin"))
    # "admin" is checked locally only; the other spellings reach the directory, which answers
    # with the stored name "admin", and that name belongs to a local account.
    assert reasons == ["name taken by a local account"] * 2 + ["wrong password"]

    admin = ok(client.get("/api/v1/users/admin"))
    assert (admin["source"], admin["roles"], admin["scope_all"]) == (
        "local",
        ["administrator"],
        True,
    )
    assert admin["failed_logins"] == 1  # the one attempt that reached the local password
    ok(api.post("/api/v1/auth/token", json={"username": "admin", "password": TEST_PASSWORD}))


# --- OIDC ----------------------------------------------------------------------------------


def start_sign_on(api: TestClient, return_to: str = "/console/") -> str:
    """The browser opens E200's sign-on link; returns where E200 sends it (the provider)."""
    response = api.get("/auth/oidc/login", params={"return_to": return_to})
    assert response.status_code == 302, response.text
    return str(response.headers["location"])


def at_provider(authorize_url: str) -> str:
    """The browser at the provider (real HTTP): returns the callback URL it is sent back to."""
    response = httpx.get(authorize_url, follow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = str(response.headers["location"])
    assert location.startswith("http://testserver/auth/oidc/callback?")
    return location


def callback(api: TestClient, url: str) -> httpx.Response:
    parts = urlsplit(url)
    response: httpx.Response = api.get(f"{parts.path}?{parts.query}")
    return response


def test_oidc_browser_flow_sets_a_session_cookie_with_mapped_roles_and_scope(
    sso_app: SsoApp, oidc_provider: OidcProvider
) -> None:
    api = sso_app()
    username = f"oidc{uuid.uuid4().hex[:8]}"
    oidc_provider.add_user(
        username,
        name="Olga Operator",
        email=f"{username}@e200.test",
        groups=["grid-north", "unmapped"],
    )
    oidc_provider.next_user = username

    authorize_url = start_sign_on(api)
    assert authorize_url.startswith(f"{oidc_provider.issuer}/authorize?")
    response = callback(api, at_provider(authorize_url))

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/"
    [cookie] = response.headers.get_list("set-cookie")
    name, _, rest = cookie.partition("=")
    attributes = {a.strip().split("=")[0].lower(): a.strip() for a in rest.split(";")[1:]}
    assert name == "e200_session"
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/"
    assert "secure" not in attributes  # plain http here; https sets Secure

    me = ok(api.get("/api/v1/auth/me"))  # the cookie, as a browser sends it
    assert (me["username"], me["source"], me["via"]) == (username, "oidc", "session")
    assert (me["display_name"], me["email"]) == ("Olga Operator", f"{username}@e200.test")
    assert (me["roles"], me["org_units"], me["scope_all"]) == (["dispatcher"], ["NORTH"], False)
    assert me["permissions"] == permissions_of("dispatcher")
    ok(api.get("/api/v1/substations/SS-NORTH"))
    refused(api.get("/api/v1/substations/SS-SOUTH"), 404)


def test_oidc_group_granting_the_whole_grid(sso_app: SsoApp, oidc_provider: OidcProvider) -> None:
    api = sso_app()
    username = f"oidc{uuid.uuid4().hex[:8]}"
    oidc_provider.add_user(username, groups=["head-office"])
    oidc_provider.next_user = username
    response = callback(api, at_provider(start_sign_on(api, return_to="/console/alarms")))
    assert (response.status_code, response.headers["location"]) == (303, "/console/alarms")
    me = ok(api.get("/api/v1/auth/me"))
    assert (me["roles"], me["scope_all"]) == (["viewer"], True)
    ok(api.get("/api/v1/substations/SS-SOUTH"))


def test_oidc_user_without_a_mapped_group_is_refused(
    sso_app: SsoApp, oidc_provider: OidcProvider, client: TestClient
) -> None:
    api = sso_app()
    username = f"oidc{uuid.uuid4().hex[:8]}"
    oidc_provider.add_user(username, groups=["visitors"])
    oidc_provider.next_user = username
    response = callback(api, at_provider(start_sign_on(api)))
    assert refused(response, 401) == NO_ROLE
    assert "set-cookie" not in response.headers
    [failure] = failures(client, username)
    assert failure["detail"] == {"method": "oidc", "reason": "no mapped group"}


def test_replayed_or_unknown_state_is_refused(sso_app: SsoApp, oidc_provider: OidcProvider) -> None:
    api = sso_app()
    username = f"oidc{uuid.uuid4().hex[:8]}"
    oidc_provider.add_user(username, groups=["grid-north"])
    oidc_provider.next_user = username
    returned = at_provider(start_sign_on(api))
    assert callback(api, returned).status_code == 303
    api.cookies.clear()

    replay = callback(api, returned)  # e.g. the callback URL taken from a browser's history
    assert "unknown or expired sign-on attempt" in refused(replay, 422)
    forged = api.get("/auth/oidc/callback", params={"state": "forged", "code": "whatever"})
    assert "unknown or expired sign-on attempt" in refused(forged, 422)
    missing = api.get("/auth/oidc/callback", params={"code": "whatever"})
    refused(missing, 422)
    for response in (replay, forged, missing):
        assert "set-cookie" not in response.headers
    refused(api.get("/api/v1/auth/me"), 401)


def test_provider_error_is_refused_and_audited(
    sso_app: SsoApp, oidc_provider: OidcProvider, client: TestClient
) -> None:
    api = sso_app()
    oidc_provider.next_user = "not-a-provider-user"  # the provider answers access_denied
    returned = at_provider(start_sign_on(api))
    assert "error=access_denied" in returned

    response = callback(api, returned)
    detail = refused(response, 422)
    assert detail.startswith("the sign-on provider refused: no user 'not-a-provider-user'")
    assert "set-cookie" not in response.headers
    page = ok(client.get("/api/v1/audit", params={"action": "login", "outcome": "failure"}))
    [failure] = page["items"]
    assert failure["source_ip"] == SOURCE_IP
    assert failure["detail"] == {"method": "oidc", "reason": "access_denied"}


def test_an_oidc_user_cannot_take_over_the_local_admin(
    sso_app: SsoApp, oidc_provider: OidcProvider, client: TestClient
) -> None:
    api = sso_app()
    oidc_provider.add_user("admin", groups=["head-office"])
    try:
        oidc_provider.next_user = "admin"
        response = callback(api, at_provider(start_sign_on(api)))
    finally:
        del oidc_provider.users["admin"]
    assert refused(response, 401) == WRONG_CREDENTIALS
    assert "set-cookie" not in response.headers
    [failure] = failures(client, "admin")
    assert failure["detail"] == {"method": "oidc", "reason": "name taken by a local account"}
    assert ok(client.get("/api/v1/users/admin"))["source"] == "local"

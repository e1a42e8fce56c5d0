"""Local accounts through the REST API: password policy, forced first change, lockout, session
and token expiry, API key revocation, disabling, privilege escalation, and the append-only audit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError

from e200.api import create_app
from e200.auth import ensure_admin
from e200.auth.tables import audit_event, session, user_account
from e200.config import Settings
from e200.kernel import utc_now
from tests.users import TEST_PASSWORD, make_user

NEW_PASSWORD = "Feeder-Seven-Lamps"


@pytest.fixture()
def app_client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, database_url="unused://", lockout_after_failures=3)
    with TestClient(create_app(settings, engine, console=False)) as client:
        yield client


def _token(client: TestClient, username: str, password: str = TEST_PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _audit(engine: Engine, **where: Any) -> list[Any]:
    query = select(audit_event).order_by(audit_event.c.id)
    for column, value in where.items():
        query = query.where(audit_event.c[column] == value)
    with engine.connect() as conn:
        return list(conn.execute(query))


def test_first_admin_must_change_the_password(app_client: TestClient, engine: Engine) -> None:
    one_time = ensure_admin(engine)
    assert one_time is not None
    token = _token(app_client, "admin", one_time)
    refused = app_client.get("/api/v1/org-units", headers=_bearer(token))
    assert refused.status_code == 403
    assert "change your initial password" in refused.json()["detail"]
    me = app_client.get("/api/v1/auth/me", headers=_bearer(token)).json()
    assert me["must_change_password"] and "manage_users" in me["permissions"]

    for weak, rule in (
        ("short1!", "at least 10"),
        ("password123", "too common"),
        ("admin-admin-2026", "user name"),
        ("aaaaaaaaaaaa", "different characters"),
    ):
        response = app_client.post(
            "/api/v1/auth/password",
            json={"current_password": one_time, "new_password": weak},
            headers=_bearer(token),
        )
        assert response.status_code == 422, weak
        assert rule in response.json()["detail"] and response.json()["field"] == "new_password"
    wrong_current = app_client.post(
        "/api/v1/auth/password",
        json={"current_password": "not-it-at-all", "new_password": NEW_PASSWORD},
        headers=_bearer(token),
    )
    assert wrong_current.status_code == 422 and wrong_current.json()["field"] == "current_password"

    changed = app_client.post(
        "/api/v1/auth/password",
        json={"current_password": one_time, "new_password": NEW_PASSWORD},
        headers=_bearer(token),
    )
    assert changed.status_code == 204
    assert app_client.get("/api/v1/org-units", headers=_bearer(token)).status_code == 200
    old = app_client.post("/api/v1/auth/token", json={"username": "admin", "password": one_time})
    assert old.status_code == 401
    assert _token(app_client, "admin", NEW_PASSWORD)


def test_lockout_after_failures_then_unlock(app_client: TestClient, engine: Engine) -> None:
    make_user(engine, "dispatch1", roles=("dispatcher",), scope_all=True)
    make_user(engine, "boss", roles=("administrator",), scope_all=True)
    boss = _bearer(_token(app_client, "boss"))
    for _ in range(3):
        wrong = app_client.post(
            "/api/v1/auth/token", json={"username": "dispatch1", "password": "guess-guess-1"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "wrong user name or password"
    # Locked now: even the right password is refused, with the time it ends.
    locked = app_client.post(
        "/api/v1/auth/token", json={"username": "dispatch1", "password": TEST_PASSWORD}
    )
    assert locked.status_code == 401 and "locked" in locked.json()["detail"]
    user = app_client.get("/api/v1/users/dispatch1", headers=boss).json()
    assert user["locked"] is True

    failures = _audit(engine, actor="dispatch1", action="login", outcome="failure")
    assert len(failures) == 4
    assert all(row.source_ip == "testclient" for row in failures)
    assert failures[-1].detail["reason"] == "locked"

    # The lock ends by itself after lockout_minutes (here: moved into the past) ...
    with engine.begin() as conn:
        conn.execute(
            update(user_account)
            .where(user_account.c.username == "dispatch1")
            .values(locked_until=utc_now() - timedelta(seconds=1))
        )
    assert _token(app_client, "dispatch1")
    # ... or when an administrator unlocks it.
    for _ in range(3):
        app_client.post("/api/v1/auth/token", json={"username": "dispatch1", "password": "x" * 12})
    assert app_client.post("/api/v1/users/dispatch1/unlock", headers=boss).status_code == 200
    assert _token(app_client, "dispatch1")
    unlock = _audit(engine, action="unlock_user")
    assert unlock and unlock[-1].actor == "boss" and unlock[-1].target == "username=dispatch1"


def test_unknown_user_and_wrong_password_look_the_same(app_client: TestClient) -> None:
    unknown = app_client.post(
        "/api/v1/auth/token", json={"username": "ghost", "password": "whatever-123"}
    )
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "wrong user name or password"


def test_sessions_end_when_idle_expired_revoked_or_user_disabled(
    app_client: TestClient, engine: Engine
) -> None:
    make_user(engine, "crew1", roles=("maintenance_crew",), scope_all=True)
    make_user(engine, "boss", roles=("administrator",), scope_all=True)
    boss = _bearer(_token(app_client, "boss"))

    def works(token: str) -> bool:
        status = app_client.get("/api/v1/auth/me", headers=_bearer(token)).status_code
        assert status in (200, 401)
        return status == 200

    idle, absolute, logged_out, disabled = (_token(app_client, "crew1") for _ in range(4))
    assert all(works(t) for t in (idle, absolute, logged_out))
    with engine.begin() as conn:
        rows = conn.execute(select(session.c.id).order_by(session.c.id.desc()).limit(4)).all()
        _, _, absolute_id, idle_id = (r.id for r in rows)
        conn.execute(
            update(session)
            .where(session.c.id == idle_id)
            .values(last_seen_at=utc_now() - timedelta(minutes=31))
        )
        conn.execute(
            update(session)
            .where(session.c.id == absolute_id)
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    assert not works(idle), "idle for longer than 30 minutes"
    assert not works(absolute), "past the absolute timeout"
    assert app_client.post("/api/v1/auth/logout", headers=_bearer(logged_out)).status_code == 204
    assert not works(logged_out), "logged out"
    assert works(disabled)
    patch = app_client.patch("/api/v1/users/crew1", json={"status": "disabled"}, headers=boss)
    assert patch.status_code == 200 and patch.json()["status"] == "disabled"
    assert not works(disabled), "user disabled"
    refused = app_client.post(
        "/api/v1/auth/token", json={"username": "crew1", "password": TEST_PASSWORD}
    )
    assert refused.status_code == 401
    # Retired users stay retired.
    app_client.patch("/api/v1/users/crew1", json={"status": "retired"}, headers=boss)
    again = app_client.patch("/api/v1/users/crew1", json={"status": "active"}, headers=boss)
    assert again.status_code == 409


def test_api_key_revocation_takes_effect_at_once(app_client: TestClient, engine: Engine) -> None:
    make_user(engine, "boss", roles=("administrator",), scope_all=True)
    make_user(engine, "gateway", roles=("integration_client",), scope_all=True)
    boss = _bearer(_token(app_client, "boss"))
    created = app_client.post(
        "/api/v1/users/gateway/api-keys", json={"name": "substation gw"}, headers=boss
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("e200k_")
    listed = app_client.get("/api/v1/users/gateway/api-keys", headers=boss).json()
    assert [k["prefix"] for k in listed] == [created.json()["prefix"]]
    assert "key" not in listed[0] and "secret_hash" not in listed[0]  # shown once only

    as_gateway = {"X-API-Key": key}
    assert app_client.post("/api/v1/ingest", json=[], headers=as_gateway).status_code == 200
    # The gateway's role grants ingest and reading, not archive edits.
    edit = app_client.post(
        "/api/v1/org-units", json={"code": "X", "name": "X", "kind": "company"}, headers=as_gateway
    )
    assert edit.status_code == 403
    key_id = created.json()["id"]
    revoked = app_client.delete(f"/api/v1/users/gateway/api-keys/{key_id}", headers=boss)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert app_client.post("/api/v1/ingest", json=[], headers=as_gateway).status_code == 401
    # A made-up key with a real prefix does not work either.
    forged = key[: key.rindex("_") + 1] + "A" * 43
    assert app_client.get("/api/v1/auth/me", headers={"X-API-Key": forged}).status_code == 401


def test_managers_cannot_grant_more_than_they_hold(app_client: TestClient, engine: Engine) -> None:
    ensure_admin(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.role (name, permissions, builtin) "
                "VALUES ('only_users', ARRAY['manage_users'], false) ON CONFLICT DO NOTHING"
            )
        )
    make_user(engine, "hr", roles=("only_users",))
    hr = _bearer(_token(app_client, "hr"))
    escalate = app_client.post(
        "/api/v1/users",
        json={"username": "x1", "password": "Long-Enough-Pass-1", "roles": ["administrator"]},
        headers=hr,
    )
    assert escalate.status_code == 403 and "do not hold" in escalate.json()["detail"]
    whole = app_client.post(
        "/api/v1/users",
        json={"username": "x2", "password": "Long-Enough-Pass-1", "scope_all": True},
        headers=hr,
    )
    assert whole.status_code == 403
    denied = _audit(engine, actor="hr", action="create_user", outcome="denied")
    assert len(denied) == 2 and denied[0].detail["status"] == 403


def test_audit_log_is_append_only(client: TestClient, engine: Engine) -> None:
    client.post("/api/v1/org-units", json={"code": "CO", "name": "Co", "kind": "company"})
    rows = _audit(engine, action="create_org_unit")
    assert rows and rows[-1].outcome == "success" and rows[-1].actor == "admin"
    for statement in (
        "UPDATE auth.audit_event SET outcome = 'failure'",
        "DELETE FROM auth.audit_event",
        "TRUNCATE auth.audit_event",
    ):
        with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
            conn.execute(text(statement))
        assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)
        assert "append-only" in str(refused.value.orig)
    assert _audit(engine, action="create_org_unit") == rows

    found = client.get("/api/v1/audit", params={"action": "org_unit", "actor": "admin"}).json()
    assert found["total"] >= 1 and found["items"][0]["target"] is None
    assert found["items"][0]["detail"]["path"] == "/api/v1/org-units"


def test_session_cookie_flags(app_client: TestClient, engine: Engine, tmp_path: Path) -> None:
    make_user(engine, "viewer1", roles=("viewer",), scope_all=True)
    response = app_client.post(
        "/api/v1/auth/login", json={"username": "viewer1", "password": TEST_PASSWORD}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "e200_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http to a test host: auto mode
    assert app_client.get("/api/v1/auth/me").json()["username"] == "viewer1"
    settings = Settings(data_dir=tmp_path, database_url="unused://", cookie_secure="always")
    with TestClient(create_app(settings, engine, console=False)) as strict:
        secure = strict.post(
            "/api/v1/auth/login", json={"username": "viewer1", "password": TEST_PASSWORD}
        )
        assert "Secure" in secure.headers["set-cookie"]

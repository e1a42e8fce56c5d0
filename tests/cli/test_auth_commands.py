"""`e200 auth sync-directory | create-api-key | unlock` against the test database (named by
E200_DATABASE_URL) and a real slapd; and the hourly maintenance that syncs the directory."""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner, Result

from e200 import auth
from e200.auth import audit, ensure_admin
from e200.auth.credentials import create_session
from e200.auth.login import authenticate
from e200.auth.tables import session, user_account, user_role
from e200.cli import app
from e200.config import Settings
from e200.db.jobspec import JobContext
from e200.kernel import utc_now
from tests.auth.conftest import slapd_server
from tests.auth.slapd import SlapdServer
from tests.users import TEST_PASSWORD, make_user

__all__ = ["slapd_server"]  # the real OpenLDAP of the auth tests, one per session

MAPPINGS: dict[str, Any] = {
    "dispatchers": {"roles": ["dispatcher"]},
    "lineloss": {"roles": ["line_loss_analyst"]},
}
PASSWORD = "dir-Password-1"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"E200_LOG_JSON": "true", **env})


def ldap_settings(server: SlapdServer, **overrides: Any) -> Settings:
    return Settings(
        **{
            "database_url": "unused://",
            **server.settings_kwargs(),
            "ldap_group_mappings": MAPPINGS,
            **overrides,
        }
    )


def ldap_env(server: SlapdServer, database_url: str, **overrides: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        f"E200_{key.upper()}": str(value) for key, value in server.settings_kwargs().items()
    }
    env["E200_LDAP_GROUP_MAPPINGS"] = json.dumps(MAPPINGS)
    env["E200_DATABASE_URL"] = database_url
    env.update(overrides)
    return env


AddUser = Callable[..., str]


@pytest.fixture()
def directory_user(slapd_server: SlapdServer) -> Iterator[AddUser]:
    """Add a user to the shared slapd; every one added is removed at the end."""
    added: list[str] = []

    def add(*groups: str) -> str:
        uid = f"cli{uuid.uuid4().hex[:8]}"
        added.append(uid)
        slapd_server.add_user(uid, PASSWORD, groups=groups)
        return uid

    yield add
    for uid in added:
        slapd_server.delete_user(uid)


def sign_in(engine: Engine, settings: Settings, uid: str) -> None:
    """A directory user's first login, which creates their E200 account (the predefined roles
    exist, as they do once `e200 up` has run)."""
    ensure_admin(engine)
    authenticate(engine, settings, uid, PASSWORD, source_ip=None)


def account(engine: Engine, username: str) -> tuple[str, list[str]]:
    """(status, roles) of an E200 user."""
    with engine.connect() as conn:
        user_id, status = conn.execute(
            select(user_account.c.id, user_account.c.status).where(
                user_account.c.username == username
            )
        ).one()
        roles = conn.execute(
            select(user_role.c.role_name).where(user_role.c.user_id == user_id)
        ).scalars()
        return status, sorted(roles)


def cli_audit(engine: Engine, action: str) -> list[dict[str, Any]]:
    """Audit rows of exactly this action (the search matches parts of action names)."""
    with engine.connect() as conn:
        items: list[dict[str, Any]] = audit.search(conn, action=action)["items"]
    return [item for item in items if item["action"] == action]


# --- sync-directory ------------------------------------------------------------------------


def test_sync_directory_disables_departed_users_and_refreshes_the_others(
    engine: Engine, fresh_db_url: str, slapd_server: SlapdServer, directory_user: AddUser
) -> None:
    settings = ldap_settings(slapd_server)
    gone, regrouped, unmapped, same = (directory_user("dispatchers") for _ in range(4))
    for uid in (gone, regrouped, unmapped, same):
        sign_in(engine, settings, uid)  # E200 accounts now
    slapd_server.delete_user(gone)
    for uid, groups in ((regrouped, ("lineloss",)), (unmapped, ("visitors",))):
        slapd_server.delete_user(uid)  # also drops the memberships
        slapd_server.add_user(uid, PASSWORD, groups=groups)

    result = run(ldap_env(slapd_server, fresh_db_url), "auth", "sync-directory")

    assert result.exit_code == 0, result.output
    assert "Directory sync" in result.output
    lines = result.output.splitlines()
    assert any("E200 users updated" in line and " 2 " in line for line in lines), result.output
    assert any("E200 users disabled" in line and " 2 " in line for line in lines), result.output
    assert gone in result.output and unmapped in result.output
    assert account(engine, gone) == ("disabled", ["dispatcher"])
    assert account(engine, unmapped)[0] == "disabled"
    assert account(engine, regrouped) == ("active", ["line_loss_analyst"])
    assert account(engine, same) == ("active", ["dispatcher"])
    [event] = cli_audit(engine, "directory_sync")
    assert sorted(event["detail"]["disabled"]) == sorted([gone, unmapped])


def test_sync_directory_without_a_directory_configured(fresh_db_url: str) -> None:
    result = run(
        {"E200_DATABASE_URL": fresh_db_url, "E200_LDAP_URL": None}, "auth", "sync-directory"
    )
    assert result.exit_code == 2
    assert "No directory configured" in result.output and "E200_LDAP_URL" in result.output


def test_sync_directory_when_the_directory_is_unreachable_changes_nothing(
    engine: Engine, fresh_db_url: str, slapd_server: SlapdServer, directory_user: AddUser
) -> None:
    uid = directory_user("dispatchers")
    sign_in(engine, ldap_settings(slapd_server), uid)
    url = f"ldap://127.0.0.1:{closed_port()}"
    env = ldap_env(slapd_server, fresh_db_url, E200_LDAP_URL=url, E200_LDAP_TIMEOUT_S="2")

    result = run(env, "auth", "sync-directory")

    assert result.exit_code == 3
    assert "Directory sync failed, nothing changed" in result.output
    assert url in result.output.replace("\n", "")
    assert account(engine, uid) == ("active", ["dispatcher"])


# --- create-api-key ------------------------------------------------------------------------


def test_create_api_key_prints_a_working_key_once(
    engine: Engine, fresh_db_url: str, anonymous_client: TestClient
) -> None:
    make_user(engine, "gateway", roles=("integration_client",), scope_all=True)

    result = run(
        {"E200_DATABASE_URL": fresh_db_url},
        "auth",
        "create-api-key",
        "--user",
        "gateway",
        "--name",
        "substation gateway",
    )

    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("e200k_") and "\n" not in key  # stdout holds the key alone
    assert key not in result.stderr and "shown only now" in result.stderr
    me = anonymous_client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200, me.text
    assert (me.json()["username"], me.json()["via"]) == ("gateway", "api_key")
    data = anonymous_client.get("/api/v1/substations", headers={"X-API-Key": key})
    assert data.status_code == 200, data.text  # the key has the user's roles
    [event] = cli_audit(engine, "create_user_api_key")
    assert (event["actor"], event["target"]) == ("e200-cli", "username=gateway")
    assert event["detail"]["name"] == "substation gateway" and key not in json.dumps(
        event, default=str
    )


def test_create_api_key_refuses_unknown_and_disabled_users(
    engine: Engine, fresh_db_url: str
) -> None:
    env: dict[str, str | None] = {"E200_DATABASE_URL": fresh_db_url}
    make_user(engine, "retiree", roles=("viewer",))
    with engine.begin() as conn:
        conn.execute(
            update(user_account)
            .where(user_account.c.username == "retiree")
            .values(status="disabled")
        )
    unknown = run(env, "auth", "create-api-key", "--user", "ghost", "--name", "x")
    assert unknown.exit_code == 1 and "No user 'ghost'" in unknown.output
    disabled = run(env, "auth", "create-api-key", "--user", "retiree", "--name", "x")
    assert disabled.exit_code == 1 and "disabled" in disabled.output
    blank = run(env, "auth", "create-api-key", "--user", "retiree", "--name", "  ")
    assert blank.exit_code == 1 and "--name" in blank.output
    assert cli_audit(engine, "create_user_api_key") == []


# --- unlock --------------------------------------------------------------------------------


def test_unlock_lifts_a_lockout(
    engine: Engine, fresh_db_url: str, anonymous_client: TestClient
) -> None:
    make_user(engine, "locky", roles=("viewer",))

    def login(password: str) -> Any:
        body = {"username": "locky", "password": password}
        return anonymous_client.post("/api/v1/auth/token", json=body)

    for _ in range(Settings().lockout_after_failures):
        assert login("wrong-password").status_code == 401
    locked = login(TEST_PASSWORD)
    assert locked.status_code == 401 and "locked" in locked.json()["detail"]

    result = run({"E200_DATABASE_URL": fresh_db_url}, "auth", "unlock", "locky")

    assert result.exit_code == 0, result.output
    assert "locky unlocked" in result.output
    assert login(TEST_PASSWORD).status_code == 200
    [event] = cli_audit(engine, "unlock_user")
    assert (event["actor"], event["target"]) == ("e200-cli", "username=locky")
    again = run({"E200_DATABASE_URL": fresh_db_url}, "auth", "unlock", "locky")
    assert again.exit_code == 0 and "was not locked" in again.output


def test_unlock_unknown_user(fresh_db_url: str) -> None:
    result = run({"E200_DATABASE_URL": fresh_db_url}, "auth", "unlock", "ghost")
    assert result.exit_code == 1 and "No user 'ghost'" in result.output


# --- hourly maintenance --------------------------------------------------------------------


def _old_session(engine: Engine, settings: Settings) -> int:
    user_id = make_user(engine, f"local{uuid.uuid4().hex[:6]}", roles=("viewer",))
    with engine.begin() as conn:
        issued = create_session(conn, settings, user_id, kind="token")
        long_ago = utc_now() - timedelta(days=3)
        conn.execute(
            update(session)
            .where(session.c.id == issued.id)
            .values(expires_at=long_ago, last_seen_at=long_ago)
        )
    return issued.id


def _sessions(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(session.c.id)).scalars())


def _run_job(name: str, engine: Engine, settings: Settings) -> str | None:
    """One run of an auth job, as a worker runs it."""
    (job,) = [j for j in auth.JOBS if j.name == name]
    return job.run(JobContext(engine=engine, settings=settings))


def test_the_jobs_sync_the_directory_and_purge_sessions(
    engine: Engine, slapd_server: SlapdServer, directory_user: AddUser, tmp_path: Path
) -> None:
    settings = ldap_settings(slapd_server, data_dir=tmp_path)
    uid = directory_user("dispatchers")
    sign_in(engine, settings, uid)
    slapd_server.delete_user(uid)
    _old_session(engine, settings)

    synced = _run_job("auth.sync_directory", engine, settings)
    assert synced is not None and synced.endswith("1 disabled")
    assert account(engine, uid)[0] == "disabled"
    assert _run_job("auth.purge_sessions", engine, settings) == "1 ended sessions purged"
    assert _sessions(engine) == []
    [event] = cli_audit(engine, "directory_sync")
    assert (event["actor"], event["detail"]["disabled"]) == ("directory-sync", [uid])


def test_an_unreachable_directory_fails_its_job_alone(
    engine: Engine, slapd_server: SlapdServer, directory_user: AddUser, tmp_path: Path
) -> None:
    uid = directory_user("dispatchers")
    sign_in(engine, ldap_settings(slapd_server), uid)
    url = f"ldap://127.0.0.1:{closed_port()}"
    settings = ldap_settings(slapd_server, ldap_url=url, ldap_timeout_s=2, data_dir=tmp_path)
    _old_session(engine, settings)

    with pytest.raises(Exception, match=re.escape(url)):  # the job fails; the queue records it
        _run_job("auth.sync_directory", engine, settings)
    assert account(engine, uid)[0] == "active"
    assert _run_job("auth.purge_sessions", engine, settings) == "1 ended sessions purged"
    assert _sessions(engine) == []  # the other jobs still run
    assert cli_audit(engine, "directory_sync") == []

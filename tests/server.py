"""`e200 up` as a subprocess, the way a user starts it: free port, own data folder, bounded
waits. Shared by the end-to-end and browser tests.

The first start prints the administrator's one-time password; ``sign_in_admin`` reads it, signs
in through the API, changes it (as the API demands before anything else) and keeps a bearer
token that ``api``/``post``/``patch`` send from then on."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_LIMIT_S = 120  # bounds: a hung start or stop fails the test instead of hanging CI
STOP_LIMIT_S = 60
ADMIN = "admin"
ADMIN_PASSWORD = "Grid-Chief-Pass-2026!"  # the one-time password changed to (no "admin" in it)
_ONE_TIME = re.compile(r"admin / (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class E200Server:
    """``e200 up --demo`` by default; ``role=("serve",)`` with ``E200_DATABASE_URL`` for one
    instance of the API and console against a shared database."""

    def __init__(self, data_dir: Path, role: tuple[str, ...] = ("up", "--demo"),
                 **env_overrides: str) -> None:  # fmt: skip
        env = {**os.environ, "E200_DATA_DIR": str(data_dir), "E200_LOG_JSON": "true",
               "COLUMNS": "200", **env_overrides}  # fmt: skip
        if "E200_DATABASE_URL" not in env_overrides:  # embedded unless the test names one
            env.pop("E200_DATABASE_URL", None)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"up-{self.port}.log"
        self.token: str | None = None
        self._log_handle = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "e200", *role[:1], "--port", str(self.port), *role[1:]],
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"e200 exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        pytest.fail(f"no /healthz within {STARTUP_LIMIT_S} s:\n{self.output()}")

    # -- signing in ----------------------------------------------------------------------------

    def one_time_password(self) -> str:
        """The administrator's first password, as `e200 up` printed it at the first start."""
        match = _ONE_TIME.search(self.output())
        assert match, f"no one-time admin password in the output:\n{self.output()}"
        return match.group(1)

    def token_for(self, username: str, password: str) -> httpx.Response:
        return httpx.post(
            self.base + "/api/v1/auth/token",
            json={"username": username, "password": password},
            timeout=20,
        )

    def sign_in(self, username: str, password: str) -> str:
        """A bearer token for this user, sent by ``api``/``post``/``patch`` from now on."""
        response = self.token_for(username, password)
        assert response.status_code == 200, response.text
        self.token = str(response.json()["token"])
        return self.token

    def sign_in_admin(self, password: str = ADMIN_PASSWORD) -> str:
        """First start: sign in with the printed one-time password and change it to
        ``password``. Later starts (the output prints no password): sign in with ``password``."""
        if not _ONE_TIME.search(self.output()):
            return self.sign_in(ADMIN, password)
        one_time = self.one_time_password()
        response = self.token_for(ADMIN, one_time)
        if response.status_code != 200:  # changed already (an earlier call)
            return self.sign_in(ADMIN, password)
        issued = response.json()
        assert issued["must_change_password"], issued
        token = str(issued["token"])
        changed = httpx.post(
            self.base + "/api/v1/auth/password",
            json={"current_password": one_time, "new_password": password},
            headers={"Authorization": f"Bearer {token}"},
            timeout=20,
        )
        assert changed.status_code == 204, changed.text
        self.token = token  # this token survives the change (other sessions end)
        return token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    # -- the API as the signed-in user ---------------------------------------------------------

    def request(self, method: str, path: str, timeout_s: float = 20, **kwargs: Any
                ) -> httpx.Response:  # fmt: skip
        return httpx.request(method, self.base + path, headers=self._headers(),
                             timeout=timeout_s, **kwargs)  # fmt: skip

    def api(self, path: str, **params: Any) -> Any:
        response = self.request("GET", path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any], expect: int = 201) -> Any:
        response = self.request("POST", path, json=body)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        response = self.request("PATCH", path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    # -- the console in a browser --------------------------------------------------------------

    def login_browser(
        self, page: Any, username: str = ADMIN, password: str = ADMIN_PASSWORD, *,
        next_path: str | None = None, lands_on: str | None = None,
    ) -> None:  # fmt: skip
        """Sign in through the console's login form (Playwright ``page``) and wait until the
        browser arrives at ``lands_on`` (default: ``next_path``, else the overview); with
        ``lands_on=""`` it does not wait (a refused login stays on the form)."""
        from urllib.parse import quote

        from playwright.sync_api import expect

        from e200.console.i18n import t

        page.goto("/console/login" + (f"?next={quote(next_path)}" if next_path else ""))
        page.get_by_label(t("login.username")).fill(username)
        page.get_by_label(t("login.password")).fill(password)
        page.get_by_role("button", name=t("login.submit")).click()
        if lands_on != "":
            target = lands_on or (next_path or "/console/").split("?")[0]
            expect(page).to_have_url(re.compile(rf"^{re.escape(self.base + target)}(\?.*)?$"))

    def interrupt(self) -> int | None:
        """Ctrl-C, then wait (bounded); kill only if it does not stop."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(timeout=STOP_LIMIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        finally:
            self._log_handle.close()


@contextmanager
def signed_in_up(prefix: str, **env_overrides: str) -> Iterator[E200Server]:
    """`e200 up --demo` in a folder of its own, the admin's one-time password changed and the
    API helpers acting as the admin; Ctrl-C at the end must stop it cleanly."""
    from tests.conftest import shared_tmp_dir

    root = shared_tmp_dir(prefix)
    srv = E200Server(root / "var", **env_overrides)
    try:
        srv.wait_healthy()
        srv.sign_in_admin()
        yield srv
    finally:
        code = srv.interrupt()
    assert code == 0, f"e200 up did not stop cleanly on Ctrl-C ({code}):\n{srv.output()}"

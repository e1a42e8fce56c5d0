"""Fixtures of the auth tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auth.slapd import SLAPD, SlapdServer, start_slapd
from tests.conftest import require

# --- LDAP: one real OpenLDAP slapd per test session (tests/auth/slapd.py) ------------------
# Tests that add users use their own uids and delete them again: the server is shared.


@pytest.fixture(scope="session")
def slapd_server() -> Iterator[SlapdServer]:
    require(
        SLAPD.is_file(), f"{SLAPD} is missing: apt-get install slapd ldap-utils (or make services)"
    )
    server = start_slapd()  # slapd is installed: a failure to start is a real error
    yield server
    server.stop()


# --- OIDC: one real minimal OpenID provider per test session (tests/auth/oidc_provider.py) ----
from tests.auth.oidc_provider import oidc_provider  # noqa: E402

__all__ = ["oidc_provider", "slapd_server"]

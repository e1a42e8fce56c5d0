"""e200.auth.directory against a real OpenLDAP slapd (tests/auth/slapd.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from e200.auth import directory
from e200.auth.directory import authenticate, list_users, normalize_dn, username_attribute
from e200.auth.identity import DirectoryUnavailableError
from e200.config import Settings
from tests.auth.slapd import GROUP_BASE, ODD_DN, ODD_PASSWORD, USER_BASE, SlapdServer

SEEDED = {"alice", "bob", "carol", "dave", "jsmith"}
DISPATCHERS = f"cn=dispatchers,{GROUP_BASE}"
LINELOSS = f"cn=lineloss,{GROUP_BASE}"
ADMINS = f"cn=admins,{GROUP_BASE}"


def make_settings(server: SlapdServer, **overrides: Any) -> Settings:
    return Settings(**{**server.settings_kwargs(), **overrides})


@pytest.fixture()
def settings(slapd_server: SlapdServer) -> Settings:
    return make_settings(slapd_server)


@pytest.fixture()
def extra_users(slapd_server: SlapdServer) -> Iterator[list[str]]:
    """uids a test adds; deleted afterwards even when the test fails (the server is shared)."""
    uids: list[str] = []
    yield uids
    for uid in uids:
        slapd_server.delete_user(uid)


# --- authenticate ----------------------------------------------------------------------------


def test_login_returns_identity_with_group_dns_and_cns(settings: Settings) -> None:
    user = authenticate(settings, "alice", "alice-password")
    assert user is not None
    assert user.source == "ldap"
    assert user.username == "alice"
    assert user.display_name == "Alice Dispatcher"
    assert user.email == "alice@e200.test"
    assert user.external_id == f"uid=alice,{USER_BASE}"
    assert user.groups == (DISPATCHERS, "dispatchers")

    carol = authenticate(settings, "carol", "carol-password")
    assert carol is not None
    assert set(carol.groups) == {ADMINS, "admins", DISPATCHERS, "dispatchers"}


def test_name_falls_back_to_cn_and_missing_mail_is_none(settings: Settings) -> None:
    user = authenticate(settings, "dave", "dave-password")
    assert user is not None
    assert (user.display_name, user.email, user.groups) == ("Dave", None, ())


def test_login_name_is_matched_case_insensitively_and_returned_as_stored(
    settings: Settings,
) -> None:
    user = authenticate(settings, "ALICE", "alice-password")
    assert user is not None and user.username == "alice"


def test_groups_of_a_dn_with_filter_metacharacters(settings: Settings) -> None:
    # The DN holds "\", "(", ")" and "*": the group filter must escape it to find lineloss.
    user = authenticate(settings, "jsmith", ODD_PASSWORD)
    assert user is not None
    assert user.external_id is not None
    assert normalize_dn(user.external_id) == normalize_dn(ODD_DN)  # slapd writes "\\2C" for ","
    assert user.display_name == "Smith, John (ops*)"
    assert user.groups == (LINELOSS, "lineloss")


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong-password"),
        ("nobody-here", "alice-password"),
        ("alice", ""),  # an empty password would be an anonymous bind that "succeeds"
        ("", "alice-password"),
    ],
    ids=["wrong-password", "unknown-user", "empty-password", "empty-username"],
)
def test_failed_logins_return_none(settings: Settings, username: str, password: str) -> None:
    assert authenticate(settings, username, password) is None


@pytest.mark.parametrize(
    "username",
    ["*", "ali*", "a*e", "alice)(uid=*", "*)(|(uid=*", "alice\\", "alice\x00"],
)
def test_filter_metacharacters_in_the_username_cannot_match_someone(
    settings: Settings, username: str
) -> None:
    # Unescaped, "ali*" would find alice and her password would let it in.
    assert authenticate(settings, username, "alice-password") is None


def test_anonymous_search_when_no_service_account(slapd_server: SlapdServer) -> None:
    settings = make_settings(slapd_server, ldap_bind_dn=None, ldap_bind_password=None)
    user = authenticate(settings, "bob", "bob-password")
    assert user is not None and user.groups == (LINELOSS, "lineloss")


def test_url_with_a_trailing_slash_works(slapd_server: SlapdServer) -> None:
    settings = make_settings(slapd_server, ldap_url=slapd_server.url + "/")
    assert authenticate(settings, "alice", "alice-password") is not None


# --- list_users ------------------------------------------------------------------------------


def test_list_users_lists_everyone_with_groups(settings: Settings) -> None:
    users = {user.username: user for user in list_users(settings)}
    assert set(users) == SEEDED
    assert users["alice"].groups == (DISPATCHERS, "dispatchers")
    assert users["bob"].groups == (LINELOSS, "lineloss")
    assert set(users["carol"].groups) == {ADMINS, "admins", DISPATCHERS, "dispatchers"}
    assert users["dave"].groups == ()
    assert users["jsmith"].groups == (LINELOSS, "lineloss")
    jsmith = authenticate(settings, "jsmith", ODD_PASSWORD)
    assert jsmith is not None and users["jsmith"].external_id == jsmith.external_id
    assert users["alice"].display_name == "Alice Dispatcher"
    assert users["alice"].email == "alice@e200.test"
    # list_users and authenticate describe a user the same way
    assert authenticate(settings, "carol", "carol-password") == users["carol"]


def test_added_then_deleted_user(
    settings: Settings, slapd_server: SlapdServer, extra_users: list[str]
) -> None:
    extra_users.append("zoe")
    slapd_server.add_user("zoe", "zoe-password", groups=("dispatchers", "night-shift"))
    zoe = next(user for user in list_users(settings) if user.username == "zoe")
    assert set(zoe.groups) == {
        DISPATCHERS,
        "dispatchers",
        f"cn=night-shift,{GROUP_BASE}",
        "night-shift",
    }
    assert authenticate(settings, "zoe", "zoe-password") == zoe

    slapd_server.delete_user("zoe")
    assert {user.username for user in list_users(settings)} == SEEDED
    assert authenticate(settings, "zoe", "zoe-password") is None


def test_list_users_reads_all_pages(
    settings: Settings,
    slapd_server: SlapdServer,
    extra_users: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server returns at most 20 entries to an unpaged search; 30 users need paging.
    uids = [f"bulk{i:02}" for i in range(25)]
    extra_users.extend(uids)
    for uid in uids:
        slapd_server.add_user(uid, "bulk-password", groups=("bulk",))
    monkeypatch.setattr(directory, "PAGE_SIZE", 7)
    users = list_users(settings)
    assert {user.username for user in users} == SEEDED | set(uids)
    assert all("bulk" in user.groups for user in users if user.username.startswith("bulk"))

    # Without paging the server truncates: that must raise, never pass for the whole list.
    monkeypatch.setattr(directory, "PAGE_SIZE", None)
    with pytest.raises(DirectoryUnavailableError, match="sizeLimitExceeded"):
        list_users(settings)


def test_list_users_needs_the_username_attribute_in_the_filter(settings: Settings) -> None:
    with pytest.raises(DirectoryUnavailableError, match="username attribute"):
        list_users(settings.model_copy(update={"ldap_user_filter": "(cn=fixed)"}))


def test_username_attribute() -> None:
    assert username_attribute("(uid={username})") == "uid"
    assert username_attribute("(&(objectClass=user)(sAMAccountName={username}))") == (
        "sAMAccountName"
    )
    assert username_attribute("( mail = {username} )") == "mail"
    assert username_attribute("(cn=fixed)") is None


def test_normalize_dn() -> None:
    # member values and the server's own DNs may spell one entry differently
    same = ["cn=Smith\\, John,ou=People,dc=e200", "CN=Smith\\2C John, OU=people, DC=E200"]
    assert normalize_dn(same[0]) == normalize_dn(same[1]) == "cn=smith\\, john,ou=people,dc=e200"
    assert normalize_dn("cn=J\\C3\\BCrgen,dc=x") == normalize_dn("cn=Jürgen,dc=x")
    assert normalize_dn("cn=a\\,ou=b") != normalize_dn("cn=a,ou=b")


# --- the directory cannot answer -------------------------------------------------------------


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_directory_raises_quickly_naming_the_url(
    slapd_server: SlapdServer,
) -> None:
    url = f"ldap://127.0.0.1:{closed_port()}"
    settings = make_settings(slapd_server, ldap_url=url)
    for call in (
        lambda: authenticate(settings, "alice", "alice-password"),
        lambda: list_users(settings),
    ):
        started = time.monotonic()
        with pytest.raises(DirectoryUnavailableError) as info:
            call()
        assert time.monotonic() - started < 2
        assert f"directory {url} unreachable" in str(info.value)


def test_silent_directory_times_out(slapd_server: SlapdServer) -> None:
    # Accepts the TCP connection (listen backlog) but never answers the bind.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        settings = make_settings(slapd_server, ldap_url=url, ldap_timeout_s=1)
        started = time.monotonic()
        with pytest.raises(DirectoryUnavailableError, match=url):
            authenticate(settings, "alice", "alice-password")
        assert time.monotonic() - started < 4


def test_wrong_service_account_password_raises(slapd_server: SlapdServer) -> None:
    settings = make_settings(slapd_server, ldap_bind_password="not-the-password")
    with pytest.raises(DirectoryUnavailableError, match="service account") as info:
        authenticate(settings, "alice", "alice-password")
    assert slapd_server.url in str(info.value)
    with pytest.raises(DirectoryUnavailableError, match="service account"):
        list_users(settings)


def test_missing_search_base_raises(slapd_server: SlapdServer) -> None:
    settings = make_settings(slapd_server, ldap_user_base="ou=nowhere,dc=e200,dc=test")
    with pytest.raises(DirectoryUnavailableError, match="noSuchObject"):
        authenticate(settings, "alice", "alice-password")


def test_no_directory_configured(slapd_server: SlapdServer) -> None:
    with pytest.raises(DirectoryUnavailableError, match="ldap_url"):
        authenticate(make_settings(slapd_server, ldap_url=None), "alice", "alice-password")

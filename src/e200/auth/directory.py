"""Users and groups from an LDAP directory or Active Directory (ldap3); no database here.

``authenticate`` checks one login against the directory; ``list_users`` reads every user for the
sync. Both return :class:`ExternalIdentity`; mapping groups to roles happens elsewhere. A
directory that cannot be reached or refuses the service account raises
:class:`DirectoryUnavailableError`, so callers can still let local accounts in.
"""

from __future__ import annotations

import math
import re
import ssl
import string
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPResponseTimeoutError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from e200.auth.identity import DirectoryUnavailableError, ExternalIdentity
from e200.config import Settings

__all__ = ["PAGE_SIZE", "authenticate", "list_users", "normalize_dn", "username_attribute"]

# Entries per page of a search: below AD's default MaxPageSize (1000), which caps pages anyway.
PAGE_SIZE = 500
_PAGED_RESULTS = "1.2.840.113556.1.4.319"  # RFC 2696 simple paged results control
_SUCCESS = 0
# Bind results that mean "the directory cannot answer now", not "wrong password".
_BIND_UNAVAILABLE = {51, 52, 80}  # busy, unavailable, other
_PERSON_ATTRIBUTES = ("cn", "displayName", "mail")
_MEMBER_ATTRIBUTES = ("member", "uniqueMember")
# Every group with at least one member; list_users maps memberships in Python from these.
_ALL_GROUPS_FILTER = "(|(member=*)(uniqueMember=*))"
_USERNAME_IN_FILTER = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*\{username\}\s*\)")
# uniqueMember values may end in an optional "#'0101'B" bit-string UID (RFC 4517).
_UNIQUE_MEMBER_UID = re.compile(r"#'[01]*'B$")
_DN_SPECIAL = re.compile(r'[\\,+"<>;=]')


def authenticate(settings: Settings, username: str, password: str) -> ExternalIdentity | None:
    """The directory's identity of ``username`` if ``password`` is right, else None.

    Raises DirectoryUnavailableError when the directory cannot be asked (unreachable, timeout,
    service account refused, search base missing)."""
    # An empty password makes a simple bind "unauthenticated": servers report success
    # without checking anything (RFC 4513 5.1.2), so it must never reach the bind.
    if not username or not password:
        return None
    url = _url(settings)
    user_filter = settings.ldap_user_filter.format(username=escape_filter_chars(username))
    attribute = username_attribute(settings.ldap_user_filter)
    attributes = [*_PERSON_ATTRIBUTES, *([attribute] if attribute else [])]
    with _service_connection(settings, url) as conn:
        entries = _search(conn, url, settings.ldap_user_base, user_filter, attributes)
        # Unknown user, or a filter that matches several entries: never guess which one.
        if len(entries) != 1:
            return None
        dn, attrs = entries[0]
        if not _password_ok(settings, url, dn, password):
            return None
        groups: list[tuple[str, str | None]] = []
        # No group base configured: no groups (a search from the root DSE finds none anyway).
        if settings.ldap_group_base:
            group_filter = settings.ldap_group_filter.format(user_dn=escape_filter_chars(dn))
            for group_dn, group_attrs in _search(
                conn, url, settings.ldap_group_base, group_filter, ["cn"]
            ):
                groups.append((group_dn, _first(group_attrs, "cn")))
    # The directory's spelling of the name (AD matches sAMAccountName case-insensitively).
    values = _values(attrs, attribute) if attribute else []
    canonical = next((v for v in values if v.casefold() == username.casefold()), username)
    return _identity(dn, canonical, attrs, groups)


def list_users(settings: Settings) -> list[ExternalIdentity]:
    """Every user matching ``ldap_all_users_filter`` under ``ldap_user_base``, with direct group
    memberships (member/uniqueMember of groups under ``ldap_group_base``), sorted by username.

    Entries without the username attribute are left out (they cannot log in). Raises
    DirectoryUnavailableError as :func:`authenticate`, also when the directory would only give
    part of the list (size or time limit; a partial list would look like deleted users) and
    when ``ldap_user_filter`` names no username attribute."""
    url = _url(settings)
    attribute = username_attribute(settings.ldap_user_filter)
    if attribute is None:  # a configuration error, reported like the directory being down
        raise DirectoryUnavailableError(
            f"cannot find the username attribute in ldap_user_filter "
            f"{settings.ldap_user_filter!r}; expected a term like (uid={{username}})"
        )
    with _service_connection(settings, url) as conn:
        # One search of all groups, then a dictionary: one query per user would be N round trips.
        groups_of: dict[str, list[tuple[str, str | None]]] = {}
        if settings.ldap_group_base:
            group_entries = _search(
                conn,
                url,
                settings.ldap_group_base,
                _ALL_GROUPS_FILTER,
                ["cn", *_MEMBER_ATTRIBUTES],
            )
            for group_dn, group_attrs in group_entries:
                group = (group_dn, _first(group_attrs, "cn"))
                for name in _MEMBER_ATTRIBUTES:
                    for member in _values(group_attrs, name):
                        member_dn = _UNIQUE_MEMBER_UID.sub("", member)
                        groups_of.setdefault(normalize_dn(member_dn), []).append(group)
        user_entries = _search(
            conn,
            url,
            settings.ldap_user_base,
            settings.ldap_all_users_filter,
            [attribute, *_PERSON_ATTRIBUTES],
        )
    users = []
    for dn, attrs in user_entries:
        username = _first(attrs, attribute)
        if username:
            users.append(_identity(dn, username, attrs, groups_of.get(normalize_dn(dn), [])))
    return sorted(users, key=lambda user: user.username.casefold())


def username_attribute(user_filter: str) -> str | None:
    """The attribute compared with ``{username}`` in a user filter: ``uid`` in
    ``(uid={username})``, ``sAMAccountName`` in ``(&(objectClass=user)(sAMAccountName=...))``."""
    match = _USERNAME_IN_FILTER.search(user_filter)
    return match.group(1) if match else None


# --- connections ---------------------------------------------------------------------------


def _url(settings: Settings) -> str:
    if not settings.ldap_url:
        raise DirectoryUnavailableError("no directory configured (ldap_url is unset)")
    # ldap3 rejects "ldap://host:389/" (it reads the slash as part of the port).
    return settings.ldap_url.rstrip("/")


@contextmanager
def _errors_as_unavailable(url: str) -> Iterator[None]:
    """Turn ldap3's and the socket's exceptions into DirectoryUnavailableError naming the URL."""
    try:
        yield
    except (LDAPCommunicationError, LDAPResponseTimeoutError, OSError) as exc:
        raise DirectoryUnavailableError(f"directory {url} unreachable: {exc}") from exc
    except LDAPException as exc:
        raise DirectoryUnavailableError(f"directory {url}: {type(exc).__name__}: {exc}") from exc


def _connection(settings: Settings, url: str, user: str | None, password: str | None) -> Any:
    # get_info=NONE: no schema/root DSE read on every login. For ldaps:// check the server's
    # certificate and name against the system CAs (ldap3 checks nothing by default).
    server = Server(
        url,
        connect_timeout=settings.ldap_timeout_s,
        get_info=NONE,
        tls=Tls(validate=ssl.CERT_REQUIRED),
    )
    return Connection(
        server,
        user=user,
        password=password,
        # Whole seconds: on Linux ldap3 packs this into SO_RCVTIMEO as an integer.
        receive_timeout=max(1, math.ceil(settings.ldap_timeout_s)),
        # AD answers with referrals to other partitions; following them hangs or fails.
        auto_referrals=False,
        raise_exceptions=False,
        read_only=True,
    )


@contextmanager
def _service_connection(settings: Settings, url: str) -> Iterator[Any]:
    """A connection bound as the service account, or anonymously when none is configured."""
    with _errors_as_unavailable(url):
        conn = _connection(settings, url, settings.ldap_bind_dn, settings.ldap_bind_password)
        try:
            if not conn.bind():
                who = settings.ldap_bind_dn or "anonymous"
                raise DirectoryUnavailableError(
                    f"directory {url}: service account bind as {who} failed: "
                    f"{_describe(conn.result)}"
                )
            yield conn
        finally:
            conn.unbind()


def _password_ok(settings: Settings, url: str, dn: str, password: str) -> bool:
    with _errors_as_unavailable(url):
        conn = _connection(settings, url, dn, password)
        try:
            if conn.bind():
                return True
            if conn.result.get("result") in _BIND_UNAVAILABLE:
                raise DirectoryUnavailableError(
                    f"directory {url}: cannot check the password: {_describe(conn.result)}"
                )
            return False  # invalidCredentials, or account disabled/locked/expired
        finally:
            conn.unbind()


def _search(
    conn: Any, url: str, base: str, search_filter: str, attributes: Sequence[str]
) -> list[tuple[str, Mapping[str, Any]]]:
    """Every entry of a subtree search as (dn, attributes), fetched in pages; any result other
    than success raises, so a truncated answer never passes for a complete one."""
    entries: list[tuple[str, Mapping[str, Any]]] = []
    cookie: bytes | None = None
    with _errors_as_unavailable(url):
        while True:
            conn.search(
                base,
                search_filter,
                SUBTREE,
                attributes=list(attributes),
                paged_size=PAGE_SIZE,
                paged_cookie=cookie,
            )
            result = conn.result
            if result.get("result") != _SUCCESS:
                raise DirectoryUnavailableError(
                    f"directory {url}: search of {base!r} with {search_filter!r} failed: "
                    f"{_describe(result)}"
                )
            # searchResRef entries are continuation references (AD); they hold no user.
            for item in conn.response or []:
                if item.get("type") == "searchResEntry":
                    entries.append((item["dn"], item["attributes"]))
            control = (result.get("controls") or {}).get(_PAGED_RESULTS) or {}
            cookie = (control.get("value") or {}).get("cookie")
            if not cookie:  # last page, or a server without paging that sent everything
                return entries


def _describe(result: Mapping[str, Any]) -> str:
    text = str(result.get("description") or f"result {result.get('result')}")
    message = result.get("message")
    return f"{text} ({message})" if message else text


# --- entries -------------------------------------------------------------------------------


def _values(attrs: Mapping[str, Any], name: str) -> list[str]:
    """An attribute's values as strings; ldap3 gives a list, or one value for attributes it
    knows to be single-valued."""
    value = attrs.get(name)
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        for item in items
        if item not in (None, "", b"")
    ]


def _first(attrs: Mapping[str, Any], name: str) -> str | None:
    values = _values(attrs, name)
    return values[0] if values else None


def normalize_dn(dn: str) -> str:
    """A DN in one spelling for comparisons: escapes decoded then only the specials re-escaped,
    case folded, no spaces around separators. Servers may return ``cn=Smith\\2C John`` for an
    entry that member values spell ``CN=Smith\\, John``: both give ``cn=smith\\, john``."""
    try:
        parts = parse_dn(dn, strip=True)
    except LDAPException:
        return dn.casefold()
    rdns = []
    for attr, value, sep in parts:
        escaped = _DN_SPECIAL.sub(r"\\\g<0>", _unescape_dn_value(value).casefold())
        rdns.append(f"{attr.casefold()}={escaped}{sep}")
    return "".join(rdns)


def _unescape_dn_value(value: str) -> str:
    # RFC 4514: "\\" + one special character, or "\\" + two hex digits (one UTF-8 byte).
    raw = bytearray()
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in string.hexdigits for c in pair):
                raw.append(int(pair, 16))
                i += 3
                continue
            char = value[i + 1]
            i += 1
        raw += char.encode()
        i += 1
    return raw.decode("utf-8", "replace")


def _identity(
    dn: str,
    username: str,
    attrs: Mapping[str, Any],
    groups: Sequence[tuple[str, str | None]],
) -> ExternalIdentity:
    names: dict[str, None] = {}  # ordered set: each group's DN, then its cn
    for group_dn, cn in sorted(groups, key=lambda group: group[0].casefold()):
        names[group_dn] = None
        if cn:
            names[cn] = None
    return ExternalIdentity(
        source="ldap",
        username=username,
        display_name=_first(attrs, "displayName") or _first(attrs, "cn"),
        email=_first(attrs, "mail"),
        groups=tuple(names),
        external_id=dn,
    )

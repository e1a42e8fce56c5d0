"""A real OpenLDAP ``slapd`` for tests: own config, data and port, seeded with people and groups.

    server = start_slapd()        # ~0.1 s; RuntimeError with slapd's log when it cannot start
    server.add_user("zoe", "zoe-password", groups=("dispatchers",))
    server.delete_user("zoe")
    server.stop()                 # terminates slapd and removes its folder

Listens on 127.0.0.1 only. The service account is an ordinary entry, not the rootdn, so the
size limits and access rules below apply to E200's searches as they would in production.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ldap3 import MODIFY_ADD, MODIFY_DELETE, Connection, Server

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
LOCALHOST = "127.0.0.1"

SUFFIX = "dc=e200,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
SERVICE_DN = f"cn=e200-service,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service-secret"
USER_BASE = f"ou=people,{SUFFIX}"
GROUP_BASE = f"ou=groups,{SUFFIX}"
# groupOfNames requires a member; this placeholder lets a group outlive its last real member.
NOBODY_DN = f"cn=nobody,{SUFFIX}"

# A small limit for unpaged searches (an unpaged search of more than SIZE_LIMIT entries fails
# with sizeLimitExceeded, so missing paging shows in tests) and AD's default MaxPageSize for
# pages, with no limit on a paged search's total (as AD).
SIZE_LIMIT = 20
PAGE_LIMIT = 1000

SLAPD_CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
pidfile {workdir}/slapd.pid
argsfile {workdir}/slapd.args
modulepath {modules}
moduleload back_mdb
sizelimit size.soft={size_limit} size.hard={size_limit} size.pr={page_limit} size.prtotal=unlimited

database mdb
maxsize 67108864
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {workdir}/data
index objectClass eq
index uid,cn eq
index member,uniqueMember eq
# Users bind with their password but nobody reads it; everything else is readable, also
# anonymously (E200 binds anonymously when no service account is configured).
access to attrs=userPassword
    by anonymous auth
    by self auth
    by * none
access to *
    by * read
"""

# (uid, password, display name or None, mail or None, group cns)
SEED_USERS: tuple[tuple[str, str, str | None, str | None, tuple[str, ...]], ...] = (
    ("alice", "alice-password", "Alice Dispatcher", "alice@e200.test", ("dispatchers",)),
    ("bob", "bob-password", "Bob Lineloss", "bob@e200.test", ("lineloss",)),
    ("carol", "carol-password", "Carol Admin", "carol@e200.test", ("admins", "dispatchers")),
    ("dave", "dave-password", None, None, ()),  # no displayName, no mail: cn is the name
)
SEED_GROUPS = ("dispatchers", "lineloss", "admins")
# A user whose DN is not built from the uid and holds filter metacharacters: group lookups
# must escape the DN, not just the username.
ODD_UID = "jsmith"
ODD_PASSWORD = "jsmith-password"
ODD_DN = f"cn=Smith\\, John (ops*),{USER_BASE}"


def _user_dn(uid: str) -> str:
    return f"uid={uid},{USER_BASE}"


def _group_dn(cn: str) -> str:
    return f"cn={cn},{GROUP_BASE}"


def _user_ldif(
    dn: str, uid: str, cn: str, password: str, name: str | None, mail: str | None
) -> str:
    lines = [
        f"dn: {dn}",
        "objectClass: inetOrgPerson",
        f"uid: {uid}",
        f"cn: {cn}",
        f"sn: {cn.split()[-1]}",
        f"userPassword: {password}",
    ]
    if name:
        lines.append(f"displayName: {name}")
    if mail:
        lines.append(f"mail: {mail}")
    return "\n".join(lines) + "\n\n"


def seed_ldif() -> str:
    """The directory every server starts with."""
    parts = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: e200\no: E200\n\n",
        f"dn: {NOBODY_DN}\nobjectClass: organizationalRole\ncn: nobody\n\n",
        f"dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n\n",
        f"dn: {SERVICE_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n"
        f"cn: e200-service\nuserPassword: {SERVICE_PASSWORD}\n\n",
        f"dn: {USER_BASE}\nobjectClass: organizationalUnit\nou: people\n\n",
        f"dn: {GROUP_BASE}\nobjectClass: organizationalUnit\nou: groups\n\n",
    ]
    members: dict[str, list[str]] = {cn: [NOBODY_DN] for cn in SEED_GROUPS}
    for uid, password, name, mail, groups in SEED_USERS:
        parts.append(_user_ldif(_user_dn(uid), uid, uid.title(), password, name, mail))
        for cn in groups:
            members[cn].append(_user_dn(uid))
    parts.append(_user_ldif(ODD_DN, ODD_UID, "Smith, John (ops*)", ODD_PASSWORD, None, None))
    members["lineloss"].append(ODD_DN)
    for cn, dns in members.items():
        member_lines = "".join(f"member: {dn}\n" for dn in dns)
        parts.append(f"dn: {_group_dn(cn)}\nobjectClass: groupOfNames\ncn: {cn}\n{member_lines}\n")
    return "".join(parts)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class SlapdServer:
    """A running slapd, its service account, and helpers to change its people."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes]
    bind_dn: str = SERVICE_DN
    bind_password: str = SERVICE_PASSWORD
    user_base: str = USER_BASE
    group_base: str = GROUP_BASE
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"ldap://{LOCALHOST}:{self.port}"

    def settings_kwargs(self) -> dict[str, Any]:
        """The ``ldap_*`` fields of Settings for this server: ``Settings(**kw, ...)``."""
        return {
            "ldap_url": self.url,
            "ldap_bind_dn": self.bind_dn,
            "ldap_bind_password": self.bind_password,
            "ldap_user_base": self.user_base,
            "ldap_user_filter": "(uid={username})",
            "ldap_all_users_filter": "(objectClass=inetOrgPerson)",
            "ldap_group_base": self.group_base,
            "ldap_group_filter": "(|(member={user_dn})(uniqueMember={user_dn}))",
            "ldap_timeout_s": 5.0,
        }

    def admin(self) -> Connection:
        """A connection bound as the rootdn (bypasses limits and access rules)."""
        conn = Connection(
            Server(self.url, connect_timeout=5), ROOT_DN, ROOT_PASSWORD, receive_timeout=5
        )
        if not conn.bind():
            raise RuntimeError(f"rootdn bind to {self.url} failed: {conn.result}")
        return conn

    def add_user(
        self,
        uid: str,
        password: str,
        groups: Iterable[str] = (),
        display_name: str | None = None,
        mail: str | None = None,
    ) -> str:
        """Add ``uid=<uid>,ou=people`` and make it a member of ``groups`` (cns; a missing group
        is created). Returns the user's DN."""
        dn = _user_dn(uid)
        attributes: dict[str, Any] = {"uid": uid, "cn": uid, "sn": uid, "userPassword": password}
        if display_name:
            attributes["displayName"] = display_name
        if mail:
            attributes["mail"] = mail
        conn = self.admin()
        try:
            if not conn.add(dn, ["inetOrgPerson"], attributes):
                raise RuntimeError(f"adding {dn} failed: {conn.result}")
            for cn in groups:
                if conn.modify(_group_dn(cn), {"member": [(MODIFY_ADD, [dn])]}):
                    continue
                if conn.result["result"] != 32:  # 32 noSuchObject: create the group
                    raise RuntimeError(f"adding {dn} to {cn} failed: {conn.result}")
                if not conn.add(_group_dn(cn), ["groupOfNames"], {"cn": cn, "member": [dn]}):
                    raise RuntimeError(f"creating group {cn} failed: {conn.result}")
        finally:
            conn.unbind()
        return dn

    def delete_user(self, uid: str) -> None:
        """Remove the user and its group memberships (there is no referential integrity)."""
        dn = _user_dn(uid)
        conn = self.admin()
        try:
            conn.search(GROUP_BASE, f"(member={dn})", attributes=["cn"])
            for entry in list(conn.response or []):
                if entry.get("type") == "searchResEntry":
                    conn.modify(entry["dn"], {"member": [(MODIFY_DELETE, [dn])]})
            if not conn.delete(dn) and conn.result["result"] != 32:
                raise RuntimeError(f"deleting {dn} failed: {conn.result}")
        finally:
            conn.unbind()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return (self.workdir / "slapd.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_slapd(timeout_s: float = 10.0) -> SlapdServer:
    """Write a config, load the seed LDIF offline with slapadd, start slapd on a free port and
    wait until it answers."""
    workdir = Path(tempfile.mkdtemp(prefix="e200-slapd-"))
    try:
        (workdir / "data").mkdir()
        conf = workdir / "slapd.conf"
        conf.write_text(
            SLAPD_CONF.format(
                schema=SCHEMA_DIR,
                modules=MODULE_DIR,
                workdir=workdir,
                suffix=SUFFIX,
                root_dn=ROOT_DN,
                root_password=ROOT_PASSWORD,
                size_limit=SIZE_LIMIT,
                page_limit=PAGE_LIMIT,
            )
        )
        ldif = workdir / "seed.ldif"
        ldif.write_text(seed_ldif())
        # slapadd writes the database directly: faster than ldapadd and needs no server yet.
        load = subprocess.run(
            [str(SLAPADD), "-f", str(conf), "-l", str(ldif)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if load.returncode != 0:
            raise RuntimeError(f"slapadd failed ({load.returncode}):\n{load.stderr[-2000:]}")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise

    port = _free_port()
    log = (workdir / "slapd.log").open("wb")
    # -d keeps slapd in the foreground (a child we can terminate); level 0 logs only errors.
    proc = subprocess.Popen(
        [str(SLAPD), "-f", str(conf), "-h", f"ldap://{LOCALHOST}:{port}", "-d", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
    )
    server = SlapdServer(port, workdir, proc, _log=log)
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and not _port_open(port):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    if proc.poll() is not None or not _port_open(port):
        tail = server.log_tail()
        server.stop()
        raise RuntimeError(f"slapd did not start on port {port} within {timeout_s} s:\n{tail}")
    return server

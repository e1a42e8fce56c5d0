"""Users and sign-on: local accounts, LDAP/AD and OIDC, sessions, bearer tokens and API keys,
roles of named permissions, org-unit data scope, and the append-only audit log."""

from e200.auth import audit
from e200.auth.accounts import ADMIN_USERNAME, ensure_admin
from e200.auth.api import SESSION_COOKIE, resolve_principal, router, source_ip, sso_router
from e200.auth.credentials import purge_expired
from e200.auth.login import SyncResult, sync_directory
from e200.auth.passwords import hash_password
from e200.auth.roles import BUILTIN_ROLES
from e200.auth.tables import metadata

__all__ = [
    "ADMIN_USERNAME",
    "BUILTIN_ROLES",
    "SESSION_COOKIE",
    "SyncResult",
    "audit",
    "ensure_admin",
    "hash_password",
    "metadata",
    "purge_expired",
    "resolve_principal",
    "router",
    "source_ip",
    "sso_router",
    "sync_directory",
]

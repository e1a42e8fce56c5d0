"""Users and sign-on: local accounts, LDAP/AD and OIDC, sessions, bearer tokens and API keys,
roles of named permissions, org-unit data scope, and the append-only audit log."""

from e200.auth import audit
from e200.auth.accounts import (
    ADMIN_USERNAME,
    STATUSES,
    change_own_password,
    create_role,
    create_user,
    delete_role,
    ensure_admin,
    get_user,
    list_roles,
    list_users,
    manageable_user_ids,
    reset_password,
    unlock_user,
    update_role,
    update_user,
    user_by_id,
)
from e200.auth.api import SESSION_COOKIE, resolve_principal, router, source_ip, sso_router
from e200.auth.credentials import (
    create_api_key,
    list_api_keys,
    principal_from_credentials,
    purge_expired,
    revoke_api_key,
)
from e200.auth.jobs import JOBS
from e200.auth.login import SyncResult, sync_directory
from e200.auth.passwords import hash_password
from e200.auth.roles import BUILTIN_ROLES
from e200.auth.tables import metadata

__all__ = [
    "ADMIN_USERNAME",
    "BUILTIN_ROLES",
    "JOBS",
    "SESSION_COOKIE",
    "STATUSES",
    "SyncResult",
    "audit",
    "change_own_password",
    "create_api_key",
    "create_role",
    "create_user",
    "delete_role",
    "ensure_admin",
    "get_user",
    "hash_password",
    "list_api_keys",
    "list_roles",
    "list_users",
    "manageable_user_ids",
    "metadata",
    "principal_from_credentials",
    "purge_expired",
    "reset_password",
    "resolve_principal",
    "revoke_api_key",
    "router",
    "source_ip",
    "sso_router",
    "sync_directory",
    "unlock_user",
    "update_role",
    "update_user",
    "user_by_id",
]

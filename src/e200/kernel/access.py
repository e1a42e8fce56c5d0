"""Who is asking and what they may do: named permissions and the signed-in principal.

The auth slice decides both; every other slice only reads them (routes declare the permission
they need, services filter with the principal's ``Scope``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from e200.kernel.scope import Scope


class Permission(StrEnum):
    """Named operations. Roles are sets of these (docs/auth.md has the matrix)."""

    VIEW_DATA = "view_data"
    ACKNOWLEDGE_ALARMS = "acknowledge_alarms"
    SEND_COMMANDS = "send_commands"
    IMPORT_ARCHIVES = "import_archives"
    EDIT_ARCHIVES = "edit_archives"
    MANAGE_THRESHOLDS = "manage_thresholds"
    MANAGE_USERS = "manage_users"
    EXPORT_DATA = "export_data"
    MANAGE_INTEGRATIONS = "manage_integrations"
    INGEST_DATA = "ingest_data"  # gateways and integration clients posting readings
    MANAGE_JOBS = "manage_jobs"  # see background jobs and run a periodic one now


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in user (console session, bearer token or API key) as one request sees it."""

    user_id: int
    username: str
    permissions: frozenset[Permission]
    scope: Scope
    via: str  # "session", "token" or "api_key"
    must_change_password: bool = False
    credential_id: int | None = None  # the session's or API key's id

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

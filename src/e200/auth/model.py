"""Request and response bodies of the auth routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Username = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class TokenOut(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'.")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    idle_timeout_minutes: float
    must_change_password: bool


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1000)


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(
        min_length=1,
        max_length=1000,
        description="Temporary; the user must change it at the next login.",
    )


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Username
    password: str = Field(min_length=1, max_length=1000)
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    roles: list[str] = Field(default_factory=list)
    org_units: list[str] = Field(
        default_factory=list, description="Org unit codes; the user sees their subtrees."
    )
    scope_all: bool = False


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    status: Literal["active", "disabled", "retired"] | None = None
    roles: list[str] | None = None
    org_units: list[str] | None = None
    scope_all: bool | None = None
    must_change_password: bool | None = None


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str | None
    email: str | None
    status: str
    source: str
    scope_all: bool
    must_change_password: bool
    locked: bool
    locked_until: datetime | None
    failed_logins: int
    last_login_at: datetime | None
    created_at: datetime
    roles: list[str]
    org_units: list[str]


class MeOut(UserOut):
    permissions: list[str]
    via: str


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    description: str | None = Field(default=None, max_length=500)
    permissions: list[str]


class RolePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(default=None, max_length=500)
    permissions: list[str] | None = None


class RoleOut(BaseModel):
    name: str
    description: str
    permissions: list[str]
    builtin: bool
    users: int


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="Shown once. Send as 'X-API-Key: <key>' or a bearer token.")


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str | None
    actor_user_id: int | None
    action: str
    target: str | None
    outcome: str
    source_ip: str | None
    detail: dict[str, object] | None


class AuditPage(BaseModel):
    total: int
    items: list[AuditEventOut]


class SsoOptions(BaseModel):
    local: bool = True
    ldap: bool
    oidc: bool
    oidc_label: str

"""One Settings object for the whole system.

Sources, strongest first: keyword arguments, environment variables (prefix ``E200_``), the TOML
file named by ``E200_CONFIG``, then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class GroupMapping(BaseModel):
    """What membership of one directory group (LDAP group DN or cn, OIDC group claim) grants."""

    roles: list[str] = Field(default_factory=list, description="E200 role names")
    org_units: list[str] = Field(
        default_factory=list, description="Org unit codes whose subtrees the member may see"
    )
    all_org_units: bool = Field(default=False, description="The whole grid (head office)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="E200_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="External PostgreSQL >= 15 (postgresql://user:pw@host:port/db). When unset, "
        "E200 starts its embedded PostgreSQL with data under data_dir.",
    )
    data_dir: Path = Field(
        default=Path("var"),
        description="Where E200 keeps its state: embedded PostgreSQL cluster, secrets, logs.",
    )
    embedded_pg_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="TCP port of the embedded PostgreSQL on 127.0.0.1; 0 picks a free one.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API and console listen on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of the API and console.")
    timezone: str = Field(
        default="UTC",
        description="The utility's local time zone (IANA name); daily and monthly figures use it.",
    )
    load_demo_grid: bool = Field(
        default=True, description="`e200 up` loads the demo grid when the archive is empty."
    )
    demo_live: bool = Field(
        default=True, description="`e200 up` runs the grid simulator live on the demo grid."
    )
    demo_history_days: float = Field(
        default=7, ge=0, le=60, description="Days of simulated history for a new demo archive."
    )
    offline_after_intervals: int = Field(
        default=3, ge=1, description="A terminal is offline after k reporting intervals silent."
    )
    ingest_future_tolerance_s: int = Field(
        default=300, ge=0, description="Readings stamped later than now + this are rejected."
    )
    register_tolerance_kwh: float = Field(
        default=0.01, ge=0, description="How far an energy register may run backwards (kWh)."
    )
    retention_days: int = Field(
        default=400, ge=7, description="Readings older than this are refused and dropped."
    )
    iot_mapping_file: Path | None = Field(
        default=None,
        description="TOML mapping of IoT platform products' property names to E200 quantities.",
    )
    # --- users and sign-on (docs/auth.md) ---
    password_min_length: int = Field(default=10, ge=8, description="Local passwords' length.")
    lockout_after_failures: int = Field(
        default=5, ge=1, description="Failed logins in a row that lock a local account."
    )
    lockout_minutes: float = Field(default=15, gt=0, description="How long a lockout lasts.")
    session_idle_minutes: float = Field(
        default=30, gt=0, description="A console session or bearer token ends after this idle."
    )
    session_absolute_hours: float = Field(
        default=12, gt=0, description="A console session or bearer token ends after this at most."
    )
    login_rate_per_address: int = Field(
        default=30, ge=1,
        description="Sign-in attempts (login and token) one source address may make per window.",
    )  # fmt: skip
    login_rate_per_username: int = Field(
        default=10, ge=1, description="Sign-in attempts at one user name per window, from anywhere."
    )
    login_rate_window_s: int = Field(
        default=60, ge=1, le=86_400, description="The sign-in rate limit's window, in seconds."
    )
    cookie_secure: Literal["auto", "always"] = Field(
        default="auto",
        description="'always' marks session cookies Secure; 'auto' when the request is HTTPS.",
    )
    ldap_url: str | None = Field(
        default=None, description="Directory (AD/OpenLDAP), e.g. ldaps://dc1.example.org:636"
    )
    ldap_bind_dn: str | None = Field(
        default=None, description="Service account that searches users and groups (and syncs)."
    )
    ldap_bind_password: str | None = None
    ldap_user_base: str = Field(default="", description="Search base of user entries.")
    ldap_user_filter: str = Field(
        default="(uid={username})",
        description="Finds one user; AD: (sAMAccountName={username}).",
    )
    ldap_all_users_filter: str = Field(
        default="(objectClass=inetOrgPerson)",
        description="Users the sync considers; AD: (&(objectClass=user)(objectCategory=person))",
    )
    ldap_group_base: str = Field(default="", description="Search base of group entries.")
    ldap_group_filter: str = Field(
        default="(|(member={user_dn})(uniqueMember={user_dn}))",
        description="Groups a user belongs to.",
    )
    ldap_timeout_s: float = Field(default=5, gt=0, description="Connect and operation timeout.")
    ldap_group_mappings: dict[str, GroupMapping] = Field(
        default_factory=dict, description="Directory group (DN or cn) -> roles and org units."
    )
    oidc_issuer: str | None = Field(
        default=None, description="OpenID provider (portal/OA), e.g. https://sso.example.org"
    )
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid profile email"
    oidc_username_claim: str = "preferred_username"
    oidc_groups_claim: str = "groups"
    oidc_display_name: str = Field(default="Single sign-on", description="Login button label.")
    oidc_group_mappings: dict[str, GroupMapping] = Field(
        default_factory=dict, description="Value of the groups claim -> roles and org units."
    )
    # --- process roles and background jobs (docs/operations.md) ---
    commands_url: str | None = Field(
        default=None,
        description="Where downlink commands go (kafka://host:port, mqtt://host:port); workers "
        "with it run the command dispatch job. `e200 up`: the in-process bus.",
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=64,
        description="Jobs one worker runs at once (a long import never holds up the offline "
        "check).",
    )  # fmt: skip
    worker_heartbeat_s: float = Field(
        default=10, gt=0, description="How often a worker tells PostgreSQL it is alive."
    )
    worker_stalled_after_s: float = Field(
        default=60, gt=0,
        description="A worker silent this long is dead: its running jobs go to another worker.",
    )  # fmt: skip
    job_schedules: dict[str, str] = Field(
        default_factory=dict,
        description="Per-installation cron of periodic jobs, by job name (UTC; six fields for "
        'seconds), e.g. {"quality.recompute": "*/5 * * * *"}.',
    )
    job_history_days: float = Field(
        default=3, gt=0, description="Finished jobs kept this long in the job history."
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="`e200 ingest` / `e200 worker`: serve Prometheus metrics on this port.",
    )  # fmt: skip
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool | None = Field(
        default=None, description="JSON log lines; default: JSON unless stderr is a terminal."
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("E200_CONFIG")
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"E200_CONFIG names {path}, which is not a file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

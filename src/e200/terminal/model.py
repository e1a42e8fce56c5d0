"""What the meter-list and consistency routes accept and return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from e200.archives import Phase

TTL = Field(default=900, ge=30, le=86_400, description="The sync command expires without answer.")
VALID_FROM = Field(default=None, description="When the change takes effect (default now).")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CommandOut(BaseModel):
    """A downlink command and its state: pending → sent → acked | failed | expired."""

    id: str
    terminal: str
    kind: str
    params: dict[str, Any]
    status: str
    attempts: int
    created_at: datetime
    created_by: str | None
    next_attempt_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    closed_at: datetime | None
    result: Any = None
    error: str | None


class AreaMeter(BaseModel):
    asset_number: str
    customer_account: str | None
    phase: str | None
    status: str
    valid_from: datetime
    on_terminal: bool | None = Field(
        description="In the terminal's last reported list (None: it never reported one)."
    )


class ReportedList(BaseModel):
    ts: datetime = Field(description="The terminal's time of the list.")
    received_at: datetime
    meters: list[str]
    phases: dict[str, str] | None = None
    version: str = Field(description="Identifies this list; an adopt names the one reviewed.")


class MeterListOut(BaseModel):
    """A terminal's station area now (the archive) and what the terminal last reported."""

    terminal: str
    transformer: str | None
    org_unit: str | None
    at: datetime
    meters: list[AreaMeter]
    reported: ReportedList | None
    last_sync: CommandOut | None = Field(description="The newest meter-list sync command.")


class MeterAttach(_In):
    meter: str = Field(min_length=1, max_length=64, description="Meter asset number.")
    phase: Phase | None = Field(
        default=None, description="A, B or C for single-phase meters; three-phase: ABC."
    )


class MetersAddIn(_In):
    meters: list[MeterAttach] = Field(min_length=1, max_length=1000)
    valid_from: datetime | None = VALID_FROM
    ttl_s: int = TTL


class PhaseIn(_In):
    phase: Phase
    valid_from: datetime | None = VALID_FROM
    ttl_s: int = TTL


class MeterChangeOut(BaseModel):
    """The station area after an effective-dated change, and the sync command carrying it."""

    changed: list[str]
    valid_from: datetime
    area: MeterListOut
    command: CommandOut | None = Field(
        description="The sync_meters command to the terminal (held until valid_from when later)."
    )


MismatchKind = Literal[
    "in_archive_not_on_terminal", "on_terminal_not_in_archive", "on_another_terminal",
    "phase_differs",
]  # fmt: skip


class Mismatch(BaseModel):
    kind: MismatchKind
    meter: str
    archive_phase: str | None = None
    reported_phase: str | None = None
    reported_by: list[str] = Field(
        default_factory=list, description="Other terminals whose list holds the meter."
    )
    in_archive: bool = Field(default=True, description="The meter exists in the archive.")
    archive_transformer: str | None = Field(
        default=None, description="Where the archive puts a meter this terminal reports."
    )
    archive_terminals: list[str] = Field(default_factory=list)
    adopt: Literal["attach", "detach", "set_phase"] | None = Field(
        default=None, description="The change that takes the terminal's view into the archive."
    )


class ConsistencyReport(BaseModel):
    terminal: str
    transformer: str | None
    org_unit: str | None
    checked_at: datetime
    status: Literal["consistent", "mismatch", "never_reported"]
    archive_meters: int
    reported: ReportedList | None
    mismatches: list[Mismatch]
    counts: dict[str, int] = Field(description="Mismatches per kind.")
    last_sync: CommandOut | None


class ConsistencyPage(BaseModel):
    checked: int = Field(description="Terminals checked.")
    consistent: int
    mismatch: int
    never_reported: int
    items: list[ConsistencyReport]
    total: int = Field(description="Reports matching the filter (before paging).")
    limit: int
    offset: int


class PushIn(_In):
    ttl_s: int = TTL


class PushOut(BaseModel):
    command: CommandOut
    report: ConsistencyReport


class AdoptChange(_In):
    meter: str = Field(min_length=1, max_length=64)
    action: Literal["attach", "detach", "set_phase"] = Field(
        description="attach: into this station area; detach: out of it; set_phase: the phase."
    )
    phase: Phase | None = Field(
        default=None, description="For attach and set_phase; default the phase the terminal "
        "reports.",
    )  # fmt: skip


class AdoptIn(_In):
    version: str = Field(min_length=1, max_length=64, description="The reviewed list's version.")
    changes: list[AdoptChange] = Field(min_length=1, max_length=5000)
    valid_from: datetime | None = VALID_FROM
    ttl_s: int = TTL


class AdoptOut(BaseModel):
    applied: list[AdoptChange]
    valid_from: datetime
    report: ConsistencyReport
    command: CommandOut | None

"""What an alarm is, for callers and for the API.

A rule is described as data (``AlarmRule``): its key, default severity and the advice an operator
gets with it. The slice that detects the condition owns the description and passes it with each
raise; the evaluator of the rule catalogue (thresholds, durations, hysteresis) builds on the same
description.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from e200.kernel import BigIntId

Severity = Literal["critical", "major", "minor", "warning"]
State = Literal["active", "acknowledged", "cleared"]
DeviceKind = Literal["terminal", "transformer", "meter"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Advice:
    """What an operator should think of and check when the alarm comes."""

    causes: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"causes": list(self.causes), "checks": list(self.checks)}


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmRule:
    """One rule: ``key`` is what alarms are grouped and deduplicated by (one not-cleared alarm
    per device and key)."""

    key: str
    label: str
    severity: Severity
    device_kind: DeviceKind
    advice: Advice


class AlarmOut(BaseModel):
    id: int
    device_kind: str
    asset_number: str
    rule: str
    severity: str
    state: str
    started_at: datetime
    last_seen_at: datetime
    cleared_at: datetime | None
    duration_s: float = Field(description="Until cleared, or until now while not cleared.")
    peak_value: float | None
    last_value: float | None
    message: str
    advice: dict[str, Any]
    details: dict[str, Any]
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str | None


class AlarmPage(BaseModel):
    items: list[AlarmOut]
    total: int
    limit: int
    offset: int


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    comment: str | None = Field(default=None, max_length=2000)


class AlarmCounts(BaseModel):
    total: int
    by_rule: dict[str, int]
    by_severity: dict[str, int]
    by_state: dict[str, int]


class BulkAcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ids: list[BigIntId] = Field(min_length=1, max_length=1000)
    comment: str | None = Field(default=None, max_length=2000)


class BulkAcknowledgeOut(BaseModel):
    acknowledged: list[int] = Field(description="Acknowledged now")
    already: list[int] = Field(description="Already acknowledged before (left as they were)")
    not_found: list[int] = Field(description="No such alarm in your scope")

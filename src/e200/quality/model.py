"""What the acquisition-quality routes accept and return."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Counts(BaseModel):
    """The counts behind the rates (sums over devices and days) and the rates in percent
    (None when nothing was expected)."""

    meters: int = Field(description="Meter-days that should be read.")
    daily_ok: int = Field(description="Meter-days whose frozen reading arrived by the deadline.")
    expected: int = Field(description="Meter interval points expected.")
    received: int
    on_time: int = Field(description="Received within one reporting interval of the end.")
    late: int
    missing: int
    terminals: int = Field(description="Terminal-days that should report.")
    terminals_online: int = Field(description="Terminal-days online at the end of the day.")
    online_s: float = Field(description="Seconds terminals were online (time-weighted).")
    span_s: float = Field(description="Seconds observed (terminal-days × day length).")
    dt_expected: int = Field(description="Transformer interval points expected.")
    dt_received: int
    dt_on_time: int
    success_rate_pct: float | None
    completeness_rate_pct: float | None
    timeliness_rate_pct: float | None
    online_rate_pct: float | None
    online_time_rate_pct: float | None
    dt_completeness_rate_pct: float | None


class UnitRow(Counts):
    org_unit: str
    name: str
    kind: str
    parent: str | None
    depth: int


class SummaryOut(BaseModel):
    day_from: date
    day_to: date
    days_computed: list[date]
    total: Counts | None = Field(description="Everything in your scope (or under org_unit).")
    units: list[UnitRow] = Field(description="Every org unit in scope, its whole subtree each.")


class DeviceRow(Counts):
    asset_number: str
    kind: Literal["meter", "terminal"]
    org_unit: str | None
    terminal: str | None = None
    interval_min: int


class DevicePage(BaseModel):
    day: date
    total: int
    limit: int
    offset: int
    items: list[DeviceRow]


class MissingOut(BaseModel):
    meter: str
    day: date
    interval_min: int
    expected: int
    received: int
    missing: list[datetime] = Field(description="Interval ends (UTC) with no reading stored.")
    late: list[datetime] = Field(description="Interval ends whose reading arrived late.")
    daily_received_at: datetime | None


class RankedUnit(BaseModel):
    org_unit: str
    name: str
    lost: int = Field(description="Points (or meter-days, terminal-seconds) lost in the unit.")
    rate_drop_pct: float = Field(description="Percentage points this costs the overall rate.")
    rate_pct: float | None = Field(description="The unit's own rate.")


class RankedTerminal(BaseModel):
    terminal: str
    org_unit: str | None
    lost: int
    rate_drop_pct: float
    rate_pct: float | None


class ChronicMisser(BaseModel):
    asset_number: str
    kind: Literal["meter", "terminal"]
    org_unit: str | None
    terminal: str | None
    days_missing: int = Field(description="Days of the last M with a failure.")
    days_computed: int
    missing_points: int
    failed_daily: int


class TerminalDiagnosis(BaseModel):
    terminal: str
    org_unit: str | None
    problem: Literal["terminal", "meter"] = Field(
        description="terminal: its meters fail together (the terminal or its channel); meter: "
        "failures scattered over a few meters (the meters themselves)."
    )
    reason: str
    meters: int
    worst_day: date
    worst_day_failing: int = Field(description="Meters failing on the worst day.")
    days_terminal_wide: int
    failing_meters: list[str] = Field(description="Meters failing on some day (at most 50).")


class NeverReported(BaseModel):
    asset_number: str
    kind: Literal["meter", "terminal"]
    org_unit: str | None
    terminal: str | None


class WeakPointsOut(BaseModel):
    day: date
    days: list[date] = Field(description="The computed days of the last M looked at.")
    n: int
    m: int
    units: dict[str, list[RankedUnit]] = Field(description="Per rate, worst first.")
    terminals: dict[str, list[RankedTerminal]] = Field(description="Per rate, worst first.")
    never_reported: list[NeverReported]
    chronic: list[ChronicMisser]
    diagnoses: list[TerminalDiagnosis]


class TrendPoint(Counts):
    period: str = Field(description="YYYY-MM-DD or YYYY-MM.")


class TrendOut(BaseModel):
    org_unit: str | None
    step: Literal["day", "month"]
    points: list[TrendPoint]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComputeIn(_In):
    day: date | None = Field(default=None, description="Local calendar day (default yesterday).")


class ComputeOut(BaseModel):
    day: date
    meters: int
    terminals: int
    seconds: float
    partial: bool = Field(description="The day had not ended: provisional figures.")


class RecollectIn(_In):
    day: date = Field(description="Local calendar day whose missing points to read again.")
    terminals: list[str] | None = Field(default=None, max_length=5000)
    org_unit: str | None = Field(default=None, description="Every terminal under this unit.")
    ttl_s: int = Field(default=3600, ge=30, le=86_400)


class RecollectCommand(BaseModel):
    terminal: str
    command_id: str
    status: str
    meters: int
    missing_points: int


class RecollectOut(BaseModel):
    day: date
    start: datetime
    end: datetime
    commands: list[RecollectCommand]
    skipped: list[str] = Field(description="Terminals with nothing missing that day.")

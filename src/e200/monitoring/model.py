"""Request and answer models of the monitoring API (units in the names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Status = Literal["online", "offline", "out_of_supply"]
LoadingLevel = Literal["normal", "heavy_load", "overload", "severe_overload"]


class Derived(BaseModel):
    loading_pct: float | None = Field(description="S / S_rated × 100")
    current_unbalance_pct: float | None = Field(
        description="(I_max − I_avg) / I_avg × 100 over phases A, B, C; only at ≥ 20 % of rated "
        "current (as the current_unbalance alarm rule)"
    )
    loss_kw: float | None = Field(
        description="Estimated transformer loss: no-load + load loss × (loading)²"
    )
    v_min_v: float | None = Field(description="Lowest phase voltage of the latest reading")
    v_max_v: float | None = Field(description="Highest phase voltage of the latest reading")
    loading_level: LoadingLevel | None = Field(
        default=None,
        description="The most severe loading rule (severe_overload, overload, heavy_load) the "
        "latest reading is beyond, by the thresholds in force for this transformer (overrides "
        "included); normal otherwise. An alarm also needs the rule's duration.",
    )


class TransformerStatus(BaseModel):
    asset_number: str
    org_unit: str
    feeder: str | None
    terminal: str | None
    rated_kva: float
    v_phase_nominal_v: float
    lat: float | None
    lon: float | None
    reporting_interval_min: int | None
    status: Status
    status_reason: str
    last_report_at: datetime | None = Field(description="When the terminal last sent anything")
    reading_ts: datetime | None = Field(description="Interval end of the latest reading")
    values: dict[str, float] = Field(description="Latest value of every DT quantity reported")
    derived: Derived
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Alarm thresholds in force for this transformer (overrides included) that "
        "its status and loading level are judged by, in each rule's unit",
    )


class FleetItem(BaseModel):
    asset_number: str
    org_unit: str
    feeder: str | None
    lat: float | None
    lon: float | None
    status: Status
    loading_pct: float | None
    loading_level: LoadingLevel | None = Field(default=None, description="As Derived.loading_level")
    v_min_v: float | None
    v_max_v: float | None
    last_report_at: datetime | None
    active_alarms: int = Field(description="Not-cleared alarms of the transformer and its terminal")
    worst_severity: str | None = Field(description="Most severe of them")


class FleetPage(BaseModel):
    total: int
    by_status: dict[str, int]
    limit: int
    offset: int
    items: list[FleetItem]


class ReportingIntervalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terminal: str | None = Field(default=None, description="One terminal's asset number …")
    org_unit: str | None = Field(default=None, description="… or every terminal under a unit")
    interval_min: Literal[5, 15, 30, 60]
    ttl_s: int = Field(default=3600, ge=30, le=86_400, description="Expire without an answer.")

    @model_validator(mode="after")
    def _one_target(self) -> ReportingIntervalIn:
        if (self.terminal is None) == (self.org_unit is None):
            raise ValueError("give exactly one of terminal or org_unit")
        return self


class IntervalCommand(BaseModel):
    terminal: str
    command_id: str
    status: str = Field(description="pending until the terminal acknowledges (then acked)")
    interval_min: int = Field(description="The interval asked for")
    archive_interval_min: int = Field(description="The interval in force (changes on the ack)")
    created_at: datetime


class ReportingIntervalOut(BaseModel):
    interval_min: int
    commands: list[IntervalCommand]


class WeekOut(BaseModel):
    week: str = Field(description="Monday of the week (local calendar)")
    n: int
    out_pct: float


class InsightOut(BaseModel):
    asset_number: str
    org_unit: str
    feeder: str | None
    trend: str = Field(description="long_term | seasonal | episodic | recurring")
    cause: str | None
    cause_text: str | None
    month_out_pct: float = Field(description="Share of the month's intervals out of limits")
    history_out_pct: float
    bad_weeks: int
    weeks: list[WeekOut]
    days_with_breaches: int
    longest_run_days: int
    n_over: int
    n_under: int
    v_min_v: float | None
    v_max_v: float | None
    worst_day: str | None
    evidence_curve: str | None = Field(description="Readings route of the worst day's voltage")


class InsightPage(BaseModel):
    month: str
    history_from: datetime
    history_to: datetime
    limits: dict[str, Any]
    total: int
    items: list[InsightOut]


class QualificationRow(BaseModel):
    key: str
    level: str
    intervals: int
    intervals_out: int
    qualification_rate_pct: float | None
    over: int
    under: int


class QualificationPage(BaseModel):
    month: str
    level: str
    items: list[QualificationRow]

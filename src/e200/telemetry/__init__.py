"""Telemetry: wire contract, decoding, validation with quarantine, storage, reads."""

from e200.telemetry.api import router
from e200.telemetry.codec import IotMapping, Rejection
from e200.telemetry.contract import DT_QUANTITIES, EVENT_KINDS, METER_QUANTITIES
from e200.telemetry.counts import (
    daily_readings,
    dt_point_counts,
    meter_point_counts,
    reading_receipts,
    terminal_messages,
)
from e200.telemetry.jobs import JOBS
from e200.telemetry.liveness import Liveness, silent_after
from e200.telemetry.partitions import create_ahead as create_partitions_ahead
from e200.telemetry.partitions import drop_older_than as drop_partitions_older_than
from e200.telemetry.pipeline import BatchResult, Pipeline, run_sources
from e200.telemetry.queries import ANALYSIS_STEPS, MEASURES, CurveResult, Measure, analysis, curves
from e200.telemetry.queries import GROUPS as ANALYSIS_GROUPS
from e200.telemetry.queries import Series as CurveSeries
from e200.telemetry.queries import export as export_curves
from e200.telemetry.service import (
    ReportedMeterList,
    VoltageDay,
    device_events,
    device_readings,
    dt_voltage_days,
    latest_dt_readings,
    reported_meter_lists,
    terminals_last_seen,
    terminals_reporting,
)
from e200.telemetry.tables import metadata
from e200.telemetry.validate import Rules, Validated

__all__ = [
    "ANALYSIS_GROUPS",
    "ANALYSIS_STEPS",
    "DT_QUANTITIES",
    "EVENT_KINDS",
    "JOBS",
    "MEASURES",
    "METER_QUANTITIES",
    "BatchResult",
    "CurveResult",
    "CurveSeries",
    "IotMapping",
    "Liveness",
    "Measure",
    "Pipeline",
    "Rejection",
    "ReportedMeterList",
    "Rules",
    "Validated",
    "VoltageDay",
    "analysis",
    "create_partitions_ahead",
    "curves",
    "daily_readings",
    "device_events",
    "device_readings",
    "drop_partitions_older_than",
    "dt_point_counts",
    "dt_voltage_days",
    "export_curves",
    "latest_dt_readings",
    "metadata",
    "meter_point_counts",
    "reading_receipts",
    "reported_meter_lists",
    "router",
    "run_sources",
    "silent_after",
    "terminal_messages",
    "terminals_last_seen",
    "terminals_reporting",
]

"""Telemetry: wire contract, decoding, validation with quarantine, storage, reads."""

from e200.telemetry.api import router
from e200.telemetry.codec import IotMapping, Rejection
from e200.telemetry.counts import (
    daily_readings,
    dt_point_counts,
    meter_point_counts,
    reading_receipts,
    terminal_messages,
)
from e200.telemetry.partitions import create_ahead as create_partitions_ahead
from e200.telemetry.partitions import drop_older_than as drop_partitions_older_than
from e200.telemetry.pipeline import BatchResult, Pipeline, run_sources
from e200.telemetry.service import (
    ReportedMeterList,
    VoltageDay,
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
    "BatchResult",
    "IotMapping",
    "Pipeline",
    "Rejection",
    "ReportedMeterList",
    "Rules",
    "Validated",
    "VoltageDay",
    "create_partitions_ahead",
    "daily_readings",
    "device_readings",
    "drop_partitions_older_than",
    "dt_point_counts",
    "dt_voltage_days",
    "latest_dt_readings",
    "metadata",
    "meter_point_counts",
    "reading_receipts",
    "reported_meter_lists",
    "router",
    "run_sources",
    "terminal_messages",
    "terminals_last_seen",
    "terminals_reporting",
]

"""Acquisition quality: daily success, completeness, timeliness and online rates per meter,
terminal and org unit (every level), weak points, trends and re-collection of missing points."""

from e200.quality.api import router
from e200.quality.compute import (
    DayComputed,
    QualityRules,
    compute_day,
    day_bounds,
    local_today,
    purge_before,
)
from e200.quality.jobs import JOBS
from e200.quality.model import RecollectIn, SummaryOut, WeakPointsOut
from e200.quality.service import (
    WeakPointRules,
    devices,
    missing_intervals,
    recollect,
    summary,
    trend,
    weak_points,
)
from e200.quality.tables import metadata

__all__ = [
    "JOBS",
    "DayComputed",
    "QualityRules",
    "RecollectIn",
    "SummaryOut",
    "WeakPointRules",
    "WeakPointsOut",
    "compute_day",
    "day_bounds",
    "devices",
    "local_today",
    "metadata",
    "missing_intervals",
    "purge_before",
    "recollect",
    "router",
    "summary",
    "trend",
    "weak_points",
]

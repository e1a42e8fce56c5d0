"""Transformer monitoring: live quantities with derived loading, unbalance, loss and status;
the fleet; reporting intervals sent as downlink commands; voltage trend insights and monthly
voltage qualification."""

from e200.monitoring.api import router
from e200.monitoring.insights import Insight, TrendRules, classify
from e200.monitoring.model import (
    FleetPage,
    InsightPage,
    QualificationPage,
    ReportingIntervalIn,
    ReportingIntervalOut,
    TransformerStatus,
)
from e200.monitoring.service import (
    LIMITS,
    VoltageLimits,
    fleet,
    set_reporting_interval,
    transformer,
    voltage_insights,
    voltage_qualification,
)

__all__ = [
    "LIMITS",
    "FleetPage",
    "Insight",
    "InsightPage",
    "QualificationPage",
    "ReportingIntervalIn",
    "ReportingIntervalOut",
    "TransformerStatus",
    "TrendRules",
    "VoltageLimits",
    "classify",
    "fleet",
    "router",
    "set_reporting_interval",
    "transformer",
    "voltage_insights",
    "voltage_qualification",
]

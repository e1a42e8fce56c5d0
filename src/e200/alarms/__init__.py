"""Alarms: one episode of a rule on a device, raised, acknowledged and cleared, with advice.

Other slices raise and clear alarms through this facade (``raise_or_update``, ``clear``) inside
their own transactions; people list, read and acknowledge them through the API. The alarm
engine (``AlarmEngine``) evaluates the rule catalogue (``RULES``) on every stored batch as an
ingest hook, and terminal silence on a timer; thresholds are inherited default → org unit →
transformer.
"""

from e200.alarms.api import router
from e200.alarms.catalog import RULES, RULES_BY_KEY, Reading, RuleSpec
from e200.alarms.engine import AlarmEngine
from e200.alarms.jobs import JOBS
from e200.alarms.model import (
    AcknowledgeIn,
    Advice,
    AlarmCounts,
    AlarmOut,
    AlarmPage,
    AlarmRule,
    DeviceKind,
    Severity,
    State,
)
from e200.alarms.service import (
    CHANNEL,
    acknowledge,
    acknowledge_many,
    active_by_device,
    clear,
    counts,
    get,
    list_alarms,
    open_alarm,
    raise_or_update,
)
from e200.alarms.tables import SEVERITIES, STATES, metadata
from e200.alarms.thresholds import EffectiveThreshold, ThresholdIn
from e200.alarms.thresholds import clear_override as clear_threshold
from e200.alarms.thresholds import effective as effective_thresholds
from e200.alarms.thresholds import set_override as set_threshold

__all__ = [
    "CHANNEL",
    "JOBS",
    "RULES",
    "RULES_BY_KEY",
    "SEVERITIES",
    "STATES",
    "AcknowledgeIn",
    "Advice",
    "AlarmCounts",
    "AlarmEngine",
    "AlarmOut",
    "AlarmPage",
    "AlarmRule",
    "DeviceKind",
    "EffectiveThreshold",
    "Reading",
    "RuleSpec",
    "Severity",
    "State",
    "ThresholdIn",
    "acknowledge",
    "acknowledge_many",
    "active_by_device",
    "clear",
    "clear_threshold",
    "counts",
    "effective_thresholds",
    "get",
    "list_alarms",
    "metadata",
    "open_alarm",
    "raise_or_update",
    "router",
    "set_threshold",
]

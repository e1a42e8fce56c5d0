"""Alarms: one episode of a rule on a device, raised, acknowledged and cleared, with advice.

Other slices raise and clear alarms through this facade (``raise_or_update``, ``clear``) inside
their own transactions; people list, read and acknowledge them through the API. The alarm
engine (``AlarmEngine``) evaluates the rule catalogue (``RULES``) on every stored batch as an
ingest hook, and terminal silence on a timer; thresholds are inherited default → org unit →
transformer.
"""

from e200.alarms.api import router
from e200.alarms.catalog import (
    LOADING_RULES,
    RULES,
    RULES_BY_KEY,
    Reading,
    RuleSpec,
    breaching,
    loading_level,
    loading_pct,
    loss_kw,
    loss_pct,
    rating_of,
    reading_of,
    unbalance_pct,
    v_max_pct,
    v_min_pct,
)
from e200.alarms.engine import AlarmEngine
from e200.alarms.jobs import JOBS
from e200.alarms.liveness import offline_after, terminal_liveness
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
from e200.alarms.severity import SEVERITIES, severity_rank, worst_severity
from e200.alarms.tables import STATES, metadata
from e200.alarms.thresholds import EffectiveThreshold, ThresholdIn
from e200.alarms.thresholds import clear_override as clear_threshold
from e200.alarms.thresholds import effective as effective_thresholds
from e200.alarms.thresholds import in_force as thresholds_in_force
from e200.alarms.thresholds import set_override as set_threshold

__all__ = [
    "CHANNEL",
    "JOBS",
    "LOADING_RULES",
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
    "breaching",
    "clear",
    "clear_threshold",
    "counts",
    "effective_thresholds",
    "get",
    "list_alarms",
    "loading_level",
    "loading_pct",
    "loss_kw",
    "loss_pct",
    "metadata",
    "offline_after",
    "open_alarm",
    "raise_or_update",
    "rating_of",
    "reading_of",
    "router",
    "set_threshold",
    "severity_rank",
    "terminal_liveness",
    "thresholds_in_force",
    "unbalance_pct",
    "v_max_pct",
    "v_min_pct",
    "worst_severity",
]

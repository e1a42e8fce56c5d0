"""Alarms: one episode of a rule on a device, raised, acknowledged and cleared, with advice.

Other slices raise and clear alarms through this facade (``raise_or_update``, ``clear``) inside
their own transactions; people list, read and acknowledge them through the API.
"""

from e200.alarms.api import router
from e200.alarms.model import (
    AcknowledgeIn,
    Advice,
    AlarmOut,
    AlarmPage,
    AlarmRule,
    DeviceKind,
    Severity,
    State,
)
from e200.alarms.service import (
    acknowledge,
    clear,
    get,
    list_alarms,
    open_alarm,
    raise_or_update,
)
from e200.alarms.tables import SEVERITIES, STATES, metadata

__all__ = [
    "SEVERITIES",
    "STATES",
    "AcknowledgeIn",
    "Advice",
    "AlarmOut",
    "AlarmPage",
    "AlarmRule",
    "DeviceKind",
    "Severity",
    "State",
    "acknowledge",
    "clear",
    "get",
    "list_alarms",
    "metadata",
    "open_alarm",
    "raise_or_update",
    "router",
]

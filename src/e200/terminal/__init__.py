"""Downlink: commands to terminals and their acknowledgements; each terminal's meter list kept
in step with the archive (push on every relation change, consistency check, adopt)."""

from e200.terminal.api import router
from e200.terminal.consistency import adopt as adopt_list
from e200.terminal.consistency import check as check_consistency
from e200.terminal.consistency import check_terminal as terminal_consistency
from e200.terminal.consistency import push as push_list
from e200.terminal.consistency import run_checks as check_meter_lists
from e200.terminal.jobs import JOBS, close_sinks
from e200.terminal.meter_lists import add_meters, change_phase, meter_list, queue_sync, remove_meter
from e200.terminal.meter_lists import on_relation_change as push_on_relation_change
from e200.terminal.model import (
    AdoptChange,
    AdoptIn,
    ConsistencyReport,
    MeterAttach,
    MeterListOut,
    MetersAddIn,
    PhaseIn,
)
from e200.terminal.rules import LIST_MISMATCH, RULES, SYNC_FAILED
from e200.terminal.service import (
    COMMAND_TOPIC,
    CommandIn,
    DownlinkPolicy,
    ack_hook,
    dispatch_due,
    issue,
    list_for,
    topic_for,
)
from e200.terminal.service import get as get_command
from e200.terminal.tables import metadata

__all__ = [
    "COMMAND_TOPIC",
    "JOBS",
    "LIST_MISMATCH",
    "RULES",
    "SYNC_FAILED",
    "AdoptChange",
    "AdoptIn",
    "CommandIn",
    "ConsistencyReport",
    "DownlinkPolicy",
    "MeterAttach",
    "MeterListOut",
    "MetersAddIn",
    "PhaseIn",
    "ack_hook",
    "add_meters",
    "adopt_list",
    "change_phase",
    "check_consistency",
    "check_meter_lists",
    "close_sinks",
    "dispatch_due",
    "get_command",
    "issue",
    "list_for",
    "metadata",
    "meter_list",
    "push_list",
    "push_on_relation_change",
    "queue_sync",
    "remove_meter",
    "router",
    "terminal_consistency",
    "topic_for",
]

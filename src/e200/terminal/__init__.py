"""Downlink: commands to terminals and their acknowledgements; each terminal's meter list kept
in step with the archive (push on every relation change, consistency check, adopt)."""

from e200.terminal.api import router
from e200.terminal.consistency import check as check_consistency
from e200.terminal.consistency import run_checks as check_meter_lists
from e200.terminal.meter_lists import on_relation_change as push_on_relation_change
from e200.terminal.meter_lists import queue_sync
from e200.terminal.rules import LIST_MISMATCH, RULES, SYNC_FAILED
from e200.terminal.service import (
    COMMAND_TOPIC,
    CommandIn,
    DownlinkPolicy,
    ack_hook,
    dispatch_due,
    issue,
    topic_for,
)
from e200.terminal.tables import metadata

__all__ = [
    "COMMAND_TOPIC",
    "LIST_MISMATCH",
    "RULES",
    "SYNC_FAILED",
    "CommandIn",
    "DownlinkPolicy",
    "ack_hook",
    "check_consistency",
    "check_meter_lists",
    "dispatch_due",
    "issue",
    "metadata",
    "push_on_relation_change",
    "queue_sync",
    "router",
    "topic_for",
]

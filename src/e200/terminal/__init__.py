"""Downlink: commands to terminals and their acknowledgements."""

from e200.terminal.api import router
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
    "CommandIn",
    "DownlinkPolicy",
    "ack_hook",
    "dispatch_due",
    "issue",
    "metadata",
    "router",
    "topic_for",
]

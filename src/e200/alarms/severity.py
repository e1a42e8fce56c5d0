"""The order of alarm severities, defined once: ``Severity`` (the model's literal) lists them
most severe first; the database's check constraint, the API's filters, the fleet's "worst
active alarm" and every sort by severity take the order from here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from e200.alarms.model import Severity

SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # most severe first
_RANK: dict[str, int] = {s: len(SEVERITIES) - k for k, s in enumerate(SEVERITIES)}


def severity_rank(severity: str | None) -> int:
    """Higher is more severe (the most severe is ``len(SEVERITIES)``); 0 for None or unknown."""
    return _RANK.get(severity or "", 0)


def worst_severity(severities: Iterable[str]) -> str | None:
    """The most severe of these (None when there are none)."""
    return max(severities, key=severity_rank, default=None)

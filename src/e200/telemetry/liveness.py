"""A terminal's liveness, defined once for every slice that shows or judges it.

*Heard from* is when E200 last received anything from the terminal — the arrival time of its
newest delivery (``telemetry.terminal_liveness.last_seen_at``, written by the store), never the
time a message carries: a backlog read after an ingest restart, or readings a terminal buffered
through an uplink outage, are a terminal heard from *now*. A terminal is *silent* (offline) once
it has not been heard from for k × its reporting interval; k is the ``terminal_offline`` alarm
rule's effective threshold (the alarm slice owns it: ``alarms.terminal_liveness``), so the alarm,
the monitoring view and acquisition quality judge a terminal by the same k.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Liveness:
    """One terminal's liveness facts: when it was last heard from, its reporting interval and
    the k it is judged by."""

    heard_at: datetime | None  # None: never heard from
    interval_min: int
    k: float

    @property
    def silent_after(self) -> timedelta:
        """How long without a message makes the terminal silent: k × its interval."""
        return silent_after(self.interval_min, self.k)

    def online(self, now: datetime) -> bool:
        """Heard from less than k × its interval before ``now``."""
        return self.heard_at is not None and now - self.heard_at < self.silent_after

    def silent_since(self) -> datetime | None:
        """When it became (or will become) silent: last heard + k × interval."""
        return None if self.heard_at is None else self.heard_at + self.silent_after

    def silent_intervals(self, now: datetime) -> float | None:
        """How many reporting intervals it has not been heard from."""
        if self.heard_at is None:
            return None
        return (now - self.heard_at) / timedelta(minutes=self.interval_min)


def silent_after(interval_min: int, k: float) -> timedelta:
    """k × the reporting interval: the silence after which a terminal is offline."""
    return timedelta(minutes=interval_min * k)

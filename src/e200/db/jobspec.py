"""Background work declared as data: each slice lists its jobs next to its code (``JOBS`` in its
facade) and the ``jobs`` slice runs them on PostgreSQL (procrastinate), once per period across
every worker process.

A job's ``run`` gets a :class:`JobContext` (the process's engine and settings, the job's
arguments) and returns a short summary for the job history, or ``None``. It must be idempotent:
a job whose worker died is run again by another worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from e200.config import Settings


@dataclass(frozen=True, slots=True)
class JobContext:
    engine: Engine
    settings: Settings
    args: Mapping[str, Any] = field(default_factory=dict)
    scheduled_for: datetime | None = None  # the period a periodic job runs for (UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """One kind of background job.

    ``cron`` makes it periodic (five fields, or six with seconds last, in UTC); a setting
    (``job_schedules``) may override it per installation. ``queue`` names who may run it:
    ``commands`` jobs need a process that knows where to send downlink commands.
    """

    name: str  # stable, "<slice>.<what>": the key of schedules, history and the API
    title: str  # for people (the console's jobs page)
    run: Callable[[JobContext], str | None]
    cron: str | None = None
    queue: str = "default"
    retries: int = 0  # extra attempts after a failure (a periodic job also has its next period)


__all__ = ["JobContext", "JobSpec"]

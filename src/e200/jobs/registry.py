"""Every slice's jobs, collected: the registry is data (what runs, when, where) that the worker,
the API and the console read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter

from e200 import alarms, archives, auth, quality, telemetry, terminal
from e200.config import Settings
from e200.db.jobspec import JobSpec
from e200.jobs.system import SYSTEM_JOBS


def declared_jobs() -> tuple[JobSpec, ...]:
    """The jobs every slice declares next to its code, and the queue's own upkeep."""
    return (
        *telemetry.JOBS,
        *archives.JOBS,
        *alarms.JOBS,
        *terminal.JOBS,
        *quality.JOBS,
        *auth.JOBS,
        *SYSTEM_JOBS,
    )


@dataclass(frozen=True, slots=True)
class Scheduled:
    spec: JobSpec
    cron: str | None  # the effective schedule (an installation's override, else the slice's)

    @property
    def name(self) -> str:
        return self.spec.name

    def next_run(self, after: datetime) -> datetime | None:
        if self.cron is None:
            return None
        nxt: datetime = croniter(self.cron, after.astimezone(UTC)).get_next(datetime)
        return nxt


class UnknownScheduleError(ValueError):
    pass


def registry(settings: Settings, specs: Sequence[JobSpec] | None = None) -> tuple[Scheduled, ...]:
    """The jobs with their effective schedules. A schedule for a job that does not exist, or a
    cron expression that does not parse, is refused at start (a typo must not silently stop a
    job)."""
    specs = tuple(specs if specs is not None else declared_jobs())
    names = {s.name for s in specs}
    if len(names) != len(specs):
        raise ValueError("two jobs declare the same name")
    unknown = sorted(set(settings.job_schedules) - names)
    if unknown:
        raise UnknownScheduleError(f"job_schedules names unknown jobs: {', '.join(unknown)}")
    out = []
    for spec in specs:
        cron = settings.job_schedules.get(spec.name, spec.cron)
        if cron is not None and not croniter.is_valid(cron):
            raise UnknownScheduleError(f"job_schedules: {spec.name}: invalid cron {cron!r}")
        out.append(Scheduled(spec, cron))
    return tuple(out)

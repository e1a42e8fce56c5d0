"""The one place that assembles a process: the ingest pipeline with its hooks, the listeners
between slices, and the job queue with every slice's jobs. The API, the CLI's roles, the
benchmarks and the simulator all call it (no second copy of the wiring)."""

from __future__ import annotations

from sqlalchemy import Engine

from e200 import alarms, archives, telemetry, terminal
from e200.config import Settings
from e200.jobs.queue import JobQueue
from e200.jobs.registry import registry


def make_pipeline(engine: Engine, settings: Settings) -> telemetry.Pipeline:
    """The ingest pipeline as every role runs it: commands' acknowledgements, then the alarm
    engine on each stored batch."""
    pipeline = telemetry.Pipeline.from_settings(engine, settings)
    pipeline.hooks.append(terminal.ack_hook)
    pipeline.hooks.append(alarms.AlarmEngine(timezone=settings.timezone))
    install_listeners(pipeline)
    return pipeline


def install_listeners(pipeline: telemetry.Pipeline | None = None) -> None:
    """Reactions between slices, in every process that changes the archive: a terminal's
    station area changed → its meter list is pushed; an import written → this process's
    pipeline forgets the devices it cached."""
    archives.on_relation_change(terminal.push_on_relation_change)
    if pipeline is not None:
        archives.on_archive_written(pipeline.forget_devices)


def make_queue(database_url: str, engine: Engine, settings: Settings, *,
               queue: str | None = None) -> JobQueue:  # fmt: skip
    """The job queue with every slice's jobs at this installation's schedules (only those of
    ``queue`` when given: `e200 ingest --commands` works the command dispatch alone)."""
    install_listeners()
    jobs = registry(settings)
    if queue is not None:
        jobs = tuple(j for j in jobs if j.spec.queue == queue)
    return JobQueue(database_url, engine, settings, jobs)

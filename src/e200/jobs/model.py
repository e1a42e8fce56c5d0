"""What the jobs API answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class RunOut(BaseModel):
    id: int
    queue_job_id: int
    name: str
    attempt: int = Field(
        description="1 for a job's first run; more after a failure or a dead worker"
    )
    scheduled_for: datetime | None = Field(description="The period a periodic run is for (UTC)")
    worker: str = Field(description="host:pid of the process that ran it")
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    outcome: str = Field(description="running, succeeded or failed")
    summary: str | None = Field(description="What it did, or the error")


class JobOut(BaseModel):
    name: str = Field(description="Stable name, '<slice>.<what>'")
    title: str
    queue: str
    cron: str | None = Field(description="Effective schedule (UTC); null: runs when queued")
    next_run: datetime | None
    last_run: RunOut | None
    runs_24h: int
    failures_24h: int
    running: int


class JobsOut(BaseModel):
    jobs: list[JobOut]
    workers_alive: int = Field(description="Workers whose heartbeat is recent")


class QueuedOut(BaseModel):
    name: str
    queue_job_id: int

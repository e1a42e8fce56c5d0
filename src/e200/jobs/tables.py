"""The job history (schema ``jobs``): one row per attempt of a job, written by the worker that
runs it. The queue itself is procrastinate's, in its own schema ``procrastinate``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)

metadata = MetaData(schema="jobs")

OUTCOMES = ("running", "succeeded", "failed")

job_run = Table(
    "job_run",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("queue_job_id", BigInteger, nullable=False),  # procrastinate's job id
    Column("name", String(100), nullable=False),
    Column("attempt", Integer, nullable=False),  # 1 for the first run of a queued job
    Column("scheduled_for", DateTime(timezone=True), nullable=True),  # a periodic job's period
    Column("worker", String(200), nullable=False),  # host:pid
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(16), nullable=False, server_default="running"),
    Column("summary", Text, nullable=True),  # what it did, or the error
    Index("ix_job_run_name_started", "name", "started_at"),
    Index("ix_job_run_queue_job", "queue_job_id"),
)

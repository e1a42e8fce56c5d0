"""When the database refuses a batch, ingest must tell "the database went away" (wait and retry
the batch) from "this batch can never be stored" (stop and say so): a refusal retried forever
stalls a source without a word — as a batch with more than 65,535 bind parameters once did. The
errors come from a real PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.exc import DBAPIError

from e200.telemetry import Pipeline
from e200.telemetry.pipeline import REFUSALS_BEFORE_GIVING_UP, _database_went_away


def _lost_connection(engine: Engine) -> DBAPIError:
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:  # another session ends this one, as a restart would
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as caught:
            conn.execute(text("SELECT 1"))
    return caught.value


def _too_many_parameters(engine: Engine) -> DBAPIError:
    statement = text("SELECT 1 WHERE 1 IN :values").bindparams(
        bindparam("values", expanding=True))  # fmt: skip
    with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
        conn.execute(statement, {"values": list(range(70_000))})
    assert "65535" in str(caught.value)
    return caught.value


def _division_by_zero(engine: Engine) -> DBAPIError:
    with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
        conn.execute(text("SELECT 1 / 0"))
    return caught.value


class _Failing(Pipeline):
    """A pipeline whose batches fail with a given error, counting the attempts."""

    def __init__(self, engine: Engine, error: Exception) -> None:
        super().__init__(engine)
        self.error, self.attempts = error, 0

    def process(self, *args: Any, **kwargs: Any) -> Any:
        self.attempts += 1
        raise self.error


def test_the_errors_are_told_apart(engine: Engine) -> None:
    assert _database_went_away(_lost_connection(engine)) is True
    assert _database_went_away(_division_by_zero(engine)) is False
    assert _database_went_away(_too_many_parameters(engine)) is None  # the database is asked


def test_a_batch_refused_by_a_database_that_answers_stops_the_retries(engine: Engine) -> None:
    pipeline = _Failing(engine, _too_many_parameters(engine))
    with pytest.raises(DBAPIError):
        pipeline.process_with_retry([], "test", threading.Event())
    assert pipeline.attempts == REFUSALS_BEFORE_GIVING_UP


def test_a_lost_connection_is_retried_until_stopped(engine: Engine) -> None:
    pipeline = _Failing(engine, _lost_connection(engine))
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    assert pipeline.process_with_retry([], "test", stop) is None  # waited, nothing acknowledged
    assert pipeline.attempts >= 2  # tried again, and kept waiting rather than raising

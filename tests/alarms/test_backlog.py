"""History through the full pipeline raises no alarm that describes the present: a day replayed
by ``e200 sim backfill`` (stored as received now) while the offline check runs after every
station area, as the worker's 30-s job would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from e200 import alarms
from e200.config import Settings
from e200.jobs import make_pipeline
from e200.sim import backfill, build_grid, load_grid
from e200.sim.backfill import floor_interval


def test_a_day_of_history_through_sim_backfill_raises_no_offline_or_stale_alarm(
    engine: Engine,
) -> None:
    grid = build_grid("tiny", 5)
    load_grid(engine, grid)
    pipeline = make_pipeline(engine, Settings())
    timer = alarms.AlarmEngine()
    raised: list[int] = []

    def tick(_done: int, _total: int) -> None:  # after every station area
        with engine.begin() as conn:
            raised.append(timer.check_offline(conn))

    end = floor_interval(datetime.now(UTC))
    result = backfill(engine, grid, 1, 5, end=end, pipeline=pipeline, progress=tick)
    assert result.stored > 0 and result.quarantined == 0
    with engine.begin() as conn:
        raised.append(timer.check_offline(conn, now=datetime.now(UTC) + timedelta(minutes=1)))
        present = conn.execute(text(
            "SELECT rule, count(*) FROM alarms.alarm WHERE rule IN ('terminal_offline', "
            "'stale_quantity') GROUP BY rule")).all()  # fmt: skip
    assert len(raised) == len(grid.areas) + 1 and sum(raised) == 0
    assert present == []

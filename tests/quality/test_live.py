"""Today's figures while the day runs, from readings ingested through the pipeline: what a user
of `e200 up` sees first. Terminals that keep reporting are online now and for the whole span
observed so far, and history delivered on time counts as on time.

Regression: the partial day used to observe liveness only up to the last quarter hour, so
everything received since (right after `e200 up` loaded its history: everything) was unseen —
online 0 of 60, 0 s online — and the demo history was stored as received at load time (late)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine, text

from e200 import quality
from e200.kernel import utc_now
from e200.sim import build_grid, load_grid
from e200.sim.backfill import backfill
from e200.sim.demo import load_demo_history
from e200.telemetry import Pipeline

DAY = date(2026, 6, 1)


def _totals(engine: Engine, day: date) -> dict[str, float]:
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT count(*) AS terminals, count(*) FILTER (WHERE online) AS online, "
            "sum(online_s) AS online_s, sum(span_s) AS span_s, "
            "min(online_s) AS min_online_s, min(span_s) AS min_span_s "
            "FROM quality.terminal_day WHERE day = :day"), {"day": day}).one()  # fmt: skip
        points = conn.execute(text(
            "SELECT sum(expected) AS expected, sum(received) AS received, "
            "sum(on_time) AS on_time FROM quality.meter_day WHERE day = :day"),
            {"day": day}).one()  # fmt: skip
    return {**row._asdict(), **points._asdict()}


def test_messages_received_since_the_last_quarter_hour_keep_terminals_online(
    engine: Engine,
) -> None:
    """The morning's readings all received at 06:01 (as a backfill at start-up stores them);
    at 06:05 every terminal is online and has been for the 4 minutes since."""
    grid = build_grid("tiny", 3)
    load_grid(engine, grid)
    d0, _ = quality.day_bounds(DAY, "UTC")
    received = d0 + timedelta(hours=6, minutes=1)
    pipe = Pipeline(engine, clock=lambda: received)
    res = backfill(engine, grid, 0.25, 3, end=d0 + timedelta(hours=6), pipeline=pipe)
    assert res.quarantined == 0 and res.stored > 0
    now = d0 + timedelta(hours=6, minutes=5)
    with engine.begin() as conn:
        done = quality.compute_day(conn, DAY, "UTC", now=now)
    assert done.partial and done.end == d0 + timedelta(hours=6)
    t = _totals(engine, DAY)
    assert t["terminals"] == len(grid.areas) and t["online"] == t["terminals"]
    assert t["min_span_s"] == (now - d0).total_seconds()  # observed up to now
    assert t["min_online_s"] == 240.0  # from 06:01 to now


def test_the_demo_history_makes_today_online_and_on_time(engine: Engine) -> None:
    """History loaded as `e200 up` loads it, up to now, then today computed as the dashboard
    does: every terminal online, online the whole observed span, every point on time."""
    now = utc_now()
    tz = "UTC" if now.hour >= 2 else "Etc/GMT-12"  # at least two hours into the local day
    day = quality.local_today(tz, now)
    d0, _ = quality.day_bounds(day, tz)
    grid = build_grid("tiny", 3)
    load_grid(engine, grid)
    res = load_demo_history(engine, grid, (now - d0) / timedelta(days=1) + 1 / 24, seed=3,
                            now=now)  # fmt: skip
    assert res.quarantined == 0 and res.stored > 0
    with engine.begin() as conn:
        done = quality.compute_day(conn, day, tz)
    assert done.partial
    t = _totals(engine, day)
    assert t["terminals"] == len(grid.areas) and t["online"] == t["terminals"]
    # each delivery (15 min apart) keeps its terminal online until the next: the whole span
    assert t["online_s"] >= 0.99 * t["span_s"], t
    assert t["min_span_s"] >= (now - d0).total_seconds()  # observed up to the compute's now
    assert t["received"] > 0.95 * t["expected"] and t["on_time"] == t["received"], t

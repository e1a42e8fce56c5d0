"""The demo grid loaded by ``e200 up`` into an empty archive: the simulator's ``demo`` preset
(60 station areas, ≈3,000 meters) with the default archive errors, written through the
templated import exactly as an operator's upload would be (a job of user ``e200-demo``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from e200.kernel import Scope
from e200.sim.archive_load import load_grid_import
from e200.sim.faults import FaultConfig, inject_grid_faults
from e200.sim.grid import GRID_SINCE, SimGrid, build_grid

if TYPE_CHECKING:
    from e200.sim.replay import ReplayResult
    from e200.sim.simulate import AreaDay
    from e200.telemetry import Pipeline

DEMO_SINCE = GRID_SINCE
DEMO_SEED = 200


def demo_grid(seed: int = DEMO_SEED) -> SimGrid:
    """The demo preset with its archive errors applied (the truth of those is discarded here;
    ``inject_grid_faults`` with the same seed gives it again)."""
    grid = build_grid("demo", seed)
    inject_grid_faults(grid, FaultConfig(), seed)
    return grid


def load_demo_grid(engine: Engine, *, seed: int = DEMO_SEED) -> int:
    """Write the demo grid if the archive is empty; return how many assets were written."""
    from e200 import archives

    with engine.connect() as conn:
        if archives.list_org_units(conn, Scope.everything()):
            return 0
    return load_grid_import(engine, demo_grid(seed), actor="e200-demo")


def load_demo_history(engine: Engine, grid: SimGrid, days: float, *, seed: int = DEMO_SEED,
                      pipeline: Pipeline | None = None, now: datetime | None = None,
                      on_area_day: Callable[[AreaDay], None] | None = None,
                      ) -> ReplayResult:  # fmt: skip
    """``days`` of simulated history up to the last interval whose delivery has arrived by
    ``now``, replayed in delivery order: each delivery is stored as received when the simulated
    terminal delivered it (``received_at`` = ``AreaDay.deliver_at``, the interval's end + 30 s
    or the end of an uplink outage), as live data would have been — so timeliness and terminal
    liveness of the history are judged as in the field, and the live runner continues it."""
    from e200.sim.backfill import floor_interval
    from e200.sim.replay import replay
    from e200.sim.simulate import DELIVERY_LATENCY

    end = floor_interval((now or datetime.now(UTC)) - DELIVERY_LATENCY)
    return replay(engine, grid, end - timedelta(days=days), end, seed=seed, pipeline=pipeline,
                  on_area_day=on_area_day)  # fmt: skip

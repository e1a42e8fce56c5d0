"""The demo grid loaded by ``e200 up`` into an empty archive: the simulator's ``demo`` preset
(60 station areas, ≈3,000 meters) with the default archive errors, written through the archive
service exactly as an operator or an import would write it."""

from __future__ import annotations

from sqlalchemy import Engine

from e200.sim.archive_load import load_grid
from e200.sim.faults import FaultConfig, inject_grid_faults
from e200.sim.grid import GRID_SINCE, SimGrid, build_grid

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
    return load_grid(engine, demo_grid(seed), bulk=False)

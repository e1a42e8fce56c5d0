"""The demo grid loaded by ``e200 up`` into an empty archive: the simulator's ``demo`` preset
(60 station areas, ≈3,000 meters) with the default archive errors, written through the
templated import exactly as an operator's upload would be (a job of user ``e200-demo``)."""

from __future__ import annotations

from sqlalchemy import Engine

from e200.kernel import Scope
from e200.sim.archive_load import load_grid_import
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
    from e200 import archives

    with engine.connect() as conn:
        if archives.list_org_units(conn, Scope.everything()):
            return 0
    return load_grid_import(engine, demo_grid(seed), actor="e200-demo")

"""Simulator slice: a deterministic grid and fleet with physics (power-grid-model), labelled
faults, wire-contract messages, backfill through the ingest pipeline, a live runner and export."""

from e200.sim.archive_load import load_grid
from e200.sim.backfill import BackfillResult, backfill
from e200.sim.demo import demo_grid, load_demo_grid
from e200.sim.faults import Fault, FaultConfig, FaultPlan, inject_grid_faults, plan_faults
from e200.sim.grid import PRESETS, GridSizes, SimGrid, build_grid
from e200.sim.simulate import Simulator

__all__ = [
    "PRESETS",
    "BackfillResult",
    "Fault",
    "FaultConfig",
    "FaultPlan",
    "GridSizes",
    "SimGrid",
    "Simulator",
    "backfill",
    "build_grid",
    "demo_grid",
    "inject_grid_faults",
    "load_demo_grid",
    "load_grid",
    "plan_faults",
]

"""Simulator slice (for now: the demo grid)."""

from e200.sim.demo import load_demo_grid

__all__ = ["load_demo_grid"]

from __future__ import annotations

from datetime import UTC, datetime

from e200.sim.grid import GridSizes

SMALL = GridSizes(1, 1, 1, 2, 3, 30)  # 6 station areas, ≈180 meters
DAY = datetime(2026, 6, 15, tzinfo=UTC)  # a sunny-season Monday: PV export happens

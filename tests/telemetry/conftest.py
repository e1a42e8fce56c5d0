"""A small archive (one station area) and a pipeline on it, with a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from e200 import archives
from e200.archives import (
    KINDS,
    FeederIn,
    MeterIn,
    OrgUnitIn,
    SubstationIn,
    TerminalIn,
    TransformerIn,
)
from e200.bus import Delivery
from e200.kernel import Scope
from e200.telemetry import Pipeline

NOW = datetime(2026, 11, 26, 10, 20, tzinfo=UTC)
SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def build_area(engine: Engine, meters: int = 3) -> None:
    scope = Scope.everything()
    with engine.begin() as conn:
        archives.create_org_unit(conn, OrgUnitIn(code="CO", name="Co", kind="company"), scope)
        archives.create_asset(conn, KINDS["substation"], SubstationIn(
            asset_number="SS1", org_unit="CO", valid_from=SINCE), scope)  # fmt: skip
        archives.create_asset(conn, KINDS["feeder"], FeederIn(
            asset_number="F1", substation="SS1", valid_from=SINCE), scope)  # fmt: skip
        archives.create_asset(conn, KINDS["transformer"], TransformerIn(
            asset_number="T1", rated_kva=400, primary_rated_kv=10, secondary_rated_v=400,
            feeder="F1", valid_from=SINCE), scope)  # fmt: skip
        archives.create_asset(conn, KINDS["terminal"], TerminalIn(
            asset_number="TTU1", transformer="T1", valid_from=SINCE), scope)  # fmt: skip
        for i in range(1, meters + 1):
            archives.create_asset(conn, KINDS["meter"], MeterIn(
                asset_number=f"M{i}", transformer="T1", phase="ABC"[i % 3],
                valid_from=SINCE), scope)  # fmt: skip


@pytest.fixture()
def area(engine: Engine) -> Engine:
    build_area(engine)
    return engine


@pytest.fixture()
def pipeline(area: Engine) -> Pipeline:
    return Pipeline(area, clock=lambda: NOW)


def dt_msg(ts: datetime = NOW - timedelta(minutes=5), **values: float) -> dict[str, Any]:
    base = {"v_a_v": 231.0, "v_b_v": 229.5, "v_c_v": 230.2, "i_a_a": 120.0, "p_kw": 80.0,
            "pf": 0.95, "freq_hz": 50.01, "e_imp_kwh": 1000.0, "oil_temp_c": 45.0}  # fmt: skip
    base.update(values)
    return {
        "v": 1,
        "type": "dt_interval",
        "terminal": "TTU1",
        "device": "T1",
        "ts": ts.isoformat().replace("+00:00", "Z"),
        "interval_min": 15,
        "values": base,
    }


def meter_msg(device: str = "M1", ts: datetime = NOW - timedelta(minutes=5),
              **values: float) -> dict[str, Any]:  # fmt: skip
    base = {"v_v": 228.0, "i_a": 3.1, "p_kw": 0.7, "e_imp_kwh": 55.5}
    base.update(values)
    return {
        "v": 1,
        "type": "meter_interval",
        "device": device,
        "ts": ts.isoformat(),
        "interval_min": 15,
        "values": base,
    }


Send = Callable[..., Any]


def deliveries(*payloads: Any) -> list[Delivery]:
    out = []
    for n, p in enumerate(payloads):
        raw = p if isinstance(p, bytes) else orjson.dumps(p)
        out.append(Delivery(payload=raw, source="test", ref=f"test#{n}"))
    return out

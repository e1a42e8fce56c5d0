"""Station areas in two regions, helpers to dispatch commands on a memory bus, to answer them as
a terminal would and to report a terminal's meter list through ingest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from e200 import archives, terminal
from e200.archives import (
    KINDS,
    FeederIn,
    MeterIn,
    OrgUnitIn,
    SubstationIn,
    TerminalIn,
    TransformerIn,
)
from e200.bus import Delivery, MemoryBus, open_sink
from e200.kernel import Scope, utc_now

SINCE = datetime(2026, 1, 1, tzinfo=UTC)

# region -> transformer -> (terminal, meters with phases)
AREAS: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "A": {
        "T1": ("TTU1", {"M1": "A", "M2": "B", "M3": "C"}),
        "T2": ("TTU2", {"M4": "A", "M5": "B"}),
    },
    "B": {"T3": ("TTU3", {"M6": "C"})},
}


def build_areas(engine: Engine) -> None:
    """CO → regions A and B; A has T1 (TTU1: M1–M3) and T2 (TTU2: M4, M5), B has T3 (TTU3: M6);
    spare meters MA-SPARE (unit A) and MB-SPARE (unit B) on no transformer."""
    everything = Scope.everything()
    with engine.begin() as conn:

        def add(kind: str, data: Any) -> None:
            archives.create_asset(conn, KINDS[kind], data, everything)

        archives.create_org_unit(conn, OrgUnitIn(code="CO", name="Co", kind="company"), everything)
        for region, transformers in AREAS.items():
            unit = OrgUnitIn(code=region, name=region, kind="region", parent="CO")
            archives.create_org_unit(conn, unit, everything)
            add("substation", SubstationIn(asset_number=f"SS-{region}", org_unit=region,
                                           valid_from=SINCE))  # fmt: skip
            add("feeder", FeederIn(asset_number=f"F-{region}", substation=f"SS-{region}",
                                   valid_from=SINCE))  # fmt: skip
            for trafo, (term, meters) in transformers.items():
                rating = {"rated_kva": 400, "primary_rated_kv": 10, "secondary_rated_v": 400}
                add("transformer", TransformerIn(asset_number=trafo, feeder=f"F-{region}",
                                                 valid_from=SINCE, **rating))  # fmt: skip
                add("terminal", TerminalIn(asset_number=term, transformer=trafo,
                                           valid_from=SINCE))  # fmt: skip
                for meter, phase in meters.items():
                    add("meter", MeterIn(asset_number=meter, transformer=trafo, phase=phase,
                                         valid_from=SINCE))  # fmt: skip
            add("meter", MeterIn(asset_number=f"M{region}-SPARE", org_unit=region,
                                 valid_from=SINCE))  # fmt: skip


def engine_of(client: TestClient) -> Engine:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    return engine


def dispatch(client: TestClient, bus: str, now: datetime | None = None) -> dict[str, int]:
    """One round of the downlink dispatcher onto the memory bus ``bus``."""
    with engine_of(client).begin() as conn:
        return terminal.dispatch_due(conn, open_sink(f"memory://{bus}"), "memory",
                                     terminal.DownlinkPolicy(), now=now)  # fmt: skip


def ingest(client: TestClient, *messages: dict[str, Any]) -> None:
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    result = pipeline.process([Delivery(orjson.dumps(list(messages)), "test", "t#1")], "test")
    assert result.quarantined == 0, result.rejected


def answer_all(client: TestClient, bus: str, status: str = "ok") -> list[dict[str, Any]]:
    """Answer every command waiting on ``bus`` (through ingest, as a terminal would)."""
    commands = [orjson.loads(p) for _, p, _ in MemoryBus.get(bus).take(1000, 0.2)]
    acks = [
        {"v": 1, "type": "command_ack", "terminal": c["terminal"],
         "command_id": c["command_id"], "status": status}
        for c in commands
    ]  # fmt: skip
    if acks:
        ingest(client, *acks)
    return commands


def report(client: TestClient, term: str, meters: list[str],
           phases: dict[str, str] | None = None, ts: datetime | None = None) -> None:  # fmt: skip
    """The terminal reports the meter list it collects."""
    stamp = (ts or utc_now().replace(microsecond=0)).isoformat()
    message: dict[str, Any] = {"v": 1, "type": "terminal_meters", "terminal": term, "ts": stamp,
                               "meters": meters}  # fmt: skip
    if phases is not None:
        message["phases"] = phases
    ingest(client, message)

"""JSON Schemas of the wire contract, generated from ``contract.py`` (published in
docs/telemetry.md and at ``GET /api/v1/ingest/schemas``)."""

from __future__ import annotations

from typing import Any

from e200.telemetry.contract import (
    CONTRACT_VERSION,
    DAILY_QUANTITIES,
    DT_QUANTITIES,
    EVENT_KINDS,
    INTERVALS_MIN,
    METER_PHASES,
    METER_QUANTITIES,
    Quantity,
)

_TS = {"type": "string", "format": "date-time",
       "description": "ISO 8601, UTC; for interval data the end of the interval"}  # fmt: skip
_ID = {"type": "string", "minLength": 1, "maxLength": 64}


def _values(quantities: tuple[Quantity, ...]) -> dict[str, Any]:
    props = {}
    for q in quantities:
        prop: dict[str, Any] = {"type": "number", "description": f"{q.description} ({q.unit})"}
        if q.rated is None:
            if q.lo is not None:
                prop["minimum"] = q.lo
            if q.hi is not None:
                prop["maximum"] = q.hi
        else:
            prop["description"] += f"; plausible range {q.lo}–{q.hi} × the device's {q.rated}"
        props[q.name] = prop
    return {"type": "object", "properties": props, "additionalProperties": False,
            "minProperties": 1}  # fmt: skip


def _message(mtype: str, required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://e200.example/schemas/v{CONTRACT_VERSION}/{mtype}.json",
        "title": mtype,
        "type": "object",
        "required": ["v", "type", *required],
        "properties": {"v": {"const": CONTRACT_VERSION}, "type": {"const": mtype}, **props},
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    interval = {"type": "integer", "enum": list(INTERVALS_MIN)}
    return {
        "dt_interval": _message("dt_interval", ["device", "ts", "interval_min", "values"], {
            "terminal": {**_ID, "description": "terminal asset number (optional)"},
            "device": {**_ID, "description": "transformer asset number"},
            "ts": _TS, "interval_min": interval, "values": _values(DT_QUANTITIES)}),
        "meter_interval": _message("meter_interval", ["device", "ts", "interval_min", "values"], {
            "device": {**_ID, "description": "meter asset number"},
            "ts": _TS, "interval_min": interval, "values": _values(METER_QUANTITIES)}),
        "meter_daily": _message("meter_daily", ["device", "date", "values"], {
            "device": {**_ID, "description": "meter asset number"},
            "date": {"type": "string", "format": "date",
                     "description": "the day whose 00:00 (UTC) freeze this is"},
            "values": _values(DAILY_QUANTITIES)}),
        "event": _message("event", ["device", "ts", "event"], {
            "device": {**_ID, "description": "meter, transformer or terminal asset number"},
            "ts": _TS, "event": {"type": "string", "enum": list(EVENT_KINDS)},
            "detail": {"type": ["object", "string"]}}),
        "terminal_meters": _message("terminal_meters", ["terminal", "ts", "meters"], {
            "terminal": _ID, "ts": _TS,
            "meters": {"type": "array", "items": _ID,
                       "description": "the meters the terminal actually collects"},
            "phases": {"type": "object", "additionalProperties": {"enum": list(METER_PHASES)},
                       "description": "optional: the phase each meter is on, by asset number "
                                      "(three-phase meters: ABC)"}}),
        "command_ack": _message("command_ack", ["terminal", "command_id", "status"], {
            "terminal": _ID, "command_id": {"type": "string"},
            "status": {"enum": ["ok", "error"]}, "result": {}}),
    }  # fmt: skip

"""Simulated steps → wire-contract v1 messages (docs/telemetry.md) as dicts and JSON bytes.

One delivery per terminal and interval: a JSON array with the transformer's ``dt_interval``,
its meters' ``meter_interval`` readings, the events of that interval and, at 00:00 UTC, the
``meter_daily`` freezes — as a terminal forwards what it collected. Key order and number
formatting are fixed, so the same seed gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson

from e200.sim.grid import StationArea
from e200.sim.simulate import STEP_MIN, AreaDay

Message = dict[str, Any]


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(messages: list[Message] | Message) -> bytes:
    return orjson.dumps(messages)


def _r(x: float, nd: int) -> float:
    return round(float(x), nd)


def step_messages(day: AreaDay, k: int, *, meters: bool = True) -> list[Message]:
    """Every message the area's terminal forwards for step ``k`` (interval ending ``ends[k]``);
    ``meters=False`` leaves out the meters' readings and freezes (events stay)."""
    area = day.area
    ts = day.ends[k]
    stamp = iso(ts)
    out: list[Message] = []
    if day.dt_send[k]:
        values = {
            q: _r(arr[k], 3 if q.startswith(("p_", "q_", "s_", "pf")) else 2)
            for q, arr in day.dt_values.items()
        }
        out.append(
            {
                "v": 1,
                "type": "dt_interval",
                "terminal": area.terminal.asset_number,
                "device": area.transformer.asset_number,
                "ts": stamp,
                "interval_min": STEP_MIN,
                "values": values,
            }
        )
    midnight = ts.hour == 0 and ts.minute == 0
    for j, mt in enumerate(area.meters if meters else ()):
        if not day.meter_send[k, j]:
            continue
        imp, exp = _r(day.meter_imp[k, j], 2), _r(day.meter_exp[k, j], 2)
        v, i = day.meter_v[k, j], day.meter_i[k, j]
        vals: dict[str, float]
        if mt.phase == "ABC":
            vals = {
                "v_a_v": _r(v[0], 1),
                "v_b_v": _r(v[1], 1),
                "v_c_v": _r(v[2], 1),
                "i_a_a": _r(i[0], 3),
                "i_b_a": _r(i[1], 3),
                "i_c_a": _r(i[2], 3),
            }
        else:
            ph = "ABC".index(mt.phase)
            vals = {"v_v": _r(v[ph], 1), "i_a": _r(i[ph], 3)}
        vals["p_kw"] = _r(day.meter_p[k, j], 3)
        vals["e_imp_kwh"], vals["e_exp_kwh"] = imp, exp
        out.append(
            {
                "v": 1,
                "type": "meter_interval",
                "device": mt.asset_number,
                "ts": stamp,
                "interval_min": STEP_MIN,
                "values": vals,
            }
        )
        if midnight:
            out.append(
                {
                    "v": 1,
                    "type": "meter_daily",
                    "device": mt.asset_number,
                    "date": ts.date().isoformat(),
                    "values": {"e_imp_kwh": imp, "e_exp_kwh": exp},
                }
            )
    lo = ts - timedelta(minutes=STEP_MIN)
    for ev_ts, device, kind, detail in day.events:
        if lo < ev_ts <= ts:
            ev: Message = {
                "v": 1,
                "type": "event",
                "device": device,
                "ts": iso(ev_ts),
                "event": kind,
            }
            if detail is not None:
                ev["detail"] = detail
            out.append(ev)
    return out


def day_messages(
    day: AreaDay, until: datetime | None = None
) -> Iterator[tuple[datetime, list[Message]]]:
    """(interval end, messages) for every step of the day up to ``until`` (inclusive)."""
    for k, ts in enumerate(day.ends):
        if until is not None and ts > until:
            return
        msgs = step_messages(day, k)
        if msgs:
            yield ts, msgs


def terminal_meters(area: StationArea, ts: datetime) -> Message:
    """The meter list the terminal actually collects, with the phase each meter is on (the
    physical truth, not the archive)."""
    return {
        "v": 1,
        "type": "terminal_meters",
        "terminal": area.terminal.asset_number,
        "ts": iso(ts),
        "meters": [m.asset_number for m in area.meters],
        "phases": {m.asset_number: m.phase for m in area.meters},
    }


def command_ack(terminal: str, command_id: str, status: str, result: Any = None) -> Message:
    msg: Message = {
        "v": 1,
        "type": "command_ack",
        "terminal": terminal,
        "command_id": command_id,
        "status": status,
    }
    if result is not None:
        msg["result"] = result
    return msg


# The IoT platform's product of each reading type (see ``iot_mapping.toml`` next to this file).
ENVELOPE_PRODUCTS = {"dt_interval": "e200-sim-ttu", "meter_interval": "e200-sim-meter"}
ENVELOPE_TYPES = frozenset(ENVELOPE_PRODUCTS)


def iot_envelope(msg: Message, product_id: str | None = None) -> Message:
    """The IoT platform's device-property report for a ``dt_interval``/``meter_interval``
    (properties named as the canonical quantities, mapped 1:1 by ``iot_mapping.toml``)."""
    product_id = product_id or ENVELOPE_PRODUCTS[msg["type"]]
    ts = datetime.strptime(msg["ts"], "%Y-%m-%dT%H:%M:%SZ").strftime("%Y%m%dT%H%M%SZ")
    header = {
        "device_id": f"dev-{msg['device']}",
        "product_id": product_id,
        "node_id": msg["device"],
    }
    if msg.get("terminal"):
        header["gateway_id"] = msg["terminal"]
    return {
        "resource": "device.property",
        "event": "report",
        "event_time": ts,
        "notify_data": {
            "header": header,
            "body": {
                "services": [
                    {"service_id": "measure", "properties": msg["values"], "event_time": ts}
                ]
            },
        },
    }

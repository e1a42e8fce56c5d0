"""Decoding: raw bytes → canonical messages (dicts), or a rejection with its reason.

Two envelopes are understood:
- canonical JSON (contract v1): one object or an array of objects with ``v`` and ``type``;
- the IoT platform's data-forwarding envelope (Huawei IoTDA/ROMA "device.property" report),
  translated through a per-product mapping file (``IotMapping``) into canonical messages.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson

from e200.telemetry.contract import DT_QUANTITIES, METER_QUANTITIES

# Fast path: the two interval reading types decoded straight into typed structs by msgspec
# (types, unknown quantities and missing fields are checked in C). Anything it refuses takes the
# generic path below, which finds and names the problem.
DtValues = msgspec.defstruct(
    "DtValues", [(q.name, float | None, None) for q in DT_QUANTITIES], forbid_unknown_fields=True
)
MeterValues = msgspec.defstruct(
    "MeterValues", [(q.name, float | None, None) for q in METER_QUANTITIES],
    forbid_unknown_fields=True,
)  # fmt: skip


class DtInterval(msgspec.Struct, tag_field="type", tag="dt_interval"):
    v: int
    device: str
    ts: str
    interval_min: int
    values: DtValues  # type: ignore[valid-type]
    terminal: str | None = None


class MeterInterval(msgspec.Struct, tag_field="type", tag="meter_interval"):
    v: int
    device: str
    ts: str
    interval_min: int
    values: MeterValues  # type: ignore[valid-type]


IntervalMessage = DtInterval | MeterInterval
_one_fast = msgspec.json.Decoder(IntervalMessage)
_many_fast = msgspec.json.Decoder(list[IntervalMessage])


def decode_fast(raw: bytes) -> list[IntervalMessage] | None:
    """Interval readings in the common shape, or None when the generic path must look."""
    try:
        if raw[:1] == b"[":
            return _many_fast.decode(raw)
        return [_one_fast.decode(raw)]
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def encoded(message: IntervalMessage) -> bytes:
    """A typed message's own bytes, for the quarantine."""
    return msgspec.json.encode(message)


@dataclass(slots=True)
class Rejection:
    """A message that will not be stored, with why. ``payload`` is the message's own bytes."""

    reason: str
    detail: str
    payload: bytes
    message_type: str | None = None
    device: str | None = None
    ref: str | None = None  # where the delivery came from (topic/partition/offset, …)


@dataclass(frozen=True)
class ProductMapping:
    """How one IoT product's property report becomes a canonical message."""

    message_type: str  # dt_interval or meter_interval
    properties: dict[str, str]  # platform property name -> canonical quantity
    scale: dict[str, float] = field(default_factory=dict)  # canonical quantity -> factor
    device_from: str = "node_id"  # header field holding the asset number
    terminal_from: str | None = "gateway_id"
    interval_min: int = 15


@dataclass(frozen=True)
class IotMapping:
    products: dict[str, ProductMapping] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> IotMapping:
        """TOML: ``[products.<product_id>]`` with ``message_type``, ``interval_min``,
        ``device_from``, ``terminal_from`` and a ``[products.<id>.properties]`` table mapping
        platform names to canonical quantities (``[products.<id>.scale]`` optional)."""
        data = tomllib.loads(path.read_text())
        products = {}
        for product_id, spec in data.get("products", {}).items():
            products[str(product_id)] = ProductMapping(
                message_type=spec.get("message_type", "dt_interval"),
                properties=dict(spec.get("properties", {})),
                scale={k: float(v) for k, v in spec.get("scale", {}).items()},
                device_from=spec.get("device_from", "node_id"),
                terminal_from=spec.get("terminal_from", "gateway_id"),
                interval_min=int(spec.get("interval_min", 15)),
            )
        return cls(products)


def _iot_time(value: object) -> str | None:
    """IoTDA stamps look like 20261126T101500Z; return ISO 8601."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).isoformat()
    except ValueError:
        return value  # let validation report it with the field named


def _from_envelope(
    obj: dict[str, Any], mapping: IotMapping, raw: bytes
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    notify = obj.get("notify_data")
    header = notify.get("header") if isinstance(notify, dict) else None
    body = notify.get("body") if isinstance(notify, dict) else None
    if not isinstance(header, dict) or not isinstance(body, dict):
        return [], [Rejection("schema", "envelope: notify_data.header and .body are required", raw)]
    product_id = str(header.get("product_id", ""))
    product = mapping.products.get(product_id)
    if product is None:
        device = str(header.get("node_id") or header.get("device_id"))
        detail = f"envelope: no mapping for product_id {product_id!r}"
        return [], [Rejection("unmapped_product", detail, raw, device=device)]
    services = body.get("services")
    if not isinstance(services, list):
        return [], [Rejection("schema", "envelope: body.services must be a list", raw)]
    device_number = header.get(product.device_from)
    messages: list[dict[str, Any]] = []
    for service in services:
        props = service.get("properties") if isinstance(service, dict) else None
        if not isinstance(props, dict):
            return [], [Rejection("schema", "envelope: each service needs properties", raw)]
        values: dict[str, Any] = {}
        for name, value in props.items():
            canonical = product.properties.get(name)
            if canonical is None:
                continue  # properties the mapping does not name are not ours to store
            factor = product.scale.get(canonical)
            values[canonical] = value * factor if factor and isinstance(value, (int, float)) \
                else value  # fmt: skip
        message: dict[str, Any] = {
            "v": 1, "type": product.message_type, "device": device_number,
            "ts": _iot_time(service.get("event_time") or obj.get("event_time")),
            "interval_min": product.interval_min, "values": values,
        }  # fmt: skip
        if product.terminal_from and header.get(product.terminal_from):
            message["terminal"] = header.get(product.terminal_from)
        messages.append(message)
    return messages, []


def decode(
    raw: bytes, mapping: IotMapping
) -> tuple[list[tuple[dict[str, Any], bytes]], list[Rejection]]:
    """Split one delivery into canonical messages (each with its own bytes for quarantine)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [], [Rejection("malformed_json", f"not valid JSON: {exc}", raw)]
    items = obj if isinstance(obj, list) else [obj]
    single = not isinstance(obj, list)
    out: list[tuple[dict[str, Any], bytes]] = []
    rejected: list[Rejection] = []
    for item in items:
        item_raw = raw if single else orjson.dumps(item)
        if not isinstance(item, dict):
            rejected.append(Rejection("schema", "a message must be a JSON object", item_raw))
        elif "notify_data" in item:
            messages, errors = _from_envelope(item, mapping, item_raw)
            rejected += errors
            out += [(m, item_raw) for m in messages]
        else:
            out.append((item, item_raw))
    return out, rejected

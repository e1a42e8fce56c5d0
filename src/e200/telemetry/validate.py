"""Validation: canonical messages → rows ready to store, or rejections with reasons.

Checks, in order, each failing message getting one reason code:
``schema`` (missing/mistyped field), ``unsupported_version``, ``unknown_type``,
``unknown_device`` (not in the archive), ``retired_device``, ``bad_timestamp`` (unparsable),
``future_timestamp`` (beyond the tolerance), ``off_grid`` (not on the interval grid),
``beyond_retention``, ``out_of_range`` (physically implausible value; the detail names the
quantity, value and bounds), ``register_backwards`` (an energy register lower than the last one
stored for the device, beyond the tolerance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from e200.archives import DeviceRef
from e200.telemetry.codec import Rejection
from e200.telemetry.contract import (
    CONTRACT_VERSION,
    DAILY_QUANTITIES,
    DT_QUANTITIES,
    EVENT_KINDS,
    INTERVALS_MIN,
    MESSAGE_TYPES,
    METER_QUANTITIES,
    Quantity,
)

# kind -> asset numbers -> DeviceRef for those that exist
Resolver = Callable[[str, list[str]], Mapping[str, DeviceRef]]
# (kind, device id) -> last (ts, {register: value}) stored, for the backwards check
LastRegisters = dict[tuple[str, int], tuple[datetime, dict[str, float]]]


@dataclass(frozen=True)
class Rules:
    future_tolerance: timedelta = timedelta(minutes=5)
    register_tolerance_kwh: float = 0.01
    retention: timedelta = timedelta(days=400)


@dataclass
class Validated:
    """One batch after validation; rows are tuples in the tables' column order."""

    dt_rows: list[tuple[Any, ...]] = field(default_factory=list)
    meter_rows: list[tuple[Any, ...]] = field(default_factory=list)
    daily_rows: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    terminal_lists: list[tuple[int, datetime, list[str]]] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    seen_terminals: dict[int, datetime] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    # newest reading per (kind, id) in this batch: (ts, its quantities, its values)
    latest: dict[tuple[str, int], tuple[datetime, tuple[Quantity, ...], list[float | None]]] = (
        field(default_factory=dict)
    )

    @property
    def accepted(self) -> int:
        return (len(self.dt_rows) + len(self.meter_rows) + len(self.daily_rows) + len(self.events)
                + len(self.terminal_lists) + len(self.acks))  # fmt: skip


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _parse_ts(value: object, field_name: str = "ts") -> datetime:
    if not isinstance(value, str):
        raise _Invalid("schema", f"{field_name}: required, an ISO 8601 UTC time")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _Invalid("bad_timestamp", f"{field_name}: {value!r} is not ISO 8601") from exc
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def _str_field(msg: dict[str, Any], name: str) -> str:
    value = msg.get(name)
    if not isinstance(value, str) or not value:
        raise _Invalid("schema", f"{name}: required, a non-empty string")
    if not _usable_key(value):
        raise _Invalid("schema", f"{name}: at most 64 characters, no NUL")
    return value


def _usable_key(value: str) -> bool:
    """An asset number we can look up: PostgreSQL text cannot hold NUL; keys are ≤ 64 chars."""
    return len(value) <= 64 and "\x00" not in value


_INF = float("inf")
_REGISTER_POSITIONS: dict[int, list[int]] = {
    id(qs): [i for i, q in enumerate(qs) if q.register]
    for qs in (DT_QUANTITIES, METER_QUANTITIES, DAILY_QUANTITIES)
}


def _register_positions(quantities: tuple[Quantity, ...]) -> list[int]:
    return _REGISTER_POSITIONS[id(quantities)]


_Layout = tuple[dict[str, int], list[tuple[float, float]]]
_layouts: dict[tuple[float, ...], _Layout] = {}


def _layout(quantities: tuple[Quantity, ...], rating: dict[str, float]) -> _Layout:
    """Column positions and numeric bounds for one device rating, computed once and cached:
    the per-value check on the hot path is then one dict lookup and one comparison."""
    key = (id(quantities), *rating.values())
    layout = _layouts.get(key)
    if layout is None:
        bounds = []
        for q in quantities:
            lo, hi = q.bounds(rating)
            bounds.append((-_INF if lo is None else lo, _INF if hi is None else hi))
        layout = ({q.name: i for i, q in enumerate(quantities)}, bounds)
        _layouts[key] = layout
    return layout


def _values(
    msg: dict[str, Any], quantities: tuple[Quantity, ...], rating: dict[str, float]
) -> list[float | None]:
    values = msg.get("values")
    if type(values) is not dict:
        raise _Invalid("schema", "values: required, an object of quantity: number")
    index, bounds = _layout(quantities, rating)
    out: list[float | None] = [None] * len(quantities)
    given = 0
    for name, value in values.items():
        pos = index.get(name)
        if pos is None:
            raise _Invalid("schema", f"values: unknown quantity {name!r}")
        if value is None:
            continue
        kind = type(value)
        if kind is int:
            try:
                value = float(value)
            except OverflowError:
                raise _Invalid("out_of_range", f"values.{name}: {value} is too large") from None
        elif kind is not float:
            raise _Invalid("schema", f"values.{name}: must be a number")
        lo, hi = bounds[pos]
        if not lo <= value <= hi:
            q = quantities[pos]
            unit = "" if q.unit == "1" else " " + q.unit
            raise _Invalid("out_of_range", f"values.{name}: {value:g}{unit} outside "
                           f"[{_fmt(lo)}, {_fmt(hi)}]")  # fmt: skip
        out[pos] = value
        given += 1
    if not given:
        raise _Invalid("schema", "values: no quantity given")
    return out


def _fmt(bound: float) -> str:
    return f"{bound:.4g}"


class Validator:
    def __init__(self, resolve: Resolver, last_registers: LastRegisters, rules: Rules) -> None:
        # Terminals of one utility report the same interval ends: parse each stamp once.
        self._stamps: dict[object, datetime] = {}
        self._resolve = resolve
        self._last = last_registers
        self.rules = rules

    def validate(
        self,
        messages: list[tuple[dict[str, Any], bytes, str | None]],
        now: datetime,
        devices: dict[str, Mapping[str, DeviceRef]] | None = None,
    ) -> Validated:
        out = Validated()
        if devices is None:
            devices = self.resolve_all(messages)
        for msg, raw, ref in messages:
            mtype = msg.get("type") if isinstance(msg.get("type"), str) else None
            device = msg.get("device") if isinstance(msg.get("device"), str) else None
            try:
                self._one(msg, devices, now, out)
            except _Invalid as exc:
                out.rejected.append(Rejection(exc.reason, exc.detail, raw, mtype, device, ref))
        return out

    def resolve_all(self, messages: list[tuple[dict[str, Any], bytes, str | None]]
                     ) -> dict[str, Mapping[str, DeviceRef]]:  # fmt: skip
        wanted: dict[str, set[str]] = {"transformer": set(), "meter": set(), "terminal": set()}
        for msg, *_ in messages:
            mtype = msg.get("type")
            device, terminal = msg.get("device"), msg.get("terminal")
            if mtype == "dt_interval":
                if isinstance(device, str):
                    wanted["transformer"].add(device)
                if isinstance(terminal, str):
                    wanted["terminal"].add(terminal)
            elif mtype in ("meter_interval", "meter_daily") and isinstance(device, str):
                wanted["meter"].add(device)
            elif mtype == "event" and isinstance(device, str):
                for kind in ("meter", "transformer", "terminal"):
                    wanted[kind].add(device)
            elif mtype in ("terminal_meters", "command_ack") and isinstance(terminal, str):
                wanted["terminal"].add(terminal)
        return {kind: self._resolve(kind, sorted(n for n in names if _usable_key(n)))
                for kind, names in wanted.items()}  # fmt: skip

    def _device(self, devices: dict[str, Mapping[str, DeviceRef]], kind: str, number: str
                ) -> DeviceRef:  # fmt: skip
        ref = devices[kind].get(number)
        if ref is None:
            raise _Invalid("unknown_device", f"{kind} {number!r} is not in the archive")
        if ref.status == "retired":
            raise _Invalid("retired_device", f"{kind} {number!r} is retired")
        return ref

    def _interval_ts(self, msg: dict[str, Any], now: datetime) -> tuple[datetime, int]:
        interval = msg.get("interval_min")
        if not isinstance(interval, int) or isinstance(interval, bool) \
                or interval not in INTERVALS_MIN:  # fmt: skip
            raise _Invalid("schema", f"interval_min: one of {list(INTERVALS_MIN)}")
        raw_ts = msg.get("ts")
        ts = self._stamps.get(raw_ts) if type(raw_ts) is str else None
        if ts is None:
            ts = self._checked_time(_parse_ts(raw_ts), now)
            if type(raw_ts) is str:
                self._stamps[raw_ts] = ts
        if int(ts.timestamp()) % (interval * 60) or ts.microsecond:
            raise _Invalid("off_grid", f"ts: {ts.isoformat()} is not on the {interval}-min grid")
        return ts, interval

    def _checked_time(self, ts: datetime, now: datetime) -> datetime:
        if ts > now + self.rules.future_tolerance:
            raise _Invalid("future_timestamp", f"ts: {ts.isoformat()} is in the future")
        if ts < now - self.rules.retention:
            raise _Invalid("beyond_retention", f"ts: {ts.isoformat()} is older than retention")
        return ts

    def _registers(self, key: tuple[str, int], ts: datetime, quantities: tuple[Quantity, ...],
                   values: list[float | None], out: Validated) -> None:  # fmt: skip
        """Registers may not run backwards against the newest earlier reading we know of."""
        current = out.latest.get(key)
        last: Mapping[str, float | None]
        if current is not None:
            last_ts = current[0]
            last = {quantities[i].name: current[2][i] for i in _register_positions(quantities)}
        else:
            known = self._last.get(key)
            if known is None:
                return
            last_ts, last = known
        if last_ts >= ts:
            return  # a late reading: nothing earlier to compare with here
        for i in _register_positions(quantities):
            value = values[i]
            before = last.get(quantities[i].name)
            if value is None or before is None:
                continue
            if value < before - self.rules.register_tolerance_kwh:
                raise _Invalid("register_backwards",
                               f"values.{quantities[i].name}: {value:g} < {before:g} stored at "
                               f"{last_ts.isoformat()}")  # fmt: skip

    @staticmethod
    def _note_latest(key: tuple[str, int], ts: datetime, quantities: tuple[Quantity, ...],
                     values: list[float | None], out: Validated) -> None:  # fmt: skip
        current = out.latest.get(key)
        if current is None or current[0] < ts:
            out.latest[key] = (ts, quantities, values)

    def _one(self, msg: dict[str, Any], devices: dict[str, Mapping[str, DeviceRef]],
             now: datetime, out: Validated) -> None:  # fmt: skip
        if msg.get("v") != CONTRACT_VERSION:
            raise _Invalid("unsupported_version", f"v: {msg.get('v')!r}, this is contract v1")
        mtype = msg.get("type")
        if mtype not in MESSAGE_TYPES:
            raise _Invalid("unknown_type", f"type: {mtype!r} is not one of {list(MESSAGE_TYPES)}")
        if mtype == "dt_interval":
            dt = self._device(devices, "transformer", _str_field(msg, "device"))
            terminal_id = None
            if msg.get("terminal") is not None:
                term = self._device(devices, "terminal", _str_field(msg, "terminal"))
                terminal_id = term.id
            ts, interval = self._interval_ts(msg, now)
            values = _values(msg, DT_QUANTITIES, dt.rating)
            key = ("transformer", dt.id)
            self._registers(key, ts, DT_QUANTITIES, values, out)
            out.dt_rows.append((dt.id, ts, interval, terminal_id, *values, now))
            self._note_latest(key, ts, DT_QUANTITIES, values, out)
            if terminal_id is not None:
                out.seen_terminals[terminal_id] = max(ts, out.seen_terminals.get(terminal_id, ts))
        elif mtype == "meter_interval":
            meter = self._device(devices, "meter", _str_field(msg, "device"))
            ts, interval = self._interval_ts(msg, now)
            values = _values(msg, METER_QUANTITIES, meter.rating)
            key = ("meter", meter.id)
            self._registers(key, ts, METER_QUANTITIES, values, out)
            out.meter_rows.append((meter.id, ts, interval, *values, now))
            self._note_latest(key, ts, METER_QUANTITIES, values, out)
        elif mtype == "meter_daily":
            meter = self._device(devices, "meter", _str_field(msg, "device"))
            day_text = _str_field(msg, "date")
            try:
                day = date.fromisoformat(day_text)
            except ValueError as exc:
                raise _Invalid("bad_timestamp", f"date: {day_text!r} is not YYYY-MM-DD") from exc
            self._checked_time(datetime(day.year, day.month, day.day, tzinfo=UTC), now)
            values = _values(msg, DAILY_QUANTITIES, meter.rating)
            out.daily_rows.append((meter.id, day, *values, now))
        elif mtype == "event":
            self._event(msg, devices, now, out)
        elif mtype == "terminal_meters":
            term = self._device(devices, "terminal", _str_field(msg, "terminal"))
            ts = self._checked_time(_parse_ts(msg.get("ts")), now)
            meters = msg.get("meters")
            if not isinstance(meters, list) or not all(isinstance(m, str) for m in meters):
                raise _Invalid("schema", "meters: required, a list of meter asset numbers")
            out.terminal_lists.append((term.id, ts, list(meters)))
            out.seen_terminals[term.id] = max(ts, out.seen_terminals.get(term.id, ts))
        else:  # command_ack
            term = self._device(devices, "terminal", _str_field(msg, "terminal"))
            command_id = _str_field(msg, "command_id")
            status = msg.get("status")
            if status not in ("ok", "error"):
                raise _Invalid("schema", "status: 'ok' or 'error'")
            out.acks.append({"terminal_id": term.id, "command_id": command_id,
                             "status": status, "result": msg.get("result")})  # fmt: skip
            out.seen_terminals[term.id] = max(now, out.seen_terminals.get(term.id, now))

    def _event(self, msg: dict[str, Any], devices: dict[str, Mapping[str, DeviceRef]],
               now: datetime, out: Validated) -> None:  # fmt: skip
        number = _str_field(msg, "device")
        ref = None
        for kind in ("meter", "transformer", "terminal"):
            if number in devices[kind]:
                ref = self._device(devices, kind, number)
                break
        if ref is None:
            raise _Invalid("unknown_device", f"device {number!r} is not in the archive")
        ts = self._checked_time(_parse_ts(msg.get("ts")), now)
        event = _str_field(msg, "event")
        if event not in EVENT_KINDS:
            raise _Invalid("schema", f"event: {event!r} is not one of {list(EVENT_KINDS)}")
        detail = msg.get("detail")
        if detail is not None and not isinstance(detail, (dict, str)):
            raise _Invalid("schema", "detail: an object or a string")
        out.events.append((ref.kind, ref.id, ts, event, detail, now))
        if ref.kind == "terminal":
            out.seen_terminals[ref.id] = max(ts, out.seen_terminals.get(ref.id, ts))

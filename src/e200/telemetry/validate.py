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

import msgspec

from e200.archives import DeviceRef
from e200.telemetry.codec import DtInterval, IntervalMessage, Rejection
from e200.telemetry.contract import (
    CONTRACT_VERSION,
    DAILY_QUANTITIES,
    DT_QUANTITIES,
    EVENT_KINDS,
    INTERVALS_MIN,
    MESSAGE_TYPES,
    METER_PHASES,
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
    # (terminal id, ts, meters, phases or None)
    terminal_lists: list[tuple[int, datetime, list[str], dict[str, str] | None]] = field(
        default_factory=list
    )
    acks: list[dict[str, Any]] = field(default_factory=list)
    # terminal id -> the newest time its messages of this batch carry (not when they arrived)
    seen_terminals: dict[int, datetime] = field(default_factory=dict)
    # when the batch arrived (the pipeline's clock): the time its terminals were heard from
    received_at: datetime | None = None
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


def register_values(quantities: tuple[Quantity, ...], values: list[float | None]
                    ) -> dict[str, float]:  # fmt: skip
    """The energy registers among a reading's values, by name."""
    out = {}
    for pos in _REGISTER_POSITIONS[id(quantities)]:
        value = values[pos]
        if value is not None:
            out[quantities[pos].name] = value
    return out


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


def _values(msg: dict[str, Any], quantities: tuple[Quantity, ...]) -> list[float | None]:
    """The slow path's type checks: ``values`` of an untyped message as a list in column order."""
    values = msg.get("values")
    if type(values) is not dict:
        raise _Invalid("schema", "values: required, an object of quantity: number")
    index, _ = _layout(quantities, {})
    out: list[float | None] = [None] * len(quantities)
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
        out[pos] = value
    return out


def _check_ranges(
    values: list[float | None], quantities: tuple[Quantity, ...], rating: dict[str, float]
) -> None:
    """Physical plausibility, shared by both paths: one comparison per value given."""
    _, bounds = _layout(quantities, rating)
    given = 0
    for pos, value in enumerate(values):
        if value is None:
            continue
        lo, hi = bounds[pos]
        if not lo <= value <= hi:
            q = quantities[pos]
            unit = "" if q.unit == "1" else " " + q.unit
            raise _Invalid("out_of_range", f"values.{q.name}: {value:g}{unit} outside "
                           f"[{_fmt(lo)}, {_fmt(hi)}]")  # fmt: skip
        given += 1
    if not given:
        raise _Invalid("schema", "values: no quantity given")


def _key(value: object, name: str) -> str:
    """An asset number field of a typed message (the same rules as ``_str_field``)."""
    if not isinstance(value, str) or not value:
        raise _Invalid("schema", f"{name}: required, a non-empty string")
    if not _usable_key(value):
        raise _Invalid("schema", f"{name}: at most 64 characters, no NUL")
    return value


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
        out = Validated(received_at=now)
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

    def resolve_all(
        self,
        messages: list[tuple[dict[str, Any], bytes, str | None]],
        typed: list[tuple[IntervalMessage, bytes, str | None]] = (),  # type: ignore[assignment]
    ) -> dict[str, Mapping[str, DeviceRef]]:
        """Every device the batch names, looked up in one query per kind."""
        wanted: dict[str, set[str]] = {"transformer": set(), "meter": set(), "terminal": set()}
        for item, *_ in typed:
            if isinstance(item, DtInterval):
                wanted["transformer"].add(item.device)
                if item.terminal is not None:
                    wanted["terminal"].add(item.terminal)
            else:
                wanted["meter"].add(item.device)
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

    def _interval_ts(self, raw_ts: object, interval: object, now: datetime
                     ) -> tuple[datetime, int]:  # fmt: skip
        if not isinstance(interval, int) or isinstance(interval, bool) \
                or interval not in INTERVALS_MIN:  # fmt: skip
            raise _Invalid("schema", f"interval_min: one of {list(INTERVALS_MIN)}")
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

    def _dt_reading(self, dt: DeviceRef, term: DeviceRef | None, ts: datetime, interval: int,
                    values: list[float | None], now: datetime, out: Validated) -> None:  # fmt: skip
        _check_ranges(values, DT_QUANTITIES, dt.rating)
        key = ("transformer", dt.id)
        self._registers(key, ts, DT_QUANTITIES, values, out)
        terminal_id = None if term is None else term.id
        out.dt_rows.append((dt.id, ts, interval, terminal_id, *values, now))
        self._note_latest(key, ts, DT_QUANTITIES, values, out)
        if terminal_id is not None:
            out.seen_terminals[terminal_id] = max(ts, out.seen_terminals.get(terminal_id, ts))

    def _meter_reading(
        self, meter: DeviceRef, ts: datetime, interval: int, values: list[float | None],
        now: datetime, out: Validated,
    ) -> None:  # fmt: skip
        _check_ranges(values, METER_QUANTITIES, meter.rating)
        key = ("meter", meter.id)
        self._registers(key, ts, METER_QUANTITIES, values, out)
        out.meter_rows.append((meter.id, ts, interval, *values, now))
        self._note_latest(key, ts, METER_QUANTITIES, values, out)

    def validate_typed(self, items: list[tuple[IntervalMessage, bytes, str | None]],
                       now: datetime, devices: dict[str, Mapping[str, DeviceRef]],
                       out: Validated) -> None:  # fmt: skip
        """The fast path: interval readings already decoded and type-checked by msgspec. The
        checks and reasons are the slow path's, in the same order."""
        for msg, raw, ref in items:
            try:
                if msg.v != CONTRACT_VERSION:
                    raise _Invalid("unsupported_version", f"v: {msg.v!r}, this is contract v1")
                if isinstance(msg, DtInterval):
                    dt = self._device(devices, "transformer", _key(msg.device, "device"))
                    term = None if msg.terminal is None else self._device(
                        devices, "terminal", _key(msg.terminal, "terminal"))  # fmt: skip
                    ts, interval = self._interval_ts(msg.ts, msg.interval_min, now)
                    values = list(msgspec.structs.astuple(msg.values))
                    self._dt_reading(dt, term, ts, interval, values, now, out)
                else:
                    meter = self._device(devices, "meter", _key(msg.device, "device"))
                    ts, interval = self._interval_ts(msg.ts, msg.interval_min, now)
                    values = list(msgspec.structs.astuple(msg.values))
                    self._meter_reading(meter, ts, interval, values, now, out)
            except _Invalid as exc:
                mtype = "dt_interval" if isinstance(msg, DtInterval) else "meter_interval"
                device = msg.device if isinstance(msg.device, str) else None
                out.rejected.append(Rejection(exc.reason, exc.detail, raw, mtype, device, ref))

    def _one(self, msg: dict[str, Any], devices: dict[str, Mapping[str, DeviceRef]],
             now: datetime, out: Validated) -> None:  # fmt: skip
        if msg.get("v") != CONTRACT_VERSION:
            raise _Invalid("unsupported_version", f"v: {msg.get('v')!r}, this is contract v1")
        mtype = msg.get("type")
        if mtype not in MESSAGE_TYPES:
            raise _Invalid("unknown_type", f"type: {mtype!r} is not one of {list(MESSAGE_TYPES)}")
        if mtype == "dt_interval":
            dt = self._device(devices, "transformer", _str_field(msg, "device"))
            terminal = msg.get("terminal")
            term = None if terminal is None else self._device(
                devices, "terminal", _str_field(msg, "terminal"))  # fmt: skip
            ts, interval = self._interval_ts(msg.get("ts"), msg.get("interval_min"), now)
            self._dt_reading(dt, term, ts, interval, _values(msg, DT_QUANTITIES), now, out)
        elif mtype == "meter_interval":
            meter = self._device(devices, "meter", _str_field(msg, "device"))
            ts, interval = self._interval_ts(msg.get("ts"), msg.get("interval_min"), now)
            self._meter_reading(meter, ts, interval, _values(msg, METER_QUANTITIES), now, out)
        elif mtype == "meter_daily":
            meter = self._device(devices, "meter", _str_field(msg, "device"))
            day_text = _str_field(msg, "date")
            try:
                day = date.fromisoformat(day_text)
            except ValueError as exc:
                raise _Invalid("bad_timestamp", f"date: {day_text!r} is not YYYY-MM-DD") from exc
            self._checked_time(datetime(day.year, day.month, day.day, tzinfo=UTC), now)
            values = _values(msg, DAILY_QUANTITIES)
            _check_ranges(values, DAILY_QUANTITIES, meter.rating)
            out.daily_rows.append((meter.id, day, *values, now))
        elif mtype == "event":
            self._event(msg, devices, now, out)
        elif mtype == "terminal_meters":
            term = self._device(devices, "terminal", _str_field(msg, "terminal"))
            ts = self._checked_time(_parse_ts(msg.get("ts")), now)
            meters = msg.get("meters")
            if not isinstance(meters, list) or not all(isinstance(m, str) for m in meters):
                raise _Invalid("schema", "meters: required, a list of meter asset numbers")
            phases = _phases(msg.get("phases"), meters)
            out.terminal_lists.append((term.id, ts, list(meters), phases))
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


def _phases(raw: object, meters: list[str]) -> dict[str, str] | None:
    """The optional ``phases`` of a ``terminal_meters`` message: meter -> A, B, C or ABC, only
    for meters of its list."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _Invalid("schema", "phases: an object of meter asset number -> phase")
    listed = set(meters)
    for meter, phase in raw.items():
        if meter not in listed:
            raise _Invalid("schema", f"phases: meter {meter!r} is not in meters")
        if phase not in METER_PHASES:
            raise _Invalid("schema", f"phases: {phase!r} of {meter!r} is not one of "
                                     f"{list(METER_PHASES)}")  # fmt: skip
    return dict(raw)

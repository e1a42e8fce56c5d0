"""The alarm engine: evaluates the rule catalogue on every stored batch (an ingest pipeline hook)
and terminal silence on a timer.

Per batch, inside the batch's transaction:

1. the transformers of the batch's interval readings, their ratings and org units, and their
   effective thresholds — one query each (the thresholds are remembered between batches until
   the threshold table changes);
2. the evaluation state in ``alarms.rule_state``: each transformer's own row (rule ``*``, the
   newest interval counted), locked in a fixed order (``SELECT … FOR UPDATE``), so two ingest
   processes that get readings of the same transformer evaluate one after the other and a
   replayed reading (``ts`` not newer than the last counted) is ignored; and the rows of its
   rules whose state is not the default (a breach counted, the clear band not yet held, a
   previous value) — a rule at its default has no row;
3. every rule's value for all readings of the batch at once (numpy, the rules' screens), to
   find the (transformer, rule) pairs this batch may change: a breach or a value outside the
   clear band, a state off its default, an open alarm — for a healthy fleet a handful;
4. the readings of each such pair in time order through its rule: consecutive breaching
   intervals raise once ``duration`` is reached; an open alarm is updated (peak, last value,
   last seen) once per batch and cleared after ``clear_duration`` intervals inside the clear
   band. Raising goes through ``raise_or_update`` (``INSERT … ON CONFLICT`` on the partial
   unique index), so there is never a second open alarm of a rule on a device.

A terminal's (or transformer's) last gasp (``power_down`` event) raises ``outage`` on its
transformer at the event's time — a station area without supply sends no readings, so the
voltage rule alone would never see it — and its ``power_up`` clears it (so does the first
reading with voltage back). Terminals heard from in the batch have their offline alarm
cleared; ``check_offline`` (a timer, see ``e200.cli.runtime``) raises ``terminal_offline`` for
terminals not heard from for k × their reporting interval, without waiting for a message.
Liveness is arrival time (``alarms.liveness``), not the time a message carries: a backlog or a
terminal's buffered history is a terminal heard from now.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import numpy as np
import structlog
from sqlalchemy import Connection, select, text

from e200 import archives, telemetry
from e200.alarms import service
from e200.alarms.catalog import (
    OFFLINE,
    READING_RULES,
    RULES_BY_KEY,
    Columns,
    Reading,
    RuleSpec,
    rating_of,
    unbalance_pct,
)
from e200.alarms.liveness import TERMINAL_COLUMNS, liveness_of
from e200.alarms.tables import NOT_CLEARED, alarm, rule_state
from e200.alarms.tables import threshold as threshold_table
from e200.alarms.thresholds import effective_for
from e200.kernel import utc_now
from e200.telemetry import Validated

log = structlog.get_logger(__name__)

NEVER = datetime(1970, 1, 1, tzinfo=UTC)
DEVICE_ROW = "*"  # the rule_state row of a device itself: its newest interval counted
LINK_WINDOW = timedelta(hours=6)
DT_COLUMNS = ("rated_kva", "secondary_rated_v", "phases", "no_load_loss_kw", "load_loss_kw")
# Validated.dt_rows are tuples in the column order of telemetry.dt_reading.
DT_ROW_COLUMNS = tuple(c.name for c in telemetry.metadata.tables["telemetry.dt_reading"].c)
_COL = {name: k for k, name in enumerate(DT_ROW_COLUMNS)}
_KEYS = ("transformer_id", "ts", "interval_min", "terminal_id", "received_at")
_QUANTITIES = [c for c in DT_ROW_COLUMNS if c not in _KEYS]
_QUANTITIES_OF = itemgetter(*(_COL[q] for q in _QUANTITIES))  # a row's quantities, as a tuple
_RATING = ("s_rated", "v_phase", "i_rated", "no_load_loss_kw", "load_loss_kw")  # of _rating
# A screened value this close to the clear band counts as possibly outside it: covers the
# screens' float differences from value_fn and value_fn's rounding to 4 digits (≤ 5e-5).
SCREEN_MARGIN = 1e-3
_NO_VALUE = float("nan")
_TERM_TRAFO = archives.metadata.tables["archives.terminal_transformer"]


@dataclass(slots=True)
class _State:
    last_ts: datetime
    breach_n: int = 0
    ok_n: int = 0
    prev_value: float | None = None
    dirty: bool = False
    stored: tuple[int, int, float | None] | None = None  # (breach_n, ok_n, prev_value) in the table


@dataclass
class _Open:
    """An open alarm's changes in this batch, written once at the end (or before a clear)."""

    peak: float | None = None
    last: float | None = None
    last_ts: datetime | None = None
    raised: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _rating(cols: dict[str, Any]) -> dict[str, float | None]:
    return rating_of(cols["rated_kva"], cols["secondary_rated_v"], cols["phases"],
                     cols["no_load_loss_kw"], cols["load_loss_kw"])  # fmt: skip


def readings_link(asset_number: str, at: datetime, quantities: tuple[str, ...]) -> str:
    """URL of the device's readings around ``at`` (± 6 h) for the given quantities."""
    query = urlencode({"from": (at - LINK_WINDOW).isoformat(), "to": (at + LINK_WINDOW).isoformat(),
                       "quantities": ",".join(quantities)})  # fmt: skip
    return f"/api/v1/devices/{asset_number}/readings?{query}"


def _driver(conn: Connection) -> Any:
    """The psycopg connection under ``conn`` (same transaction), for statements with large
    arrays sent in binary."""
    return conn.connection.driver_connection


def _fmt(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.2f} {unit}".rstrip()


class AlarmEngine:
    """The rule catalogue's evaluator: install as ``pipeline.hooks.append(engine)``."""

    def __init__(self, *, timezone: str = "UTC", rules: tuple[RuleSpec, ...] = READING_RULES):
        self.tz = ZoneInfo(timezone)
        self.rules = rules
        # (threshold table fingerprint, device → (org path, its overrides)): see _overrides
        self._thresholds: tuple[Any, dict[int, tuple[str | None, dict[str, Any]]]] = (None, {})

    # -- advice --------------------------------------------------------------------------------

    def advice(self, spec: RuleSpec, asset: str, reading: Reading | None,
               at: datetime) -> dict[str, Any]:  # fmt: skip
        """The rule's causes and checks, with what the context at ``at`` suggests first."""
        context: list[str] = []
        if reading is not None:
            hour = reading.ts.astimezone(self.tz).hour
            unbalance = unbalance_pct(reading)
            p = reading.get("p_kw")
            if spec.key in ("overload", "severe_overload", "heavy_load", "transformer_loss_high"):
                if 17 <= hour <= 22 and unbalance is not None and unbalance > 15:
                    context.append(f"evening peak with {unbalance:.0f} % current unbalance: "
                                   "rebalance phases before replacing the transformer")  # fmt: skip
                elif 17 <= hour <= 22:
                    context.append("evening peak load: check for new large loads and plan "
                                   "load transfer or a larger unit")  # fmt: skip
            if spec.key == "over_voltage" and p is not None and p < 0 and 9 <= hour <= 16:
                context.append("midday with reverse power: PV export raises the voltage; "
                               "check the tap position and PV inverter settings")  # fmt: skip
            if spec.key == "under_voltage":
                load = reading.values.get("s_kva")
                rated = reading.rating.get("s_rated")
                if load is not None and rated and load / rated > 0.8:
                    context.append("high loading at the same time: the load drags the voltage "
                                   "down (check tap position and phase balance)")  # fmt: skip
                elif 17 <= hour <= 22:
                    context.append("evening: load-driven under-voltage is likely")
            if spec.key == "reverse_power" and not 7 <= hour <= 18:
                context.append("reverse power at night: PV cannot explain it; check CT wiring")
            if spec.key == "oil_over_temperature":
                load = reading.values.get("s_kva")
                rated = reading.rating.get("s_rated")
                if load is not None and rated and load / rated > 1.0:
                    context.append("the transformer is overloaded: the heat comes from load")
        return {
            "causes": list(spec.advice.causes),
            "checks": list(spec.advice.checks),
            "context": context,
            "links": {"readings": readings_link(asset, at, spec.curves)},
        }

    # -- readings ------------------------------------------------------------------------------

    def __call__(self, conn: Connection, batch: Validated) -> None:
        if batch.events:
            self.supply_events(conn, batch.events)
        if batch.dt_rows:
            self.evaluate(conn, batch.dt_rows)
        if batch.seen_terminals:
            self.terminals_heard(conn, list(batch.seen_terminals), batch.received_at or utc_now())

    def evaluate(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        by_dev: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in rows:
            by_dev[row[_COL["transformer_id"]]].append(row)
        ids = sorted(by_dev)
        facts = archives.device_facts(conn, "transformer", ids, DT_COLUMNS)
        overrides = self._overrides(conn, facts)
        keys = [r.key for r in self.rules]
        last, stored = self._lock_states(conn, "transformer", ids, keys)
        open_: set[tuple[int, str]] = set(_driver(conn).execute(
            f"SELECT device_id, rule FROM {alarm.fullname} WHERE device_kind = 'transformer' "
            f"AND {NOT_CLEARED} AND device_id = ANY(CAST(%(ids)b AS bigint[]))",
            {"ids": ids}).fetchall())  # fmt: skip
        # Each device's readings newer than its newest counted, in time order, one per interval
        # (a replayed or late reading is counted already, or out of order: ignored).
        fresh: dict[int, list[tuple[Any, ...]]] = {}
        for dev in ids:
            if dev not in facts:
                continue
            counted, new = last[dev], []
            for r in sorted(by_dev[dev], key=lambda r: r[_COL["ts"]]):
                if r[_COL["ts"]] > counted:
                    counted = r[_COL["ts"]]
                    new.append(r)
            if new:
                fresh[dev] = new
        if not fresh:
            return
        ratings = {dev: _rating(facts[dev].columns) for dev in fresh}
        todo, carried = self._screen(fresh, ratings, overrides, stored, open_)
        caps = self._clear_durations()
        states: dict[tuple[int, str], _State] = carried
        for dev, new in fresh.items():  # in device order, each device's rules in catalogue order
            readings: list[Reading] | None = None
            for spec in self.rules:
                if dev not in todo[spec.key]:
                    continue
                if readings is None:
                    readings = [
                        Reading(ts=r[_COL["ts"]], interval_min=r[_COL["interval_min"]],
                                values={q: r[_COL[q]] for q in _QUANTITIES},
                                rating=ratings[dev], received_at=r[_COL["received_at"]])
                        for r in new]  # fmt: skip
                was = stored.get((dev, spec.key))
                st = (_State(last[dev], ok_n=caps[spec.key]) if was is None else
                      _State(last[dev], *was, stored=was))  # fmt: skip
                eff = overrides.get(dev, {})
                threshold = eff[spec.key][0] if spec.key in eff else spec.threshold
                self._run(conn, facts[dev], spec, threshold, readings, st,
                          (dev, spec.key) in open_)  # fmt: skip
                states[(dev, spec.key)] = st
        newest = {dev: new[-1][_COL["ts"]] for dev, new in fresh.items()}
        self._save_states(conn, "transformer", newest, states)

    def _overrides(self, conn: Connection, facts: dict[int, archives.DeviceFacts]
                   ) -> dict[int, dict[str, tuple[float, Any, int | None]]]:  # fmt: skip
        """``effective_for`` of the batch's devices, remembered between batches while the
        threshold table is unchanged: its fingerprint (row count and a hash of every row) costs
        one small aggregate, the thresholds of 5,000 devices a query with 5,000 parameters.
        A device is looked up again when its org unit changes, and all of them once the table
        changes — so a new threshold still takes effect on the next batch, in every process."""
        version = tuple(conn.execute(text(
            "SELECT count(*), coalesce(sum(hashtextextended(concat_ws(':', rule, level, "
            f"target_id, value), 0)), 0) FROM {threshold_table.fullname}")).one())  # fmt: skip
        cached_version, cache = self._thresholds
        if version != cached_version:
            # a new dict, not cleared in place: a concurrent batch of the old version keeps
            # writing into the old one
            cache = {}
            self._thresholds = (version, cache)
        missing = [f for f in facts.values()
                   if f.id not in cache or cache[f.id][0] != f.org_path]  # fmt: skip
        if missing:
            found = effective_for(conn, missing)
            for f in missing:
                cache[f.id] = (f.org_path, found.get(f.id, {}))
        return {dev: cache[dev][1] for dev in facts if cache[dev][1]}

    def _screen(self, fresh: dict[int, list[tuple[Any, ...]]],
                ratings: dict[int, dict[str, float | None]],
                overrides: dict[int, dict[str, tuple[float, Any, int | None]]],
                stored: dict[tuple[int, str], tuple[int, int, float | None]],
                open_: set[tuple[int, str]]
                ) -> tuple[dict[str, set[int]], dict[tuple[int, str], _State]]:  # fmt: skip
        """Per rule, the devices whose state this batch may change — the only ones ``_run``
        walks through their readings (one Python call per reading and rule was the engine's
        largest cost) — and the new states of the frozen-value rule where it surely changes
        nothing but its previous value.

        A rule at its default state (no row) and without an open alarm stays there when every
        reading is inside its clear band: ``breach_n`` stays 0 and ``ok_n`` at its cap, nothing
        is raised or written. Which readings surely are inside the band is decided for the
        whole batch at once with the rules' screens (numpy, ``catalog.Columns``) and a margin
        that covers the screens' rounding; everything else goes through ``_run`` and
        ``value_fn``, which decide as before. A frozen-value rule keeps a row with its previous
        value on every device; with no breach counted and no open alarm, readings whose value
        surely differs from the one before only count ``ok_n`` up and carry the last value.
        A healthy fleet breaches nothing, so this leaves the few devices near or over a
        threshold."""
        devs = list(fresh)
        counts = [len(fresh[d]) for d in devs]
        firsts = np.cumsum([0, *counts[:-1]])  # per device: its first reading's index
        lasts = (firsts + np.array(counts) - 1).tolist()
        start = dict(zip(devs, firsts.tolist(), strict=True))
        owner = np.repeat(np.arange(len(devs)), counts)  # reading → index in devs
        flat = [r for d in devs for r in fresh[d]]
        quantities = np.array(list(map(_QUANTITIES_OF, flat)), dtype=np.float64)
        rating = np.array([[ratings[d][k] for k in _RATING] for d in devs],
                          dtype=np.float64)[owner]  # fmt: skip  # None → NaN in both
        cols = Columns(values={q: quantities[:, k] for k, q in enumerate(_QUANTITIES)},
                       rating={name: rating[:, k] for k, name in enumerate(_RATING)})  # fmt: skip
        with_row: dict[str, set[int]] = defaultdict(set)
        with_alarm: dict[str, set[int]] = defaultdict(set)
        for dev, key in stored:
            with_row[key].add(dev)
        for dev, key in open_:
            with_alarm[key].add(dev)
        todo: dict[str, set[int]] = {}
        carried: dict[tuple[int, str], _State] = {}
        caps = self._clear_durations()
        for spec in self.rules:
            if spec.screen is None:
                todo[spec.key] = set(devs)
                continue
            with np.errstate(all="ignore"):
                value = spec.screen(cols)
                if spec.condition == "frozen":
                    # a reading may be frozen only if its value is (nearly) the one before it:
                    # the stored previous value for a device's first reading of the batch
                    before = np.empty(len(flat))
                    before[1:] = value[:-1]
                    before[firsts] = [_NO_VALUE if (w := stored.get((d, spec.key))) is None
                                      or w[2] is None else w[2] for d in devs]  # fmt: skip
                    maybe = np.abs(value - before) <= SCREEN_MARGIN  # NaN: None, not frozen
                else:
                    threshold = np.full(len(flat), spec.threshold)
                    for dev, eff in overrides.items():
                        if spec.key in eff and dev in start:
                            threshold[start[dev] : start[dev] + len(fresh[dev])] = eff[spec.key][0]
                    # NaN (None: inside the band) compares False
                    if spec.condition == "above":
                        maybe = value > threshold - spec.hysteresis - SCREEN_MARGIN
                    else:
                        maybe = value < threshold + spec.hysteresis + SCREEN_MARGIN
            breaching = {devs[k] for k in np.unique(owner[maybe]).tolist()}
            if spec.condition != "frozen":
                todo[spec.key] = breaching | (
                    (with_row[spec.key] | with_alarm[spec.key]) & fresh.keys()
                )
                continue
            # Not walked: no breach counted, no open alarm, no reading like the one before it.
            # ``_run`` would only count ``ok_n`` up and keep the last value (nothing is due:
            # a frozen rule's threshold is at least 2 intervals).
            counting = {d for d in with_row[spec.key] if stored[(d, spec.key)][0] > 0}
            todo[spec.key] = breaching | ((counting | with_alarm[spec.key]) & fresh.keys())
            last_value = value[lasts].tolist()
            for k, dev in enumerate(devs):
                if dev in todo[spec.key]:
                    continue
                was = stored.get((dev, spec.key))
                v = last_value[k]
                carried[(dev, spec.key)] = _State(
                    last_ts=fresh[dev][-1][_COL["ts"]], breach_n=0, dirty=True, stored=was,
                    ok_n=(caps[spec.key] if was is None else was[1]) + counts[k],
                    prev_value=None if v != v else round(v, 4),  # NaN: None
                )  # fmt: skip
        return todo, carried

    def _run(self, conn: Connection, f: archives.DeviceFacts, spec: RuleSpec, threshold: float,
             readings: list[Reading], st: _State, is_open: bool) -> None:  # fmt: skip
        pending: _Open | None = _Open() if is_open else None
        for r in readings:
            if r.ts <= st.last_ts:
                continue  # a replay or a late reading: counted already, or out of order
            st.last_ts, st.dirty = r.ts, True
            raw = spec.value_fn(r)
            value = None if raw is None else round(raw, 4)
            if spec.condition == "frozen":
                breach = value is not None and st.prev_value is not None and value == st.prev_value
                st.prev_value = value
                st.breach_n = st.breach_n + 1 if breach else 0
                st.ok_n = 0 if breach else st.ok_n + 1
                due = st.breach_n >= threshold
            else:
                breach = value is not None and spec.breached(value, threshold)
                if breach:
                    st.breach_n, st.ok_n = st.breach_n + 1, 0
                else:
                    st.breach_n = 0
                    st.ok_n = st.ok_n + 1 if spec.inside_band(value, threshold) else 0
                due = st.breach_n >= spec.duration
            if pending is None:
                if not due or (spec.describes_present and r.is_history):
                    continue
                n = st.breach_n if spec.condition != "frozen" else st.breach_n + 1
                started = r.ts - timedelta(minutes=r.interval_min * (n - 1))
                service.raise_or_update(
                    conn, device_kind=spec.device_kind, device_id=f.id,
                    asset_number=f.asset_number, rule=spec.key, severity=spec.severity,
                    message=self._message(spec, f.asset_number, value, threshold),
                    advice=self.advice(spec, f.asset_number, r, started),
                    details={"threshold": threshold, "unit": spec.unit, "value": spec.value,
                             "duration_intervals": spec.duration},
                    value=value, peak=spec.peak, at=started,
                )  # fmt: skip
                pending = _Open(peak=value, last=value, last_ts=r.ts)
                continue
            if value is not None:
                pending.last, pending.last_ts = value, r.ts
                if pending.peak is None or (value > pending.peak if spec.peak == "max"
                                            else value < pending.peak):  # fmt: skip
                    pending.peak = value
            elif pending.last_ts is None or r.ts > pending.last_ts:
                pending.last_ts = r.ts
            if st.ok_n >= spec.clear_duration:
                self._flush(conn, f, spec, pending)
                service.clear(conn, device_kind=spec.device_kind, device_id=f.id,
                              rule=spec.key, at=r.ts, value=value)  # fmt: skip
                pending = None
        if pending is not None:
            self._flush(conn, f, spec, pending)

    def _flush(self, conn: Connection, f: archives.DeviceFacts, spec: RuleSpec,
               pending: _Open) -> None:  # fmt: skip
        if pending.last_ts is None:
            return
        common: dict[str, Any] = {
            "device_kind": spec.device_kind, "device_id": f.id, "asset_number": f.asset_number,
            "rule": spec.key, "severity": spec.severity, "message": "", "advice": None,
            "details": None, "peak": spec.peak, "at": pending.last_ts,
            "update_context": False,
        }  # fmt: skip
        if pending.peak is not None and pending.peak != pending.last:
            service.raise_or_update(conn, value=pending.peak, **common)
        service.raise_or_update(conn, value=pending.last, **common)

    def _message(self, spec: RuleSpec, asset: str, value: float | None, threshold: float) -> str:
        op = {"above": ">", "below": "<", "frozen": "frozen ≥", "silent": "silent ≥"}
        return (f"{spec.label} at {asset}: {spec.value} {_fmt(value, spec.unit)} "
                f"({op[spec.condition]} {_fmt(threshold, spec.unit)})")  # fmt: skip

    # -- state ---------------------------------------------------------------------------------

    def _lock_states(
        self, conn: Connection, kind: str, ids: list[int], keys: list[str]
    ) -> tuple[dict[int, datetime], dict[tuple[int, str], tuple[int, int, float | None]]]:
        """Lock each device's own row (rule ``*``: the newest interval counted) in id order, so
        two ingest processes with readings of one device evaluate it one after the other, and
        read its rules' rows: (device → newest interval counted, (device, rule) → stored
        ``(breach_n, ok_n, prev_value)``). A rule's row exists only while its state differs
        from the default (no breach counted, clear band held, no previous value): reading,
        locking and writing back every (device, rule) on every reading made the engine 16×
        slower than storage."""
        # Arrays, not a VALUES list: PostgreSQL takes at most 65,535 bind parameters; in binary
        # (`%b`) on the driver connection, inside the batch's transaction: SQLAlchemy's
        # expanding IN and psycopg's text dump of large lists cost more than the statements.
        driver = _driver(conn)
        args = {"kind": kind, "device_row": DEVICE_ROW, "never": NEVER, "ids": ids, "keys": keys}
        of_ids = "device_kind = %(kind)s AND device_id = ANY(CAST(%(ids)b AS bigint[]))"
        driver.execute(
            f"INSERT INTO {rule_state.fullname} (device_kind, device_id, rule, last_ts) "
            "SELECT %(kind)s, d, %(device_row)s, %(never)s FROM unnest(CAST(%(ids)b AS "
            "bigint[])) d ORDER BY d ON CONFLICT DO NOTHING", args)  # fmt: skip
        last: dict[int, datetime] = dict(driver.execute(
            f"SELECT device_id, last_ts FROM {rule_state.fullname} WHERE {of_ids} "
            "AND rule = %(device_row)s ORDER BY device_id FOR UPDATE", args,
        ).fetchall())  # fmt: skip
        rules = driver.execute(
            f"SELECT device_id, rule, last_ts, breach_n, ok_n, prev_value FROM "
            f"{rule_state.fullname} WHERE {of_ids} AND rule = ANY(CAST(%(keys)b AS text[]))",
            args).fetchall()  # fmt: skip
        found: dict[tuple[int, str], tuple[int, int, float | None]] = {}
        for dev, rule, last_ts, breach_n, ok_n, prev_value in rules:
            found[(dev, rule)] = (breach_n, ok_n, prev_value)
            if last_ts > last[dev]:  # written before devices had their own row
                last[dev] = last_ts
        return last, found

    def _clear_durations(self) -> dict[str, int]:
        return {spec.key: spec.clear_duration for spec in self.rules}

    def _save_states(self, conn: Connection, kind: str, newest: dict[int, datetime],
                     states: dict[tuple[int, str], _State]) -> None:  # fmt: skip
        """Write back the devices' newest intervals (``newest``) and the rule states that
        changed (``states``: the ones evaluated); delete the rows of rules back at the default.
        ``ok_n`` is kept at most ``clear_duration``: it is only ever compared with it."""
        caps = self._clear_durations()
        upsert: list[tuple[int, str, datetime, int, int, float | None]] = []
        delete: list[tuple[int, str]] = []
        for (d, k), s in states.items():
            if not s.dirty:
                continue
            now = (s.breach_n, min(s.ok_n, caps[k]), s.prev_value)
            if now == (0, caps[k], None):
                if s.stored is not None:
                    delete.append((d, k))
            elif now != s.stored:
                upsert.append((d, k, s.last_ts, *now))
        if not newest:
            return
        # As arrays in binary (`%b`): psycopg's text dump of large lists is 4× slower. On the
        # driver connection, inside the batch's transaction.
        driver = _driver(conn)
        devices = sorted(newest)
        driver.execute(
            f"UPDATE {rule_state.fullname} s SET last_ts = u.t FROM unnest(CAST(%(ids)b AS "
            "bigint[]), CAST(%(ts)b AS timestamptz[])) AS u(d, t) WHERE s.device_kind = %(kind)s "
            "AND s.device_id = u.d AND s.rule = %(device_row)s",
            {"kind": kind, "device_row": DEVICE_ROW, "ids": devices,
             "ts": [newest[d] for d in devices]})  # fmt: skip
        if upsert:
            driver.execute(
                f"INSERT INTO {rule_state.fullname} (device_kind, device_id, rule, last_ts, "
                "breach_n, ok_n, prev_value) SELECT %(kind)s, * FROM unnest(CAST(%(ids)b AS "
                "bigint[]), CAST(%(rules)b AS text[]), CAST(%(last_ts)b AS timestamptz[]), "
                "CAST(%(breach_n)b AS int[]), CAST(%(ok_n)b AS int[]), CAST(%(prev)b AS "
                "float8[])) ON CONFLICT (device_kind, device_id, rule) DO UPDATE SET "
                "last_ts = EXCLUDED.last_ts, breach_n = EXCLUDED.breach_n, ok_n = EXCLUDED.ok_n, "
                "prev_value = EXCLUDED.prev_value",
                {"kind": kind, "ids": [u[0] for u in upsert], "rules": [u[1] for u in upsert],
                 "last_ts": [u[2] for u in upsert], "breach_n": [u[3] for u in upsert],
                 "ok_n": [u[4] for u in upsert], "prev": [u[5] for u in upsert]})  # fmt: skip
        if delete:
            driver.execute(
                f"DELETE FROM {rule_state.fullname} s USING unnest(CAST(%(ids)b AS bigint[]), "
                "CAST(%(rules)b AS text[])) AS u(d, r) WHERE s.device_kind = %(kind)s "
                "AND s.device_id = u.d AND s.rule = u.r",
                {"kind": kind, "ids": [d for d, _ in delete],
                 "rules": [k for _, k in delete]})  # fmt: skip

    # -- last gasp and restore ------------------------------------------------------------------

    def supply_events(self, conn: Connection, events: list[tuple[Any, ...]]) -> None:
        """``power_down`` of a terminal or transformer raises ``outage`` on the transformer (at
        the event's time); ``power_up`` clears it. Events in time order; meters' events are the
        outage correlation's business, not an alarm of the transformer."""
        wanted = sorted((e[2], e[0], e[1], e[3]) for e in events
                        if e[0] in ("terminal", "transformer")
                        and e[3] in ("power_down", "power_up"))  # fmt: skip
        if not wanted:
            return
        terminals = sorted({dev for _, kind, dev, _ in wanted if kind == "terminal"})
        at_of = {dev: ts for ts, kind, dev, _ in wanted if kind == "terminal"}
        owner = self._transformers_of(conn, terminals, at_of)
        trafos = {dev: dev for _, kind, dev, _ in wanted if kind == "transformer"}
        facts = archives.device_facts(conn, "transformer",
                                      sorted({*owner.values(), *trafos}))  # fmt: skip
        spec = RULES_BY_KEY["outage"]
        for ts, kind, dev, event in wanted:
            trafo = owner.get(dev) if kind == "terminal" else dev
            f = None if trafo is None else facts.get(trafo)
            if f is None:
                continue
            if event == "power_up":
                service.clear(conn, device_kind="transformer", device_id=f.id, rule=spec.key,
                              at=ts)  # fmt: skip
                continue
            source = "terminal" if kind == "terminal" else "transformer"
            service.raise_or_update(
                conn, device_kind="transformer", device_id=f.id, asset_number=f.asset_number,
                rule=spec.key, severity=spec.severity,
                message=f"{spec.label} at {f.asset_number}: last gasp (power down) of its "
                        f"{source} at {ts.isoformat()}",
                advice=self.advice(spec, f.asset_number, None, ts),
                details={"source": "last_gasp", "device_kind": kind, "event_ts": ts.isoformat()},
                peak=spec.peak, at=ts, update_context=False,
            )  # fmt: skip

    def _transformers_of(self, conn: Connection, terminals: list[int],
                         at: dict[int, datetime]) -> dict[int, int]:  # fmt: skip
        """The transformer each terminal was attached to at its event's time."""
        if not terminals:
            return {}
        rows = conn.execute(
            select(_TERM_TRAFO.c.terminal_id, _TERM_TRAFO.c.transformer_id,
                   _TERM_TRAFO.c.valid_from, _TERM_TRAFO.c.valid_to)
            .where(_TERM_TRAFO.c.terminal_id.in_(terminals))
        ).all()  # fmt: skip
        return {r.terminal_id: r.transformer_id for r in rows
                if r.valid_from <= at[r.terminal_id]
                and (r.valid_to is None or at[r.terminal_id] < r.valid_to)}  # fmt: skip

    # -- terminal silence ----------------------------------------------------------------------

    def terminals_heard(self, conn: Connection, terminals: list[int], at: datetime) -> None:
        """Terminals heard from at ``at`` (the batch's arrival) are not silent: clear their
        offline alarm. Whether they are silent is judged by when E200 heard from them — what
        the telemetry store records — never by the time their messages carry, so a backlog of
        old readings clears an offline alarm instead of raising one."""
        offline = [t for (t,) in _driver(conn).execute(
            f"SELECT device_id FROM {alarm.fullname} WHERE device_kind = 'terminal' "
            f"AND rule = %(rule)s AND {NOT_CLEARED} AND device_id = ANY(CAST(%(ids)b AS bigint[]))",
            {"rule": OFFLINE.key, "ids": sorted(terminals)}).fetchall()]  # fmt: skip
        for t in offline:
            service.clear(conn, device_kind="terminal", device_id=t, rule=OFFLINE.key, at=at)

    def check_offline(self, conn: Connection, now: datetime | None = None) -> int:
        """Raise ``terminal_offline`` for in-service terminals not heard from for k × their
        reporting interval (``alarms.terminal_liveness``: arrival time, k the rule's effective
        threshold), started at the moment they became overdue; clear it for terminals heard
        from again since (a batch that committed while this ran). Takes no lock an ingest batch
        waits for. Returns how many alarms were raised."""
        now = now or utc_now()
        heard = telemetry.terminals_last_seen(conn)
        if not heard:
            return 0
        is_offline = (alarm.c.device_kind == "terminal", alarm.c.rule == OFFLINE.key)
        open_ = {t for (t,) in conn.execute(
            select(alarm.c.device_id).where(*is_offline, text(NOT_CLEARED)))}  # fmt: skip
        facts = archives.device_facts(conn, "terminal", sorted(heard), TERMINAL_COLUMNS)
        lives = liveness_of(conn, facts, heard)
        raised = 0
        for tid, live in lives.items():
            f = facts[tid]
            last = heard[tid]
            if live.online(now):
                if tid in open_:
                    service.clear(conn, device_kind="terminal", device_id=tid, rule=OFFLINE.key,
                                  at=last)  # fmt: skip
                continue
            if f.columns["status"] != "in_service":
                continue
            silent_n = live.silent_intervals(now)
            _, new = service.raise_or_update(
                conn, device_kind="terminal", device_id=tid, asset_number=f.asset_number,
                rule=OFFLINE.key, severity=OFFLINE.severity,
                message=f"{OFFLINE.label}: {f.asset_number} not heard from since "
                        f"{last.isoformat()} ({silent_n:.1f} intervals, limit {live.k:g})",
                advice=self.advice(OFFLINE, f.asset_number, None, last),
                details={"threshold": live.k, "unit": OFFLINE.unit,
                         "last_heard": last.isoformat(), "last_report": last.isoformat(),
                         "interval_min": f.columns["reporting_interval_min"]},
                value=silent_n, at=live.silent_since(), update_context=False,
            )  # fmt: skip
            raised += int(new)
        return raised

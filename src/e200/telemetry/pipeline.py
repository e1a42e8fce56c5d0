"""The ingest pipeline: deliveries → decode → validate → store, one transaction per batch.

A source is acknowledged (Kafka offsets committed, MQTT PUBACKs sent) only after the batch's
transaction has committed: at-least-once delivery, made exactly-once in storage by the
idempotent write. When PostgreSQL is unreachable the same batch is retried with backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
import structlog
from prometheus_client import Counter
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError

from e200 import archives
from e200.archives import DeviceRef
from e200.bus import Delivery, Source
from e200.config import Settings
from e200.kernel import Scope, utc_now
from e200.telemetry.codec import (
    IntervalMessage,
    IotMapping,
    Rejection,
    decode,
    decode_fast,
    encoded,
)
from e200.telemetry.contract import QUANTITIES_BY_TYPE
from e200.telemetry.store import Store
from e200.telemetry.tables import dt_reading, meter_reading
from e200.telemetry.validate import (
    LastRegisters,
    Rules,
    Validated,
    Validator,
    register_values,
)

log = structlog.get_logger(__name__)

MESSAGES = Counter("e200_ingest_messages_total", "Ingested messages", ["outcome"])
REJECTED = Counter("e200_ingest_rejected_total", "Quarantined messages", ["reason"])

# Called inside the batch's transaction after storage (command acks, stream evaluators).
BatchHook = Callable[[Connection, Validated], None]
UNKNOWN_RECHECK_S = 60.0
_REGISTERS = {q.name for qs in QUANTITIES_BY_TYPE.values() for q in qs if q.register}


@dataclass(frozen=True)
class BatchResult:
    received: int
    stored: int
    quarantined: int
    duplicates: int
    rejected: tuple[Rejection, ...] = ()


class Pipeline:
    def __init__(self, engine: Engine, *, rules: Rules | None = None,
                 mapping: IotMapping | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:  # fmt: skip
        self.engine = engine
        self.rules = rules or Rules()
        self.mapping = mapping or IotMapping()
        self.clock = clock
        self.hooks: list[BatchHook] = []
        self._store = Store()
        self._devices: dict[str, dict[str, DeviceRef]] = {}
        self._unknown: dict[tuple[str, str], float] = {}
        self._last: LastRegisters = {}
        self._lock = threading.Lock()  # one batch at a time per pipeline (HTTP + sources)

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> Pipeline:
        rules = Rules(
            future_tolerance=timedelta(seconds=settings.ingest_future_tolerance_s),
            register_tolerance_kwh=settings.register_tolerance_kwh,
            retention=timedelta(days=settings.retention_days),
        )
        mapping = IotMapping.load(settings.iot_mapping_file) if settings.iot_mapping_file \
            else IotMapping()  # fmt: skip
        return cls(engine, rules=rules, mapping=mapping)

    # -- device and register caches ------------------------------------------------------------

    def _resolver(
        self, conn: Connection, scope: Scope | None = None
    ) -> Callable[[str, list[str]], Mapping[str, DeviceRef]]:
        def resolve(kind: str, numbers: list[str]) -> Mapping[str, DeviceRef]:
            cache = self._devices.setdefault(kind, {})
            now = time.monotonic()
            missing = [n for n in numbers if n not in cache
                       and self._unknown.get((kind, n), 0.0) <= now]  # fmt: skip
            if missing:
                found = archives.lookup_devices(conn, kind, missing)
                cache.update(found)
                for n in missing:
                    if n not in found:
                        self._unknown[(kind, n)] = now + UNKNOWN_RECHECK_S
            known = {n: cache[n] for n in numbers if n in cache}
            if scope is None or scope.is_unrestricted:
                return known
            # A sender with a limited scope (an API key) cannot write to devices outside it;
            # they count as unknown to it, so it cannot probe what exists elsewhere.
            allowed = archives.numbers_in_scope(conn, kind, list(known), scope)
            return {n: ref for n, ref in known.items() if n in allowed}

        return resolve

    def forget_devices(self) -> None:
        """Drop cached archive facts (after archive changes, e.g. an import)."""
        self._devices.clear()
        self._unknown.clear()

    def _load_last(self, devices: dict[str, Mapping[str, DeviceRef]]) -> None:
        """Last registers of devices not yet seen by this process, from their newest reading of
        the last two days (older history is not needed to catch a register running back).

        Read on a connection of its own: the batch's transaction must not lock the reading
        tables before missing partitions are created (that DDL runs in its own transaction)."""
        for kind, table, key in (("transformer", dt_reading, "transformer_id"),
                                 ("meter", meter_reading, "meter_id")):  # fmt: skip
            ids = [ref.id for ref in devices.get(kind, {}).values()
                   if (kind, ref.id) not in self._last]  # fmt: skip
            if not ids:
                continue
            registers = [c for c in _REGISTERS if c in table.c]
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(table.c[key], table.c.ts, *(table.c[r] for r in registers))
                    .where(table.c[key].in_(ids), table.c.ts > func.now() - timedelta(days=2))
                    .order_by(table.c[key], table.c.ts.desc())
                    .distinct(table.c[key])
                ).all()  # fmt: skip
            for row in rows:
                values = {r: v for r, v in zip(registers, row[2:], strict=True) if v is not None}
                self._last[(kind, row[0])] = (row[1], values)

    # -- processing ----------------------------------------------------------------------------

    def process(
        self, deliveries: list[Delivery], source: str, scope: Scope | None = None
    ) -> BatchResult:
        messages: list[tuple[dict[str, Any], bytes, str | None]] = []
        typed: list[tuple[IntervalMessage, bytes, str | None]] = []
        decode_rejects: list[Rejection] = []
        for delivery in deliveries:
            fast = decode_fast(delivery.payload)
            if fast is not None:
                if len(fast) == 1:
                    typed.append((fast[0], delivery.payload, delivery.ref))
                else:
                    typed += [(m, encoded(m), delivery.ref) for m in fast]
                continue
            decoded, rejected = decode(delivery.payload, self.mapping)
            for rej in rejected:
                rej.ref = delivery.ref
            decode_rejects += rejected
            messages += [(msg, raw, delivery.ref) for msg, raw in decoded]
        received = len(typed) + len(messages) + len(decode_rejects)
        with self._lock, self.engine.begin() as conn:
            now = self.clock()
            validator = Validator(self._resolver(conn, scope), self._last, self.rules)
            devices = validator.resolve_all(messages, typed)
            self._load_last(devices)
            batch = validator.validate(messages, now, devices)
            validator.validate_typed(typed, now, devices, batch)
            batch.rejected[:0] = decode_rejects
            result = self._store.write(conn, batch, source, received, now)
            for hook in self.hooks:
                hook(conn, batch)
        for key, (ts, quantities, values) in batch.latest.items():
            regs = register_values(quantities, values)
            last = self._last.get(key)
            if regs and (last is None or last[0] < ts):
                self._last[key] = (ts, regs)
        MESSAGES.labels("stored").inc(result.stored)
        MESSAGES.labels("duplicate").inc(result.duplicates)
        MESSAGES.labels("quarantined").inc(len(batch.rejected))
        for rej in batch.rejected:
            REJECTED.labels(rej.reason).inc()
        return BatchResult(received, result.stored, len(batch.rejected), result.duplicates,
                           tuple(batch.rejected))  # fmt: skip

    def _database_answers(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except Exception:  # any failure to answer counts as "not reachable"
            return False
        return True

    def process_with_retry(self, deliveries: list[Delivery], source: str,
                           stop: threading.Event | None = None, scope: Scope | None = None,
                           ) -> BatchResult | None:  # fmt: skip
        """Retry the same batch while the database is unreachable; None if stopped first."""
        delay = 0.2
        refused = 0
        while True:
            try:
                return self.process(deliveries, source, scope)
            except (DBAPIError, psycopg.OperationalError, psycopg.InterfaceError) as exc:
                # COPY runs on the driver connection, so psycopg's own errors arrive unwrapped.
                verdict = _database_went_away(exc)
                if verdict is False:
                    raise
                if verdict is None and self._database_answers():
                    # A dropped connection is replaced on the next try; a batch refused again
                    # and again by a database that answers never will be stored: say so.
                    refused += 1
                    if refused >= REFUSALS_BEFORE_GIVING_UP:
                        raise
                log.warning("database unavailable; batch will be retried", source=source,
                            retry_in_s=delay, error=str(exc)[:200])  # fmt: skip
                if stop is not None and stop.wait(delay):
                    return None
                if stop is None:
                    time.sleep(delay)
                delay = min(delay * 2, 5.0)


# SQLSTATE classes worth waiting for: connection exceptions, the server shutting down or
# starting up, too many connections.
_TRANSIENT_SQLSTATES = ("08", "57P", "53300")


REFUSALS_BEFORE_GIVING_UP = 3


def _database_went_away(exc: Exception) -> bool | None:
    """True: the database went away (retry the batch); False: it refused this batch (raise);
    None: cannot tell from the error.

    psycopg reports a lost or refused connection as OperationalError, but also refusals on a
    healthy connection (e.g. more than 65,535 bind parameters, no SQLSTATE) that fail the same
    way forever; the caller then asks the database whether it answers."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if isinstance(exc.orig, Exception) else exc
    if not isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return False
    if exc.sqlstate:
        return exc.sqlstate.startswith(_TRANSIENT_SQLSTATES)
    return None


def run_sources(pipeline: Pipeline, sources: list[Source], stop: threading.Event, *,
                batch_size: int = 5000, poll_timeout_s: float = 0.5,
                on_batch: Callable[[BatchResult], None] | None = None) -> None:  # fmt: skip
    """Poll every source until ``stop`` is set; acknowledge a batch only once it is stored."""
    timeout = poll_timeout_s / max(len(sources), 1)
    while not stop.is_set():
        for source in sources:
            deliveries = source.poll(batch_size, timeout)
            if not deliveries:
                continue
            result = pipeline.process_with_retry(deliveries, source.url, stop)
            if result is None:
                return  # stopped while the database was away: nothing acknowledged
            source.commit()
            if on_batch is not None:
                on_batch(result)

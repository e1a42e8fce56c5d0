"""Kafka transport (confluent-kafka / librdkafka).

Source: a group consumer with automatic commit and automatic offset store both off. ``poll``
remembers the next offset of every partition it returned messages from; ``commit`` stores those
offsets and commits them synchronously. Anything polled but not committed is delivered again
after a restart or a rebalance: at-least-once.

URL: ``kafka://[user:password@]host:port[,host:port]/topic[,topic]?group=NAME`` with optional
``session_timeout_ms``, ``heartbeat_ms``, ``auto_offset_reset``, ``client_id``,
``sasl_mechanism`` and any librdkafka property written with its dots (``fetch.min.bytes=1``).
``kafkas://`` uses TLS. A user in the URL turns on SASL (PLAIN unless ``sasl_mechanism``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from e200.bus.base import BusError, BusUrl, Delivery, check_params, int_param

log = structlog.get_logger(__name__)
# librdkafka's own log lines go through logging (not straight to stderr).
_librdkafka_log = logging.getLogger("e200.bus.librdkafka")

DEFAULT_GROUP = "e200-ingest"
DEFAULT_OFFSET_RESET = "earliest"
_MAX_CONSUME = 1_000_000  # confluent-kafka refuses more in one consume()

_SOURCE_PARAMS = {
    "group",
    "session_timeout_ms",
    "heartbeat_ms",
    "auto_offset_reset",
    "client_id",
    "sasl_mechanism",
}
_SINK_PARAMS = {"client_id", "sasl_mechanism", "linger_ms"}

# A commit refused because the group is rebalancing or our membership is stale: the partitions
# go to a member (maybe us again) that starts from the last committed offset, so nothing is lost
# and the only consequence is redelivery.
_REBALANCE_CODES = {
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.FENCED_MEMBER_EPOCH,
    KafkaError.STALE_MEMBER_EPOCH,
    KafkaError._STATE,
}


def _common_conf(url: BusUrl) -> dict[str, Any]:
    if url.scheme not in ("kafka", "kafkas"):
        raise BusError(f"not a Kafka URL: {url.public()!r}")
    if not url.hosts:
        raise BusError(f"no bootstrap host in {url.public()!r}")
    conf: dict[str, Any] = {"bootstrap.servers": url.hosts}
    tls = url.scheme == "kafkas"
    if url.username is not None:
        conf["security.protocol"] = "SASL_SSL" if tls else "SASL_PLAINTEXT"
        conf["sasl.mechanism"] = url.params.get("sasl_mechanism") or "PLAIN"
        conf["sasl.username"] = url.username
        conf["sasl.password"] = url.password or ""
    elif tls:
        conf["security.protocol"] = "SSL"
    if url.params.get("client_id"):
        conf["client.id"] = url.params["client_id"]
    # Idle connections closed by the broker (Tansu: after ~10 s) are normal, not news.
    conf["log.connection.close"] = False
    conf["logger"] = _librdkafka_log
    conf.update({k: v for k, v in url.params.items() if "." in k})
    return conf


class _Throttled:
    """Log each kind of librdkafka error at most once per ``every_s``: a broker outage
    otherwise reports every reconnection attempt."""

    def __init__(self, every_s: float = 30.0) -> None:
        self._every = every_s
        self._last: dict[int, float] = {}

    def __call__(self, err: KafkaError, **where: str) -> None:
        now = time.monotonic()
        code = err.code()
        if err.fatal():
            log.error("kafka fatal error", error=_error_text(err), **where)
        elif now - self._last.get(code, -self._every) >= self._every:
            self._last[code] = now
            log.warning("kafka error (librdkafka retries)", error=_error_text(err), **where)


def _error_text(err: KafkaError) -> str:
    return f"{err.name()}: {err.str()}"


class KafkaSource:
    """A Kafka group consumer with manual, synchronous offset commits."""

    def __init__(self, url: str, *, client_id: str | None = None) -> None:
        parsed = BusUrl.parse(url)
        check_params(parsed.params, _SOURCE_PARAMS, parsed.public(), dotted_pass=True)
        self.url = parsed.public()
        self.topics = parsed.names()
        if not self.topics:
            raise BusError(f"no topic in {self.url!r} (kafka://host:port/topic[,topic])")
        p = parsed.params
        conf = _common_conf(parsed)
        conf.setdefault("client.id", client_id or "e200")
        conf.update(
            {
                "group.id": p.get("group") or DEFAULT_GROUP,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": p.get("auto_offset_reset") or DEFAULT_OFFSET_RESET,
                "error_cb": self._on_error,
            }
        )
        if "session_timeout_ms" in p:
            conf["session.timeout.ms"] = int_param(p, "session_timeout_ms", 45000, minimum=1)
        if "heartbeat_ms" in p:
            conf["heartbeat.interval.ms"] = int_param(p, "heartbeat_ms", 3000, minimum=1)
        self.group = str(conf["group.id"])
        # (topic, partition) -> offset of the next message after the last one poll() returned
        self._pending: dict[tuple[str, int], int] = {}
        self._deferred: BusError | None = None
        self._log_error = _Throttled()
        self._fatal: KafkaError | None = None
        self._closed = False
        try:
            self._consumer = Consumer(conf)
            self._consumer.subscribe(self.topics, on_revoke=self._on_revoke, on_lost=self._on_lost)
        except (KafkaException, ValueError, TypeError) as exc:
            raise BusError(f"{self.url}: cannot create consumer: {exc}") from exc

    # librdkafka callbacks (served inside consume()/commit() on the caller's thread)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
        self._log_error(err, source=self.url)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._pending.pop((tp.topic, tp.partition), None)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Not ours any more: what we polled from them and did not commit goes to the next owner.
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("kafka partitions lost", source=self.url, count=len(partitions))
        self._forget(partitions)

    # Source

    def poll(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        self._check_open()
        if self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            raise deferred
        if self._fatal is not None:
            raise BusError(f"{self.url}: {_error_text(self._fatal)}")
        count = min(max(max_messages, 1), _MAX_CONSUME)
        try:
            messages = self._consumer.consume(num_messages=count, timeout=max(timeout_s, 0.0))
        except (KafkaException, RuntimeError) as exc:
            raise BusError(f"{self.url}: consume failed: {exc}") from exc
        out: list[Delivery] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                # Raise only once the good messages of this batch are handed over, or their
                # offsets would be skipped.
                if self._deferred is None:
                    where = f"{msg.topic()}/{msg.partition()}"
                    self._deferred = BusError(f"{self.url}: {where}: {_error_text(err)}")
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if topic is None or partition is None or offset is None:
                continue  # not a consumed record (never seen for a fetched message)
            key = (topic, partition)
            if offset + 1 > self._pending.get(key, -1):
                self._pending[key] = offset + 1
            out.append(
                Delivery(
                    payload=_value(msg),
                    source=self.url,
                    ref=f"{topic}/{partition}/{offset}",
                    key=msg.key(),
                )
            )
        if not out and self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            raise deferred
        return out

    def commit(self) -> None:
        self._check_open()
        if not self._pending:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.items()]
        try:
            self._consumer.store_offsets(offsets=offsets)
            result = self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if err is not None and err.code() == KafkaError._NO_OFFSET:
                self._pending.clear()
                return
            if err is not None and err.code() in _REBALANCE_CODES:
                log.warning(
                    "kafka commit refused during a rebalance; the batch will be redelivered",
                    source=self.url,
                    error=_error_text(err),
                )
                self._pending.clear()
                return
            raise BusError(f"{self.url}: commit failed: {exc}") from exc
        failed = [tp for tp in result or [] if tp.error is not None]
        if failed:
            raise BusError(
                f"{self.url}: commit failed for "
                + ", ".join(f"{tp.topic}/{tp.partition}: {tp.error}" for tp in failed)
            )
        self._pending.clear()

    def assignment(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs this member holds now (empty before the first join)."""
        self._check_open()
        try:
            return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment())
        except (KafkaException, RuntimeError) as exc:
            raise BusError(f"{self.url}: assignment failed: {exc}") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        try:
            self._consumer.close()  # leaves the group; commits nothing (auto commit is off)
        except (KafkaException, RuntimeError) as exc:
            log.warning("kafka consumer close failed", source=self.url, error=str(exc))

    def _check_open(self) -> None:
        if self._closed:
            raise BusError(f"{self.url}: source is closed")


def _value(msg: Message) -> bytes:
    value = msg.value()
    return b"" if value is None else bytes(value)


class KafkaSink:
    """A Kafka producer (``acks=all``, ``linger.ms=5``); ``flush`` raises if anything failed."""

    def __init__(self, url: str) -> None:
        parsed = BusUrl.parse(url)
        check_params(parsed.params, _SINK_PARAMS, parsed.public(), dotted_pass=True)
        self.url = parsed.public()
        conf = _common_conf(parsed)
        conf.setdefault("client.id", "e200")
        conf.setdefault("acks", "all")
        conf["linger.ms"] = int_param(parsed.params, "linger_ms", 5)
        conf["error_cb"] = self._on_error
        self._log_error = _Throttled()
        try:
            self._producer = Producer(conf)
        except (KafkaException, ValueError, TypeError) as exc:
            raise BusError(f"{self.url}: cannot create producer: {exc}") from exc
        self._lock = threading.Lock()
        self._failures: list[str] = []
        self._failed_count = 0
        self._closed = False

    def _on_error(self, err: KafkaError) -> None:
        self._log_error(err, sink=self.url)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            return
        with self._lock:
            self._failed_count += 1
            if len(self._failures) < 5:
                self._failures.append(f"{msg.topic()}: {_error_text(err)}")

    def send(self, topic: str, payload: bytes, key: bytes | None = None) -> None:
        if self._closed:
            raise BusError(f"{self.url}: sink is closed")
        if not topic:
            raise BusError(f"{self.url}: send() needs a topic")
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._producer.produce(topic, value=payload, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                if time.monotonic() > deadline:
                    raise BusError(f"{self.url}: producer queue full for 30 s") from None
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise BusError(f"{self.url}: produce to {topic!r} failed: {exc}") from exc
        self._producer.poll(0)

    def flush(self, timeout_s: float = 10.0) -> None:
        if self._closed:
            return
        remaining = self._producer.flush(max(timeout_s, 0.0))
        with self._lock:
            failures, count = self._failures, self._failed_count
            self._failures, self._failed_count = [], 0
        if count:
            raise BusError(f"{self.url}: {count} message(s) not delivered: {'; '.join(failures)}")
        if remaining:
            raise BusError(f"{self.url}: {remaining} message(s) unacknowledged after {timeout_s} s")

    def close(self) -> None:
        """Flush (up to 10 s), then stop. Undelivered messages are logged, not raised: call
        ``flush`` first to know."""
        if self._closed:
            return
        try:
            self.flush()
        except BusError as exc:
            log.error("kafka sink closed with undelivered messages", sink=self.url, error=str(exc))
        finally:
            self._closed = True

"""MQTT transport (paho-mqtt 2, callback API version 2).

Source: a QoS-1 subscriber with MANUAL acknowledgements. A PUBACK is sent only by ``commit``,
so a message that was received but not yet stored is sent again by the broker when we come back
(persistent session, stable client id). Messages arrive on paho's network thread and are handed
over through a thread-safe queue that ``poll`` drains.

URL: ``mqtt://[user:password@]host[:port]/filter[,filter]?client_id=ID&qos=1`` (qos 0 or 1;
QoS 0 is at-most-once by definition), with optional ``protocol`` (``5``, the default, or
``3.1.1``), ``inflight`` (MQTT 5 Receive Maximum: how many unacknowledged messages the broker
may have out to us, default 10000), ``session_expiry_s`` (MQTT 5, default 86400),
``keepalive_s`` and ``connect_timeout_s``. ``mqtts://`` uses TLS with the system's CA store.
``#`` in a filter may be written as is or as ``%23``.

With MQTT 3.1.1 the broker decides how many messages may be unacknowledged (Mosquitto: 20), so
a batch is never bigger than that before ``commit``.

A persistent session needs a stable client id: from the URL, else from ``open_source``'s
``client_id``; without one the source gets a random id and a clean session (nothing is kept
for it by the broker while it is away).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from e200.bus.base import BusError, BusUrl, Delivery, check_params, int_param

log = structlog.get_logger(__name__)

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
DEFAULT_INFLIGHT = 10_000
DEFAULT_SESSION_EXPIRY_S = 86_400

_SOURCE_PARAMS = {
    "client_id",
    "qos",
    "protocol",
    "inflight",
    "session_expiry_s",
    "keepalive_s",
    "connect_timeout_s",
}
_SINK_PARAMS = {"client_id", "qos", "protocol", "keepalive_s", "connect_timeout_s", "inflight"}


class _Connection:
    """What a source and a sink share: URL reading, the client, connecting and waiting."""

    def __init__(self, url: str, known: set[str], *, client_id: str | None) -> None:
        parsed = BusUrl.parse(url)
        if parsed.scheme not in ("mqtt", "mqtts"):
            raise BusError(f"not an MQTT URL: {parsed.public()!r}")
        check_params(parsed.params, known, parsed.public())
        self.parsed = parsed
        self.url = parsed.public()
        p = parsed.params
        tls = parsed.scheme == "mqtts"
        self.host, self.port = parsed.host_port(DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
        self.qos = int_param(p, "qos", 1)
        if self.qos > 2:
            raise BusError(f"qos must be 0, 1 or 2 in {self.url!r}")
        protocol = p.get("protocol") or "5"
        if protocol not in ("5", "3.1.1"):
            raise BusError(f"protocol must be 5 or 3.1.1 in {self.url!r}")
        self.v5 = protocol == "5"
        self.keepalive = int_param(p, "keepalive_s", 30, minimum=5)
        self.connect_timeout = float(int_param(p, "connect_timeout_s", 10, minimum=1))
        self.stable_id = p.get("client_id") or client_id
        self.client_id = self.stable_id or f"e200-{uuid.uuid4().hex[:16]}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if self.v5 else MQTTProtocolVersion.MQTTv311,
            # MQTT 3.1.1: the session is kept when the client id is stable.
            clean_session=None if self.v5 else self.stable_id is None,
        )
        if parsed.username is not None:
            self.client.username_pw_set(parsed.username, parsed.password)
        if tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(1, 30)
        self._connected = threading.Event()
        self._connect_error: str | None = None
        self.stopping = False
        self._gone = threading.Event()  # set once the socket is closed after disconnect()
        self.client.on_disconnect = self._on_disconnect

    def connect(self, properties: Properties | None, clean_start: bool) -> None:
        try:
            self.client.connect(
                self.host,
                self.port,
                keepalive=self.keepalive,
                clean_start=clean_start if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                properties=properties,
            )
        except (OSError, ValueError) as exc:
            raise BusError(f"{self.url}: cannot connect: {exc}") from exc
        self.client.loop_start()
        if not self._connected.wait(self.connect_timeout) or self._connect_error:
            reason = self._connect_error or f"no CONNACK within {self.connect_timeout:g} s"
            self.stop()
            raise BusError(f"{self.url}: connection refused: {reason}")

    def connected(self, reason_code: ReasonCode) -> bool:
        """Record a CONNACK; True if it accepted us."""
        if reason_code.is_failure:
            self._connect_error = str(reason_code)
            log.warning("mqtt connection refused", url=self.url, reason=str(reason_code))
            self._connected.set()
            return False
        self._connected.set()
        return True

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self.stopping:
            self._gone.set()
        else:
            log.warning("mqtt disconnected; reconnecting", url=self.url, reason=str(reason_code))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect cleanly: packets already queued (PUBACKs of a last commit) go out first;
        stopping the network thread at once could drop them."""
        self.stopping = True
        try:
            if self.client.disconnect() == MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._gone.wait(timeout_s)
        finally:
            self.client.loop_stop()


def check_filter(topic_filter: str) -> None:
    """BusError unless ``topic_filter`` is a valid MQTT topic filter."""
    levels = topic_filter.split("/")
    bad = (
        not topic_filter
        or len(topic_filter.encode()) > 65_535
        or "\0" in topic_filter
        or any(("#" in lv or "+" in lv) and lv not in ("#", "+") for lv in levels)
        or "#" in levels[:-1]
    )
    if bad:
        raise BusError(f"invalid MQTT topic filter {topic_filter!r}")


def _failed(codes: list[ReasonCode]) -> list[str]:
    return [str(code) for code in codes if code.is_failure]


class MqttSource:
    """A persistent-session MQTT subscriber whose PUBACKs are sent by ``commit``."""

    def __init__(self, url: str, *, client_id: str | None = None) -> None:
        self._conn = conn = _Connection(url, _SOURCE_PARAMS, client_id=client_id)
        self.url = conn.url
        self.filters = conn.parsed.names()
        if not self.filters:
            raise BusError(f"no topic filter in {self.url!r} (mqtt://host:port/filter)")
        for topic_filter in self.filters:
            check_filter(topic_filter)
        if conn.qos == 2:
            # paho answers a QoS-2 PUBLISH with PUBREC before the application sees it; the
            # broker would then never send it again, so a crash before storing loses it.
            raise BusError(f"qos=2 is not supported for a source (use 1): {self.url!r}")
        p = conn.parsed.params
        inflight = int_param(p, "inflight", DEFAULT_INFLIGHT, minimum=1)
        if inflight > 65_535:
            raise BusError(f"inflight must be at most 65535 in {self.url!r}")
        expiry = int_param(p, "session_expiry_s", DEFAULT_SESSION_EXPIRY_S)
        # (epoch, mid, qos, topic, payload); epoch counts connection attempts, see commit()
        self._queue: queue.Queue[tuple[int, int, int, str, bytes]] = queue.Queue()
        self._pending: list[tuple[int, int, int]] = []
        self._lock = threading.Lock()  # guards _epoch against acks racing a reconnect
        self._epoch = 0
        self._subscribed = threading.Event()
        self._barrier = threading.Event()
        self._subscribe_error: str | None = None
        self._closed = False

        client = conn.client
        client.manual_ack_set(True)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_unsubscribe = self._on_unsubscribe
        properties: Properties | None = None
        if conn.v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.ReceiveMaximum = inflight
            properties.SessionExpiryInterval = expiry if conn.stable_id else 0
        conn.connect(properties, clean_start=conn.stable_id is None)
        if not self._subscribed.wait(conn.connect_timeout) or self._subscribe_error:
            reason = self._subscribe_error or f"no SUBACK within {conn.connect_timeout:g} s"
            conn.stop()
            raise BusError(f"{self.url}: subscription refused: {reason}")

    # paho callbacks (network thread); they must not raise

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        with self._lock:
            self._epoch += 1

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not self._conn.connected(reason_code):
            return
        log.debug("mqtt connected", source=self.url, session_present=flags.session_present)
        try:
            client.subscribe([(f, self._conn.qos) for f in self.filters])
        except ValueError as exc:  # checked in __init__; never let it kill paho's thread
            self._subscribe_error = str(exc)
            self._subscribed.set()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        failed = _failed(reason_codes)
        if failed:
            self._subscribe_error = ", ".join(failed)
            log.error("mqtt subscription refused", source=self.url, reasons=failed)
        self._subscribed.set()

    def _on_unsubscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._barrier.set()  # only close() unsubscribes

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            epoch = self._epoch
        self._queue.put((epoch, message.mid, message.qos, message.topic, bytes(message.payload)))

    # Source

    def poll(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        if self._closed:
            raise BusError(f"{self.url}: source is closed")
        try:
            first = self._queue.get(timeout=max(timeout_s, 0.0)) if timeout_s > 0 else None
        except queue.Empty:
            return []
        items = [first] if first is not None else []
        while len(items) < max(max_messages, 1):
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        out: list[Delivery] = []
        for epoch, mid, qos, topic, payload in items:
            if qos > 0:
                self._pending.append((epoch, mid, qos))
            out.append(Delivery(payload=payload, source=self.url, ref=f"{topic}#{mid}"))
        return out

    def commit(self) -> None:
        """Send the PUBACKs of everything polled so far.

        Only for messages received on the current connection: a packet id from an earlier one
        may since have been given to another message. After a reconnect the broker sends the
        unacknowledged ones again (same session) or has dropped them (new session); either
        way they are acknowledged, if at all, through their new copy."""
        if self._closed:
            raise BusError(f"{self.url}: source is closed")
        pending, self._pending = self._pending, []
        stale = 0
        with self._lock:
            acked: set[int] = set()
            for epoch, mid, qos in pending:
                if epoch != self._epoch:
                    stale += 1
                    continue
                if mid in acked:
                    continue  # a redelivered copy polled in the same batch: one PUBACK
                acked.add(mid)
                rc = self._conn.client.ack(mid, qos)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    stale += 1
        if stale:
            log.info(
                "mqtt acks skipped after a reconnect; redelivery expected",
                source=self.url,
                count=stale,
            )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pending = []
        self._drain_acks()
        self._conn.stop()

    def _drain_acks(self, timeout_s: float = 5.0) -> None:
        """Wait until the broker has read our last PUBACKs. Closing the socket at once may
        reset the connection (it still has unread data from the broker), and a reset makes
        the broker drop what it had not read yet: the PUBACKs of the last commit, seen here
        with Mosquitto. The broker handles a connection's packets in order, so the answer to
        an UNSUBSCRIBE (of a filter never subscribed) comes after all of them."""
        client = self._conn.client
        if not client.is_connected():
            return
        self._barrier.clear()
        rc, _ = client.unsubscribe(f"e200-barrier/{self._conn.client_id}")
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and not self._barrier.wait(timeout_s):
            log.warning("mqtt broker did not confirm the last acks", source=self.url)


class MqttSink:
    """Publishes with QoS 1 (or the URL's ``qos``); ``flush`` waits for the broker's acks."""

    def __init__(self, url: str) -> None:
        self._conn = conn = _Connection(url, _SINK_PARAMS, client_id=None)
        self.url = conn.url
        self._lock = threading.Lock()
        self._outstanding: set[int] = set()
        self._early: set[int] = set()  # acked before send() could record the mid
        self._done = threading.Condition(self._lock)
        self._failures: list[str] = []
        self._closed = False
        client = conn.client
        client.max_inflight_messages_set(int_param(conn.parsed.params, "inflight", 100, minimum=1))
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        conn.connect(None, clean_start=conn.stable_id is None)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._conn.connected(reason_code)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            if reason_code.is_failure and len(self._failures) < 5:
                self._failures.append(f"mid {mid}: {reason_code}")
            if mid in self._outstanding:
                self._outstanding.discard(mid)
            else:
                self._early.add(mid)
            self._done.notify_all()

    def send(self, topic: str, payload: bytes, key: bytes | None = None) -> None:
        """Queue one message; ``key`` has no MQTT equivalent and is ignored."""
        if self._closed:
            raise BusError(f"{self.url}: sink is closed")
        if not topic:
            raise BusError(f"{self.url}: send() needs a topic")
        info = self._conn.client.publish(topic, payload, qos=self._conn.qos)
        # NO_CONN: kept by paho and sent after the reconnect; flush() waits for it.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise BusError(f"{self.url}: publish to {topic!r} failed: {mqtt.error_string(info.rc)}")
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
            else:
                self._outstanding.add(info.mid)

    def flush(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._lock:
            while self._outstanding:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._done.wait(remaining)
            left = len(self._outstanding)
            failures, self._failures = self._failures, []
        if failures:
            raise BusError(f"{self.url}: publish refused: {'; '.join(failures)}")
        if left:
            raise BusError(f"{self.url}: {left} message(s) unacknowledged after {timeout_s:g} s")

    def close(self) -> None:
        """Flush (up to 10 s), then disconnect; unacknowledged messages are logged, not raised."""
        if self._closed:
            return
        try:
            self.flush()
        except BusError as exc:
            log.error(
                "mqtt sink closed with unacknowledged messages", sink=self.url, error=str(exc)
            )
        finally:
            self._closed = True
            self._conn.stop()

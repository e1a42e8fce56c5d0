"""MQTT source and sink against a real Mosquitto on 127.0.0.1 (unique topics per test)."""

from __future__ import annotations

import time
import uuid

import pytest

from e200.bus import BusError, Delivery, Source, open_sink, open_source
from e200.bus.mqtt import MqttSource
from tests.bus.brokers import MqttBroker


def unique(prefix: str = "e200test") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def receive(source: Source, count: int, timeout_s: float = 15.0) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got.extend(source.poll(count - len(got), 0.2))
    return got


def quiet(source: Source, seconds: float) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got.extend(source.poll(1000, 0.1))
    return got


def publish(broker: MqttBroker, topic: str, count: int, start: int = 0) -> set[bytes]:
    sink = open_sink(broker.url())
    payloads = set()
    for i in range(start, start + count):
        payload = b"reading-%05d" % i
        sink.send(topic, payload)
        payloads.add(payload)
    sink.flush(10)
    sink.close()
    return payloads


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_receive_500_qos1_messages_and_commit(mqtt_broker: MqttBroker, protocol: str) -> None:
    topic, client = unique(), f"e200-t-{uuid.uuid4().hex[:8]}"
    url = mqtt_broker.url(topic, client_id=client, qos=1, protocol=protocol)
    source = open_source(url)
    assert isinstance(source, MqttSource)
    assert source.url == url
    payloads = publish(mqtt_broker, topic, 500)
    got: list[Delivery] = []
    deadline = time.monotonic() + 15
    while len(got) < 500 and time.monotonic() < deadline:
        got.extend(source.poll(500, 0.2))
        # MQTT 3.1.1 has no Receive Maximum: Mosquitto keeps at most 20 unacknowledged
        # messages in flight per client, so acknowledge as we go.
        source.commit()
    assert len(got) == 500
    assert {d.payload for d in got} == payloads
    assert all(d.source == url and d.ref.startswith(f"{topic}#") for d in got)
    assert len({d.ref for d in got}) > 1
    source.close()
    # Everything was acknowledged: the persistent session has nothing to send again.
    again = open_source(url)
    assert quiet(again, 1.0) == []
    again.close()
    # Clean the session away on the broker.
    open_source(mqtt_broker.url(topic, client_id=client, session_expiry_s=0)).close()


def test_mqtt5_window_allows_big_batches_before_commit(mqtt_broker: MqttBroker) -> None:
    topic = unique()
    source = open_source(mqtt_broker.url(topic, inflight=1000))
    payloads = publish(mqtt_broker, topic, 500)
    got = receive(source, 500)  # not one commit: all 500 are in flight at once
    assert {d.payload for d in got} == payloads
    source.commit()
    source.close()


def test_unacknowledged_messages_are_redelivered(mqtt_broker: MqttBroker) -> None:
    topic, client = unique(), f"e200-t-{uuid.uuid4().hex[:8]}"
    url = mqtt_broker.url(topic, client_id=client)
    source = open_source(url)
    payloads = publish(mqtt_broker, topic, 50)
    first = receive(source, 50)
    assert {d.payload for d in first} == payloads
    source.close()  # died before storing: no PUBACKs were sent

    # Messages published while we are away are kept in the persistent session too.
    later = publish(mqtt_broker, topic, 10, start=1000)
    again = open_source(url)
    second = receive(again, 60)
    assert {d.payload for d in second} == payloads | later
    again.commit()
    again.close()
    third = open_source(url)
    assert quiet(third, 0.7) == []
    third.close()
    open_source(mqtt_broker.url(topic, client_id=client, session_expiry_s=0)).close()


def test_client_id_argument_makes_the_session_persistent(mqtt_broker: MqttBroker) -> None:
    topic, client = unique(), f"e200-t-{uuid.uuid4().hex[:8]}"
    url = mqtt_broker.url(topic)
    source = open_source(url, client_id=client)
    payloads = publish(mqtt_broker, topic, 5)
    assert {d.payload for d in receive(source, 5)} == payloads
    source.close()
    again = open_source(url, client_id=client)
    assert {d.payload for d in receive(again, 5)} == payloads  # uncommitted: again
    again.commit()
    again.close()
    open_source(mqtt_broker.url(topic, client_id=client, session_expiry_s=0)).close()


def test_wildcard_filters_in_the_url(mqtt_broker: MqttBroker) -> None:
    base = unique()
    source = open_source(mqtt_broker.url(f"{base}/a/#,{base}/+/x"))
    sink = open_sink(mqtt_broker.url())
    for topic in (f"{base}/a/1", f"{base}/a/2/3", f"{base}/b/x", f"{base}/b/y"):
        sink.send(topic, topic.encode())
    sink.flush()
    sink.close()
    got = receive(source, 3, timeout_s=5) + quiet(source, 0.3)
    source.commit()
    source.close()
    assert sorted(d.payload for d in got) == sorted(
        t.encode() for t in (f"{base}/a/1", f"{base}/a/2/3", f"{base}/b/x")
    )


def test_refused_subscription_and_closed_use(mqtt_broker: MqttBroker) -> None:
    with pytest.raises(BusError):
        open_source(mqtt_broker.url("bad/#/filter"))
    source = open_source(mqtt_broker.url(unique()))
    source.close()
    source.close()
    with pytest.raises(BusError):
        source.poll(1, 0)
    sink = open_sink(mqtt_broker.url())
    sink.close()
    with pytest.raises(BusError):
        sink.send("t", b"x")

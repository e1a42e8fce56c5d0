"""Kafka source and sink against a real broker (Tansu, in memory, on 127.0.0.1).

Tansu holds a JoinGroup for about half of session.timeout.ms, so every consumer here uses
session_timeout_ms=2000 and heartbeat_ms=500; its watermarks are not trusted: tests count what
they consume."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from e200.bus import BusError, Delivery, open_sink, open_source
from e200.bus.kafka import KafkaSource
from tests.bus.brokers import KafkaBroker, free_port, wait_until

FAST_GROUP = {"session_timeout_ms": 2000, "heartbeat_ms": 500}
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def new_topic(broker: KafkaBroker, partitions: int = 4) -> str:
    topic = f"bus-{uuid.uuid4().hex[:10]}"
    broker.create_topics(topic, partitions=partitions)
    return topic


def source_url(broker: KafkaBroker, topic: str, group: str) -> str:
    return broker.url(topic, group=group, **FAST_GROUP)


def produce(broker: KafkaBroker, topic: str, count: int, start: int = 0) -> set[bytes]:
    sink = open_sink(f"kafka://{broker.bootstrap}")
    keys = set()
    for i in range(start, start + count):
        key = b"key-%05d" % i
        sink.send(topic, b"payload-%05d" % i, key=key)
        keys.add(key)
    sink.flush(10)
    sink.close()
    return keys


def consume_until(
    source: KafkaSource, done: Callable[[list[Delivery]], bool], timeout_s: float = 20.0,
    batch: int = 500,
) -> list[Delivery]:  # fmt: skip
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout_s
    while not done(got) and time.monotonic() < deadline:
        got.extend(source.poll(batch, 0.2))
    return got


def drain_for(source: KafkaSource, seconds: float) -> list[Delivery]:
    """Everything the source gives in ``seconds`` (long enough for a group join on Tansu)."""
    got: list[Delivery] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got.extend(source.poll(500, 0.2))
    return got


def test_consume_everything_commit_and_a_new_member_gets_only_new(
    kafka_broker: KafkaBroker,
) -> None:
    topic, group = new_topic(kafka_broker), f"g-{uuid.uuid4().hex[:6]}"
    keys = produce(kafka_broker, topic, 2000)
    source = open_source(source_url(kafka_broker, topic, group))
    assert isinstance(source, KafkaSource)
    assert source.url == f"kafka://{kafka_broker.bootstrap}/{topic}?group={group}" + (
        "&session_timeout_ms=2000&heartbeat_ms=500"
    )
    got = consume_until(source, lambda g: len({d.ref for d in g}) >= 2000)
    refs = {d.ref for d in got}
    assert len(refs) == 2000, f"consumed {len(refs)} of 2000"
    assert {d.key for d in got} == keys
    assert all(d.payload == b"payload-" + (d.key or b"")[4:] for d in got)
    assert all(d.source == source.url for d in got)
    partitions = {ref.rsplit("/", 2)[1] for ref in refs}
    assert partitions == {"0", "1", "2", "3"}, "keyed messages spread over the 4 partitions"
    source.commit()
    source.commit()  # nothing new: a no-op
    source.close()

    # Committed: a new member of the group starts after them and sees only what comes next.
    later = produce(kafka_broker, topic, 10, start=5000)
    again = open_source(source_url(kafka_broker, topic, group))
    assert isinstance(again, KafkaSource)
    got2 = consume_until(again, lambda g: len(g) >= 10, timeout_s=15)
    got2 += drain_for(again, 1.0)  # and nothing more turns up
    again.close()
    assert sorted(d.key or b"" for d in got2) == sorted(later)


def test_uncommitted_messages_come_again(kafka_broker: KafkaBroker) -> None:
    topic, group = new_topic(kafka_broker), f"g-{uuid.uuid4().hex[:6]}"
    keys = produce(kafka_broker, topic, 400)
    first = open_source(source_url(kafka_broker, topic, group))
    assert isinstance(first, KafkaSource)
    committed = consume_until(first, lambda g: len(g) >= 1, batch=100)
    first.commit()
    uncommitted = consume_until(first, lambda g: len(g) >= 1, batch=100)
    first.close()  # WITHOUT commit
    assert committed and uncommitted

    second = open_source(source_url(kafka_broker, topic, group))
    assert isinstance(second, KafkaSource)
    done = {d.ref for d in committed}
    rest = consume_until(second, lambda g: len({d.ref for d in g}) >= 400 - len(done))
    rest += drain_for(second, 0.5)
    second.commit()
    second.close()
    rest_refs = {d.ref for d in rest}
    assert {d.ref for d in uncommitted} <= rest_refs, "uncommitted messages are redelivered"
    assert not done & rest_refs, "committed messages are not redelivered"
    assert {d.key for d in committed} | {d.key for d in rest} == keys


def test_two_members_share_the_partitions_and_see_everything(
    kafka_broker: KafkaBroker,
) -> None:
    topic, group = new_topic(kafka_broker), f"g-{uuid.uuid4().hex[:6]}"
    url = source_url(kafka_broker, topic, group)
    one, two = open_source(url, client_id="one"), open_source(url, client_id="two")
    assert isinstance(one, KafkaSource) and isinstance(two, KafkaSource)

    def balanced() -> bool:
        one.poll(10, 0.1)
        two.poll(10, 0.1)
        a, b = set(one.assignment()), set(two.assignment())
        return bool(a) and bool(b) and not a & b and len(a | b) == 4

    assert wait_until(balanced, 20), "both members hold partitions"
    keys = produce(kafka_broker, topic, 2000)
    seen: dict[str, list[Delivery]] = {"one": [], "two": []}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for name, source in (("one", one), ("two", two)):
            seen[name].extend(source.poll(200, 0.1))
            source.commit()
        if len({d.ref for g in seen.values() for d in g}) >= 2000:
            break
    one.close()
    two.close()
    refs = {name: {d.ref for d in got} for name, got in seen.items()}
    assert refs["one"] and refs["two"], "both members got messages"
    assert not refs["one"] & refs["two"], "no message went to both"
    assert len(refs["one"] | refs["two"]) == 2000
    assert {d.key for g in seen.values() for d in g} == keys
    part = {name: {r.rsplit("/", 2)[1] for r in rs} for name, rs in refs.items()}
    assert not part["one"] & part["two"]


def test_a_consumer_killed_mid_way_loses_nothing(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    topic, group = new_topic(kafka_broker), f"g-{uuid.uuid4().hex[:6]}"
    keys = produce(kafka_broker, topic, 2000)
    url = source_url(kafka_broker, topic, group)
    store = tmp_path / "stored.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(HERE / "kafka_consumer_proc.py"), url, str(store)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip

    def stored() -> list[bytes]:
        return store.read_bytes().splitlines() if store.exists() else []

    first = start()
    try:
        assert wait_until(lambda: len(stored()) >= 300, 20), "the consumer got going"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    at_kill = len(stored())
    assert at_kill < 2000, "killed mid-way"

    second = start()
    try:
        covered = wait_until(lambda: set(stored()) >= keys, 25)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(5)
    lines = stored()
    counts = collections.Counter(lines)
    duplicates = sum(n - 1 for n in counts.values())
    print(f"killed after {at_kill} stored; {len(lines)} stored in all, {duplicates} duplicates")
    assert covered, f"missing {len(keys - set(lines))} keys after restart"
    assert set(lines) == keys


def test_a_missing_topic_is_a_bus_error(kafka_broker: KafkaBroker) -> None:
    source = open_source(source_url(kafka_broker, f"missing-{uuid.uuid4().hex[:8]}", "g"))
    try:
        with pytest.raises(BusError, match="UNKNOWN_TOPIC_OR_PART"):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                source.poll(10, 0.2)
    finally:
        source.close()
    source.close()  # twice is fine
    with pytest.raises(BusError, match="closed"):
        source.poll(1, 0)


def test_sink_reports_what_it_could_not_deliver() -> None:
    sink = open_sink(f"kafka://127.0.0.1:{free_port()}?message.timeout.ms=500")
    sink.send("t", b"x", key=b"k")
    with pytest.raises(BusError, match="1 message\\(s\\) not delivered"):
        sink.flush(2)
    sink.close()  # logs, does not raise
    with pytest.raises(BusError, match="closed"):
        sink.send("t", b"y")


def test_credentials_stay_out_of_the_source_url() -> None:
    port = free_port()
    source = open_source(f"kafka://user:pw@127.0.0.1:{port}/t?group=g")
    try:
        assert source.url == f"kafka://127.0.0.1:{port}/t?group=g"
        assert source.poll(10, 0) == []
        source.commit()  # nothing polled: nothing to do
    finally:
        source.close()
    with pytest.raises(BusError, match="cannot create consumer"):
        open_source("kafka://127.0.0.1:1/t?no.such.property=1")

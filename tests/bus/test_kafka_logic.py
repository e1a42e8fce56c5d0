"""KafkaSource bookkeeping with a stand-in consumer: error messages mixed into a batch, offsets
kept per partition, partitions revoked before commit, commits refused by a rebalance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import e200.bus.kafka as kafka_mod
from e200.bus import BusError
from e200.bus.kafka import KafkaSource


@dataclass
class FakeMessage:
    topic_: str
    partition_: int
    offset_: int
    err: KafkaError | None = None

    def error(self) -> KafkaError | None:
        return self.err

    def topic(self) -> str:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def key(self) -> bytes:
        return b"k%d" % self.offset_

    def value(self) -> bytes:
        return b"v%d" % self.offset_


@dataclass
class FakeConsumer:
    conf: dict[str, Any]
    batches: list[list[FakeMessage]] = field(default_factory=list)
    stored: list[tuple[str, int, int]] = field(default_factory=list)
    commits: int = 0
    commit_error: KafkaError | None = None
    callbacks: dict[str, Any] = field(default_factory=dict)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        return self.batches.pop(0) if self.batches else []

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        self.stored.extend((tp.topic, tp.partition, tp.offset) for tp in offsets)

    def commit(self, asynchronous: bool) -> list[TopicPartition]:
        assert asynchronous is False
        if self.commit_error is not None:
            raise KafkaException(self.commit_error)
        self.commits += 1
        return []

    def close(self) -> None:
        pass


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> list[FakeConsumer]:
    made: list[FakeConsumer] = []

    def factory(conf: dict[str, Any]) -> FakeConsumer:
        made.append(FakeConsumer(conf))
        return made[-1]

    monkeypatch.setattr(kafka_mod, "Consumer", factory)
    return made


def test_consumer_settings(fake: list[FakeConsumer]) -> None:
    KafkaSource("kafka://h:1/a,b?group=G&session_timeout_ms=2000&heartbeat_ms=500&x.y=z")
    conf = fake[0].conf
    assert conf["group.id"] == "G"
    assert conf["enable.auto.commit"] is False
    assert conf["enable.auto.offset.store"] is False
    assert conf["auto.offset.reset"] == "earliest"
    assert (conf["session.timeout.ms"], conf["heartbeat.interval.ms"]) == (2000, 500)
    assert conf["x.y"] == "z"
    KafkaSource("kafka://h:1/a")
    assert fake[1].conf["group.id"] == "e200-ingest"


def test_an_error_in_a_batch_is_raised_after_its_good_messages(fake: list[FakeConsumer]) -> None:
    source = KafkaSource("kafka://h:1/t")
    consumer = fake[0]
    consumer.batches = [
        [
            FakeMessage("t", 0, 7),
            FakeMessage("t", 1, 0, KafkaError(KafkaError._PARTITION_EOF)),
            FakeMessage("t", 0, 0, KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)),
            FakeMessage("t", 0, 8),
            FakeMessage("t", 2, 3),
        ]
    ]
    got = source.poll(100, 0)
    assert [d.ref for d in got] == ["t/0/7", "t/0/8", "t/2/3"]
    assert got[0].key == b"k7" and got[0].payload == b"v7"
    with pytest.raises(BusError, match="TOPIC_AUTHORIZATION_FAILED"):
        source.poll(100, 0)
    source.commit()
    assert sorted(consumer.stored) == [("t", 0, 9), ("t", 2, 4)]
    assert consumer.commits == 1
    source.commit()  # nothing new since
    assert consumer.commits == 1


def test_revoked_partitions_are_not_committed(fake: list[FakeConsumer]) -> None:
    source = KafkaSource("kafka://h:1/t")
    consumer = fake[0]
    consumer.batches = [[FakeMessage("t", 0, 1), FakeMessage("t", 1, 5)]]
    source.poll(10, 0)
    consumer.callbacks["on_revoke"](consumer, [TopicPartition("t", 1)])
    source.commit()
    assert consumer.stored == [("t", 0, 2)]


def test_a_commit_refused_by_a_rebalance_means_redelivery_not_failure(
    fake: list[FakeConsumer],
) -> None:
    source = KafkaSource("kafka://h:1/t")
    consumer = fake[0]
    consumer.batches = [[FakeMessage("t", 0, 1)], [FakeMessage("t", 0, 2)]]
    consumer.commit_error = KafkaError(KafkaError.REBALANCE_IN_PROGRESS)
    source.poll(10, 0)
    source.commit()  # logged, not raised
    consumer.commit_error = KafkaError(KafkaError._TRANSPORT)
    source.poll(10, 0)
    with pytest.raises(BusError, match="commit failed"):
        source.commit()

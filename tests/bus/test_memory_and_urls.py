"""The in-process bus, URL reading and the factory's refusals."""

from __future__ import annotations

import threading
import uuid
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e200.bus import (
    BusError,
    BusUrl,
    Delivery,
    MemoryBus,
    Sink,
    Source,
    open_sink,
    open_source,
    redact,
)


def bus_name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def test_memory_source_polls_what_producers_publish() -> None:
    name = bus_name()
    bus = MemoryBus.get(name)
    assert MemoryBus.get(name) is bus
    for i in range(10):
        bus.publish(b"m%d" % i, key=b"k" if i == 0 else None)
    source = open_source(f"memory://{name}")
    assert isinstance(source, Source)
    assert source.url == f"memory://{name}"
    first = source.poll(4, 0.1)
    assert first[0] == Delivery(payload=b"m0", source=f"memory://{name}", ref="memory#1", key=b"k")
    assert [d.payload for d in first] == [b"m0", b"m1", b"m2", b"m3"]
    rest = source.poll(100, 0.1)
    assert [d.ref for d in rest] == [f"memory#{n}" for n in range(5, 11)]
    source.commit()
    assert source.poll(10, 0.05) == []
    assert len(bus) == 0
    source.close()
    with pytest.raises(BusError):
        source.poll(1, 0)
    MemoryBus.remove(name)


def test_memory_close_without_commit_gives_messages_back() -> None:
    name = bus_name()
    bus = MemoryBus.get(name)
    for i in range(6):
        bus.publish(b"%d" % i)
    source = open_source(f"memory://{name}")
    committed = source.poll(2, 0)
    source.commit()
    uncommitted = source.poll(3, 0)
    source.close()  # no commit: these three come again, ahead of the rest
    again = open_source(f"memory://{name}")
    got = again.poll(10, 0)
    assert [d.payload for d in committed] == [b"0", b"1"]
    assert [d.ref for d in got] == [d.ref for d in uncommitted] + ["memory#6"]
    again.commit()
    again.close()
    MemoryBus.remove(name)


def test_memory_poll_waits_for_a_producer_thread() -> None:
    name = bus_name()
    source = open_source(f"memory://{name}")
    timer = threading.Timer(0.1, lambda: MemoryBus.get(name).publish(b"late"))
    timer.start()
    got = source.poll(10, 5.0)
    timer.join()
    assert [d.payload for d in got] == [b"late"]
    assert source.poll(10, 0.05) == []  # times out empty
    source.close()
    MemoryBus.remove(name)


def test_bare_memory_is_the_default_bus_and_the_sink_routes_by_name() -> None:
    source = open_source("memory")
    assert source.url == "memory://default"
    named, routed = bus_name(), bus_name()
    sink = open_sink(f"memory://{named}")
    assert isinstance(sink, Sink)
    sink.send("ignored-topic", b"a", key=b"k")
    by_topic = open_sink("memory")
    by_topic.send(routed, b"b")
    sink.flush()
    sink.close()
    by_topic.close()
    with pytest.raises(BusError):
        sink.send("x", b"c")
    got = open_source(f"memory://{named}").poll(10, 0)
    assert [(d.payload, d.key) for d in got] == [(b"a", b"k")]
    assert [d.payload for d in open_source(f"memory://{routed}").poll(10, 0)] == [b"b"]
    source.close()
    MemoryBus.remove(named)
    MemoryBus.remove(routed)


def test_memory_publish_refuses_text() -> None:
    with pytest.raises(TypeError):
        MemoryBus.get(bus_name()).publish("text")  # type: ignore[arg-type]


def test_urls_are_read_and_redacted() -> None:
    url = BusUrl.parse("kafka://u:s%40cret@h1:9092,h2:9092/a,b?group=g&sasl.password=x")
    assert url.hosts == "h1:9092,h2:9092"
    assert url.names() == ["a", "b"]
    assert (url.username, url.password) == ("u", "s@cret")
    assert url.public() == "kafka://h1:9092,h2:9092/a,b?group=g"
    mqtt = BusUrl.parse("mqtt://me:pw@127.0.0.1/meters/+/data,#?qos=1")
    assert mqtt.names() == ["meters/+/data", "#"]
    assert mqtt.params == {"qos": "1"}
    assert mqtt.host_port(1883) == ("127.0.0.1", 1883)
    assert mqtt.public() == "mqtt://127.0.0.1/meters/+/data,#?qos=1"
    assert BusUrl.parse("mqtt://h/a/%23").names() == ["a/#"]
    assert BusUrl.parse("mqtt://[::1]:1884/x").host_port(1883) == ("::1", 1884)
    assert redact("kafka://user:pw@host:1/t") == "kafka://host:1/t"
    assert "pw" not in redact("mqtt://user:pw@@@")


@pytest.mark.parametrize(
    "url",
    [
        "nothing",
        "ftp://host/x",
        "kafka://127.0.0.1:9/t?grup=typo",
        "kafka://127.0.0.1:9/",
        "kafka://127.0.0.1:9/t?session_timeout_ms=soon",
        "kafka://127.0.0.1:9/t?group=a&group=b",
        "mqtt://127.0.0.1:1/t?qos=3",
        "mqtt://127.0.0.1:1/t?qos=2",
        "mqtt://127.0.0.1:1/t?protocol=4",
        "mqtt://127.0.0.1:notaport/t",
        "mqtt://h1:1,h2:1/t",
        "memory://x?y=1",
    ],
)
def test_bad_source_urls_are_refused(url: str) -> None:
    with pytest.raises(BusError):
        open_source(url)


def test_unreachable_mqtt_broker_is_a_bus_error() -> None:
    from tests.bus.brokers import free_port

    with pytest.raises(BusError, match="cannot connect"):
        open_source(f"mqtt://127.0.0.1:{free_port()}/t?connect_timeout_s=1")
    with pytest.raises(BusError):
        open_sink(f"mqtt://127.0.0.1:{free_port()}?connect_timeout_s=1")


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)


@given(
    scheme=st.sampled_from(["kafka", "mqtt"]),
    user=st.none() | _names,
    password=st.text(min_size=1, max_size=10),
    topics=st.lists(_names, min_size=1, max_size=3),
    params=st.dictionaries(_names.filter(lambda k: "pass" not in k), _names, max_size=3),
)
def test_public_url_round_trips_without_credentials(
    scheme: str, user: str | None, password: str, topics: list[str], params: dict[str, str]
) -> None:
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    url = f"{scheme}://{userinfo}127.0.0.1:9/{','.join(topics)}" + (f"?{query}" if query else "")
    parsed = BusUrl.parse(url)
    assert (parsed.username, parsed.names()) == (user, topics)
    if user:
        assert parsed.password == password
    public = parsed.public()
    assert "@" not in public
    again = BusUrl.parse(public)
    assert (again.hosts, again.names(), again.username) == ("127.0.0.1:9", topics, None)
    assert again.params == {
        k: v for k, v in params.items() if not any(w in k for w in ("secret", "token"))
    }
    assert again.public() == public

"""The bus: transports only. Bytes in, bytes out, no domain knowledge.

``open_source(url)`` gives a :class:`Source` (poll, commit, close) for ``kafka://``,
``mqtt://`` or ``memory``; ``open_sink(url)`` gives a :class:`Sink` (send, flush, close).
Delivery is at-least-once everywhere: what ``poll`` returned is acknowledged only by
``commit``, so a consumer that dies before storing a batch gets it again.
"""

from __future__ import annotations

from e200.bus.base import BusError, BusUrl, Delivery, Sink, Source, redact
from e200.bus.memory import MemoryBus, MemorySink, MemorySource

__all__ = [
    "BusError",
    "BusUrl",
    "Delivery",
    "MemoryBus",
    "MemorySink",
    "MemorySource",
    "Sink",
    "Source",
    "open_sink",
    "open_source",
    "redact",
]


def _scheme(url: str) -> str:
    if url.strip().lower() == "memory":
        return "memory"
    if "://" not in url:
        raise BusError(f"not a bus URL: {redact(url)!r} (kafka://, mqtt://, memory://)")
    return url.split("://", 1)[0].lower()


def open_source(url: str, *, client_id: str | None = None) -> Source:
    """A source for ``url``: ``kafka://host:port/topic[,topic]?group=NAME``,
    ``mqtt://host:port/filter?client_id=ID``, ``memory`` or ``memory://name``.

    ``client_id`` names the consumer (Kafka ``client.id``; the MQTT client id, which makes the
    MQTT session persistent); a ``client_id`` in the URL wins. Raises :class:`BusError` for a
    bad URL or, for MQTT, a broker that cannot be reached or refuses the subscription."""
    scheme = _scheme(url)
    if scheme == "memory":
        return MemorySource(url)
    if scheme in ("kafka", "kafkas"):
        from e200.bus.kafka import KafkaSource

        return KafkaSource(url, client_id=client_id)
    if scheme in ("mqtt", "mqtts"):
        from e200.bus.mqtt import MqttSource

        return MqttSource(url, client_id=client_id)
    raise BusError(f"unknown bus scheme {scheme!r} in {redact(url)!r}")


def open_sink(url: str) -> Sink:
    """A sink for ``url``: ``kafka://host:port``, ``mqtt://host:port`` or ``memory[://name]``
    (topic given to each ``send``)."""
    scheme = _scheme(url)
    if scheme == "memory":
        return MemorySink(url)
    if scheme in ("kafka", "kafkas"):
        from e200.bus.kafka import KafkaSink

        return KafkaSink(url)
    if scheme in ("mqtt", "mqtts"):
        from e200.bus.mqtt import MqttSink

        return MqttSink(url)
    raise BusError(f"unknown bus scheme {scheme!r} in {redact(url)!r}")

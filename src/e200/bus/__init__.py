"""Transports: bytes in, bytes out, no domain. (Provisional facade — the bus author may replace
this file; keep these names.)"""

from e200.bus.base import BusError, Delivery, Sink, Source
from e200.bus.memory import MemoryBus, MemorySink, MemorySource


def open_source(url: str, *, client_id: str | None = None) -> Source:
    if url.startswith("memory"):
        return MemorySource(url)
    raise BusError(f"no source for {url!r} yet")


def open_sink(url: str) -> Sink:
    if url.startswith("memory"):
        return MemorySink(url)
    raise BusError(f"no sink for {url!r} yet")


__all__ = ["BusError", "Delivery", "MemoryBus", "Sink", "Source", "open_sink", "open_source"]

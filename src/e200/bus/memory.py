"""An in-process bus: named queues that producers (the simulator, the demo, tests) publish into
and a ``memory://name`` source polls. Same at-least-once contract as the real transports:
what was polled but not committed when the source closes goes back to the head of the queue."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import ClassVar

from e200.bus.base import BusError, BusUrl, Delivery, check_params

DEFAULT_NAME = "default"

_Item = tuple[int, bytes, bytes | None]  # (sequence number, payload, key)


class MemoryBus:
    """A named FIFO of messages, shared by every source and sink in the process."""

    _registry: ClassVar[dict[str, MemoryBus]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._seq = 0

    @classmethod
    def get(cls, name: str = DEFAULT_NAME) -> MemoryBus:
        """The bus called ``name``, created on first use."""
        with cls._registry_lock:
            bus = cls._registry.get(name)
            if bus is None:
                bus = cls._registry[name] = cls(name)
            return bus

    @classmethod
    def remove(cls, name: str) -> None:
        """Forget the bus called ``name`` (and whatever it still holds)."""
        with cls._registry_lock:
            cls._registry.pop(name, None)

    @classmethod
    def names(cls) -> list[str]:
        with cls._registry_lock:
            return sorted(cls._registry)

    def publish(self, payload: bytes, key: bytes | None = None) -> int:
        """Append one message; returns its sequence number (the ``n`` of ``memory#n``)."""
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
        with self._cond:
            self._seq += 1
            self._queue.append((self._seq, bytes(payload), key))
            self._cond.notify()
            return self._seq

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()

    def take(self, max_messages: int, timeout_s: float) -> list[_Item]:
        """Remove and return up to ``max_messages``, waiting up to ``timeout_s`` for the first."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._cond:
            while not self._queue:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            count = min(max(max_messages, 0), len(self._queue))
            return [self._queue.popleft() for _ in range(count)]

    def give_back(self, items: list[_Item]) -> None:
        """Put unacknowledged messages back at the head, in their order."""
        if not items:
            return
        with self._cond:
            self._queue.extendleft(reversed(items))
            self._cond.notify_all()


def _bus_name(url: str) -> str | None:
    """``memory`` -> None, ``memory://`` -> None, ``memory://name`` -> "name"."""
    if url.strip().lower() == "memory":
        return None
    parsed = BusUrl.parse(url)
    if parsed.scheme != "memory":
        raise BusError(f"not a memory URL: {url!r}")
    check_params(parsed.params, set(), url)
    name = (parsed.hosts + parsed.path).strip("/")
    return name or None


class MemorySource:
    """Polls one :class:`MemoryBus`. ``commit`` drops what was polled; ``close`` without commit
    puts it back so that the next source sees it again."""

    def __init__(self, url: str = "memory") -> None:
        name = _bus_name(url) or DEFAULT_NAME
        self.url = f"memory://{name}"
        self._bus = MemoryBus.get(name)
        self._pending: list[_Item] = []
        self._closed = False

    def poll(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        if self._closed:
            raise BusError(f"{self.url}: source is closed")
        items = self._bus.take(max_messages, timeout_s)
        self._pending.extend(items)
        return [Delivery(payload=p, source=self.url, ref=f"memory#{n}", key=k) for n, p, k in items]

    def commit(self) -> None:
        self._pending.clear()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._bus.give_back(self._pending)
        self._pending = []


class MemorySink:
    """Publishes into a :class:`MemoryBus`: the one named in the URL (``memory://name``, topic
    ignored), or, for a bare ``memory`` / ``memory://``, the bus named by the topic."""

    def __init__(self, url: str = "memory") -> None:
        self._name = _bus_name(url)
        self._closed = False

    def send(self, topic: str, payload: bytes, key: bytes | None = None) -> None:
        if self._closed:
            raise BusError("memory sink is closed")
        name = self._name or topic or DEFAULT_NAME
        MemoryBus.get(name).publish(payload, key)

    def flush(self, timeout_s: float = 10.0) -> None:
        return None

    def close(self) -> None:
        self._closed = True

"""Alarms as they happen, for open consoles.

The alarms slice announces every raise, clear and acknowledgement on a PostgreSQL channel at
commit (``alarms.CHANNEL``), from whichever process ingested the reading. One listener thread per
console server keeps the latest events in a numbered ring; pages ask for what came after the last
number they saw (a one-second timer), so nothing needs a reload and no page misses an event
because it was busy. Events carry no scope: pages re-read what they show with the user's scope.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Engine

from e200 import alarms

log = structlog.get_logger(__name__)
RING = 500  # events kept; a page that falls further behind reloads everything


@dataclass(frozen=True)
class AlarmEvent:
    seq: int
    event: str  # raised | cleared | acknowledged
    alarm_id: int
    rule: str
    severity: str
    asset_number: str
    device_kind: str


class AlarmFeed:
    def __init__(self, engine: Engine, *, retry_s: float = 2.0) -> None:
        self._engine = engine
        self._retry_s = retry_s
        self._events: deque[AlarmEvent] = deque(maxlen=RING)
        self._seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while LISTEN is in force (tests wait for it)

    @property
    def seq(self) -> int:
        """Number of the newest event (0 before the first)."""
        return self._seq

    def after(self, seq: int) -> tuple[list[AlarmEvent], bool]:
        """Events newer than ``seq`` and whether some were already dropped from the ring (then
        the caller reloads rather than trusting the list)."""
        with self._lock:
            newer = [e for e in self._events if e.seq > seq]
            lost = (bool(newer) and newer[0].seq > seq + 1) or (not newer and self._seq > seq)
        return newer, lost

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="e200-alarm-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _add(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._events.append(AlarmEvent(
                seq=self._seq, event=str(payload.get("event", "")),
                alarm_id=int(payload.get("id", 0)), rule=str(payload.get("rule", "")),
                severity=str(payload.get("severity", "")),
                asset_number=str(payload.get("asset_number", "")),
                device_kind=str(payload.get("device_kind", ""))))  # fmt: skip

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # the database restarted, the network blinked: retry
                log.warning("alarm feed: listener lost, retrying", error=str(exc))
            self.listening.clear()
            self._stop.wait(self._retry_s)

    def _listen(self) -> None:
        raw = self._engine.raw_connection()
        try:
            pg: Any = raw.driver_connection
            pg.autocommit = True
            pg.execute(f"LISTEN {alarms.CHANNEL}")
            self.listening.set()
            while not self._stop.is_set():
                for note in pg.notifies(timeout=1.0):
                    try:
                        self._add(json.loads(note.payload))
                    except (ValueError, TypeError):
                        log.warning("alarm feed: unreadable payload", payload=note.payload[:200])
        finally:
            raw.invalidate()  # never hand a LISTENing connection back to the pool

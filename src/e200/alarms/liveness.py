"""Terminal liveness as every slice judges it: heard from (telemetry: the arrival of the newest
delivery) within k × the reporting interval (archives), where k is the ``terminal_offline``
rule's effective threshold — the catalogue default or an org unit's override (this slice owns
thresholds). The offline alarm, the monitoring status and acquisition quality's online figures
all take k and the verdict from here (``telemetry.Liveness``), so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from e200 import archives, telemetry
from e200.alarms.catalog import OFFLINE
from e200.alarms.thresholds import effective_for

TERMINAL_COLUMNS = ("reporting_interval_min", "status")


def offline_after(facts: Iterable[archives.DeviceFacts], conn: Connection) -> dict[int, float]:
    """k per terminal: how many reporting intervals of silence make it offline — the
    ``terminal_offline`` threshold in force at its org unit (default ``OFFLINE.threshold``)."""
    facts = list(facts)
    overrides = effective_for(conn, facts, transformer_level=False)
    return {f.id: overrides.get(f.id, {}).get(OFFLINE.key, (OFFLINE.threshold, "default", None))[0]
            for f in facts}  # fmt: skip


def liveness_of(conn: Connection, facts: dict[int, archives.DeviceFacts],
                heard: dict[int, datetime]) -> dict[int, telemetry.Liveness]:  # fmt: skip
    """Liveness of the terminals in ``facts`` (read with ``TERMINAL_COLUMNS``), heard from as
    ``heard`` says (absent: never)."""
    k = offline_after(facts.values(), conn)
    return {
        tid: telemetry.Liveness(heard.get(tid), int(f.columns["reporting_interval_min"]), k[tid])
        for tid, f in facts.items()
    }


def terminal_liveness(
    conn: Connection, terminal_ids: list[int] | None = None
) -> dict[int, telemetry.Liveness]:
    """Liveness of these terminals (``None``: every terminal ever heard from): when E200 last
    heard from each, its reporting interval and k."""
    heard = telemetry.terminals_last_seen(conn, terminal_ids)
    ids = sorted(heard) if terminal_ids is None else sorted(set(terminal_ids))
    return liveness_of(conn, archives.device_facts(conn, "terminal", ids, TERMINAL_COLUMNS), heard)

"""The terminal slice's background jobs: downlink commands sent and expired, and the terminals'
reported meter lists compared with the archive."""

from __future__ import annotations

import threading

from e200.bus import Sink, open_sink
from e200.db.jobspec import JobContext, JobSpec
from e200.terminal.consistency import run_checks
from e200.terminal.service import DownlinkPolicy, dispatch_due

COMMANDS_QUEUE = "commands"  # only processes that know where commands go (commands_url) run it

# One sink per process and URL, opened on first use: a producer is expensive to open and is
# safe to share between the worker's job threads.
_sinks: dict[str, Sink] = {}
_sinks_lock = threading.Lock()


def _sink(url: str) -> Sink:
    with _sinks_lock:
        if url not in _sinks:
            _sinks[url] = open_sink(url)
        return _sinks[url]


def close_sinks() -> None:
    """Close the sinks this process opened (at its end)."""
    with _sinks_lock:
        for sink in _sinks.values():
            sink.close()
        _sinks.clear()


def _dispatch(ctx: JobContext) -> str:
    url = ctx.settings.commands_url
    if not url:
        return "no commands_url: nothing sent"
    with ctx.engine.begin() as conn:
        done = dispatch_due(conn, _sink(url), url.split(":", 1)[0], DownlinkPolicy())
    return ", ".join(f"{k} {v}" for k, v in done.items()) or "nothing due"


def _meter_lists(ctx: JobContext) -> str:
    with ctx.engine.begin() as conn:
        result = run_checks(conn)
    return ", ".join(f"{k} {v}" for k, v in result.items())


JOBS = (
    JobSpec(
        name="terminal.dispatch_commands",
        title="Downlink commands sent (and re-sent), unanswered ones expired",
        run=_dispatch,
        cron="* * * * * */5",
        queue=COMMANDS_QUEUE,
    ),
    JobSpec(
        name="terminal.check_meter_lists",
        title="Terminals' reported meter lists compared with the archive",
        run=_meter_lists,
        cron="37 * * * *",
    ),
)

"""Consistency of the archive with the meter lists the terminals report.

For each terminal: the meters the archive puts in its station area now against the last list it
reported (``terminal_meters`` messages). Mismatch kinds:

- ``in_archive_not_on_terminal`` — the archive has it here, the terminal does not collect it;
- ``on_another_terminal`` — the same, but another terminal reports it (named in
  ``reported_by``): the meter is probably fed by that terminal's transformer;
- ``on_terminal_not_in_archive`` — the terminal collects it, the archive has it elsewhere
  (``archive_transformer``/``archive_terminals``), on no transformer, or not at all
  (``in_archive`` false);
- ``phase_differs`` — both have it, on different phases (only when the terminal reports phases).

Names outside the caller's scope are left out, as if they did not exist. Actions: push the
archive's list to the terminal, or adopt the terminal's list into the archive as a reviewed set of
effective-dated changes — refused when the terminal has reported another list since the review.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from e200 import alarms, archives, telemetry
from e200.kernel import ConflictError, InvalidInputError, NotFoundError, Scope, as_utc, utc_now
from e200.terminal.meter_lists import (
    METER,
    command_out,
    field_prefix,
    latest_sync,
    open_sync_terminals,
    queue_sync,
    reported_out,
    sync_due,
    sync_ttl,
    terminal_ref,
)
from e200.terminal.model import (
    AdoptIn,
    AdoptOut,
    ConsistencyPage,
    ConsistencyReport,
    Mismatch,
    PushOut,
)
from e200.terminal.rules import LIST_MISMATCH
from e200.terminal.tables import command

ADOPT_FOR = {
    "on_terminal_not_in_archive": "attach",
    "in_archive_not_on_terminal": "detach",
    "on_another_terminal": "detach",
    "phase_differs": "set_phase",
}
MAX_PAGE = 1000


def _visible(conn: Connection, kind: str, names: set[str], scope: Scope) -> set[str]:
    return archives.numbers_in_scope(conn, kind, sorted(names), scope)


def check(
    conn: Connection,
    scope: Scope,
    *,
    terminals: list[str] | None = None,
    org_unit: str | None = None,
    with_last_sync: bool = True,
) -> list[ConsistencyReport]:
    """Compare the archive with the reported lists, for the terminals in ``scope`` (all, those
    named, or those under ``org_unit``), a handful of queries whatever their number."""
    now = utc_now()
    areas = archives.station_areas(conn, scope, terminals=terminals, org_unit_code=org_unit)
    reported = telemetry.reported_meter_lists(conn, [a.terminal_id for a in areas])
    missing: set[str] = set()
    extra: set[str] = set()
    for area in areas:
        listed = reported.get(area.terminal_id)
        if listed is not None:
            on_terminal = set(listed.meters)
            missing |= set(area.meters) - on_terminal
            extra |= on_terminal - set(area.meters)
    # Who else reports the meters a terminal misses (names in scope only).
    holders = telemetry.terminals_reporting(conn, sorted(missing))
    ids = sorted({tid for tids in holders.values() for tid in tids})
    id_names = archives.asset_numbers(conn, "terminal", ids)
    shown_terminals = _visible(conn, "terminal", set(id_names.values()), scope)
    # Where the archive puts the meters a terminal reports but should not.
    placed = archives.meter_placements(conn, sorted(extra))
    shown_meters = _visible(conn, "meter", set(placed), scope)
    shown_transformers = _visible(
        conn, "transformer", {p.transformer for p in placed.values() if p.transformer}, scope
    )
    shown_terminals |= _visible(
        conn, "terminal", {t for p in placed.values() for t in p.terminals}, scope
    )
    reports = []
    for area in areas:
        listed = reported.get(area.terminal_id)
        mismatches: list[Mismatch] = []
        if listed is not None:
            phases = listed.phases or {}
            on_terminal = set(listed.meters)
            for meter in sorted(set(area.meters) - on_terminal):
                others = sorted(name for tid in holders.get(meter, ())
                                if (name := id_names.get(tid)) and name != area.terminal
                                and name in shown_terminals)  # fmt: skip
                kind = "on_another_terminal" if others else "in_archive_not_on_terminal"
                mismatches.append(Mismatch(kind=kind, meter=meter, reported_by=others,
                                           archive_phase=area.meters[meter],
                                           adopt="detach"))  # fmt: skip
            for meter in sorted(on_terminal - set(area.meters)):
                where = placed.get(meter) if meter in shown_meters else None
                transformer = where.transformer if where is not None else None
                mismatches.append(Mismatch(
                    kind="on_terminal_not_in_archive", meter=meter,
                    reported_phase=phases.get(meter), in_archive=where is not None,
                    archive_transformer=transformer if transformer in shown_transformers
                    else None,
                    archive_terminals=[t for t in (where.terminals if where else ())
                                       if t in shown_terminals and t != area.terminal],
                    adopt="attach" if where is not None else None,
                ))  # fmt: skip
            for meter in sorted(on_terminal & set(area.meters)):
                said = phases.get(meter)
                if said is not None and said != area.meters[meter]:
                    mismatches.append(Mismatch(kind="phase_differs", meter=meter,
                                               archive_phase=area.meters[meter],
                                               reported_phase=said,
                                               adopt="set_phase"))  # fmt: skip
        status = ("never_reported" if listed is None
                  else "mismatch" if mismatches else "consistent")  # fmt: skip
        reports.append(ConsistencyReport(
            terminal=area.terminal, transformer=area.transformer, org_unit=area.org_unit,
            checked_at=now, status=status, archive_meters=len(area.meters),
            reported=reported_out(listed), mismatches=mismatches,
            counts=dict(Counter(m.kind for m in mismatches)),
            last_sync=latest_sync(conn, area.terminal_id) if with_last_sync else None,
        ))  # fmt: skip
    return reports


def check_terminal(conn: Connection, terminal_number: str, scope: Scope) -> ConsistencyReport:
    terminal_ref(conn, terminal_number, scope)  # 404 outside the scope
    reports = check(conn, scope, terminals=[terminal_number])
    if not reports:  # retired, or has no org unit now
        raise ConflictError(f"terminal: {terminal_number!r} is retired", field="terminal")
    return reports[0]


def check_many(
    conn: Connection, scope: Scope, *, org_unit: str | None, status: str | None,
    limit: int = 50, offset: int = 0,
) -> ConsistencyPage:  # fmt: skip
    """Every terminal in scope (under ``org_unit``): totals, and the reports (those with
    ``status`` only, if given; default the mismatches) paged by terminal asset number."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit: must be between 1 and {MAX_PAGE}", field="limit")
    allowed = ("consistent", "mismatch", "never_reported", "all")
    if status is not None and status not in allowed:
        raise InvalidInputError(f"status: one of {', '.join(allowed)}", field="status")
    try:
        reports = check(conn, scope, org_unit=org_unit, with_last_sync=False)
    except NotFoundError as exc:
        raise InvalidInputError(f"org_unit: org unit {org_unit!r} does not exist",
                                field="org_unit") from exc  # fmt: skip
    totals = Counter(r.status for r in reports)
    wanted = status or "mismatch"
    chosen = reports if wanted == "all" else [r for r in reports if r.status == wanted]
    page = chosen[offset : offset + limit]
    if page:
        ids = archives.lookup_devices(conn, "terminal", [r.terminal for r in page])
        for report in page:
            report.last_sync = latest_sync(conn, ids[report.terminal].id)
    return ConsistencyPage(
        checked=len(reports), consistent=totals["consistent"], mismatch=totals["mismatch"],
        never_reported=totals["never_reported"], items=page, total=len(chosen), limit=limit,
        offset=offset,
    )  # fmt: skip


def push(conn: Connection, terminal_number: str, ttl_s: int, scope: Scope,
         actor: str | None) -> PushOut:  # fmt: skip
    """Send the archive's list to the terminal now (joins a sync not yet sent)."""
    term, _ = terminal_ref(conn, terminal_number, scope)
    if term["status"] == "retired":
        raise ConflictError(f"terminal: {terminal_number!r} is retired", field="terminal")
    command_id = queue_sync(conn, terminal_number, actor=actor, ttl_s=ttl_s)
    if command_id is None:
        raise ConflictError(f"terminal: {terminal_number!r} is not attached to a transformer, "
                            "so it has no meter list", field="terminal")  # fmt: skip
    row = conn.execute(command.select().where(command.c.id == command_id)).one()
    return PushOut(command=command_out(row), report=check_terminal(conn, terminal_number, scope))


def adopt(conn: Connection, terminal_number: str, data: AdoptIn, scope: Scope,
          actor: str | None) -> AdoptOut:  # fmt: skip
    """Take the terminal's list into the archive: apply the reviewed changes (each must still
    be a mismatch of the list named by ``version``) as effective-dated relation changes."""
    report = check_terminal(conn, terminal_number, scope)
    if report.reported is None:
        raise ConflictError(f"terminal: {terminal_number!r} has not reported a meter list",
                            field="terminal")  # fmt: skip
    if data.version != report.reported.version:
        raise ConflictError(
            f"version: the terminal reported another list since your review (now version "
            f"{report.reported.version}, reported at {report.reported.ts.isoformat()}); "
            "review it again", field="version",
        )  # fmt: skip
    by_meter = {m.meter: m for m in report.mismatches}
    valid_from = as_utc(data.valid_from) if data.valid_from else utc_now()
    seen: set[str] = set()
    _, terminal_id = terminal_ref(conn, terminal_number, scope)
    with sync_ttl(data.ttl_s):
        for i, change in enumerate(data.changes):
            with field_prefix(f"changes[{i}]"):
                if change.meter in seen:
                    raise InvalidInputError(f"meter {change.meter!r} is listed twice",
                                            field="meter")  # fmt: skip
                seen.add(change.meter)
                _apply(conn, report, by_meter.get(change.meter), change.meter, change.action,
                       change.phase, valid_from, scope, actor)  # fmt: skip
    return AdoptOut(applied=data.changes, valid_from=valid_from,
                    report=check_terminal(conn, terminal_number, scope),
                    command=sync_due(conn, terminal_id, valid_from))  # fmt: skip


def _apply(conn: Connection, report: ConsistencyReport, mismatch: Mismatch | None, meter: str,
           action: str, phase: str | None, at: datetime, scope: Scope,
           actor: str | None) -> None:  # fmt: skip
    if mismatch is None or ADOPT_FOR[mismatch.kind] != action:
        found = f"its mismatch is {mismatch.kind}" if mismatch else "it is no mismatch (now)"
        raise ConflictError(f"{action} {meter!r}: {found}", field="action")
    if action == "detach":
        archives.detach_relation(conn, METER, meter, "transformer", at, scope, actor=actor)
        return
    if report.transformer is None:
        raise ConflictError(f"terminal: {report.terminal!r} is on no transformer",
                            field="action")  # fmt: skip
    if action == "attach" and not mismatch.in_archive:
        raise ConflictError(f"meter {meter!r} is not in the archive; create it first",
                            field="meter")  # fmt: skip
    archives.set_relation(
        conn, METER, meter, "transformer",
        archives.RelationIn(parent=report.transformer, phase=phase or mismatch.reported_phase,
                            valid_from=at),
        scope, actor=actor,
    )  # fmt: skip


def run_checks(conn: Connection) -> dict[str, int]:
    """The periodic check over the whole grid: a terminal whose list differs raises (or updates)
    ``terminal_meter_list_mismatch``; one that agrees clears it. Terminals with a sync under way,
    and those that never reported, are left as they are."""
    reports = check(conn, Scope.everything(), with_last_sync=False)
    refs = archives.lookup_devices(conn, "terminal", [r.terminal for r in reports])
    busy = open_sync_terminals(conn, [ref.id for ref in refs.values()])
    rule = LIST_MISMATCH
    out: Counter[str] = Counter()
    for report in reports:
        terminal_id = refs[report.terminal].id
        out[report.status] += 1
        if report.status == "never_reported" or terminal_id in busy:
            continue
        if report.status == "consistent":
            if alarms.clear(conn, device_kind="terminal", device_id=terminal_id, rule=rule.key):
                out["cleared"] += 1
            continue
        details: dict[str, Any] = {"counts": report.counts,
                                   "version": report.reported.version if report.reported else None,
                                   "meters": [m.meter for m in report.mismatches][:50]}  # fmt: skip
        _, raised = alarms.raise_or_update(
            conn, device_kind="terminal", device_id=terminal_id, asset_number=report.terminal,
            rule=rule.key, severity=rule.severity, advice=rule.advice.as_json(),
            message=f"Terminal {report.terminal}: {len(report.mismatches)} meter(s) differ "
                    "from the archive", details=details, value=float(len(report.mismatches)),
        )  # fmt: skip
        out["raised" if raised else "updated"] += 1
    return dict(out)

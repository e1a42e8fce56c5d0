"""Collection rosters: the devices that should be read at one instant, as SQL selects that the
slices above compose into set-based statements (acquisition quality counts a day of readings
for every meter in one ``INSERT … SELECT``).

A meter should be read when it is in service, has collection enabled and belongs to an org
unit; its terminal is the lowest-id terminal (not retired) attached to its transformer then,
and its reporting interval that terminal's (15 min when it has none). A terminal should report
when it is in service with collection enabled.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, and_, func, literal, select

from e200.archives.areas import first_terminals
from e200.archives.common import active
from e200.archives.kinds import KINDS
from e200.archives.tables import ASSET_TABLES, RELATION_TABLES
from e200.kernel import as_utc

DEFAULT_INTERVAL_MIN = 15


def meter_roster(at: datetime) -> Select[tuple[int, int, int | None, int | None, int]]:
    """(meter_id, org_unit_id, transformer_id, terminal_id, interval_min) of every meter that
    should be read at ``at``."""
    at = as_utc(at)
    meter = ASSET_TABLES["meter"]
    term = ASSET_TABLES["terminal"]
    org_rel = RELATION_TABLES[KINDS["meter"].org_relation.name]
    meter_rel = RELATION_TABLES["meter_transformer"]
    first = first_terminals(at, term.c.id, "terminal_id")
    return (
        select(meter.c.id.label("meter_id"), org_rel.c.org_unit_id,
               meter_rel.c.transformer_id, first.c.terminal_id,
               func.coalesce(term.c.reporting_interval_min,
                             literal(DEFAULT_INTERVAL_MIN)).label("interval_min"))
        .select_from(
            meter.join(org_rel, and_(org_rel.c.meter_id == meter.c.id, active(org_rel, at)))
            .outerjoin(meter_rel, and_(meter_rel.c.meter_id == meter.c.id,
                                       active(meter_rel, at)))
            .outerjoin(first, first.c.transformer_id == meter_rel.c.transformer_id)
            .outerjoin(term, term.c.id == first.c.terminal_id)
        )
        .where(meter.c.status == "in_service", meter.c.collection_enabled)
    )  # fmt: skip


def terminal_roster(at: datetime) -> Select[tuple[int, int, int | None, int]]:
    """(terminal_id, org_unit_id, transformer_id, interval_min) of every terminal that should
    report at ``at``."""
    at = as_utc(at)
    term = ASSET_TABLES["terminal"]
    org_rel = RELATION_TABLES[KINDS["terminal"].org_relation.name]
    term_rel = RELATION_TABLES["terminal_transformer"]
    return (
        select(term.c.id.label("terminal_id"), org_rel.c.org_unit_id, term_rel.c.transformer_id,
               term.c.reporting_interval_min.label("interval_min"))
        .select_from(
            term.join(org_rel, and_(org_rel.c.terminal_id == term.c.id, active(org_rel, at)))
            .outerjoin(term_rel, and_(term_rel.c.terminal_id == term.c.id,
                                      active(term_rel, at)))
        )
        .where(term.c.status == "in_service", term.c.collection_enabled)
    )  # fmt: skip

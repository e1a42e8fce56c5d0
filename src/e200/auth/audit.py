"""The audit log: who did what to which target, with which outcome, from where.

Rows are only ever inserted (triggers refuse UPDATE/DELETE/TRUNCATE, migration 0004). Failed
actions are recorded in their own transaction so that the request's rollback keeps them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, func, insert, select

from e200.auth.tables import audit_event
from e200.kernel import Principal

OUTCOMES = ("success", "failure", "denied")


def record(
    target_db: Connection | Engine,
    *,
    action: str,
    outcome: str,
    actor: str | None = None,
    actor_user_id: int | None = None,
    target: str | None = None,
    source_ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    statement = insert(audit_event).values(
        action=action[:100],
        outcome=outcome,
        actor=actor[:64] if actor else None,
        actor_user_id=actor_user_id,
        target=target[:500] if target else None,
        source_ip=source_ip,
        detail=detail,
    )
    if isinstance(target_db, Engine):
        with target_db.begin() as conn:
            conn.execute(statement)
    else:
        target_db.execute(statement)


def record_for(
    target_db: Connection | Engine,
    principal: Principal | None,
    *,
    action: str,
    outcome: str,
    target: str | None = None,
    source_ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    record(
        target_db,
        action=action,
        outcome=outcome,
        actor=principal.username if principal else None,
        actor_user_id=principal.user_id if principal else None,
        target=target,
        source_ip=source_ip,
        detail=detail,
    )


def search(
    conn: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    actor_ids: Select[Any] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Newest first. ``action`` and ``target`` match parts; ``actor_ids`` limits to a subquery
    of user ids (the user managers that do not see the whole grid)."""
    conditions = []
    if actor:
        conditions.append(audit_event.c.actor == actor)
    if action:
        conditions.append(audit_event.c.action.ilike(f"%{_escape(action)}%", escape="\\"))
    if target:
        conditions.append(audit_event.c.target.ilike(f"%{_escape(target)}%", escape="\\"))
    if outcome:
        conditions.append(audit_event.c.outcome == outcome)
    if since:
        conditions.append(audit_event.c.at >= since)
    if until:
        conditions.append(audit_event.c.at < until)
    if actor_ids is not None:
        conditions.append(audit_event.c.actor_user_id.in_(actor_ids))
    where = and_(True, *conditions)
    total = conn.execute(select(func.count()).select_from(audit_event).where(where)).scalar_one()
    rows = conn.execute(
        select(audit_event)
        .where(where)
        .order_by(audit_event.c.at.desc(), audit_event.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    return {"total": total, "items": [dict(row) for row in rows]}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

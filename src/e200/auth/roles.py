"""Predefined roles, declared as data. They are written to ``auth.role`` at start, so a new
release's changes reach existing installations; administrators add their own roles beside them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert

from e200.auth.tables import role
from e200.kernel import Permission

P = Permission


@dataclass(frozen=True, slots=True)
class RoleDef:
    name: str
    description: str
    permissions: frozenset[Permission]


BUILTIN_ROLES: tuple[RoleDef, ...] = (
    RoleDef(
        "administrator",
        "Everything, including users, roles and integrations",
        frozenset(Permission),
    ),
    RoleDef(
        "dispatcher",
        "Watches outages and alarms, acknowledges them, reads terminals",
        frozenset({P.VIEW_DATA, P.ACKNOWLEDGE_ALARMS, P.SEND_COMMANDS, P.EXPORT_DATA}),
    ),
    RoleDef(
        "line_loss_analyst",
        "Analyses line loss and corrects the archive behind it",
        frozenset({P.VIEW_DATA, P.EXPORT_DATA, P.EDIT_ARCHIVES}),
    ),
    RoleDef(
        "maintenance_crew",
        "Keeps transformers healthy: alarms, thresholds, terminal commands",
        frozenset({P.VIEW_DATA, P.ACKNOWLEDGE_ALARMS, P.SEND_COMMANDS, P.MANAGE_THRESHOLDS}),
    ),
    RoleDef(
        "collection_operator",
        "Metering and collection: archives, imports, re-collection",
        frozenset(
            {
                P.VIEW_DATA,
                P.ACKNOWLEDGE_ALARMS,
                P.SEND_COMMANDS,
                P.IMPORT_ARCHIVES,
                P.EDIT_ARCHIVES,
                P.EXPORT_DATA,
            }
        ),
    ),
    RoleDef("viewer", "Reads data in their scope, changes nothing", frozenset({P.VIEW_DATA})),
    RoleDef(
        "integration_client",
        "Machine client: posts readings, reads and exports data",
        frozenset({P.VIEW_DATA, P.EXPORT_DATA, P.INGEST_DATA}),
    ),
)


def ensure_builtin_roles(conn: Connection) -> None:
    for definition in BUILTIN_ROLES:
        values = {
            "name": definition.name,
            "description": definition.description,
            "permissions": sorted(p.value for p in definition.permissions),
            "builtin": True,
        }
        statement = insert(role).values(**values)
        conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_=values))

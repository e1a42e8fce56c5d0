"""Writing: org units, assets (parents first) and every relation's periods with INSERT … SELECT
and UPDATE … FROM, the relation changes announced, and the scope re-checked afterwards."""

from __future__ import annotations

from sqlalchemy import text

from e200.archives.events import RelationChange, announce
from e200.archives.imports.workspace import Workspace, q, sheet_type
from e200.archives.kinds import KINDS
from e200.archives.tables import RELATIONS, RelationSpec
from e200.kernel import E200Error

# Relations whose changes the slices above the archive hear of (archives.events).
ANNOUNCED = ("meter_transformer", "terminal_transformer")


class ScopeViolationError(E200Error):
    """Written records fell outside the importer's scope (a bug caught by the re-check)."""

    status = 500
    title = "Import refused"


def write(ws: Workspace) -> int:
    """Write every valid row: org units, assets (parents first), then every relation's
    periods. Returns the number of assets created."""
    created = 0
    if "org_units" in ws.staged:
        _write_org_units(ws)
    for kind in KINDS.values():
        st = ws.staged.get(kind.plural)
        if st is None or not st.header_ok:
            continue
        t = st.table
        cols = [c for c in kind.attribute_columns]
        names = ", ".join(q(c) for c in cols)
        created += ws.x(
            f"INSERT INTO archives.{kind.name} (asset_number, {names}) "
            f"SELECT asset_number, {names} FROM {t} "
            "WHERE NOT rej AND act = 'create' ORDER BY row_no"
        )
        present = [c for c in cols if c in st.present]
        sets = ", ".join([*(f"{q(c)} = s.{q(c)}" for c in present), "updated_at = now()"])
        ws.x(
            f"UPDATE archives.{kind.name} a SET {sets} FROM {t} s WHERE a.id = s.id "
            "AND NOT s.rej AND s.act = 'update'"
        )
        ws.done(st)
    for spec in RELATIONS:
        if ws.period_sources(spec):
            _write_periods(ws, spec)
    for name in ("meter_transformer", "terminal_transformer"):
        if name in ws.staged:
            ws.done(ws.staged[name])
    return created


def _write_org_units(ws: Workspace) -> None:
    st = ws.staged["org_units"]
    t = st.table
    ws.x(
        f"INSERT INTO archives.org_unit (code, name, kind, path) SELECT code, name, kind, "
        f"'tmp-' || code FROM {t} WHERE NOT rej AND act = 'create' ORDER BY row_no"
    )
    ws.x(
        f"UPDATE archives.org_unit o SET parent_id = p.id FROM {t} s JOIN archives.org_unit "
        "p ON p.code = s.parent WHERE o.code = s.code AND NOT s.rej AND s.act = 'create'"
    )
    while ws.x(
        "UPDATE archives.org_unit o SET path = coalesce(p.path, '') || o.id || '.' "
        "FROM archives.org_unit o2 LEFT JOIN archives.org_unit p ON p.id = o2.parent_id "
        "WHERE o.id = o2.id AND o.path LIKE 'tmp-%' "
        "AND (o.parent_id IS NULL OR p.path NOT LIKE 'tmp-%')"
    ):
        pass
    sets = ", ".join(f"{c} = s.{c}" for c in ("name", "kind") if c in st.present)
    if sets:
        ws.x(
            f"UPDATE archives.org_unit o SET {sets} FROM {t} s WHERE o.id = s.id "
            "AND NOT s.rej AND s.act = 'update'"
        )
    ws.done(st)


def _write_periods(ws: Workspace, spec: RelationSpec) -> None:
    np = f"imp_np_{spec.name}"
    rel = f"archives.{spec.name}"
    changes = _changes(ws, spec) if spec.name in ANNOUNCED else []
    ws.x(
        f"UPDATE {rel} r SET valid_to = m.m0 FROM (SELECT child_id, min(vf) AS m0 "
        f"FROM {np} WHERE move AND child_id IS NOT NULL GROUP BY child_id) m "
        f"WHERE r.{spec.child_col} = m.child_id AND r.valid_from < m.m0 "
        "AND (r.valid_to IS NULL OR r.valid_to > m.m0)"
    )
    parent_table, parent_key = (
        ("org_unit", "code") if spec.parent == "org_unit" else (spec.parent, "asset_number")
    )
    phase_col, phase = (", phase", ", n.phase") if spec.with_phase else ("", "")
    ws.x(
        f"INSERT INTO {rel} ({spec.child_col}, {spec.parent_col}{phase_col}, valid_from, "
        f"valid_to) SELECT c.id, p.id{phase}, n.vf, n.eff_vt FROM {np} n "
        f"JOIN archives.{spec.child} c ON c.asset_number = n.child "
        f"JOIN archives.{parent_table} p ON p.{parent_key} = n.parent"
    )
    for change in changes:
        announce(ws.conn, change)


def _changes(ws: Workspace, spec: RelationSpec) -> list[RelationChange]:
    """The relation changes of this import for the slices above the archive (the terminal
    slice syncs the station areas' meter lists), one per (old parent, new parent, period)
    rather than one per row: listeners care about which parents changed, and when."""
    parent_key = "asset_number"
    rows = ws.conn.execute(
        text(
            f"SELECT n.parent AS new_parent, op.{parent_key} AS old_parent, n.vf, n.eff_vt, "
            f"min(n.child) AS child, max(n.phase) AS phase FROM imp_np_{spec.name} n "
            f"LEFT JOIN archives.{spec.name} r ON r.{spec.child_col} = n.child_id "
            f"AND r.valid_from <= n.vf AND (r.valid_to IS NULL OR r.valid_to > n.vf) "
            f"LEFT JOIN archives.{spec.parent} op ON op.id = r.{spec.parent_col} "
            f"GROUP BY n.parent, op.{parent_key}, n.vf, n.eff_vt ORDER BY 1, 2, 3"
        )
    )
    return [
        RelationChange(
            relation=spec.name,
            child_kind=spec.child,
            child=r.child,
            old_parent=r.old_parent,
            new_parent=r.new_parent,
            phase=r.phase,
            valid_from=r.vf,
            valid_to=r.eff_vt,
            actor=ws.options.actor,
        )
        for r in rows
    ]


def recheck_scope(ws: Workspace) -> None:
    """After the write: everything written must be visible through the importer's scope
    (STYLE.md, NetBox's bulk import); if anything is not, the transaction is rolled back."""
    if ws.scope.is_unrestricted:
        return
    outside = 0
    for st in ws.staged.values():
        kind = sheet_type(st.sheet)
        if kind == "org":
            outside += ws.x(
                f"SELECT 1 FROM {st.table} s JOIN archives.org_unit o ON o.code = s.code "
                f"WHERE NOT s.rej AND s.act IN ('create', 'update') "
                f"AND NOT {ws.in_scope('o.path')}"
            )
            continue
        if kind == "asset":
            assert st.sheet.kind is not None
            k, key = st.sheet.kind.name, "asset_number"
        else:
            assert st.sheet.relation is not None
            k, key = st.sheet.relation.child, st.sheet.relation.child
        outside += ws.x(
            f"SELECT 1 FROM {st.table} s JOIN {ws.arch(k)} a "
            f"ON a.asset_number = s.{q(key)} "
            f"WHERE NOT s.rej AND s.act IN ('create', 'update') "
            f"AND NOT {ws.in_scope('a.org_path')}"
        )
    if outside:
        raise ScopeViolationError(
            f"{outside} written record(s) would lie outside your scope; nothing was imported"
        )

"""Checks across sheets: a rejected row rejects the rows that refer to it, and the periods every
sheet adds to a relation must not overlap each other or the archive — repeated until nothing
changes."""

from __future__ import annotations

from sqlalchemy import text

from e200.archives.imports.templates import Sheet
from e200.archives.imports.workspace import Workspace, iso, q, sheet_type
from e200.archives.kinds import KINDS
from e200.archives.tables import RELATIONS, RelationSpec


def settle(ws: Workspace) -> None:
    """Propagate rejections to rows that depend on rejected rows of the file, and check the
    relation periods every sheet adds, until nothing changes."""
    specs = [s for s in RELATIONS if ws.period_sources(s)]
    for spec in specs:
        ws.x(
            f"CREATE TEMP TABLE imp_np_{spec.name} (sheet_ix int2, row_no int4, col text, "
            "child text, parent text, phase text, vf timestamptz, vt timestamptz, "
            "move bool, child_id int8, eff_vt timestamptz) ON COMMIT DROP"
        )
    for _ in range(20):
        changed = _propagate(ws)
        for spec in specs:
            changed += _periods(ws, spec)
        if not changed:
            return
    raise RuntimeError("import verification did not settle")  # pragma: no cover


def _propagate(ws: Workspace) -> int:
    total = 0
    while True:
        n = 0
        for name, st in ws.staged.items():
            if not st.header_ok or st.rows == 0:
                continue
            for col, src, row_col, ref_sheet in _references(st.sheet):
                ref = ws.table(ref_sheet)
                if ref is None:
                    continue
                n += ws.reject(
                    name,
                    "parent_rejected",
                    col,
                    f"s.{src} = 'file' AND r.rej",
                    value=f"s.{q(col)}",
                    arg=f"'{ref_sheet} row ' || r.row_no",
                    joins=f"JOIN {ref} r ON r.row_no = s.{row_col}",
                    only_valid=True,
                )
        total += n
        if n == 0:
            return total


def _periods(ws: Workspace, spec: RelationSpec) -> int:
    np = f"imp_np_{spec.name}"
    ws.x(f"TRUNCATE {np}")
    for sheet, what in ws.period_sources(spec):
        st = ws.staged[sheet]
        t = st.table
        phase = "s.eff_phase" if spec.with_phase else "NULL"
        if what == "org":
            ws.x(
                f"INSERT INTO {np} SELECT {st.ix}, s.row_no, 'org_unit', s.asset_number, "
                f"s.eff_org, NULL, s.vf, NULL, true, s.id FROM {t} s WHERE NOT s.rej "
                "AND (s.id IS NULL OR s.moved_org)"
            )
        elif what == "parent":
            p = q(spec.parent)
            ws.x(
                f"INSERT INTO {np} SELECT {st.ix}, s.row_no, '{spec.parent}', "
                f"s.asset_number, s.{p}, {phase}, s.vf, NULL, true, s.id FROM {t} s "
                f"WHERE NOT s.rej AND s.{p} IS NOT NULL "
                "AND (s.id IS NULL OR s.moved_par)"
            )
        else:
            ws.x(
                f"INSERT INTO {np} SELECT {st.ix}, s.row_no, 'valid_from', "
                f"s.{q(spec.child)}, s.{q(spec.parent)}, {phase}, s.valid_from, "
                f"s.valid_to, s.valid_to IS NULL, s.child_id FROM {t} s "
                "WHERE NOT s.rej AND NOT s.identical"
            )
    if not ws.x(f"SELECT 1 FROM {np} LIMIT 1"):
        return 0
    ws.x(f"ANALYZE {np}")
    n = _np_reject(
        ws,
        np,
        "relation_overlap",
        f"SELECT n.sheet_ix, n.row_no, n.col, {iso('n.vf')} AS value, "
        f"'another period of {spec.child} ' || quote_literal(n.child) || ' from the same "
        f"time in the file' AS arg FROM (SELECT *, lag(vf) OVER (PARTITION BY child ORDER BY "
        f"vf, sheet_ix, row_no) AS prev_vf FROM {np}) n WHERE n.prev_vf = n.vf",
    )
    _period_ends(ws, np)
    rel = f"archives.{spec.name}"
    child_col, parent_col = spec.child_col, spec.parent_col
    first_move = (
        f"(SELECT child_id, min(vf) AS m0 FROM {np} WHERE move AND child_id IS NOT "
        "NULL GROUP BY child_id)"
    )
    n += _np_reject(
        ws,
        np,
        "later_period",
        f"SELECT n.sheet_ix, n.row_no, n.col, {iso('n.vf')} AS value, "
        f"{iso('min(r.valid_from)')} AS arg FROM {np} n JOIN {first_move} m "
        f"ON m.child_id = n.child_id AND n.move AND n.vf = m.m0 JOIN {rel} r "
        f"ON r.{child_col} = n.child_id AND r.valid_from >= m.m0 "
        f"GROUP BY n.sheet_ix, n.row_no, n.col, n.vf",
    )
    parent_table, parent_key = (
        ("org_unit", "code") if spec.parent == "org_unit" else (spec.parent, "asset_number")
    )
    clipped_end = (
        "CASE WHEN m.m0 IS NOT NULL AND r.valid_from < m.m0 AND (r.valid_to IS NULL "
        "OR r.valid_to > m.m0) THEN m.m0 ELSE r.valid_to END"
    )
    label = spec.parent.replace("_", " ")
    n += _np_reject(
        ws,
        np,
        "relation_overlap",
        f"SELECT n.sheet_ix, n.row_no, n.col, {iso('n.vf')} AS value, "
        f"'the period of {label} ' || quote_literal(pt.{parent_key}) || ' from ' || "
        f"{iso('r.valid_from')} || ' in the archive' AS arg FROM {np} n JOIN {rel} r "
        f"ON r.{child_col} = n.child_id JOIN archives.{parent_table} pt "
        f"ON pt.id = r.{parent_col} LEFT JOIN {first_move} m ON m.child_id = n.child_id "
        f"WHERE n.child_id IS NOT NULL AND NOT (m.m0 IS NOT NULL AND r.valid_from >= m.m0) "
        f"AND tstzrange(n.vf, n.eff_vt) && tstzrange(r.valid_from, {clipped_end})",
    )
    if n:
        _period_ends(ws, np)
    n += _np_reject(
        ws,
        np,
        "relation_overlap",
        f"SELECT n.sheet_ix, n.row_no, n.col, {iso('n.vf')} AS value, "
        f"'another period of {spec.child} ' || quote_literal(n.child) || ' in the file' "
        f"AS arg "
        f"FROM (SELECT *, max(coalesce(eff_vt, 'infinity')) OVER (PARTITION BY child ORDER BY "
        f"vf, sheet_ix, row_no ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end "
        f"FROM {np}) n WHERE n.prev_end > n.vf",
    )
    return n


def _period_ends(ws: Workspace, np: str) -> None:
    """A move ends where the child's next move in the file starts; a bounded period at its
    ``valid_to``."""
    ws.x(
        f"UPDATE {np} n SET eff_vt = CASE WHEN n.move THEN m.next_vf ELSE n.vt END "
        f"FROM (SELECT sheet_ix, row_no, CASE WHEN move THEN lead(vf) OVER (PARTITION BY "
        f"child, move ORDER BY vf) END AS next_vf FROM {np}) m "
        "WHERE m.sheet_ix = n.sheet_ix AND m.row_no = n.row_no"
    )


def _np_reject(ws: Workspace, np: str, code: str, select: str) -> int:
    """Record errors for period rows found by ``select`` on their source sheets' rows."""
    updates = "".join(
        f", u{st.ix} AS (UPDATE {st.table} s SET rej = true FROM e "
        f"WHERE e.sheet_ix = {st.ix} AND s.row_no = e.row_no RETURNING 1)"
        for st in ws.staged.values()
    )
    counted = " + ".join(f"(SELECT count(*) FROM u{st.ix})" for st in ws.staged.values())
    result = ws.conn.execute(
        text(
            f"WITH f AS ({select}), e AS (INSERT INTO imp_error (sheet_ix, row_no, col, code, "
            f"value, arg) SELECT DISTINCT ON (sheet_ix, row_no) sheet_ix, row_no, col, "
            f"'{code}', value, arg FROM f ORDER BY sheet_ix, row_no "
            f"RETURNING sheet_ix, row_no){updates} "
            f"SELECT {counted}"
        ),
        ws.params,
    ).scalar_one()
    if result:
        ws.x(
            f"DELETE FROM {np} n USING imp_error e WHERE e.sheet_ix = n.sheet_ix "
            "AND e.row_no = n.row_no"
        )
    return int(result)


def _references(sheet: Sheet) -> list[tuple[str, str, str, str]]:
    """(column, source flag, row column, referenced sheet) of the file references of a sheet."""
    kind = sheet_type(sheet)
    if kind == "org":
        return [("parent", "par_src", "par_row", "org_units")]
    if kind == "asset":
        assert sheet.kind is not None
        out = [("org_unit", "org_src", "org_row", "org_units")]
        spec = sheet.kind.parent_relation
        if spec is not None:
            out.append((spec.parent, "par_src", "par_row", KINDS[spec.parent].plural))
        return out
    assert sheet.relation is not None
    spec = sheet.relation
    return [
        (spec.child, "child_src", "child_row", KINDS[spec.child].plural),
        (spec.parent, "par_src", "par_row", KINDS[spec.parent].plural),
    ]

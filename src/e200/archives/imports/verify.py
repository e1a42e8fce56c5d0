"""Verification rules, each one set-based SQL statement over every row of a sheet: duplicates
in the file, org units, assets, relation rows, and the action each valid row will take."""

from __future__ import annotations

from e200.archives.imports.settle import settle
from e200.archives.imports.workspace import Staged, Workspace, iso, q, sheet_type
from e200.archives.kinds import KINDS


def verify(ws: Workspace) -> None:
    for name, st in ws.staged.items():
        if not st.header_ok or st.rows == 0:
            continue
        _duplicates(ws, st)
        kind = sheet_type(st.sheet)
        if kind == "org":
            _verify_org_units(ws)
        elif kind == "asset":
            _verify_assets(ws, name)
        else:
            _verify_relation(ws, name)
    settle(ws)
    _actions(ws)


def _duplicates(ws: Workspace, st: Staged) -> None:
    key = st.sheet.key
    part = ", ".join(q(k) for k in key)
    value = " || ' from ' || ".join(
        iso(f"s.{q(k)}") if st.sheet.by_name[k].type == "datetime" else f"s.{q(k)}" for k in key
    )
    ws.reject(
        st.sheet.name,
        "duplicate_in_file",
        key[0],
        "d.first_row < s.row_no",
        value=value,
        arg="d.first_row",
        joins=f"JOIN (SELECT row_no, min(row_no) OVER (PARTITION BY {part}) AS first_row "
        f"FROM {st.table} WHERE "
        + " AND ".join(f"{q(k)} IS NOT NULL" for k in key)
        + ") d ON d.row_no = s.row_no",
    )


def _verify_org_units(ws: Workspace) -> None:
    st = ws.staged["org_units"]
    t = st.table
    upsert = ws.options.mode == "upsert"
    ws.x(
        f"UPDATE {t} s SET id = o.id, ex_path = o.path, ex_parent = p.code, "
        f"ex_name = o.name, ex_kind = o.kind FROM archives.org_unit o "
        f"LEFT JOIN archives.org_unit p ON p.id = o.parent_id WHERE o.code = s.code"
    )
    exists = "s.id IS NOT NULL" + (f" AND NOT {ws.in_scope('s.ex_path')}" if upsert else "")
    ws.reject("org_units", "already_exists", "code", exists, value="s.code", arg="'org unit'")
    if upsert:
        ws.reject(
            "org_units",
            "org_unit_move",
            "parent",
            "s.id IS NOT NULL AND s.parent IS NOT NULL AND s.parent IS DISTINCT FROM s.ex_parent",
            value="s.parent",
            arg="quote_literal(coalesce(s.ex_parent, '(none)'))",
        )
    ws.x(
        f"UPDATE {t} s SET par_src = 'archive' FROM archives.org_unit o "
        f"WHERE o.code = s.parent AND {ws.in_scope('o.path')}"
    )
    ws.x(
        f"UPDATE {t} s SET par_src = 'file', par_row = f.row_no FROM "
        f"{ws.first('org_units', 'code')} f WHERE f.code = s.parent "
        "AND s.par_src IS NULL"
    )
    ws.reject(
        "org_units",
        "unknown_reference",
        "parent",
        "s.parent IS NOT NULL AND s.par_src IS NULL",
        value="s.parent",
        arg="'org unit'",
    )
    if not ws.scope.is_unrestricted:
        ws.reject(
            "org_units",
            "parent_required",
            "parent",
            "s.parent IS NULL AND s.id IS NULL AND s.code IS NOT NULL",
        )
    # Units whose chain of parents in the file never reaches the archive: a cycle.
    ws.x(
        f"WITH RECURSIVE reach AS (SELECT row_no, code FROM {t} "
        f"WHERE par_src IS DISTINCT FROM 'file' AND code IS NOT NULL "
        f"UNION SELECT c.row_no, c.code FROM {t} c JOIN reach r "
        f"ON c.par_src = 'file' AND c.parent = r.code), "
        f"e AS (INSERT INTO imp_error (sheet_ix, row_no, col, code, value, arg) "
        f"SELECT {st.ix}, s.row_no, 'parent', 'unknown_reference', s.parent, 'org unit' "
        f"FROM {t} s WHERE s.par_src = 'file' AND NOT s.rej "
        f"AND s.row_no NOT IN (SELECT row_no FROM reach) RETURNING row_no) "
        f"UPDATE {t} s SET rej = true FROM e WHERE s.row_no = e.row_no"
    )


def _verify_assets(ws: Workspace, name: str) -> None:
    st = ws.staged[name]
    t = st.table
    sheet = st.sheet
    kind = sheet.kind
    assert kind is not None
    k = kind.name
    spec = kind.parent_relation
    upsert = ws.options.mode == "upsert"
    wiring = ", ex_wiring = a.wiring" if k == "meter" else ""
    ws.x(
        f"UPDATE {t} s SET id = a.id, ex_status = a.status, ex_org = a.org_code, "
        f"ex_scope = {ws.in_scope('a.org_path')}{wiring} FROM {ws.arch(k)} a "
        f"WHERE a.asset_number = s.asset_number"
    )
    exists = "s.id IS NOT NULL" + (" AND NOT s.ex_scope" if upsert else "")
    ws.reject(name, "already_exists", "asset_number", exists, value="s.asset_number", arg=f"'{k}'")
    for col in sheet.columns:
        if col.required and col.name not in st.present and col.role != "key":
            ws.reject(name, "required", col.name, "s.id IS NULL")
    # org unit: in the importer's scope in the archive, or a unit of this file
    ws.x(
        f"UPDATE {t} s SET org_src = 'archive' FROM archives.org_unit o "
        f"WHERE o.code = s.org_unit AND {ws.in_scope('o.path')}"
    )
    org_file = ws.first("org_units", "code")
    if org_file:
        ws.x(
            f"UPDATE {t} s SET org_src = 'file', org_row = f.row_no FROM {org_file} f "
            "WHERE f.code = s.org_unit AND s.org_src IS NULL"
        )
    ws.reject(
        name,
        "unknown_reference",
        "org_unit",
        "s.org_unit IS NOT NULL AND s.org_src IS NULL",
        value="s.org_unit",
        arg="'org unit'",
    )
    par = "NULL"
    if spec is not None:
        p = spec.parent
        par = f"s.{q(p)}"
        ws.x(
            f"UPDATE {t} s SET ex_parent = pa.asset_number"
            + (", ex_phase = r.phase" if spec.with_phase else "")
            + f" FROM archives.{spec.name} r JOIN archives.{p} pa ON pa.id = r.{p}_id "
            f"WHERE r.{k}_id = s.id AND r.valid_to IS NULL"
        )
        _resolve_parent(ws, name, p)
        ws.reject(
            name,
            "retired_parent",
            p,
            "s.par_src = 'archive' AND s.par_status = 'retired'",
            value=par,
            arg=f"'{p}'",
        )
    eff_phase = "NULL"
    eff_wiring = "NULL"
    if spec is not None and spec.with_phase:
        eff_wiring = (
            "s.wiring" if "wiring" in st.present else "coalesce(s.ex_wiring, 'single_phase')"
        )
        eff_phase = f"CASE WHEN {eff_wiring} = 'three_phase' THEN 'ABC' ELSE s.phase END"
    moved_par = "false"
    if spec is not None:
        moved_par = (
            f"(s.id IS NOT NULL AND {par} IS NOT NULL AND ({par} IS DISTINCT FROM "
            f"s.ex_parent"
            + (f" OR {eff_phase} IS DISTINCT FROM s.ex_phase" if spec.with_phase else "")
            + "))"
        )
    ws.x(
        f"UPDATE {t} s SET vf = coalesce(s.valid_from, :now), "
        f"eff_org = coalesce(s.org_unit, CASE WHEN s.id IS NULL THEN s.par_org "
        f"ELSE s.ex_org END), eff_wiring = {eff_wiring}, eff_phase = {eff_phase}, "
        f"moved_org = (s.id IS NOT NULL AND s.org_unit IS NOT NULL "
        f"AND s.org_unit IS DISTINCT FROM s.ex_org), moved_par = {moved_par}"
    )
    if spec is not None:
        ws.reject(
            name,
            "no_org_unit",
            "org_unit",
            f"s.id IS NULL AND s.eff_org IS NULL "
            f"AND s.org_unit IS NULL AND ({par} IS NULL OR s.par_src = 'archive')",
        )
    if spec is not None and spec.with_phase:
        _phase_checks(
            ws,
            name,
            f"{par} IS NOT NULL AND s.par_src IS NOT NULL AND (s.id IS NULL OR s.moved_par)",
            "s.eff_wiring",
        )
    if upsert:
        ws.reject(
            name,
            "retired_asset",
            "org_unit",
            "s.moved_org AND s.ex_status = 'retired'",
            value="s.asset_number",
        )
        if spec is not None:
            ws.reject(
                name,
                "retired_asset",
                spec.parent,
                "s.moved_par AND s.ex_status = 'retired'",
                value="s.asset_number",
            )


def _resolve_parent(ws: Workspace, name: str, p: str) -> None:
    """``par_src``: the parent asset is in the archive (in scope) or in the file."""
    t = ws.staged[name].table
    ws.x(
        f"UPDATE {t} s SET par_src = 'archive', par_status = a.status, "
        f"par_retired_at = a.retired_at, par_org = a.org_code FROM {ws.arch(p)} a "
        f"WHERE a.asset_number = s.{q(p)} AND {ws.in_scope('a.org_path')}"
    )
    first = ws.first(KINDS[p].plural, "asset_number")
    if first:
        ws.x(
            f"UPDATE {t} s SET par_src = 'file', par_row = f.row_no, "
            f"par_org = f.eff_org FROM {first} f WHERE f.asset_number = s.{q(p)} "
            "AND s.par_src IS NULL"
        )
    ws.reject(
        name,
        "unknown_reference",
        p,
        f"s.{q(p)} IS NOT NULL AND s.par_src IS NULL",
        value=f"s.{q(p)}",
        arg=f"'{p}'",
    )


def _phase_checks(ws: Workspace, name: str, applies: str, wiring: str) -> None:
    ws.reject(
        name,
        "phase_three",
        "phase",
        f"{applies} AND {wiring} = 'three_phase' AND s.phase IS NOT NULL AND s.phase <> 'ABC'",
        value="s.phase",
    )
    ws.reject(
        name,
        "phase_needed",
        "phase",
        f"{applies} AND {wiring} = 'single_phase' AND (s.phase IS NULL OR s.phase = 'ABC')",
        value="s.phase",
    )


def _verify_relation(ws: Workspace, name: str) -> None:
    st = ws.staged[name]
    t = st.table
    spec = st.sheet.relation
    assert spec is not None
    c, p = spec.child, spec.parent
    first = ws.first(KINDS[c].plural, "asset_number")
    wiring_file = ", child_wiring = f.eff_wiring" if spec.with_phase else ""
    if first:
        ws.x(
            f"UPDATE {t} s SET child_row = f.row_no{wiring_file} FROM {first} f "
            f"WHERE f.asset_number = s.{q(c)}"
        )
    wiring_arch = ", child_wiring = coalesce(s.child_wiring, a.wiring)" if spec.with_phase else ""
    ws.x(
        f"UPDATE {t} s SET child_src = 'archive', child_id = a.id, "
        f"ex_child_status = a.status{wiring_arch} FROM {ws.arch(c)} a "
        f"WHERE a.asset_number = s.{q(c)} AND {ws.in_scope('a.org_path')}"
    )
    ws.x(f"UPDATE {t} s SET child_src = 'file' WHERE child_src IS NULL AND child_row IS NOT NULL")
    ws.reject(
        name,
        "unknown_reference",
        c,
        f"s.{q(c)} IS NOT NULL AND s.child_src IS NULL",
        value=f"s.{q(c)}",
        arg=f"'{c}'",
    )
    _resolve_parent(ws, name, p)
    ws.reject(
        name,
        "retired_parent",
        p,
        "s.par_src = 'archive' AND s.par_status = "
        "'retired' AND (s.valid_to IS NULL OR s.valid_to > s.par_retired_at)",
        value=f"s.{q(p)}",
        arg=f"'{p}'",
    )
    ws.reject(
        name,
        "retired_asset",
        c,
        "s.child_src = 'archive' AND s.ex_child_status = 'retired'",
        value=f"s.{q(c)}",
    )
    ws.reject(
        name, "period_order", "valid_to", "s.valid_to <= s.valid_from", value=iso("s.valid_to")
    )
    eff_phase = "NULL"
    if spec.with_phase:
        _phase_checks(ws, name, "s.child_src IS NOT NULL", "s.child_wiring")
        eff_phase = "CASE WHEN s.child_wiring = 'three_phase' THEN 'ABC' ELSE s.phase END"
    same_phase = " AND r.phase IS NOT DISTINCT FROM s.eff_phase" if spec.with_phase else ""
    ws.x(
        f"UPDATE {t} s SET eff_phase = {eff_phase}, vf = s.valid_from, identical = "
        f"(s.child_id IS NOT NULL AND EXISTS (SELECT 1 FROM archives.{spec.name} r "
        f"JOIN archives.{p} pa ON pa.id = r.{p}_id WHERE r.{c}_id = s.child_id "
        f"AND pa.asset_number = s.{q(p)} AND r.valid_from = s.valid_from "
        f"AND r.valid_to IS NOT DISTINCT FROM s.valid_to"
        + same_phase.replace("s.eff_phase", eff_phase)
        + "))"
    )
    if ws.options.mode == "create":
        ws.reject(
            name,
            "already_exists",
            "valid_from",
            "s.identical",
            value=f"s.{q(c)}",
            arg=f"'a period of {c}'",
        )


def _actions(ws: Workspace) -> None:
    for st in ws.staged.values():
        t = st.table
        kind = sheet_type(st.sheet)
        if kind == "relation":
            ws.x(
                f"UPDATE {t} SET act = CASE WHEN identical THEN 'unchanged' ELSE 'create' "
                "END WHERE NOT rej"
            )
            continue
        ws.x(f"UPDATE {t} SET act = 'create' WHERE NOT rej AND id IS NULL")
        if kind == "org":
            org_attrs = [c for c in ("name", "kind") if c in st.present]
            diff = " OR ".join(f"s.{q(c)} IS DISTINCT FROM s.ex_{c}" for c in org_attrs)
            ws.x(
                f"UPDATE {t} s SET act = CASE WHEN {diff or 'false'} THEN 'update' "
                "ELSE 'unchanged' END WHERE NOT s.rej AND s.id IS NOT NULL"
            )
            continue
        assert st.sheet.kind is not None
        attrs = [c for c in st.sheet.kind.attribute_columns if c in st.present]
        diff = " OR ".join(f"a.{q(c)} IS DISTINCT FROM s.{q(c)}" for c in attrs)
        ws.x(
            f"UPDATE {t} s SET act = CASE WHEN s.moved_org OR s.moved_par OR "
            f"{diff or 'false'} THEN 'update' ELSE 'unchanged' END "
            f"FROM archives.{st.sheet.kind.name} a WHERE a.id = s.id AND NOT s.rej"
        )

"""The console's plain parts without a browser or database: texts, the lazy tree, the details
rows, what a signed-in user is offered."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from e200.archives import KINDS, OrgUnitOut, TreeNode
from e200.auth import STATUSES
from e200.console import i18n
from e200.console.admin.audit_log import FIELDS as AUDIT_FIELDS
from e200.console.admin.users import USER_FIELDS, grantable_roles, unit_options
from e200.console.details import asset_rows, format_value, org_unit_rows, phase_counts
from e200.console.i18n import TEXTS, t
from e200.console.layout import navigation_for
from e200.console.session import Console
from e200.console.tree import TreeModel, node_id, parse_node_id
from e200.console.widgets import parse_time
from e200.kernel import Permission, Principal, Scope

# -- texts -------------------------------------------------------------------------------------


def test_every_asset_attribute_has_a_label() -> None:
    shown = {"asset_number", "status", "org_unit", "phase", "multiplier", "retired_at",
             "created_at", "updated_at", "code", "kind", "parent"}  # fmt: skip
    for kind in KINDS.values():
        shown.update(kind.attribute_columns)
        if kind.parent_relation is not None:
            shown.add(kind.parent_relation.parent)
    missing = sorted(f for f in shown if f"field.{f}" not in TEXTS["en"])
    assert not missing, f"add labels for: {missing}"
    assert t("field.rated_kva") == "Rated power (kVA)"


def test_every_kind_has_names() -> None:
    for kind in KINDS.values():
        assert f"kind.{kind.name}" in TEXTS["en"]
        assert f"kinds.{kind.plural}" in TEXTS["en"]
    assert "kind.org_unit" in TEXTS["en"]


def test_t_fills_placeholders_and_falls_back() -> None:
    assert t("archive.no_results", q="X1") == "No asset matches “X1”."
    assert t("no.such.key") == "no.such.key", "a missing text shows its key, never fails"
    TEXTS["xx"] = {"nav.archive": "Archiv"}
    try:
        i18n.set_language("xx")
        assert t("nav.archive") == "Archiv"
        assert t("nav.overview") == "Overview", "missing in a language: English"
    finally:
        i18n.set_language("en")
        del TEXTS["xx"]
    with pytest.raises(ValueError, match="no texts"):
        i18n.set_language("tlh")


# -- the lazy tree -----------------------------------------------------------------------------


def _n(kind: str, key: str, children: bool = True) -> TreeNode:
    return TreeNode(kind=kind, key=key, label=f"{key} label", has_children=children)


def test_node_ids_round_trip() -> None:
    assert node_id("meter", "M1") == "meter:M1"
    assert parse_node_id("meter:M1") == ("meter", "M1")
    assert parse_node_id("org_unit:A:B/c") == ("org_unit", "A:B/c"), "keys may hold : and /"
    assert parse_node_id("bogus:M1") is None
    assert parse_node_id("meter:") is None
    assert parse_node_id("nothing") is None


def test_tree_loads_children_in_place_of_the_placeholder() -> None:
    model = TreeModel()
    model.set_roots([_n("org_unit", "DEMO")])
    root = model.get("org_unit:DEMO")
    assert root is not None and root["label"] == "DEMO label"
    assert len(root["children"]) == 1, "a placeholder child, so the tree draws an expander"
    placeholder = root["children"][0]
    assert placeholder["selectable"] is False
    assert parse_node_id(placeholder["id"]) is None
    assert model.needs_loading("org_unit:DEMO")

    model.set_children("org_unit:DEMO", [_n("substation", "S1"), _n("org_unit", "NORTH")])
    assert not model.needs_loading("org_unit:DEMO")
    assert [c["id"] for c in model.nodes[0]["children"]] == ["substation:S1", "org_unit:NORTH"]
    assert model.needs_loading("substation:S1") and "substation:S1" in model
    assert placeholder["id"] not in model

    model.set_children("substation:S1", [_n("feeder", "F1")])
    model.set_children("org_unit:DEMO", [_n("org_unit", "NORTH")])
    assert "feeder:F1" not in model and "substation:S1" not in model, "reloading forgets"


def test_leaves_have_no_expander() -> None:
    model = TreeModel()
    model.set_roots([_n("org_unit", "DEMO")])
    model.set_children("org_unit:DEMO", [_n("meter", "M1", children=False)])
    leaf = model.get("meter:M1")
    assert leaf is not None and "children" not in leaf
    assert not model.needs_loading("meter:M1")
    assert not model.needs_loading("meter:unknown")


# -- details rows ------------------------------------------------------------------------------

UTC_TZ = ZoneInfo("UTC")


def test_values_read_as_text() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert format_value("created_at", at, tz) == "2026-01-01 08:00 CST"
    assert format_value("rated_kva", 400.0, tz) == "400"
    assert format_value("lat", 31.328031344742097, tz) == "31.328031"
    assert format_value("collection_enabled", True, tz) == "Yes"
    assert format_value("name", None, tz) == "—"
    assert format_value("status", "out_of_service", tz) == "Out of service"
    assert format_value("wiring", "three_phase", tz) == "Three-phase"
    assert format_value("kind", "operating_unit", tz, kind="org_unit") == "Operating unit"
    assert format_value("kind", "ttu", tz, kind="terminal").endswith("(TTU)")
    assert format_value("status", "some_new_code", tz) == "some_new_code"


def test_meter_rows_lead_with_identity_and_relations() -> None:
    meter = {"asset_number": "M1", "name": None, "customer_account": "CA1",
             "wiring": "single_phase", "status": "in_service", "org_unit": "OU1",
             "transformer": "T1", "phase": "B",
             "created_at": datetime(2026, 1, 1, tzinfo=UTC)}  # fmt: skip
    rows = asset_rows("meter", meter, UTC_TZ)
    labels = [r.label for r in rows]
    assert labels[:6] == ["Asset number", "Name", "Status", "Org unit", "Transformer", "Phase"]
    assert labels[-1] == "Created at"
    by_label = {r.label: r for r in rows}
    assert by_label["Customer account"].value == "CA1"
    assert by_label["Transformer"].link == ("transformer", "T1")
    assert by_label["Org unit"].link == ("org_unit", "OU1")
    assert by_label["Phase"].link is None


def test_org_unit_rows() -> None:
    unit = {"code": "NORTH", "name": "North Region", "kind": "region", "parent": "DEMO", "depth": 1}
    rows = org_unit_rows(unit, UTC_TZ)
    assert [(r.label, r.value) for r in rows] == [
        ("Code", "NORTH"), ("Name", "North Region"), ("Kind", "Region"), ("Parent unit", "DEMO"),
    ]  # fmt: skip
    assert rows[3].link == ("org_unit", "DEMO")
    top = org_unit_rows({**unit, "parent": None}, UTC_TZ)
    assert top[3].value == "—" and top[3].link is None


def test_phase_counts_list_every_phase() -> None:
    assert phase_counts(["A", "A", "C", "ABC", None]) == {"A": 2, "B": 0, "C": 1, "ABC": 1}


# -- signed-in users: what the pages offer ---------------------------------------------------


def _principal(*permissions: Permission, must_change: bool = False, scope: Scope | None = None
               ) -> Principal:  # fmt: skip
    return Principal(user_id=7, username="u", permissions=frozenset(permissions),
                     scope=scope or Scope(("1.2.",)), via="session",
                     must_change_password=must_change)  # fmt: skip


def test_navigation_offers_only_what_the_roles_grant() -> None:
    def keys(principal: Principal) -> list[str]:
        return [key for key, *_ in navigation_for(principal)]

    viewer = ["overview", "archive", "fleet", "alarms", "quality", "query"]
    assert keys(_principal(Permission.VIEW_DATA)) == viewer
    assert keys(_principal(*Permission)) == [*viewer, "import", "users", "audit", "jobs"]
    assert keys(_principal(Permission.VIEW_DATA, Permission.IMPORT_ARCHIVES)) == [
        *viewer, "import"]  # fmt: skip
    assert keys(_principal(Permission.MANAGE_USERS)) == ["users", "audit"]
    assert keys(_principal(Permission.MANAGE_JOBS)) == ["jobs"]
    assert keys(_principal(*Permission, must_change=True)) == [], "first the password"


def test_after_login_only_console_pages_of_this_site() -> None:
    console = Console(engine=None, settings=None, tz=UTC_TZ)  # type: ignore[arg-type]
    assert (
        console.safe_next("/console/archive?select=meter:M1") == "/console/archive?select=meter:M1"
    )
    for bad in (None, "", "https://evil.example/", "//evil.example/console/", "/api/v1/users",
                "/console-not/x", "/console/\\evil", "/console/login?next=/x"):  # fmt: skip
        assert console.safe_next(bad) == "/console/", bad
    assert console.login_url("/console/") == "/console/login"
    assert console.login_url("/console/audit") == "/console/login?next=/console/audit"
    assert console.login_url("/console/archive?select=a b") == (
        "/console/login?next=/console/archive%3Fselect%3Da%20b"
    )


def test_managers_are_offered_only_roles_within_their_own_permissions() -> None:
    roles = [{"name": "viewer", "permissions": ["view_data"]},
             {"name": "dispatcher", "permissions": ["view_data", "send_commands"]}]  # fmt: skip
    assert grantable_roles(roles, _principal(Permission.VIEW_DATA, Permission.MANAGE_USERS)) == [
        "viewer"
    ]
    assert grantable_roles(roles, _principal(*Permission)) == ["viewer", "dispatcher"]


def test_org_units_are_indented_as_the_tree() -> None:
    units = [
        OrgUnitOut(code="N", name="North", kind="region", parent="D", depth=1),
        OrgUnitOut(code="N1", name="North 1", kind="operating_unit", parent="N", depth=2),
    ]
    assert unit_options(units) == {"N": "North (N)", "N1": "\u2003North 1 (N1)"}


def test_audit_times_are_read_in_the_console_zone() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    assert parse_time("", tz) is None
    assert parse_time("2026-03-01T08:00", tz) == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("yesterday", tz)


def test_every_text_the_console_uses_exists() -> None:
    """Literal keys in the console's code, and the families built from stored codes."""
    source = "\n".join(p.read_text() for p in Path(i18n.__file__).parent.rglob("*.py"))
    used = set(re.findall(r"""\bt\(\s*["']([a-z_]+(?:\.[a-z_0-9]+)+|yes|no|empty_value)["']""",
                          source))  # fmt: skip
    used |= {f"permission.{p.value}" for p in Permission}
    used |= {f"user_status.{s}" for s in STATUSES}
    used |= {f"source.{s}" for s in ("local", "ldap", "oidc")}
    used |= {f"outcome.{o}" for o in ("success", "failure", "denied")}
    used |= {f"users.col.{f}" for f in USER_FIELDS} | {f"audit.col.{f}" for f in AUDIT_FIELDS}
    used |= {f"users.done.{a}" for a in ("update_user", "reset_password", "unlock_user")}
    used |= {f"roles.done.{a}" for a in ("create_role", "update_role", "delete_role")}
    assert len(used) > 150
    missing = sorted(k for k in used if not i18n.has_text(k))
    assert not missing, f"add texts for: {missing}"

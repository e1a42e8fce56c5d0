"""Users, scope and audit in the console, in a real Chromium against a real `e200 up --demo`.

A viewer scoped to one region signs in through the login form and sees only that region: its
neighbours are absent from the tree, a transformer of another region is "not found" just like one
that does not exist, and the users pages are neither offered nor opened. The administrator sees
the viewer in the users table and the viewer's sign-in in the audit log. A user created in the
console must change the temporary password before anything else. API keys made in the console
work at once, are shown once, and stop working when revoked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from e200.console.i18n import t
from tests.console.conftest import ARTIFACTS
from tests.server import E200Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWER = "north.viewer"
VIEWER_PASSWORD = "Viewer-Grid-2026!"
FRESH = "fresh.operator"
FRESH_TEMPORARY = "Temporary-Start-2026"
FRESH_PASSWORD = "Own-Choice-Pass-2026"


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


@pytest.fixture(scope="module")
def viewer(server: E200Server) -> dict[str, str]:
    """A viewer (read only) whose scope is one region of the demo grid, with the names of that
    region, a sibling region and a transformer on each side of the border."""
    units = server.api("/api/v1/org-units")
    regions = [u for u in units if u["kind"] == "region"]
    assert len(regions) >= 2, f"the demo grid has several regions: {units}"
    mine, other = regions[0], regions[1]
    server.post("/api/v1/users", {
        "username": VIEWER, "password": VIEWER_PASSWORD, "display_name": "Viewer of one region",
        "roles": ["viewer"], "org_units": [mine["code"]],
    })  # fmt: skip
    # The admin set this password, so it would have to be changed; these tests skip that step
    # (test_a_new_user_must_change_the_password_first walks through it).
    server.patch(f"/api/v1/users/{VIEWER}", {"must_change_password": False})
    inside = server.api("/api/v1/transformers", org_unit=mine["code"], limit=1)["items"][0]
    outside = server.api("/api/v1/transformers", org_unit=other["code"], limit=1)["items"][0]
    return {
        "region": mine["name"],
        "region_code": mine["code"],
        "sibling": other["name"],
        "inside": inside["asset_number"],
        "outside": outside["asset_number"],
    }


def test_a_viewer_sees_only_their_region(
    new_page: Callable[..., Any], server: E200Server, viewer: dict[str, str]
) -> None:
    expect = _expect()
    page = new_page()
    # Without a session every page sends the browser to the login, and back after it.
    page.goto("/console/archive")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/archive$"))
    page.get_by_label(t("login.username")).fill(VIEWER)
    page.get_by_label(t("login.password")).fill("not-the-password")
    page.get_by_role("button", name=t("login.submit")).click()
    expect(page.get_by_role("alert")).to_contain_text("wrong user name or password")
    server.login_browser(page, VIEWER, VIEWER_PASSWORD, next_path="/console/archive")

    header = page.locator("header")
    expect(header).to_contain_text(VIEWER)
    navigation = page.get_by_role("navigation")
    expect(navigation.get_by_role("link", name=t("nav.archive"))).to_be_visible()
    expect(navigation.get_by_role("link", name=t("nav.users"))).to_have_count(0)
    expect(navigation.get_by_role("link", name=t("nav.audit"))).to_have_count(0)

    tree = page.get_by_role("tree")
    expect(tree.get_by_text(viewer["region"], exact=True)).to_be_visible()
    expect(tree).not_to_contain_text(viewer["sibling"])
    expect(tree).not_to_contain_text("Demo Power Company")  # the company is above the scope
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-viewer-scope.png"))

    # A transformer of the region is there; one of the sibling region looks like none at all.
    details = page.get_by_role("region", name=t("details.title"))
    page.goto(f"/console/archive?select=transformer:{viewer['inside']}")
    expect(details).to_contain_text(viewer["inside"])
    expect(details).to_contain_text(t("details.station_area"))
    for key in (viewer["outside"], "NO-SUCH-TRANSFORMER"):
        page.goto(f"/console/archive?select=transformer:{key}")
        expect(details).to_contain_text(t("archive.not_found", kind=t("kind.transformer"), key=key))
        expect(details).not_to_contain_text(t("details.station_area"))

    # The search does not find what lies outside the scope either.
    page.get_by_label(t("archive.search")).fill(viewer["outside"])
    results = page.get_by_role("region", name=t("archive.search_results"))
    expect(results).to_contain_text(t("archive.no_results", q=viewer["outside"]))

    # The users pages, opened by their address, refuse.
    for path in ("/console/users", "/console/audit"):
        page.goto(path)
        expect(page.get_by_role("alert")).to_contain_text(t("auth.not_permitted"))
        expect(page.get_by_role("table")).to_have_count(0)

    # Signing out ends the session: the console asks to sign in again.
    page.get_by_role("button", name=t("nav.user_menu", user=VIEWER)).click()
    page.get_by_role("menuitem", name=t("nav.logout")).click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    page.goto("/console/archive")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/archive$"))


def test_the_admin_sees_the_viewer_and_their_sign_in(
    page: Any, server: E200Server, viewer: dict[str, str]
) -> None:
    expect = _expect()
    # The viewer has signed in at least once (an API login is audited like the console's).
    server.token_for(VIEWER, VIEWER_PASSWORD).raise_for_status()
    page.goto("/console/")
    page.get_by_role("navigation").get_by_role("link", name=t("nav.users")).click()
    expect(page).to_have_url(re.compile(r"/console/users$"))
    row = page.get_by_role("row").filter(has_text=VIEWER)
    expect(row).to_contain_text("viewer")
    expect(row).to_contain_text(viewer["region_code"])
    expect(row).to_contain_text(t("user_status.active"))

    page.get_by_role("tab", name=t("users.tab_roles")).click()
    matrix = page.get_by_role("region", name=t("roles.matrix"))
    viewer_role = matrix.get_by_role("row").filter(has_text=re.compile(r"^\s*viewer\b"))
    expect(viewer_role.get_by_text("✓")).to_have_count(1)  # viewers only view data

    page.get_by_role("navigation").get_by_role("link", name=t("nav.audit")).click()
    expect(page).to_have_url(re.compile(r"/console/audit$"))
    filters = page.get_by_role("search", name=t("audit.filters"))
    filters.get_by_label(t("audit.actor")).fill(VIEWER)
    filters.get_by_role("button", name=t("audit.apply")).click()
    log = page.get_by_role("region", name=t("audit.events"))
    login = log.get_by_role("row").filter(has_text="login").filter(has_text=VIEWER)
    expect(login.first).to_contain_text(t("outcome.success"))
    expect(log.get_by_role("row").filter(has_text=server.one_time_password())).to_have_count(0)
    login.first.get_by_role("button").click()  # the row's detail, as JSON
    expect(log).to_contain_text('"method": "password"')
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-audit.png"), full_page=True)


def test_a_new_user_must_change_the_password_first(
    page: Any, new_page: Callable[..., Any], server: E200Server
) -> None:
    expect = _expect()
    # The administrator creates the user in the console.
    page.goto("/console/users")
    page.get_by_role("button", name=t("users.new")).click()
    dialog = page.get_by_role("dialog", name=t("users.new"))
    dialog.get_by_label(t("users.username")).fill(FRESH)
    dialog.get_by_label(t("users.temporary_password")).fill(FRESH_TEMPORARY)
    dialog.get_by_label(t("users.roles")).click()
    page.get_by_role("option", name="viewer", exact=True).click()
    page.keyboard.press("Escape")  # close the options, keep the dialog
    dialog.get_by_text(t("users.whole_grid"), exact=True).click()
    dialog.get_by_role("button", name=t("users.create")).click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text=FRESH)).to_contain_text(t("scope.whole_grid"))

    # Signing in lands on the account page, and nothing else opens until the password changes.
    fresh = new_page()
    server.login_browser(fresh, FRESH, FRESH_TEMPORARY, lands_on="/console/account")
    expect(fresh.get_by_role("alert").first).to_contain_text(t("account.must_change"))
    expect(fresh.get_by_role("navigation").get_by_role("link")).to_have_count(0)
    fresh.goto("/console/archive")
    expect(fresh).to_have_url(re.compile(r"/console/account$"))

    form = fresh.get_by_role("form", name=t("account.change_password"))
    form.get_by_label(t("account.current_password")).fill(FRESH_TEMPORARY)
    form.get_by_label(t("account.new_password"), exact=True).fill("short")
    form.get_by_label(t("account.repeat_password")).fill("short")
    form.get_by_role("button", name=t("account.change_password")).click()
    expect(form).to_contain_text("at least")  # the policy's own words
    form.get_by_label(t("account.new_password"), exact=True).fill(FRESH_PASSWORD)
    form.get_by_label(t("account.repeat_password")).fill(FRESH_PASSWORD + "x")
    form.get_by_role("button", name=t("account.change_password")).click()
    expect(form).to_contain_text(t("account.mismatch"))
    form.get_by_label(t("account.repeat_password")).fill(FRESH_PASSWORD)
    form.get_by_role("button", name=t("account.change_password")).click()
    expect(fresh).to_have_url(re.compile(r"/console/$"))
    expect(fresh.get_by_role("group", name=t("kinds.meters"))).to_be_visible()

    # Both changes are in the audit log, made through the console.
    created = server.api("/api/v1/audit", actor="admin", action="create_user", target=FRESH)
    assert created["total"] == 1, created
    event = created["items"][0]
    assert event["outcome"] == "success" and event["detail"]["via"] == "console", event
    assert FRESH_TEMPORARY not in json.dumps(event), "passwords are never audited"
    changed = server.api("/api/v1/audit", actor=FRESH, action="change_password")
    assert [e["outcome"] for e in changed["items"]] == ["success", "failure"], changed
    assert server.token_for(FRESH, FRESH_PASSWORD).status_code == 200


def test_api_keys_are_shown_once_and_revoked_from_the_account_page(
    page: Any, server: E200Server
) -> None:
    expect = _expect()
    page.goto("/console/account")
    keys = page.get_by_role("region", name=t("keys.title"))
    keys.get_by_label(t("keys.name")).fill("test gateway")
    keys.get_by_role("button", name=t("keys.create")).click()
    shown = page.get_by_role("dialog", name=t("keys.created", name="test gateway"))
    secret = shown.get_by_label(t("keys.key"))
    expect(secret).to_have_value(re.compile(r"^e200k_"))
    key = secret.input_value()
    me = httpx.get(server.base + "/api/v1/auth/me", headers={"X-API-Key": key}, timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "admin", me.text
    shown.get_by_role("button", name=t("common.done")).click()
    expect(shown).to_have_count(0)
    assert key not in page.content(), "the key is shown only once"

    item = keys.get_by_role("listitem").filter(has_text="test gateway")
    item.get_by_role("button", name=t("keys.revoke")).click()
    page.get_by_role("dialog").get_by_role("button", name=t("keys.revoke")).click()  # confirm
    expect(item).to_contain_text(t("keys.revoked"))
    gone = httpx.get(server.base + "/api/v1/auth/me", headers={"X-API-Key": key}, timeout=10)
    assert gone.status_code == 401, gone.text
    revoked = server.api("/api/v1/audit", actor="admin", action="revoke_my_api_key")
    assert revoked["items"][0]["detail"]["via"] == "console", revoked


def test_the_admin_defines_a_role_and_gives_it_to_a_user(page: Any, server: E200Server) -> None:
    expect = _expect()
    server.post("/api/v1/users", {"username": "shift.lead", "password": FRESH_TEMPORARY,
                                  "roles": ["viewer"], "scope_all": True})  # fmt: skip
    page.goto("/console/users")
    page.get_by_role("tab", name=t("users.tab_roles")).click()
    page.get_by_role("button", name=t("roles.new")).click()
    dialog = page.get_by_role("dialog", name=t("roles.new"))
    dialog.get_by_label(t("roles.name")).fill("night_shift")
    dialog.get_by_label(t("roles.description")).fill("Watches the grid at night")
    for permission in ("view_data", "acknowledge_alarms"):
        dialog.get_by_text(t(f"permission.{permission}"), exact=True).click()
    dialog.get_by_role("button", name=t("common.save")).click()
    matrix = page.get_by_role("region", name=t("roles.matrix"))
    expect(matrix.get_by_role("row").filter(has_text="night_shift").get_by_text("✓")).to_have_count(
        2
    )

    # Given to a user in the users table's dialog.
    page.get_by_role("tab", name=t("users.tab_users")).click()
    users = page.get_by_role("region", name=t("users.tab_users"))
    users.get_by_role("row").filter(has_text="shift.lead").click()
    user = page.get_by_role("dialog", name=t("users.edit", user="shift.lead"))
    user.get_by_label(t("users.roles")).click()
    page.get_by_role("option", name="night_shift", exact=True).click()
    page.keyboard.press("Escape")
    user.get_by_role("button", name=t("common.save")).click()
    expect(user).to_have_count(0)
    expect(users.get_by_role("row").filter(has_text="shift.lead")).to_contain_text("night_shift")
    assert server.api("/api/v1/users/shift.lead")["roles"] == ["night_shift", "viewer"]

    # A role in use cannot be deleted: the slice's refusal is shown, and audited.
    page.get_by_role("tab", name=t("users.tab_roles")).click()
    matrix.get_by_role("row").filter(has_text="night_shift").click()
    role = page.get_by_role("dialog", name=t("roles.edit", role="night_shift"))
    role.get_by_role("button", name=t("roles.delete")).click()
    # The confirmation comes from the server: find it by its question, not as "the last dialog"
    # (which may still be the role's own dialog when the locator is resolved).
    confirm = page.get_by_role("dialog").filter(
        has_text=t("roles.delete_confirm", role="night_shift")
    )
    confirm.get_by_role("button", name=t("roles.delete")).click()
    expect(role.get_by_role("alert")).to_contain_text("held by 1 user")
    refused = server.api("/api/v1/audit", action="delete_role", target="night_shift")
    assert refused["items"][0]["outcome"] == "failure", refused

"""Every route of the REST API, checked the same four ways (NetBox style):

anonymous -> 401; signed in without the route's permission -> 403; with the permission but the
object outside the caller's org scope -> 404 (as if it did not exist); with the permission and in
scope -> success. The cases are declared once per route below; a route in the OpenAPI document
without a declared case fails the test, so new routes are checked from the day they appear.

The world: company CO with two regions A and B, each with a substation, feeder, transformer,
terminal and meter (``SS-A``, ``F-A``, ``T-A``, ``TTU-A``, ``M-A`` and the same with B). The
acting users are scoped to A and hold exactly one permission (a custom role per permission).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from e200 import alarms, archives
from e200.api import create_app
from e200.api.app import RouteInfo, api_routes, unclassified_routes
from e200.archives import (
    KINDS,
    FeederIn,
    MeterIn,
    OrgUnitIn,
    SubstationIn,
    TerminalIn,
    TransformerIn,
)
from e200.auth.credentials import create_api_key
from e200.auth.tables import role, user_account
from e200.config import Settings
from e200.db.web import Public, Requires
from e200.jobs import make_queue
from e200.kernel import Permission, Scope
from e200.telemetry import ReportedMeterList
from e200.terminal.meter_lists import list_version
from e200.terminal.service import CommandIn, issue
from tests.archives.imports_helpers import Upload, make_job
from tests.users import TEST_PASSWORD, api_key, make_user

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
KIND_PLURALS = {kind.plural: kind for kind in KINDS.values()}
ASSET_OF = {
    "substation": "SS",
    "feeder": "F",
    "transformer": "T",
    "terminal": "TTU",
    "meter": "M",
}


def _now_grid() -> str:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return (now - timedelta(minutes=now.minute % 15 + 15)).isoformat().replace("+00:00", "Z")


@dataclass
class World:
    engine: Engine
    anonymous: TestClient
    command_a: str
    command_b: str
    key_ids: dict[str, int] = field(default_factory=dict)
    # alarm ids and the reported meter list's version (build_alarms_and_lists)
    more: dict[str, str] = field(default_factory=dict)

    def as_user(self, key: str) -> dict[str, str]:
        return {"X-API-Key": key}


def build_world(engine: Engine) -> tuple[str, str]:
    everything = Scope.everything()
    with engine.begin() as conn:
        archives.create_org_unit(conn, OrgUnitIn(code="CO", name="Co", kind="company"), everything)
        for region in ("A", "B"):
            archives.create_org_unit(
                conn, OrgUnitIn(code=region, name=region, kind="region", parent="CO"), everything
            )
            asset = KINDS
            archives.create_asset(
                conn,
                asset["substation"],
                SubstationIn(asset_number=f"SS-{region}", org_unit=region, valid_from=SINCE),
                everything,
            )
            archives.create_asset(
                conn,
                asset["feeder"],
                FeederIn(asset_number=f"F-{region}", substation=f"SS-{region}", valid_from=SINCE),
                everything,
            )
            archives.create_asset(
                conn,
                asset["transformer"],
                TransformerIn(
                    asset_number=f"T-{region}",
                    rated_kva=400,
                    primary_rated_kv=10,
                    secondary_rated_v=400,
                    feeder=f"F-{region}",
                    valid_from=SINCE,
                ),
                everything,
            )
            archives.create_asset(
                conn,
                asset["terminal"],
                TerminalIn(
                    asset_number=f"TTU-{region}", transformer=f"T-{region}", valid_from=SINCE
                ),
                everything,
            )
            archives.create_asset(
                conn,
                asset["meter"],
                MeterIn(
                    asset_number=f"M-{region}",
                    transformer=f"T-{region}",
                    phase="A",
                    valid_from=SINCE,
                ),
                everything,
            )
            # Childless twins of the parents, for the retire cases.
            for kind_name, data in (
                ("substation", SubstationIn(asset_number=f"SS-{region}-SPARE", org_unit=region)),
                ("feeder", FeederIn(asset_number=f"F-{region}-SPARE", org_unit=region)),
                (
                    "transformer",
                    TransformerIn(
                        asset_number=f"T-{region}-SPARE",
                        rated_kva=100,
                        primary_rated_kv=10,
                        secondary_rated_v=400,
                        org_unit=region,
                    ),
                ),
                ("terminal", TerminalIn(asset_number=f"TTU-{region}-SPARE", org_unit=region)),
                ("meter", MeterIn(asset_number=f"M-{region}-SPARE", org_unit=region)),
            ):
                archives.create_asset(conn, asset[kind_name], data, everything)
        command_a = issue(conn, "TTU-A", CommandIn(kind="time_sync"), everything)["id"]
        command_b = issue(conn, "TTU-B", CommandIn(kind="time_sync"), everything)["id"]
        # Custom roles: exactly one permission each; plus one role the tests may edit/delete.
        for permission in Permission:
            conn.execute(
                role.insert().values(
                    name=f"only_{permission.value}", permissions=[permission.value], builtin=False
                )
            )
        conn.execute(role.insert().values(name="spare_role", permissions=["view_data"]))
    return command_a, command_b


def build_alarms_and_lists(engine: Engine) -> dict[str, str]:
    """An alarm on each region's terminal; TTU-A and TTU-B report meter lists."""
    more: dict[str, str] = {}
    with engine.begin() as conn:
        refs = archives.lookup_devices(conn, "terminal", ["TTU-A", "TTU-B"])
        for region in ("A", "B"):
            terminal_id = refs[f"TTU-{region}"].id
            raised, _ = alarms.raise_or_update(
                conn, device_kind="terminal", device_id=terminal_id,
                asset_number=f"TTU-{region}", rule="test_rule", severity="minor",
                message=f"test alarm {region}",
            )  # fmt: skip
            more[f"alarm_{region}"] = str(raised.id)
            conn.execute(
                text("INSERT INTO telemetry.terminal_meter_list (terminal_id, ts, meters, "
                     "received_at) VALUES (:id, :ts, :meters, now())"),
                {"id": terminal_id, "ts": SINCE, "meters": [f"M-{region}", f"M-{region}-SPARE"]},
            )  # fmt: skip
    anonymous_list = ReportedMeterList(0, SINCE, SINCE, ("M-A", "M-A-SPARE"), None)
    more["version_a"] = list_version(anonymous_list)
    return more


# --- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """How to call one route: in scope, out of scope (None: the route names no scoped object),
    the body, and what success looks like."""

    path: str
    out_of_scope_path: str | None = None
    body: Any = None
    ok: int = 200
    check: Callable[[httpx.Response], None] | None = None
    out_of_scope_body: Any = None  # same path, but the body names something out of scope
    # Routes answering 200 for out-of-scope bodies (they report per item): what to check instead.
    out_of_scope_check: Callable[[httpx.Response], None] | None = None


def _ingest_check(response: httpx.Response) -> None:
    assert response.json()["stored"] == 1, response.text


def _ingest_out_check(response: httpx.Response) -> None:
    # A sender cannot write to devices outside its scope: they are unknown to it.
    body = response.json()
    assert body["stored"] == 0 and body["rejected"][0]["reason"] == "unknown_device", body


def _dt(device: str, terminal: str) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "dt_interval",
        "terminal": terminal,
        "device": device,
        "ts": _now_grid(),
        "interval_min": 15,
        "values": {"v_a_v": 231.0, "p_kw": 80.0},
    }


def _kind_cases(kind_plural: str) -> dict[tuple[str, str], Case]:
    kind = KIND_PLURALS[kind_plural]
    prefix = ASSET_OF[kind.name]
    base = f"/api/v1/{kind_plural}"
    create: dict[str, Any] = {"asset_number": f"{prefix}-NEW", "org_unit": "A"}
    if kind.name == "transformer":
        create |= {"rated_kva": 250, "primary_rated_kv": 10, "secondary_rated_v": 400}
    parent_relation = kind.parent_relation.parent if kind.parent_relation else "org_unit"
    parent_in_a = {"feeder": "F-A", "substation": "SS-A", "transformer": "T-A"}.get(
        parent_relation, "A"
    )
    relation_body: dict[str, Any] = {"parent": parent_in_a}
    if kind.name == "meter":
        relation_body["phase"] = "B"
    mine, theirs = f"{base}/{prefix}-A", f"{base}/{prefix}-B"
    return {
        ("GET", base): Case(base, check=_lists_only_a),
        ("POST", base): Case(
            base,
            body=create,
            ok=201,
            out_of_scope_body={**create, "org_unit": "B"},
        ),
        ("GET", f"{base}/{{asset_number}}"): Case(mine, theirs),
        ("PATCH", f"{base}/{{asset_number}}"): Case(mine, theirs, body={"name": "renamed"}),
        ("POST", f"{base}/{{asset_number}}/retire"): Case(
            f"{base}/{prefix}-A-SPARE/retire", f"{base}/{prefix}-B-SPARE/retire", body={}
        ),
        ("GET", f"{base}/{{asset_number}}/relations/{{relation}}"): Case(
            f"{mine}/relations/org_unit", f"{theirs}/relations/org_unit"
        ),
        ("POST", f"{base}/{{asset_number}}/relations/{{relation}}"): Case(
            f"{mine}/relations/{parent_relation}",
            f"{theirs}/relations/{parent_relation}",
            body=relation_body,
        ),
    }


def _assert_equal(got: object, expected: object) -> None:
    assert got == expected, got


def _counts_only_a(response: httpx.Response) -> None:
    # one test alarm per region: a user of region A counts only theirs
    assert response.json()["total"] == 1, response.text


def _lists_only_a(response: httpx.Response) -> None:
    numbers = {item["asset_number"] for item in response.json()["items"]}
    assert numbers and all("-A" in n and "-B" not in n for n in numbers), numbers


def _tree_only_a(response: httpx.Response) -> None:
    # A user scoped to region A sees A as a top of the tree, not the company nor region B.
    keys = {node["key"] for node in response.json()}
    assert keys == {"A"}, keys


def _org_units_only_a(response: httpx.Response) -> None:
    codes = {unit["code"] for unit in response.json()}
    assert "A" in codes and "B" not in codes, codes


def _users_only_a(response: httpx.Response) -> None:
    names = {user["username"] for user in response.json()}
    assert "user_b" not in names and "admin" not in names, names


def cases(world: World) -> dict[tuple[str, str], Case]:
    a, b = world.command_a, world.command_b
    table: dict[tuple[str, str], Case] = {
        ("GET", "/api/v1/auth/me"): Case("/api/v1/auth/me"),
        ("POST", "/api/v1/auth/logout"): Case("/api/v1/auth/logout", ok=204),
        ("POST", "/api/v1/auth/password"): Case(
            "/api/v1/auth/password",
            body={"current_password": TEST_PASSWORD, "new_password": "Fresh-Grid-Words-88"},
            ok=204,
        ),
        ("GET", "/api/v1/auth/api-keys"): Case("/api/v1/auth/api-keys"),
        ("POST", "/api/v1/auth/api-keys"): Case(
            "/api/v1/auth/api-keys", body={"name": "gateway"}, ok=201
        ),
        ("DELETE", "/api/v1/auth/api-keys/{key_id}"): Case(
            "/api/v1/auth/api-keys/{own_key}", "/api/v1/auth/api-keys/{key_b}"
        ),
        ("GET", "/api/v1/users"): Case("/api/v1/users", check=_users_only_a),
        ("POST", "/api/v1/users"): Case(
            "/api/v1/users",
            body={"username": "new_user", "password": "Long-Enough-Pass-1", "org_units": ["A"]},
            ok=201,
            out_of_scope_body={
                "username": "new_user",
                "password": "Long-Enough-Pass-1",
                "org_units": ["B"],
            },
        ),
        ("GET", "/api/v1/users/{username}"): Case("/api/v1/users/user_a", "/api/v1/users/user_b"),
        ("PATCH", "/api/v1/users/{username}"): Case(
            "/api/v1/users/user_a", "/api/v1/users/user_b", body={"display_name": "X"}
        ),
        ("POST", "/api/v1/users/{username}/password"): Case(
            "/api/v1/users/user_a/password",
            "/api/v1/users/user_b/password",
            body={"password": "Temporary-Pass-77"},
        ),
        ("POST", "/api/v1/users/{username}/unlock"): Case(
            "/api/v1/users/user_a/unlock", "/api/v1/users/user_b/unlock"
        ),
        ("GET", "/api/v1/users/{username}/api-keys"): Case(
            "/api/v1/users/user_a/api-keys", "/api/v1/users/user_b/api-keys"
        ),
        ("POST", "/api/v1/users/{username}/api-keys"): Case(
            "/api/v1/users/user_a/api-keys",
            "/api/v1/users/user_b/api-keys",
            body={"name": "gw"},
            ok=201,
        ),
        ("DELETE", "/api/v1/users/{username}/api-keys/{key_id}"): Case(
            "/api/v1/users/user_a/api-keys/{key_a}", "/api/v1/users/user_b/api-keys/{key_b}"
        ),
        ("GET", "/api/v1/roles"): Case("/api/v1/roles"),
        ("POST", "/api/v1/roles"): Case(
            "/api/v1/roles", body={"name": "auditor", "permissions": []}, ok=201
        ),
        ("PATCH", "/api/v1/roles/{name}"): Case(
            "/api/v1/roles/spare_role", body={"description": "edited"}
        ),
        ("DELETE", "/api/v1/roles/{name}"): Case("/api/v1/roles/spare_role", ok=204),
        ("GET", "/api/v1/audit"): Case("/api/v1/audit"),
        ("GET", "/api/v1/org-units"): Case("/api/v1/org-units", check=_org_units_only_a),
        ("POST", "/api/v1/org-units"): Case(
            "/api/v1/org-units",
            body={"code": "A1", "name": "A1", "kind": "branch", "parent": "A"},
            ok=201,
            out_of_scope_body={"code": "B1", "name": "B1", "kind": "branch", "parent": "B"},
        ),
        ("GET", "/api/v1/org-units/{code}"): Case("/api/v1/org-units/A", "/api/v1/org-units/B"),
        ("PATCH", "/api/v1/org-units/{code}"): Case(
            "/api/v1/org-units/A", "/api/v1/org-units/B", body={"name": "Region A"}
        ),
        ("GET", "/api/v1/archive-tree"): Case("/api/v1/archive-tree", check=_tree_only_a),
        ("GET", "/api/v1/transformers/{asset_number}/topology"): Case(
            "/api/v1/transformers/T-A/topology", "/api/v1/transformers/T-B/topology"
        ),
        ("POST", "/api/v1/ingest"): Case(
            "/api/v1/ingest",
            body=_dt("T-A", "TTU-A"),
            check=_ingest_check,
            out_of_scope_body=_dt("T-B", "TTU-B"),
        ),
        ("GET", "/api/v1/devices/{asset_number}/latest"): Case(
            "/api/v1/devices/T-A/latest", "/api/v1/devices/T-B/latest"
        ),
        ("GET", "/api/v1/devices/{asset_number}/readings"): Case(
            "/api/v1/devices/T-A/readings", "/api/v1/devices/T-B/readings"
        ),
        ("GET", "/api/v1/devices/{asset_number}/events"): Case(
            "/api/v1/devices/M-A/events?kind=power_down", "/api/v1/devices/M-B/events"
        ),
        ("GET", "/api/v1/telemetry/curves"): Case(
            "/api/v1/telemetry/curves?devices=T-A,M-A&step=day",
            "/api/v1/telemetry/curves?devices=T-A,T-B",
        ),
        ("GET", "/api/v1/telemetry/curves/export"): Case(
            "/api/v1/telemetry/curves/export?devices=T-A&format=xlsx",
            "/api/v1/telemetry/curves/export?devices=T-B&format=csv",
        ),
        ("GET", "/api/v1/telemetry/analysis"): Case(
            "/api/v1/telemetry/analysis?group_by=feeder",
            "/api/v1/telemetry/analysis?org_unit=B",
        ),
        ("GET", "/api/v1/ingest/counters"): Case("/api/v1/ingest/counters"),
        ("GET", "/api/v1/ingest/quarantine/summary"): Case("/api/v1/ingest/quarantine/summary"),
        ("GET", "/api/v1/ingest/quarantine"): Case("/api/v1/ingest/quarantine"),
        ("GET", "/api/v1/ingest/unknown-devices"): Case("/api/v1/ingest/unknown-devices"),
        ("POST", "/api/v1/terminals/{asset_number}/commands"): Case(
            "/api/v1/terminals/TTU-A/commands",
            "/api/v1/terminals/TTU-B/commands",
            body={"kind": "time_sync"},
            ok=202,
        ),
        ("GET", "/api/v1/terminals/{asset_number}/commands"): Case(
            "/api/v1/terminals/TTU-A/commands", "/api/v1/terminals/TTU-B/commands"
        ),
        ("GET", "/api/v1/commands/{command_id}"): Case(
            f"/api/v1/commands/{a}", f"/api/v1/commands/{b}"
        ),
    }
    for plural in KIND_PLURALS:
        table |= _kind_cases(plural)
    table |= _import_cases()
    table |= _meter_list_and_alarm_cases(world)
    table |= _monitoring_cases()
    table |= _quality_cases()
    table |= _jobs_cases()
    return table


def _jobs_cases() -> dict[tuple[str, str], Case]:
    base = "/api/v1/jobs"
    return {
        ("GET", base): Case(base),
        ("GET", f"{base}/{{name}}/runs"): Case(f"{base}/quality.recompute/runs"),
        ("POST", f"{base}/{{name}}/run"): Case(f"{base}/quality.recompute/run", ok=202),
    }


def _only_region_a(key: str) -> Callable[[httpx.Response], None]:
    def check(response: httpx.Response) -> None:
        names = {item[key] for item in response.json()["items"]}
        assert names and all(n.startswith("TTU-A") for n in names), names

    return check


def _fleet_only_a(response: httpx.Response) -> None:
    names = [item["asset_number"] for item in response.json()["items"]]
    assert names and all(n.startswith("T-A") for n in names), names


def _monitoring_cases() -> dict[tuple[str, str], Case]:
    base = "/api/v1/monitoring"
    return {
        ("GET", f"{base}/transformers/{{asset_number}}"): Case(
            f"{base}/transformers/T-A", f"{base}/transformers/T-B"
        ),
        ("GET", f"{base}/fleet"): Case(
            f"{base}/fleet", f"{base}/fleet?org_unit=B", check=_fleet_only_a
        ),
        ("POST", f"{base}/reporting-interval"): Case(
            f"{base}/reporting-interval",
            body={"terminal": "TTU-A", "interval_min": 30},
            out_of_scope_body={"terminal": "TTU-B", "interval_min": 30},
            ok=202,
        ),
        ("GET", f"{base}/voltage-insights"): Case(
            f"{base}/voltage-insights", f"{base}/voltage-insights?org_unit=B"
        ),
        ("GET", f"{base}/voltage-qualification"): Case(
            f"{base}/voltage-qualification?level=org_unit",
            f"{base}/voltage-qualification?level=org_unit&org_unit=B",
        ),
    }


def _quality_cases() -> dict[tuple[str, str], Case]:
    base = "/api/v1/quality"
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    return {
        ("GET", f"{base}/summary"): Case(f"{base}/summary", f"{base}/summary?org_unit=B"),
        ("GET", f"{base}/meters"): Case(f"{base}/meters", f"{base}/meters?org_unit=B"),
        ("GET", f"{base}/terminals"): Case(f"{base}/terminals", f"{base}/terminals?org_unit=B"),
        ("GET", f"{base}/meters/{{asset_number}}/missing"): Case(
            f"{base}/meters/M-A/missing", f"{base}/meters/M-B/missing"
        ),
        ("GET", f"{base}/weak-points"): Case(
            f"{base}/weak-points", f"{base}/weak-points?org_unit=B"
        ),
        ("GET", f"{base}/trend"): Case(f"{base}/trend", f"{base}/trend?org_unit=B"),
        ("POST", f"{base}/compute"): Case(f"{base}/compute", body={"day": day}),
        ("POST", f"{base}/recollect"): Case(
            f"{base}/recollect",
            body={"day": day, "terminals": ["TTU-A"]},
            out_of_scope_body={"day": day, "terminals": ["TTU-B"]},
            ok=202,
        ),
    }


def _meter_list_and_alarm_cases(world: World) -> dict[tuple[str, str], Case]:
    terminals = "/api/v1/terminals"
    thresholds = "/api/v1/alarm-thresholds"
    alarm_a, alarm_b = world.more.get("alarm_A", "1"), world.more.get("alarm_B", "2")
    adopt = {
        "version": world.more.get("version_a", "v"),
        "changes": [{"meter": "M-A-SPARE", "action": "attach", "phase": "A"}],
    }
    return {
        ("GET", f"{terminals}/{{asset_number}}/meters"): Case(
            f"{terminals}/TTU-A/meters", f"{terminals}/TTU-B/meters"
        ),
        ("POST", f"{terminals}/{{asset_number}}/meters"): Case(
            f"{terminals}/TTU-A/meters",
            f"{terminals}/TTU-B/meters",
            body={"meters": [{"meter": "M-A-SPARE", "phase": "A"}]},
            out_of_scope_body={"meters": [{"meter": "M-B-SPARE", "phase": "A"}]},
        ),
        ("DELETE", f"{terminals}/{{asset_number}}/meters/{{meter}}"): Case(
            f"{terminals}/TTU-A/meters/M-A", f"{terminals}/TTU-B/meters/M-B"
        ),
        ("PATCH", f"{terminals}/{{asset_number}}/meters/{{meter}}"): Case(
            f"{terminals}/TTU-A/meters/M-A", f"{terminals}/TTU-B/meters/M-B", body={"phase": "B"}
        ),
        ("GET", f"{terminals}/{{asset_number}}/consistency"): Case(
            f"{terminals}/TTU-A/consistency", f"{terminals}/TTU-B/consistency"
        ),
        ("GET", "/api/v1/archives/consistency"): Case(
            "/api/v1/archives/consistency?status=all", check=_only_region_a("terminal")
        ),
        ("POST", f"{terminals}/{{asset_number}}/consistency/push"): Case(
            f"{terminals}/TTU-A/consistency/push", f"{terminals}/TTU-B/consistency/push", body={}
        ),
        ("POST", f"{terminals}/{{asset_number}}/consistency/adopt"): Case(
            f"{terminals}/TTU-A/consistency/adopt",
            f"{terminals}/TTU-B/consistency/adopt",
            body=adopt,
        ),
        ("GET", "/api/v1/alarms"): Case("/api/v1/alarms", check=_only_region_a("asset_number")),
        ("GET", "/api/v1/alarms/{alarm_id}"): Case(
            f"/api/v1/alarms/{alarm_a}", f"/api/v1/alarms/{alarm_b}"
        ),
        ("POST", "/api/v1/alarms/{alarm_id}/acknowledge"): Case(
            f"/api/v1/alarms/{alarm_a}/acknowledge",
            f"/api/v1/alarms/{alarm_b}/acknowledge",
            body={"comment": "seen"},
        ),
        ("GET", "/api/v1/alarms/counts"): Case("/api/v1/alarms/counts", check=_counts_only_a),
        ("POST", "/api/v1/alarms/acknowledge"): Case(
            "/api/v1/alarms/acknowledge",
            body={"ids": [int(alarm_a)], "comment": "seen"},
            out_of_scope_body={"ids": [int(alarm_b)]},
            # another region's alarm is reported as not found, and stays unacknowledged
            out_of_scope_check=lambda r: _assert_equal(r.json()["not_found"], [int(alarm_b)]),
        ),
        ("GET", "/api/v1/alarm-rules"): Case("/api/v1/alarm-rules"),
        ("GET", f"{thresholds}/{{level}}/{{key}}"): Case(
            f"{thresholds}/transformers/T-A", f"{thresholds}/transformers/T-B"
        ),
        ("PUT", f"{thresholds}/{{level}}/{{key}}/{{rule}}"): Case(
            f"{thresholds}/org-units/A/heavy_load",
            f"{thresholds}/org-units/B/heavy_load",
            body={"value": 70},
        ),
        ("DELETE", f"{thresholds}/{{level}}/{{key}}/{{rule}}"): Case(
            f"{thresholds}/transformers/T-A/heavy_load", f"{thresholds}/transformers/T-B/heavy_load"
        ),
    }


def _import_check(response: httpx.Response) -> None:
    body = response.json()
    assert body["status"] == "done" and body["written"], body
    assert body["counts"]["total"]["create"] == 1, body


def _import_cases() -> dict[tuple[str, str], Case]:
    base = "/api/v1/archives"
    upload = Upload("meters.csv", b"asset_number,org_unit\nM-IMPORTED,A\n", {"dry_run": "false"})
    return {
        ("GET", f"{base}/templates"): Case(f"{base}/templates"),
        ("GET", f"{base}/templates/{{file_name}}"): Case(f"{base}/templates/meters.csv"),
        ("POST", f"{base}/imports"): Case(
            f"{base}/imports", body=upload, ok=201, check=_import_check
        ),
        ("GET", f"{base}/imports"): Case(f"{base}/imports"),
        ("GET", f"{base}/imports/{{job_id}}"): Case(
            f"{base}/imports/{{job_a}}", f"{base}/imports/{{job_b}}"
        ),
        ("GET", f"{base}/imports/{{job_id}}/rejected"): Case(
            f"{base}/imports/{{job_a}}/rejected", f"{base}/imports/{{job_b}}/rejected"
        ),
    }


# Open to everyone; each is still called anonymously below to prove it.
PUBLIC_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/healthz"): Case("/healthz"),
    ("GET", "/readyz"): Case("/readyz"),
    ("GET", "/api/v1/auth/options"): Case("/api/v1/auth/options"),
    ("GET", "/api/v1/ingest/schemas"): Case("/api/v1/ingest/schemas"),
    ("POST", "/api/v1/auth/login"): Case(
        "/api/v1/auth/login", body={"username": "user_a", "password": TEST_PASSWORD}
    ),
    ("POST", "/api/v1/auth/token"): Case(
        "/api/v1/auth/token", body={"username": "user_a", "password": TEST_PASSWORD}
    ),
}


def _app_routes() -> dict[tuple[str, str], RouteInfo]:
    settings = Settings(data_dir=Path("unused"), database_url="unused://")
    app = create_app(settings, engine=None, console=False)  # type: ignore[arg-type]
    schema_paths = app.openapi()["paths"]
    found = {}
    for route in api_routes(app):
        for method in route.methods:
            if route.path in schema_paths and method.lower() in schema_paths[route.path]:
                found[(method, route.path)] = route
    return found


ROUTES = _app_routes()


def _requirement(route: RouteInfo) -> Requires | Public:
    assert route.requirement is not None, f"{route.path} declares no permission nor PUBLIC"
    return route.requirement


def test_every_route_is_classified_and_has_a_case(engine: Engine) -> None:
    app = create_app(Settings(database_url="unused://"), engine, console=False)
    assert unclassified_routes(app) == []
    assert len(ROUTES) > 60  # the flattening found the routers' routes
    world = World(engine, None, "c1", "c2")  # type: ignore[arg-type]
    declared = set(cases(world)) | set(PUBLIC_CASES)
    missing = sorted(set(ROUTES) - declared)
    assert not missing, f"routes without a permission test case: {missing}"
    stale = sorted(declared - set(ROUTES))
    assert not stale, f"cases for routes that do not exist: {stale}"
    for key in PUBLIC_CASES:
        assert isinstance(_requirement(ROUTES[key]), Public), key


@pytest.fixture()
def world(engine: Engine, tmp_path: Path) -> Iterator[World]:
    command_a, command_b = build_world(engine)
    more = build_alarms_and_lists(engine)
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path, database_url=url)
    queue = make_queue(url, engine, settings)  # "run now" queues (no worker runs it here)
    try:
        with TestClient(create_app(settings, engine, console=False, queue=queue)) as anonymous:
            yield World(engine, anonymous, command_a, command_b, more=more)
    finally:
        queue.close()


def _call(
    client: TestClient, method: str, path: str, headers: dict[str, str], body: Any
) -> httpx.Response:
    if isinstance(body, Upload):
        files = {"file": (body.name, body.content)}
        return client.request(method, path, headers=headers, files=files, data=body.form)
    return client.request(method, path, headers=headers, json=body)


def _fill(path: str, keys: dict[str, int]) -> str:
    return path.format(**{k: str(v) for k, v in keys.items()})


@pytest.mark.parametrize("route_key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_route_permissions(world: World, route_key: tuple[str, str]) -> None:
    method, _ = route_key
    route = ROUTES[route_key]
    requirement = _requirement(route)
    client = world.anonymous
    if route_key in PUBLIC_CASES:
        case = PUBLIC_CASES[route_key]
        make_user(world.engine, "user_a", org_units=("A",))
        response = _call(client, method, case.path, {}, case.body)
        assert response.status_code == case.ok, response.text
        return
    case = cases(world)[route_key]
    assert isinstance(requirement, Requires)
    permission = requirement.permission

    # The acting user: scoped to A, holding exactly the route's permission.
    roles = (f"only_{permission.value}",) if permission else ()
    whole = requirement.whole_grid
    make_user(world.engine, "actor", roles=roles, org_units=("A",), scope_all=whole)
    # Objects the cases refer to: a user and API key in A's scope and in B's.
    make_user(world.engine, "user_a", roles=("viewer",), org_units=("A",))
    make_user(world.engine, "user_b", roles=("viewer",), org_units=("B",))
    make_user(world.engine, "nobody", org_units=("A",))
    keys = {
        "actor": api_key(world.engine, "actor"),
        "nobody": api_key(world.engine, "nobody"),
    }
    with world.engine.begin() as conn:
        ids = {}
        owners = dict(conn.execute(select(user_account.c.username, user_account.c.id)).all())
        ids["own_key"] = create_api_key(conn, owners["actor"], "own", created_by=None)[1]["id"]
        ids["key_a"] = create_api_key(conn, owners["user_a"], "a", created_by=None)[1]["id"]
        ids["key_b"] = create_api_key(conn, owners["user_b"], "b", created_by=None)[1]["id"]
    if "{job_a}" in case.path:
        ids["job_a"] = make_job(world.engine, "user_a", "A")
        ids["job_b"] = make_job(world.engine, "user_b", "B")
    path = _fill(case.path, ids)

    # 1. Anonymous.
    response = _call(client, method, path, {}, case.body)
    assert response.status_code == 401, f"anonymous: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")

    # 2. Signed in without the permission.
    if permission is not None:
        response = _call(client, method, path, world.as_user(keys["nobody"]), case.body)
        assert response.status_code == 403, f"no permission: {response.status_code}"

    # 3. Grid-wide views refuse a limited scope even with the permission.
    if whole:
        make_user(world.engine, "limited", roles=roles, org_units=("A",))
        limited = api_key(world.engine, "limited")
        response = _call(client, method, path, world.as_user(limited), case.body)
        assert response.status_code == 403, f"limited scope: {response.status_code}"

    actor = world.as_user(keys["actor"])
    # 4. Out of scope: 404, as if it did not exist (ingest: the device counts as unknown).
    if case.out_of_scope_path is not None:
        out = _fill(case.out_of_scope_path, ids)
        response = _call(client, method, out, actor, case.body)
        assert response.status_code == 404, f"out of scope: {response.status_code} {response.text}"
    if case.out_of_scope_body is not None:
        response = _call(client, method, path, actor, case.out_of_scope_body)
        if route_key == ("POST", "/api/v1/ingest"):
            assert response.status_code == 200
            _ingest_out_check(response)
        elif case.out_of_scope_check is not None:
            assert response.status_code == 200, response.text
            case.out_of_scope_check(response)
        else:
            assert response.status_code in (403, 404, 422), (
                f"out-of-scope body: {response.status_code} {response.text}"
            )
            assert "B" in response.json()["detail"]

    # 5. In scope with the permission.
    response = _call(client, method, path, actor, case.body)
    assert response.status_code == case.ok, f"in scope: {response.status_code} {response.text}"
    if case.check is not None:
        case.check(response)

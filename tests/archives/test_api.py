"""Archive CRUD, topology as of a time and bad input, over the REST API on a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

T0 = "2026-01-01T00:00:00Z"
T_MOVE = "2026-06-01T00:00:00Z"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["field"] == field, body
    assert field in body["detail"], body
    return body


def totals(client: TestClient) -> dict[str, int]:
    out = {p: ok(client.get(f"/api/v1/{p}"))["total"]
           for p in ("substations", "feeders", "transformers", "terminals", "meters")}  # fmt: skip
    out["org_units"] = len(ok(client.get("/api/v1/org-units")))
    return out


@pytest.fixture()
def grid(client: TestClient) -> TestClient:
    """Company → two regions; one substation, feeder, two transformers, terminal, meters."""
    post = client.post
    ok(post("/api/v1/org-units", json={"code": "CO", "name": "Company", "kind": "company"}), 201)
    for code in ("EAST", "WEST"):
        ok(
            post(
                "/api/v1/org-units",
                json={"code": code, "name": code.title(), "kind": "region", "parent": "CO"},
            ),
            201,
        )
    ok(
        post(
            "/api/v1/substations",
            json={
                "asset_number": "SS1",
                "name": "East 110 kV",
                "voltage_kv": 110,
                "org_unit": "EAST",
                "valid_from": T0,
            },
        ),
        201,
    )
    ok(
        post("/api/v1/feeders", json={"asset_number": "F1", "substation": "SS1", "valid_from": T0}),
        201,
    )
    for dt in ("T1", "T2"):
        ok(
            post(
                "/api/v1/transformers",
                json={
                    "asset_number": dt,
                    "rated_kva": 400,
                    "primary_rated_kv": 10,
                    "secondary_rated_v": 400,
                    "vector_group": "Dyn11",
                    "feeder": "F1",
                    "valid_from": T0,
                },
            ),
            201,
        )
    ok(
        post(
            "/api/v1/terminals",
            json={
                "asset_number": "TTU1",
                "transformer": "T1",
                "reporting_interval_min": 15,
                "valid_from": T0,
            },
        ),
        201,
    )
    for i, phase in enumerate("ABC", start=1):
        ok(
            post(
                "/api/v1/meters",
                json={
                    "asset_number": f"M{i}",
                    "customer_account": f"C{i}",
                    "transformer": "T1",
                    "phase": phase,
                    "ct_ratio": 1,
                    "valid_from": T0,
                },
            ),
            201,
        )
    ok(
        post(
            "/api/v1/meters",
            json={
                "asset_number": "M9",
                "wiring": "three_phase",
                "ct_ratio": 40,
                "transformer": "T2",
                "valid_from": T0,
            },
        ),
        201,
    )
    ok(
        post(
            "/api/v1/substations",
            json={"asset_number": "SS2", "org_unit": "WEST", "valid_from": T0},
        ),
        201,
    )
    return client  # fmt: skip


def test_create_and_read_every_asset_type(grid: TestClient) -> None:
    meter = ok(grid.get("/api/v1/meters/M2"))
    assert meter["transformer"] == "T1" and meter["phase"] == "B"
    assert meter["org_unit"] == "EAST", "org unit inherited from the transformer"
    three = ok(grid.get("/api/v1/meters/M9"))
    assert three["phase"] == "ABC" and three["multiplier"] == 40
    terminal = ok(grid.get("/api/v1/terminals/TTU1"))
    assert terminal["transformer"] == "T1" and terminal["reporting_interval_min"] == 15
    assert ok(grid.get("/api/v1/feeders/F1"))["substation"] == "SS1"
    assert ok(grid.get("/api/v1/transformers/T1"))["feeder"] == "F1"
    assert ok(grid.get("/api/v1/org-units/EAST"))["parent"] == "CO"
    assert totals(grid) == {"substations": 2, "feeders": 1, "transformers": 2, "terminals": 1,
                            "meters": 4, "org_units": 3}  # fmt: skip


def test_list_filters_by_org_subtree_pages_and_sorts(grid: TestClient) -> None:
    east = ok(grid.get("/api/v1/substations", params={"org_unit": "EAST"}))
    assert [s["asset_number"] for s in east["items"]] == ["SS1"]
    company = ok(grid.get("/api/v1/substations", params={"org_unit": "CO"}))
    assert company["total"] == 2
    only_co = ok(grid.get("/api/v1/substations", params={"org_unit": "CO", "subtree": False}))
    assert only_co["total"] == 0
    page = ok(grid.get("/api/v1/meters", params={"sort": "-asset_number", "limit": 2,
                                                 "offset": 1}))  # fmt: skip
    assert page["total"] == 4
    assert [m["asset_number"] for m in page["items"]] == ["M3", "M2"]
    of_t1 = ok(grid.get("/api/v1/meters", params={"parent": "T1"}))
    assert {m["asset_number"] for m in of_t1["items"]} == {"M1", "M2", "M3"}
    searched = ok(grid.get("/api/v1/meters", params={"q": "m9"}))
    assert [m["asset_number"] for m in searched["items"]] == ["M9"]
    problem(grid.get("/api/v1/meters", params={"sort": "password"}), 422, "sort")


def test_update_changes_only_named_fields(grid: TestClient) -> None:
    updated = ok(grid.patch("/api/v1/transformers/T1", json={"rated_kva": 630}))
    assert updated["rated_kva"] == 630 and updated["vector_group"] == "Dyn11"
    problem(grid.patch("/api/v1/transformers/T1", json={"rated_kva": -5}), 422, "rated_kva")
    problem(grid.patch("/api/v1/transformers/T1", json={"rated_kva": None}), 422, "rated_kva")
    assert ok(grid.get("/api/v1/transformers/T1"))["rated_kva"] == 630


def test_topology_as_of_follows_a_meter_move(grid: TestClient) -> None:
    moved = ok(grid.post("/api/v1/meters/M3/relations/transformer",
                         json={"parent": "T2", "phase": "A", "valid_from": T_MOVE}))  # fmt: skip
    assert [(r["parent"], r["valid_to"]) for r in moved] == [
        ("T1", "2026-06-01T00:00:00Z"),
        ("T2", None),
    ]
    before = ok(grid.get("/api/v1/transformers/T1/topology", params={"at": "2026-03-01T00:00:00Z"}))
    after = ok(grid.get("/api/v1/transformers/T1/topology", params={"at": "2026-07-01T00:00:00Z"}))
    assert [m["asset_number"] for m in before["meters"]] == ["M1", "M2", "M3"]
    assert [m["asset_number"] for m in after["meters"]] == ["M1", "M2"]
    assert before["feeder"] == "F1" and before["substation"] == "SS1"
    assert before["org_unit"] == "EAST" and before["terminals"] == ["TTU1"]
    t2_after = ok(grid.get("/api/v1/transformers/T2/topology",
                           params={"at": "2026-07-01T00:00:00Z"}))  # fmt: skip
    assert {(m["asset_number"], m["phase"]) for m in t2_after["meters"]} == {
        ("M9", "ABC"),
        ("M3", "A"),
    }
    # Before the grid existed there is nothing.
    empty = ok(grid.get("/api/v1/transformers/T1/topology", params={"at": "2025-01-01T00:00:00Z"}))
    assert empty["meters"] == [] and empty["feeder"] is None


def test_retire_closes_topology_and_blocks_new_children(grid: TestClient) -> None:
    problem(grid.post("/api/v1/transformers/T2/retire", json={}), 409, "asset_number")
    ok(grid.post("/api/v1/meters/M9/retire", json={"at": T_MOVE}))
    retired = ok(grid.post("/api/v1/transformers/T2/retire", json={"at": T_MOVE}))
    assert retired["status"] == "retired" and retired["feeder"] is None
    assert ok(grid.get("/api/v1/meters/M9"))["status"] == "retired"
    # Still visible as of a time before retirement.
    topo = ok(grid.get("/api/v1/transformers/T2/topology", params={"at": "2026-03-01T00:00:00Z"}))
    assert [m["asset_number"] for m in topo["meters"]] == ["M9"]


# -- bad input: a 4xx problem+json naming the field, and nothing written ------------------------


def test_unknown_org_unit_is_rejected(grid: TestClient) -> None:
    before = totals(grid)
    problem(grid.post("/api/v1/substations", json={"asset_number": "SS9", "org_unit": "NOPE"}),
            422, "org_unit")  # fmt: skip
    problem(grid.post("/api/v1/org-units", json={"code": "X", "name": "X", "kind": "region",
                                                 "parent": "NOPE"}), 422, "parent")  # fmt: skip
    problem(grid.post("/api/v1/feeders", json={"asset_number": "F9", "substation": "SS404"}),
            422, "substation")  # fmt: skip
    assert totals(grid) == before


def test_duplicate_asset_number_is_rejected(grid: TestClient) -> None:
    before = totals(grid)
    problem(grid.post("/api/v1/meters", json={"asset_number": "M1", "transformer": "T2",
                                              "phase": "A"}), 409, "asset_number")  # fmt: skip
    problem(
        grid.post(
            "/api/v1/org-units",
            json={"code": "EAST", "name": "dup", "kind": "region", "parent": "CO"},
        ),
        409,
        "code",
    )
    assert totals(grid) == before
    assert ok(grid.get("/api/v1/meters/M1"))["transformer"] == "T1"


def test_meter_on_retired_transformer_is_rejected(grid: TestClient) -> None:
    ok(grid.post("/api/v1/meters/M9/retire", json={}))
    ok(grid.post("/api/v1/transformers/T2/retire", json={}))
    before = totals(grid)
    problem(grid.post("/api/v1/meters", json={"asset_number": "M10", "transformer": "T2",
                                              "phase": "A"}), 409, "transformer")  # fmt: skip
    problem(grid.post("/api/v1/meters/M1/relations/transformer",
                      json={"parent": "T2", "phase": "A"}), 409, "transformer")  # fmt: skip
    assert totals(grid) == before
    assert ok(grid.get("/api/v1/meters/M1"))["transformer"] == "T1"


def test_relation_with_valid_from_after_valid_to_is_rejected(grid: TestClient) -> None:
    history = ok(grid.get("/api/v1/meters/M1/relations/transformer"))
    problem(grid.post("/api/v1/meters/M1/relations/transformer",
                      json={"parent": "T2", "phase": "A", "valid_from": "2026-05-01T00:00:00Z",
                            "valid_to": "2026-04-01T00:00:00Z"}), 422, "valid_to")  # fmt: skip
    assert ok(grid.get("/api/v1/meters/M1/relations/transformer")) == history


def test_overlapping_relation_period_is_rejected(grid: TestClient) -> None:
    history = ok(grid.get("/api/v1/meters/M1/relations/transformer"))
    problem(grid.post("/api/v1/meters/M1/relations/transformer",
                      json={"parent": "T2", "phase": "A", "valid_from": "2026-03-01T00:00:00Z",
                            "valid_to": "2026-04-01T00:00:00Z"}), 409, "valid_from")  # fmt: skip
    assert ok(grid.get("/api/v1/meters/M1/relations/transformer")) == history


def test_malformed_values_name_their_field(grid: TestClient) -> None:
    before = totals(grid)
    body = {"asset_number": "T9", "rated_kva": -1, "primary_rated_kv": 10,
            "secondary_rated_v": 400, "feeder": "F1"}  # fmt: skip
    problem(grid.post("/api/v1/transformers", json=body), 422, "rated_kva")
    problem(grid.post("/api/v1/transformers", json={**body, "rated_kva": 100, "colour": "red"}),
            422, "colour")  # fmt: skip
    problem(grid.post("/api/v1/terminals", json={"asset_number": "TT9", "transformer": "T1",
                                                 "reporting_interval_min": 7}),
            422, "reporting_interval_min")  # fmt: skip
    problem(grid.post("/api/v1/meters", json={"asset_number": "M77", "transformer": "T1"}),
            422, "phase")  # fmt: skip
    problem(grid.post("/api/v1/meters", json={"asset_number": "bad number!", "org_unit": "EAST"}),
            422, "asset_number")  # fmt: skip
    assert totals(grid) == before


def test_unknown_things_answer_404(grid: TestClient) -> None:
    problem_body = grid.get("/api/v1/meters/NOPE")
    assert problem_body.status_code == 404
    assert problem_body.headers["content-type"].startswith("application/problem+json")
    assert grid.get("/api/v1/org-units/NOPE").status_code == 404
    assert grid.get("/api/v1/transformers/NOPE/topology").status_code == 404


def test_openapi_documents_every_asset_route(client: TestClient) -> None:
    spec = ok(client.get("/api/openapi.json"))
    for plural in ("substations", "feeders", "transformers", "terminals", "meters"):
        assert f"/api/v1/{plural}" in spec["paths"]
        assert f"/api/v1/{plural}/{{asset_number}}/retire" in spec["paths"]
    assert "/api/v1/transformers/{asset_number}/topology" in spec["paths"]

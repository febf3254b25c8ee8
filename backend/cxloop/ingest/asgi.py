"""The ingest routes as raw ASGI handlers inside the Litestar app.

Ingest is the hot path: reading the body ourselves lets us refuse an oversized request from
its Content-Length or as soon as it streams past the limit, and skips per-request model
machinery we do not need. Everything else in the app is ordinary Litestar controllers.
"""

from __future__ import annotations

from typing import Any

from litestar import asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from cxloop.ingest.decode import IngestError
from cxloop.ingest.service import (
    RETRY_AFTER_S,
    ROUTE_TYPES,
    SHORT_ROUTES,
    Answer,
    IngestService,
    error_answer,
)

__all__ = ["INGEST_STATE_KEY", "ingest_handlers"]

INGEST_STATE_KEY = "ingest_service"

_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type, Content-Encoding, Authorization"),
    (b"access-control-max-age", b"86400"),
]
_JSON = (b"content-type", b"application/json")


async def _send(send: Send, answer: Answer) -> None:
    headers = [_JSON, (b"content-length", str(len(answer.body)).encode()), *_CORS]
    if answer.retry_after:
        headers.append((b"retry-after", RETRY_AFTER_S.encode()))
    start: Any = {"type": "http.response.start", "status": answer.status, "headers": headers}
    body: Any = {"type": "http.response.body", "body": answer.body}
    await send(start)
    await send(body)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise IngestError(
            413, "request_too_large", f"the body is {declared} bytes; the limit is {limit} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise IngestError(
                413, "request_too_large", f"the body exceeds {limit} bytes; send smaller batches"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _client_ip(scope: Scope, trust_forwarded_for: bool) -> str | None:
    # Only behind a proxy you run: otherwise any client could claim any address.
    forwarded = _header(scope, b"x-forwarded-for") if trust_forwarded_for else None
    if forwarded:
        return forwarded.split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else None


def _make_handler(route: str, paths: list[str]) -> ASGIRouteHandler:
    @asgi(path=paths, name=f"ingest_{route}", copy_scope=False)
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if method == "OPTIONS":
            preflight: Any = {"type": "http.response.start", "status": 204, "headers": _CORS}
            empty: Any = {"type": "http.response.body", "body": b""}
            await send(preflight)
            await send(empty)
            return
        service: IngestService = scope["app"].state[INGEST_STATE_KEY]
        if method != "POST":
            await _send(send, error_answer(IngestError(405, "method_not_allowed", "use POST")))
            return
        # Past the limit answer 503 before reading the body: memory stays bounded.
        if service.inflight >= service.max_inflight_requests:
            service.requests.inc(1, route, "503")
            await _send(
                send,
                error_answer(IngestError(503, "overloaded", "too many requests in flight; retry")),
            )
            return
        service.inflight += 1
        try:
            try:
                body = await _read_body(scope, receive, service.max_request_bytes)
            except IngestError as error:
                service.requests.inc(1, route, str(error.status))
                await _send(send, error_answer(error))
                return
            except ConnectionAbortedError:
                return
            answer = await service.handle(
                route,
                body,
                authorization=_header(scope, b"authorization"),
                content_encoding=_header(scope, b"content-encoding") or "",
                client_ip=_client_ip(scope, service.trust_forwarded_for),
            )
            await _send(send, answer)
        finally:
            service.inflight -= 1

    return handler


def ingest_handlers() -> list[ASGIRouteHandler]:
    handlers = []
    for route in ROUTE_TYPES:
        shorts = [f"/v1/{short}" for short, long in SHORT_ROUTES.items() if long == route]
        handlers.append(_make_handler(route, [f"/v1/{route}", *shorts]))
    return handlers

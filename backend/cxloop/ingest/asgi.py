"""The ingest routes as raw ASGI handlers inside the Litestar app.

Ingest is the hot path: reading the body ourselves lets us refuse an oversized request from
its Content-Length or as soon as it streams past the limit, and skips per-request model
machinery we do not need. Everything else in the app is ordinary Litestar controllers.

Slow clients cannot starve the others: a Basic-auth key is checked before the body is read,
the body must arrive within ``body_timeout_s`` (408), one client address may have
``max_requests_per_client`` requests receiving at once (429), and a request takes an
in-flight slot only once its whole body is here. Every answer carries CORS, a 500 included.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import msgspec
from litestar import asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from cxloop.api import request_id_of
from cxloop.ingest.parse import IngestError
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

log = logging.getLogger("cxloop.ingest")

# Public ingest routes carry no credentials (the write key is public), so any origin may post
# and the browser may read the status, Retry-After and the request id of every answer.
_ALLOW_ORIGIN = (b"access-control-allow-origin", b"*")
_CORS = [_ALLOW_ORIGIN, (b"access-control-expose-headers", b"Retry-After, X-Request-ID")]
_PREFLIGHT = [
    _ALLOW_ORIGIN,
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-max-age", b"86400"),
    (b"vary", b"Access-Control-Request-Headers"),
]
# A preflight is answered with the headers it asks for (libraries add their own: retry
# counters, anonymous-id, sent-at), echoed only when they are a plain list of header names.
_HEADER_NAMES = re.compile(
    rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*,[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*"
)
_MAX_REQUESTED_HEADERS = 2048
# '*' does not cover Authorization (Fetch standard), so that one is named.
_ANY_HEADERS = b"*, Authorization, Content-Type, Content-Encoding"
_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")
_encoder = msgspec.json.Encoder()


class _Responder:
    """Sends one answer with CORS, and remembers whether the answer has started."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def answer(self, answer: Answer, *extra: tuple[bytes, bytes]) -> None:
        headers = [_JSON, (b"content-length", str(len(answer.body)).encode()), *_CORS, *extra]
        if answer.retry_after:
            headers.append((b"retry-after", RETRY_AFTER_S.encode()))
        start: Any = {"type": "http.response.start", "status": answer.status, "headers": headers}
        body: Any = {"type": "http.response.body", "body": answer.body}
        self.started = True
        await self.send(start)
        await self.send(body)

    async def preflight(self, scope: Scope) -> None:
        headers = [*_PREFLIGHT, (b"access-control-allow-headers", _allowed_headers(scope))]
        start: Any = {"type": "http.response.start", "status": 204, "headers": headers}
        empty: Any = {"type": "http.response.body", "body": b""}
        self.started = True
        await self.send(start)
        await self.send(empty)


def _allowed_headers(scope: Scope) -> bytes:
    requested = _raw_header(scope, b"access-control-request-headers")
    if requested is not None:
        requested = requested.strip(b" \t")
        if len(requested) <= _MAX_REQUESTED_HEADERS and _HEADER_NAMES.fullmatch(requested):
            return requested
    return _ANY_HEADERS


def _raw_header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    value = _raw_header(scope, name)
    return None if value is None else value.decode("latin-1")


async def _read_body(scope: Scope, receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The whole body, refused past ``limit`` bytes; TimeoutError past ``timeout_s``.

    Almost every body is complete in the first message, so no timer is armed for it (py-spy
    showed a timer per request among the largest costs a single-event request had gained). A
    client that sends no body byte at all is closed by the protocol's own body backstop
    (``server/protocol.py``)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    declared = _raw_header(scope, b"content-length")
    # bytes.isdigit is ASCII only ('²'.isdigit() is true); the length check spares int() a
    # 5,000-digit number, which it refuses.
    if (
        declared is not None
        and declared.isdigit()
        and (len(declared) > 15 or int(declared) > limit)
    ):
        raise IngestError(
            413,
            "request_too_large",
            f"the body is {declared.decode()} bytes; the limit is {limit} bytes",
        )
    message: Any = await receive()
    chunk = _chunk(message, 0, limit)
    if not message.get("more_body", False):
        return chunk  # the common case: the whole body in one message, no timer armed
    chunks = [chunk]
    size = len(chunk)
    async with asyncio.timeout_at(deadline):
        while message.get("more_body", False):
            message = await receive()
            chunk = _chunk(message, size, limit)
            size += len(chunk)
            chunks.append(chunk)
    return b"".join(chunks)


def _chunk(message: Any, size: int, limit: int) -> bytes:
    """One ``http.request`` message's body, refused once the body passes ``limit`` bytes."""
    if message["type"] == "http.disconnect":
        raise ConnectionAbortedError
    chunk: bytes = message.get("body", b"")
    if size + len(chunk) > limit:
        raise IngestError(
            413, "request_too_large", f"the body exceeds {limit} bytes; send smaller batches"
        )
    return chunk


def _client_ip(scope: Scope, trust_forwarded_for: bool) -> str | None:
    # Only behind a proxy you run: otherwise any client could claim any address. The last
    # entry is the one that proxy appended; earlier ones are whatever the client sent.
    forwarded = _header(scope, b"x-forwarded-for") if trust_forwarded_for else None
    if forwarded:
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    client = scope.get("client")
    return client[0] if client else None


async def _internal_error(route: str, scope: Scope, responder: _Responder) -> None:
    """An unexpected exception: logged with its traceback and a request id, counted, and
    answered 500 with CORS, so a browser SDK sees an answer rather than a network error."""
    request_id = request_id_of(scope)  # the private API's: one format in every log
    log.exception("ingest %s: unhandled error (request_id=%s)", route, request_id)
    service: IngestService | None = scope["app"].state.get(INGEST_STATE_KEY)
    if service is not None:
        service.requests.inc(1, route, "500")
    if responder.started:
        return  # too late for an answer: uvicorn closes the connection
    body = _encoder.encode(
        {
            "code": "internal_error",
            "message": "the server failed to handle this request; retry later, and report "
            "the request_id if it keeps failing",
            "request_id": request_id,
        }
    )
    await responder.answer(Answer(500, body), (b"x-request-id", request_id.encode()))


def _make_handler(route: str, paths: list[str]) -> ASGIRouteHandler:
    @asgi(path=paths, name=f"ingest_{route}", copy_scope=False)
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        responder = _Responder(send)
        try:
            await _serve(route, scope, receive, responder)
        except Exception:
            await _internal_error(route, scope, responder)

    return handler


async def _serve(route: str, scope: Scope, receive: Receive, responder: _Responder) -> None:
    method = scope.get("method")
    if method == "OPTIONS":
        await responder.preflight(scope)
        return
    service: IngestService = scope["app"].state[INGEST_STATE_KEY]
    if method != "POST":
        service.requests.inc(1, route, "405")
        await responder.answer(
            error_answer(IngestError(405, "method_not_allowed", "use POST")),
            (b"allow", b"POST, OPTIONS"),
            _CLOSE,
        )
        return
    body, project_id = await _receive(route, scope, receive, service, responder)
    if body is None:
        return
    # The in-flight budget bounds the bodies being processed; a request only takes a slot once
    # its whole body is here, so clients still sending cannot starve the others.
    if service.inflight >= service.max_inflight_requests:
        service.requests.inc(1, route, "503")
        await responder.answer(
            error_answer(IngestError(503, "overloaded", "too many requests in flight; retry"))
        )
        return
    service.inflight += 1
    try:
        answer = await service.handle(
            route,
            body,
            project_id=project_id,
            content_encoding=_header(scope, b"content-encoding") or "",
            client_ip=_client_ip(scope, service.trust_forwarded_for),
        )
        await responder.answer(answer)
    finally:
        service.inflight -= 1


async def _receive(
    route: str, scope: Scope, receive: Receive, service: IngestService, responder: _Responder
) -> tuple[bytes | None, str | None]:
    """The whole body and the project of a Basic-auth key, or (None, None) once refused.

    A client address may have ``max_requests_per_client`` requests receiving at once; a
    Basic-auth key is checked before the body is read; the body must arrive within
    ``body_timeout_s``. Refusals close the connection: the rest of the body is not wanted.
    """
    client = _client_ip(scope, service.trust_forwarded_for) or ""
    receiving = service.receiving
    if service.max_requests_per_client and (
        receiving.get(client, 0) >= service.max_requests_per_client
    ):
        service.requests.inc(1, route, "429")
        message = (
            f"this address already has {service.max_requests_per_client} requests being "
            "received; finish those first and retry"
        )
        await responder.answer(
            error_answer(IngestError(429, "too_many_connections", message)), _CLOSE
        )
        return None, None
    receiving[client] = receiving.get(client, 0) + 1
    try:
        project_id = await service.authorize(_header(scope, b"authorization"))
        try:
            body = await _read_body(
                scope, receive, service.max_request_bytes, service.body_timeout_s
            )
        except TimeoutError:
            raise IngestError(
                408,
                "body_timeout",
                f"the request body did not arrive within {service.body_timeout_s:g} s; "
                "send it in one go, or smaller batches over a slow link",
            ) from None
    except IngestError as error:
        service.requests.inc(1, route, str(error.status))
        await responder.answer(error_answer(error), _CLOSE)
        return None, None
    except ConnectionAbortedError:
        return None, None
    finally:
        left = receiving[client] - 1
        if left:
            receiving[client] = left
        else:
            del receiving[client]
    return body, project_id


def ingest_handlers() -> list[ASGIRouteHandler]:
    handlers = []
    for route in ROUTE_TYPES:
        shorts = [f"/v1/{short}" for short, long in SHORT_ROUTES.items() if long == route]
        handlers.append(_make_handler(route, [f"/v1/{route}", *shorts]))
    return handlers

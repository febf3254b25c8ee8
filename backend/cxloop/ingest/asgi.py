"""The ingest routes as raw ASGI handlers inside the Litestar app.

Ingest is the hot path: reading the body ourselves lets us refuse an oversized request from
its Content-Length or as soon as it streams past the limit, and skips per-request model
machinery we do not need. Everything else in the app is ordinary Litestar controllers.

Slow clients cannot starve the others: a Basic-auth key is checked before the body is read,
the body must arrive within ``body_timeout_s`` (408), one client address may have
``max_requests_per_client`` requests receiving at once (429), and a request takes an
in-flight slot only once its whole body is here. Every answer carries CORS, a 500 included.

``IngestFront`` serves the same routes from in front of the app, so an ingest request skips
Litestar's router, exception layer and ``before_send`` hooks (a single-event request spent
more in them than in its own check); every other request goes to the app unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Litestar, asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from cxloop.api import request_id_of
from cxloop.ingest.parse import IngestError
from cxloop.ingest.service import (
    ROUTE_TYPES,
    SHORT_ROUTES,
    Answer,
    IngestService,
    error_answer,
)

__all__ = ["INGEST_STATE_KEY", "IngestFront", "ingest_handlers", "ingest_paths"]

INGEST_STATE_KEY = "ingest_service"

log = logging.getLogger("cxloop.ingest")

# Public ingest routes carry no credentials (the write key is public), so any origin may post
# and the browser may read the status, Retry-After and the request id of every answer.
_ALLOW_ORIGIN = (b"access-control-allow-origin", b"*")
# What ``cxloop.api.headers.security_headers`` adds to every other answer (it sees these
# already there when the route is reached through Litestar, and adds nothing).
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_CORS = [
    _ALLOW_ORIGIN,
    (b"access-control-expose-headers", b"Retry-After, X-Request-ID"),
    _NOSNIFF,
]
_PREFLIGHT = [
    _ALLOW_ORIGIN,
    _NOSNIFF,
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
            # The answer's own (pipeline_behind says when the backlog will have drained).
            headers.append((b"retry-after", str(answer.retry_after_s).encode()))
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


class _Headers:
    """The request headers ingest reads, found in one pass over the list (the first of each,
    as a lookup per name found them)."""

    __slots__ = ("authorization", "content_encoding", "content_length", "forwarded_for")

    def __init__(self, scope: Scope) -> None:
        authorization = encoding = length = forwarded = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:
                    authorization = value
            elif name == b"content-length":
                if length is None:
                    length = value
            elif name == b"content-encoding":
                if encoding is None:
                    encoding = value
            elif name == b"x-forwarded-for" and forwarded is None:
                forwarded = value
        self.authorization: bytes | None = authorization
        self.content_length: bytes | None = length
        self.content_encoding: bytes | None = encoding
        self.forwarded_for: bytes | None = forwarded


async def _read_body(
    declared: bytes | None, receive: Receive, limit: int, timeout_s: float
) -> bytes:
    """The whole body, refused past ``limit`` bytes (``declared``: its Content-Length);
    TimeoutError past ``timeout_s``.

    Almost every body is complete in the first message, so no timer is armed for it (py-spy
    showed a timer per request among the largest costs a single-event request had gained). A
    client that sends no body byte at all is closed by the protocol's own body backstop
    (``server/protocol.py``)."""
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
    deadline = asyncio.get_running_loop().time() + timeout_s
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


def _client_ip(scope: Scope, forwarded_for: bytes | None, trust_forwarded_for: bool) -> str | None:
    # Only behind a proxy you run: otherwise any client could claim any address. The last
    # entry is the one that proxy appended; earlier ones are whatever the client sent.
    if trust_forwarded_for and forwarded_for:
        last = forwarded_for.decode("latin-1").rsplit(",", 1)[-1].strip()
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


async def _ingest(route: str, scope: Scope, receive: Receive, send: Send) -> None:
    """One ingest request, whichever way it arrived (``IngestFront`` or Litestar's route)."""
    responder = _Responder(send)
    try:
        await _serve(route, scope, receive, responder)
    except Exception:
        await _internal_error(route, scope, responder)


def _make_handler(route: str, paths: list[str]) -> ASGIRouteHandler:
    @asgi(path=paths, name=f"ingest_{route}", copy_scope=False)
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        await _ingest(route, scope, receive, send)

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
    # Back-pressure, or every in-flight slot taken: answered before the key is checked or the
    # body read (see ``IngestService.refusal``).
    refusal = service.refusal(route)
    if refusal is not None:
        await responder.answer(refusal)
        return
    headers = _Headers(scope)
    client_ip = _client_ip(scope, headers.forwarded_for, service.trust_forwarded_for)
    body, project_id = await _receive(route, headers, client_ip, receive, service, responder)
    if body is None:
        return
    # The in-flight budget bounds the bodies being processed; a request only takes a slot once
    # its whole body is here, so clients still sending cannot starve the others. (Checked
    # again: the slots may have filled while this body arrived.)
    if service.inflight >= service.max_inflight_requests:
        service.requests.inc(1, route, "503")
        await responder.answer(service.overloaded)
        return
    service.inflight += 1
    try:
        encoding = headers.content_encoding
        answer = await service.handle(
            route,
            body,
            project_id=project_id,
            content_encoding="" if encoding is None else encoding.decode("latin-1"),
            client_ip=client_ip,
        )
        await responder.answer(answer)
    finally:
        service.inflight -= 1


async def _receive(
    route: str,
    headers: _Headers,
    client_ip: str | None,
    receive: Receive,
    service: IngestService,
    responder: _Responder,
) -> tuple[bytes | None, str | None]:
    """The whole body and the project of a Basic-auth key, or (None, None) once refused.

    A client address may have ``max_requests_per_client`` requests receiving at once; a
    Basic-auth key is checked before the body is read; the body must arrive within
    ``body_timeout_s``. Refusals close the connection: the rest of the body is not wanted.
    """
    client = client_ip or ""
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
        authorization = headers.authorization
        project_id = (
            None
            if authorization is None
            else await service.authorize(authorization.decode("latin-1"))
        )
        try:
            body = await _read_body(
                headers.content_length,
                receive,
                service.max_request_bytes,
                service.body_timeout_s,
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


def ingest_paths() -> dict[str, str]:
    """Every ingest path (``/v1/batch``, ``/v1/b``, ...) and the route it serves."""
    paths = {}
    for route in ROUTE_TYPES:
        paths[f"/v1/{route}"] = route
        for short, long in SHORT_ROUTES.items():
            if long == route:
                paths[f"/v1/{short}"] = route
    return paths


def ingest_handlers() -> list[ASGIRouteHandler]:
    by_route: dict[str, list[str]] = {}
    for path, route in ingest_paths().items():
        by_route.setdefault(route, []).append(path)
    return [_make_handler(route, paths) for route, paths in by_route.items()]


# Any ASGI app (Litestar's own alias is narrower than the worker's wrappers).
ASGIApp = Callable[..., Awaitable[None]]


class IngestFront:
    """ASGI app serving the ingest routes before ``app`` sees them; everything else (other
    paths, ``/v1/track/`` and other spellings Litestar normalises, lifespan) goes to ``app``.

    ``litestar`` is the application whose state holds the ingest service (usually ``app``
    itself, or the app a wrapper like the worker's ``ListenWhenReady`` wraps). The answers
    are the route's own, byte for byte: it adds CORS and ``nosniff`` itself, and catches
    every exception (500 with a request id), so it needs none of Litestar's layers.
    """

    __slots__ = ("_paths", "app", "litestar")

    def __init__(self, app: ASGIApp, litestar: Litestar) -> None:
        self.app = app
        self.litestar = litestar
        self._paths = ingest_paths()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self._paths.get(scope["path"])
            if route is not None:
                scope["app"] = self.litestar
                await _ingest(route, scope, receive, send)
                return
        await self.app(scope, receive, send)

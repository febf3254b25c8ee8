"""Checks every HTTP route's request once, before its handler, and tags its answer.

* a request id on every answer (``X-Request-ID``), the one 500s are logged with;
* text PostgreSQL cannot store (NUL, bytes that are not UTF-8) in the path or query: 400;
* on the private API (routes behind the secret key), query parameters the route does not
  declare: 400 naming them and the valid ones, rather than an unfiltered list that reads as
  a wrong answer.

Raw ASGI routes (ingest, the hot path) pass straight through.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from litestar import Litestar, Request, Response
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from cxloop.api.errors import ApiError, api_exception_handlers
from cxloop.api.request_id import REQUEST_ID_HEADER, request_id_of

__all__ = ["ApiGuardMiddleware", "declared_query_names", "is_private"]

# The dependency that marks a route as private (secret key); see cxloop.api.auth.
_PRIVATE_DEPENDENCY = "project_id"
_BAD_TEXT = "remove NUL (U+0000, %00) and percent-encode text as UTF-8"

_Declared = Callable[[HTTPRouteHandler, frozenset[str]], frozenset[str]]


def is_private(handler: HTTPRouteHandler) -> bool:
    """Whether ``handler`` sits behind the secret key (depends on the project it resolves)."""
    return _PRIVATE_DEPENDENCY in handler.resolve_dependencies()


def declared_query_names(handler: HTTPRouteHandler, path_params: frozenset[str]) -> frozenset[str]:
    """The query parameters ``handler`` (and its dependencies) declare, by their wire names."""
    # Only the names of the path parameters matter here, not their definitions.
    model = handler.create_kwargs_model(dict.fromkeys(path_params))  # type: ignore[arg-type]
    return frozenset(p.field_alias for p in model.expected_query_params)


def _decoded_query(query_string: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            query_string.decode("latin-1"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_character", f"the query string is not valid UTF-8: {_BAD_TEXT}"
        ) from exc


def _check(scope: Scope, handler: HTTPRouteHandler, declared_names: _Declared) -> None:
    raw_path = scope.get("raw_path")
    if raw_path and b"%" in raw_path:
        try:
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError as exc:
            # The server decoded it with U+FFFD in place of the bad bytes: refuse, not guess.
            raise ApiError(
                400, "invalid_character", f"the path is not valid UTF-8: {_BAD_TEXT}"
            ) from exc
    for name, value in scope.get("path_params", {}).items():
        if isinstance(value, str) and "\x00" in value:
            raise ApiError(400, "invalid_character", f"path segment {name!r} holds {_BAD_TEXT}")
    query_string = scope.get("query_string", b"")
    if not query_string:
        return
    pairs = _decoded_query(query_string)
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\u0000")
            raise ApiError(400, "invalid_character", f"query parameter {shown!r}: {_BAD_TEXT}")
    if not is_private(handler):
        return
    declared = declared_names(handler, frozenset(scope.get("path_params", {})))
    unknown = sorted({name for name, _ in pairs} - declared)
    if unknown:
        valid = ", ".join(sorted(declared)) or "none"
        raise ApiError(
            400,
            "unknown_parameter",
            f"unknown query parameter(s): {', '.join(unknown)}; this route accepts: {valid}",
            unknown=unknown,
            valid=sorted(declared),
        )


def _allow_header(app: Litestar, template: str) -> str | None:
    """``Allow`` for Litestar's automatic OPTIONS answer: every method of the path.

    Litestar builds that answer for the first handler of a path and keeps it when a second
    handler (GET next to POST) joins, so its ``Allow`` lists only some of the methods.
    """
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            return ", ".join(sorted(route.methods))
    return None


def _is_automatic_options(scope: Scope, handler: HTTPRouteHandler) -> bool:
    return (
        scope.get("method") == "OPTIONS"
        and handler.http_methods == {"OPTIONS"}
        and getattr(handler.fn, "__name__", "") == "options_handler"
    )


class ApiGuardMiddleware(ASGIMiddleware):
    scopes = ("http",)  # type: ignore[assignment]

    def __init__(self) -> None:
        # What each handler of this app declares, worked out on its first request. Keyed by
        # the handler itself (not its id(), which a later app's handler may reuse).
        self._declared = functools.cache(declared_query_names)
        self._allow = functools.cache(_allow_header)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        handler = scope.get("route_handler")
        if not isinstance(handler, HTTPRouteHandler):
            await next_app(scope, receive, send)
            return
        header = (REQUEST_ID_HEADER.encode(), request_id_of(scope).encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            _check(scope, handler, self._declared)
        except ApiError as exc:
            # Answered here, not by the exception middleware outside this one, so that the
            # refusal carries the request id too.
            request: Request[Any, Any, Any] = Request(scope, receive, send)
            response = api_exception_handlers[ApiError](request, exc)
            await response.to_asgi_response(None, request)(scope, receive, send_with_id)
            return
        if _is_automatic_options(scope, handler) and (
            allow := self._allow(scope["litestar_app"], scope.get("path_template", ""))
        ):
            request = Request(scope, receive, send)
            answer: Response[None] = Response(None, status_code=204, headers={"allow": allow})
            await answer.to_asgi_response(None, request)(scope, receive, send_with_id)
            return
        await next_app(scope, receive, send_with_id)

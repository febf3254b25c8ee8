"""Errors as ``{code, message}`` bodies, the same shape ingest answers with.

Every exception a route can raise ends here: refusals (:class:`ApiError`), validation, the
database being down (503 + ``Retry-After``), values PostgreSQL refuses (400), and anything else
(500, logged with its traceback and the request id, counted in ``/metrics``).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, TypeVar

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from cxloop.api.request_id import request_id_of

__all__ = [
    "HTTP_ERRORS_METRIC",
    "ApiError",
    "api_exception_handlers",
    "database_unavailable",
    "found",
    "is_database_unavailable",
]

log = logging.getLogger("cxloop.api")
T = TypeVar("T")

HTTP_ERRORS_METRIC = "cxloop_http_errors_total"
RETRY_AFTER_S = "5"

# The connection is gone or the server refuses new work (08: connection exceptions, 57P0x:
# shutdown / starting up / crash): the request may well succeed after a retry.
_DATABASE_DOWN: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    ConnectionError,
)
# 22021 (a NUL or bytes invalid in UTF-8 in a text value) and 22P05 (``\u0000`` in jsonb).
_BAD_CHARACTER = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)


class ApiError(Exception):
    """Refuse a private-API request: HTTP ``status`` with ``{code, message}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}  # e.g. Retry-After on a 429
        self.extra = extra


def found(value: T | None, missing: ApiError) -> T:
    """``value``, or raise ``missing`` (a 404 saying what was not found) when it is None."""
    if value is None:
        raise missing
    return value


def database_unavailable() -> ApiError:
    return ApiError(503, "database_unavailable", "the database is unreachable; retry shortly")


def _from_asyncpg(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any("/asyncpg/" in frame.filename for frame in frames)


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says PostgreSQL cannot be reached right now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _DATABASE_DOWN):
            return True
        # A missing Unix socket or a connect timeout: plain OSError/TimeoutError, so only
        # when asyncpg raised it (a lake file that is missing is not the database).
        if isinstance(current, OSError | TimeoutError) and _from_asyncpg(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _body(status: int, code: str, message: str, **extra: Any) -> Response[dict[str, Any]]:
    headers = {"retry-after": RETRY_AFTER_S} if status == 503 else None
    return Response(
        {"code": code, "message": message, **extra}, status_code=status, headers=headers
    )


def _count(request: Request[Any, Any, Any], status: int) -> None:
    runtime = request.app.state.get("runtime")
    if runtime is None:
        return
    route = request.scope.get("path_template") or "unmatched"
    runtime.registry.counter(
        HTTP_ERRORS_METRIC,
        "Answers with a 5xx status from the HTTP routes, by route template and status.",
        ("route", "status"),
    ).inc(1.0, route, str(status))


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    if exc.status >= 500:
        _count(request, exc.status)
    response = _body(exc.status, exc.code, exc.message, **exc.extra)
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def _wire_names(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Python parameter name → the name the caller sent (``group_id`` → ``groupId``)."""
    handler = request.scope.get("route_handler")
    signature = getattr(handler, "parsed_fn_signature", None)
    names: dict[str, str] = {}
    for name, field in getattr(signature, "parameters", {}).items():
        definition = field.kwarg_definition
        alias = getattr(definition, "query", None) or getattr(definition, "name", None)
        if isinstance(alias, str):
            names[name] = alias
    return names


def _validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    details = exc.extra if isinstance(exc.extra, list) else []
    wire_names = _wire_names(request)
    for detail in details:
        if isinstance(detail, dict) and detail.get("key") in wire_names:
            detail["key"] = wire_names[detail["key"]]
    message = "; ".join(
        f"{d.get('key') or d.get('source', 'body')}: {d.get('message')}"
        for d in details
        if isinstance(d, dict)
    )
    return _body(400, "invalid_request", message or exc.detail, details=details)


def _internal(request: Request[Any, Any, Any], exc: BaseException) -> Response[dict[str, Any]]:
    request_id = request_id_of(request.scope)
    log.error(
        "unhandled error in %s %s (request id %s)",
        request.method, request.scope.get("path_template") or request.url.path, request_id,
        exc_info=(type(exc), exc, exc.__traceback__),
    )  # fmt: skip
    _count(request, 500)
    return _body(
        500,
        "internal_error",
        f"the server failed to answer; report request id {request_id} to the operator",
        request_id=request_id,
    )


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if exc.status_code >= 500 and exc.status_code != 503:
        return _internal(request, exc)
    code = {
        401: "unauthorized",
        404: "not_found",
        405: "method_not_allowed",
        413: "request_too_large",
        429: "rate_limited",
        503: "unavailable",
    }.get(exc.status_code, "invalid_request" if exc.status_code == 400 else "error")
    if exc.status_code == 503:
        _count(request, 503)
    response = _body(exc.status_code, code, exc.detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if is_database_unavailable(exc):
        log.warning(
            "%s %s: database unavailable (%s: %s; request id %s)",
            request.method, request.url.path, type(exc).__name__, exc,
            request_id_of(request.scope),
        )  # fmt: skip
        return _api_error(request, database_unavailable())
    if isinstance(exc, RecursionError) and "deserializ" in str(exc):
        # msgspec's decoder stops at Python's recursion limit (~1,000 levels of nesting).
        return _body(
            400, "too_deep", "the JSON body is nested too deeply (about 1,000 levels); flatten it"
        )
    if isinstance(exc, _BAD_CHARACTER):
        return _body(
            400,
            "invalid_character",
            "a value holds a character PostgreSQL cannot store (NUL, U+0000, or bytes that are "
            "not UTF-8): remove it and retry",
        )
    if isinstance(exc, asyncpg.DataError):
        # Class 22 is about the value sent (out of range, malformed): the caller can fix it.
        return _body(400, "invalid_value", f"a value was refused: {exc}; correct it and retry")
    return _internal(request, exc)


api_exception_handlers: dict[int | type[Exception], Any] = {
    ApiError: _api_error,
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _unhandled,
}

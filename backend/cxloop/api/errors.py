"""Errors as ``{code, message}`` bodies, the same shape ingest answers with."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

__all__ = ["ApiError", "api_exception_handlers"]


class ApiError(Exception):
    """Refuse a private-API request: HTTP ``status`` with ``{code, message}``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    headers = {"retry-after": "5"} if exc.status == 503 else None
    return Response(
        {"code": exc.code, "message": exc.message, **exc.extra},
        status_code=exc.status,
        headers=headers,
    )


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    details = exc.extra if isinstance(exc.extra, list) else []
    message = "; ".join(
        f"{d.get('key') or d.get('source', 'body')}: {d.get('message')}"
        for d in details
        if isinstance(d, dict)
    )
    return Response(
        {"code": "invalid_request", "message": message or exc.detail, "details": details},
        status_code=400,
    )


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "error"
    )
    return Response(
        {"code": code, "message": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )


api_exception_handlers: dict[int | type[Exception], Any] = {
    ApiError: _api_error,
    ValidationException: _validation,
    HTTPException: _http,
}

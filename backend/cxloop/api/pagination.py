"""Keyset pagination: opaque cursors (base64url of a small JSON array) and the page a list
route is asked for (the ``page`` dependency: ``limit`` and ``cursor`` query parameters, bounded
once here for every list route)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar.params import FromQuery, QueryParameter

from cxloop.api.errors import ApiError

__all__ = ["Cursor", "PageRequest", "provide_page"]

_Row = TypeVar("_Row")

_MIN_INT8, _MAX_INT8 = -(2**63), 2**63 - 1


class Cursor:
    @staticmethod
    def encode(values: list[Any]) -> str:
        return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")

    @staticmethod
    def decode(
        cursor: str, arity: int, kinds: Sequence[type | tuple[type, ...]] | None = None
    ) -> list[Any]:
        """The values of a cursor this API returned: ``arity`` of them, of ``kinds`` if given.

        Anything else is 400 ``invalid_cursor``, so a forged cursor never reaches a query as a
        value PostgreSQL refuses (a string for a number, an integer past int64, a NUL).
        """
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            values = msgspec.json.decode(base64.urlsafe_b64decode(padded))
        except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
            raise ApiError(
                400, "invalid_cursor", "the cursor is not one this API returned; start over"
            ) from exc
        if not isinstance(values, list) or len(values) != arity:
            raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned")
        for index, value in enumerate(values):
            if not _plausible(value) or (
                kinds is not None
                and (isinstance(value, bool) or not isinstance(value, kinds[index]))
            ):
                raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned")
        return values


def _plausible(value: Any) -> bool:
    if isinstance(value, int):
        return _MIN_INT8 <= value <= _MAX_INT8
    if isinstance(value, str):
        return "\x00" not in value
    return value is None or isinstance(value, float)


class PageRequest(msgspec.Struct, frozen=True):
    """The page a list route is asked for: at most ``limit`` items after ``cursor``.

    A route fetches ``fetch`` rows (one more than the page), then ``cut`` says which to answer
    and the cursor of the next page (None on the last one).
    """

    limit: int
    cursor: str | None = None

    @property
    def fetch(self) -> int:
        return self.limit + 1

    def after(
        self, arity: int, kinds: Sequence[type | tuple[type, ...]] | None = None
    ) -> list[Any] | None:
        """The cursor's values (see ``Cursor.decode``), None on the first page."""
        return Cursor.decode(self.cursor, arity, kinds) if self.cursor else None

    def after_time(self, id_kind: type) -> tuple[datetime, Any] | None:
        """A cursor of (ISO time, id), as the routes listed newest first use."""
        values = self.after(2, (str, id_kind))
        if values is None:
            return None
        try:
            return datetime.fromisoformat(values[0]), values[1]
        except ValueError as exc:
            raise ApiError(
                400, "invalid_cursor", "the cursor is not one this API returned"
            ) from exc

    def cut(
        self, rows: Sequence[_Row], key: Callable[[_Row], list[Any]]
    ) -> tuple[Sequence[_Row], str | None]:
        """The rows to answer, and the next page's cursor from ``key`` of the last of them."""
        shown = rows[: self.limit]
        return shown, Cursor.encode(key(shown[-1])) if len(rows) > self.limit else None


def provide_page(
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    cursor: FromQuery[str | None] = None,
) -> PageRequest:
    """The ``page`` dependency of list routes."""
    return PageRequest(limit, cursor)

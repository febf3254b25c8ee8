"""Opaque cursors for keyset pagination: base64url of a small JSON array."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import msgspec

from cxloop.api.errors import ApiError

__all__ = ["Cursor"]

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

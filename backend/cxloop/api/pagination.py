"""Opaque cursors for keyset pagination: base64url of a small JSON array."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from cxloop.api.errors import ApiError

__all__ = ["Cursor"]


class Cursor:
    @staticmethod
    def encode(values: list[Any]) -> str:
        return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")

    @staticmethod
    def decode(cursor: str, arity: int) -> list[Any]:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            values = msgspec.json.decode(base64.urlsafe_b64decode(padded))
        except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
            raise ApiError(
                400, "invalid_cursor", "the cursor is not one this API returned; start over"
            ) from exc
        if not isinstance(values, list) or len(values) != arity:
            raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned")
        return values

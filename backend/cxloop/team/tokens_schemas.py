"""The tokens API's bodies and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from cxloop.access import TokenInfo

__all__ = ["CreatedToken", "TokenInput", "TokenList"]


class TokenInput(msgspec.Struct, forbid_unknown_fields=True):
    """A new token: a name saying what it is for, its scopes (permissions, or the shorthands
    ``admin`` and ``read``), and when it expires (``expires_in_days`` or ``expires_at``; neither:
    never)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    scopes: Annotated[list[str], msgspec.Meta(min_length=1, max_length=40)]
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None
    expires_at: datetime | None = None


class CreatedToken(msgspec.Struct):
    """The token, shown only this once (only its hash is kept), and its info."""

    token: str
    info: TokenInfo


class TokenList(msgspec.Struct):
    tokens: list[TokenInfo]

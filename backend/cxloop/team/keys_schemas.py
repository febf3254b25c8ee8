"""The keys API's bodies and answers."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cxloop.projects import KeyKind

__all__ = ["MAX_GRACE_S", "RevokedKeys", "RotateInput"]

MAX_GRACE_S = 30 * 86400


class RotateInput(msgspec.Struct, forbid_unknown_fields=True):
    """How long the old key keeps working beside the new one (seconds; ``0``: it stops now;
    unset: ``CXLOOP_KEY_ROTATION_GRACE_S``, 24 h by default)."""

    grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=MAX_GRACE_S)] | None = None


class RevokedKeys(msgspec.Struct):
    """Retired keys whose grace period a revocation ended (those still working until then)."""

    kind: KeyKind
    revoked: int

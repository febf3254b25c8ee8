"""Webhook signatures: ``Cxloop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The MAC covers ``f"{t}.{raw body}"`` with the webhook's secret, so a receiver can check both
that cxloop sent the body and that it was sent recently (replays of an old request fail).
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "SIGNATURE_HEADER",
    "InvalidSignature",
    "sign",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "Cxloop-Signature"
DEFAULT_TOLERANCE_S = 300


class InvalidSignature(ValueError):
    """The request does not carry a valid, recent signature; the message says which part."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Cxloop-Signature`` value for ``body`` sent now (or at ``timestamp``)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={sign(secret, at, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes | bytearray | memoryview | str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> int:
    """Check a ``Cxloop-Signature`` header against the raw request body; return its timestamp.

    Raises :class:`InvalidSignature` when the header is missing or malformed, no ``v1``
    signature matches, or the timestamp is more than ``tolerance_s`` away from now. Raising
    (rather than returning False) means a forgotten check cannot pass silently.
    Pass the body exactly as received: parsing and re-serialising JSON changes the bytes.
    """
    if not header:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature(f"{SIGNATURE_HEADER}: t is not a number") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature(f"{SIGNATURE_HEADER} must look like t=<seconds>,v1=<hex>")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidSignature(
            f"{SIGNATURE_HEADER} timestamp is {abs(current - timestamp):.0f} s away from now "
            f"(tolerance {tolerance_s:g} s): a replayed request, or a clock is wrong"
        )
    raw = body.encode() if isinstance(body, str) else bytes(body)
    expected = sign(secret, timestamp, raw).encode()
    # Constant-time comparisons; every v1 value is tried (room for a future secret rotation).
    if not any(
        hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
        for candidate in candidates
    ):
        raise InvalidSignature(
            f"{SIGNATURE_HEADER} does not match the body: wrong secret, or the body was changed"
        )
    return timestamp

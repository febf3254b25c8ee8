"""Client clock skew correction: ``timestamp = receivedAt - (sentAt - originalTimestamp)``."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["FUTURE_TOLERANCE_US", "skew_corrected_timestamp", "to_epoch_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE_US = 23 * 3600 * 1_000_000


def to_epoch_us(value: datetime) -> int:
    """Microseconds since the Unix epoch; a timestamp without an offset is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def skew_corrected_timestamp(
    received_at_us: int, original_us: int | None, sent_at_us: int | None
) -> int:
    """When the event happened, on the server's clock.

    With ``sentAt`` the client's clock offset cancels out; without it the client's own
    timestamp is trusted unless it lies more than 23 h in the future, which no time zone
    explains, and is then clamped to ``receivedAt``.
    """
    if original_us is None:
        return received_at_us
    if sent_at_us is not None:
        corrected = received_at_us - (sent_at_us - original_us)
    else:
        corrected = original_us
    if corrected > received_at_us + FUTURE_TOLERANCE_US:
        return received_at_us
    return corrected

"""Client clock skew correction: ``timestamp = receivedAt - (sentAt - originalTimestamp)``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "FUTURE_TOLERANCE_US",
    "MAX_US",
    "MIN_US",
    "skew_corrected_timestamp",
    "skew_corrected_timestamps",
    "to_epoch_us",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
FUTURE_TOLERANCE_US = 23 * 3600 * 1_000_000
# Every stored time is a datetime every reader can build (years 1 to 9999, UTC): a client can
# send "0001-01-01T00:00:00+23:59" (year 0 in UTC) or a sentAt thousands of years off.
MIN_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def to_epoch_us(value: datetime) -> int:
    """Microseconds since the Unix epoch, within years 1 to 9999 UTC; a timestamp without an
    offset is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        delta = value - _EPOCH
    except OverflowError:  # its UTC time falls outside years 1 to 9999
        offset = value.utcoffset()
        delta = value.replace(tzinfo=None) - _NAIVE_EPOCH - (offset if offset else timedelta())
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return MIN_US if micros < MIN_US else MAX_US if micros > MAX_US else micros


def skew_corrected_timestamp(
    received_at_us: int, original_us: int | None, sent_at_us: int | None
) -> int:
    """When the event happened, on the server's clock.

    With ``sentAt`` the client's clock offset cancels out; without it the client's own
    timestamp is trusted unless it lies more than 23 h in the future, which no time zone
    explains, and is then clamped to ``receivedAt``. A ``sentAt`` so far after the timestamp
    that the correction leaves year 1 falls back to the client's own timestamp.
    """
    if original_us is None:
        return received_at_us
    if sent_at_us is not None:
        corrected = received_at_us - (sent_at_us - original_us)
        if corrected < MIN_US:
            corrected = original_us
    else:
        corrected = original_us
    if corrected > received_at_us + FUTURE_TOLERANCE_US:
        return received_at_us
    return corrected


def skew_corrected_timestamps(
    received_at_us: pa.Array, original_us: pa.Array, sent_at_us: pa.Array
) -> pa.Array:
    """:func:`skew_corrected_timestamp` over int64 columns (nulls for absent times), in C."""
    corrected = pc.subtract(received_at_us, pc.subtract(sent_at_us, original_us))
    corrected = pc.if_else(pc.less(corrected, MIN_US), original_us, corrected)
    corrected = pc.coalesce(corrected, original_us)  # no sentAt: the client's own time
    too_far = pc.greater(corrected, pc.add(received_at_us, FUTURE_TOLERANCE_US))
    return pc.coalesce(pc.if_else(too_far, received_at_us, corrected), received_at_us)

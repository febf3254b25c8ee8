from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from cxloop.ingest import skew_corrected_timestamp, to_epoch_us
from cxloop.ingest.timestamps import FUTURE_TOLERANCE_US

NOW = 1_795_000_000_000_000  # 2026-11-18, microseconds
HOUR = 3_600_000_000

offsets = st.integers(min_value=-30 * 24 * HOUR, max_value=30 * 24 * HOUR)


def test_to_epoch_us_exact_and_naive_is_utc() -> None:
    aware = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)
    assert to_epoch_us(aware) == 1_795_428_000_123_456
    assert to_epoch_us(aware.replace(tzinfo=None)) == to_epoch_us(aware)
    plus8 = aware.astimezone(timezone(timedelta(hours=8)))
    assert to_epoch_us(plus8) == to_epoch_us(aware)


@given(st.datetimes(timezones=st.just(UTC)))
def test_to_epoch_us_matches_timedelta_arithmetic(value: datetime) -> None:
    expected = (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert to_epoch_us(value) == expected


@given(clock_offset=offsets, queued_for=st.integers(min_value=0, max_value=7 * 24 * HOUR))
def test_client_clock_offset_cancels_out(clock_offset: int, queued_for: int) -> None:
    # The event happened `queued_for` before it reached us; the client clock is off by any amount.
    happened = NOW - queued_for
    original = happened + clock_offset
    sent = NOW + clock_offset  # sent right before it was received
    assert skew_corrected_timestamp(NOW, original, sent) == happened


@given(original=offsets)
def test_without_sent_at_the_client_time_is_kept_unless_far_future(original: int) -> None:
    corrected = skew_corrected_timestamp(NOW, NOW + original, None)
    if original > FUTURE_TOLERANCE_US:
        assert corrected == NOW
    else:
        assert corrected == NOW + original


def test_boundary_of_the_future_clamp() -> None:
    assert (
        skew_corrected_timestamp(NOW, NOW + FUTURE_TOLERANCE_US, None) == NOW + FUTURE_TOLERANCE_US
    )
    assert skew_corrected_timestamp(NOW, NOW + FUTURE_TOLERANCE_US + 1, None) == NOW


def test_no_client_timestamp_means_received_at() -> None:
    assert skew_corrected_timestamp(NOW, None, NOW - HOUR) == NOW

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.ingest import skew_corrected_timestamp, to_epoch_us
from cxloop.ingest.timestamps import FUTURE_TOLERANCE_US, MAX_US, MIN_US

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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0001-01-01T00:00:00+23:59", MIN_US),  # year 0 in UTC
        ("9999-12-31T23:59:59-23:59", MAX_US),  # year 10000 in UTC
        ("0001-01-01T00:00:00Z", MIN_US),
    ],
)
def test_a_time_outside_years_1_to_9999_utc_is_clamped_not_an_error(
    text: str, expected: int
) -> None:
    assert to_epoch_us(msgspec.json.decode(f'"{text}"', type=datetime)) == expected


def test_a_sent_at_millennia_after_the_timestamp_falls_back_to_the_timestamp() -> None:
    original = to_epoch_us(datetime(1, 1, 1, tzinfo=UTC))
    sent = to_epoch_us(datetime(9999, 12, 31, tzinfo=UTC))
    corrected = skew_corrected_timestamp(NOW, original, sent)
    assert corrected == original
    # Every stored time converts back to a datetime and to a lake partition date.
    table = pa.table({"t": pa.array([corrected, MAX_US], pa.timestamp("us", tz="UTC"))})
    assert pc.cast(table.column("t"), pa.date32()).to_pylist()[0].year == 1
    assert table.column("t").to_pylist()[1].year == 9999

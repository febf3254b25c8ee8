"""Cursors: what the API returned decodes; anything else is 400 invalid_cursor, never a crash."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.api import ApiError, Cursor, PageRequest

_ACCOUNTS = ((float, int, type(None)), str)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def _forge(values: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")


@given(score=st.floats(allow_nan=False, allow_infinity=False), account=st.text())
def test_a_cursor_the_api_made_decodes(score: float, account: str) -> None:
    if "\x00" in account:
        return
    assert Cursor.decode(Cursor.encode([score, account]), 2, _ACCOUNTS) == [score, account]


@given(values=_json)
def test_a_forged_cursor_is_refused_or_well_typed(values: Any) -> None:
    try:
        decoded = Cursor.decode(_forge(values), 2, _ACCOUNTS)
    except ApiError as exc:
        assert exc.status == 400 and exc.code == "invalid_cursor"
        return
    assert isinstance(decoded[0], float | int | None) and not isinstance(decoded[0], bool)
    assert isinstance(decoded[1], str) and "\x00" not in decoded[1]


@pytest.mark.parametrize(
    "values",
    [
        [1, 2],  # a number where the id is text
        ["a", "b"],  # text where the score is a number
        [True, "a"],
        [2**63, "a"],  # past int64: PostgreSQL would refuse it
        [1.0, "a\x00b"],  # NUL: PostgreSQL would refuse it
        [1.0],
    ],
)
def test_forged_cursors_that_reached_postgresql_are_refused(values: list[Any]) -> None:
    with pytest.raises(ApiError) as caught:
        Cursor.decode(_forge(values), 2, _ACCOUNTS)
    assert caught.value.code == "invalid_cursor"


def test_ints_past_int64_are_refused_without_kinds() -> None:
    with pytest.raises(ApiError) as caught:
        Cursor.decode(_forge([10**30]), 1)
    assert (caught.value.status, caught.value.code) == (400, "invalid_cursor")
    assert Cursor.decode(_forge([2**63 - 1]), 1) == [2**63 - 1]


def test_garbage_is_refused() -> None:
    for garbage in ("%%%", "", "e4µ", "W1"):
        with pytest.raises(ApiError) as caught:
            Cursor.decode(garbage, 2)
        assert (caught.value.status, caught.value.code) == (400, "invalid_cursor"), garbage


def test_a_page_cuts_the_extra_row_into_the_next_cursor() -> None:
    page = PageRequest(limit=2)
    assert page.fetch == 3
    rows = [{"id": 1}, {"id": 2}, {"id": 3}]
    shown, next_cursor = page.cut(rows, lambda last: [last["id"]])
    assert shown == rows[:2]
    assert next_cursor is not None and Cursor.decode(next_cursor, 1) == [2]
    assert PageRequest(limit=2).cut(rows[:2], lambda last: [last["id"]]) == (rows[:2], None)
    assert PageRequest(limit=5).cut([], lambda last: [last["id"]]) == ([], None)


def test_a_time_cursor_round_trips_and_a_bad_time_is_refused() -> None:
    assert PageRequest(limit=1).after_time(int) is None
    at = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert PageRequest(1, _forge([at.isoformat(), 7])).after_time(int) == (at, 7)
    for values in (["yesterday", 7], [at.isoformat(), "7"]):
        with pytest.raises(ApiError) as caught:
            PageRequest(1, _forge(values)).after_time(int)
        assert caught.value.code == "invalid_cursor", values

"""Cursors: what the API returned decodes; anything else is 400 invalid_cursor, never a crash."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.api import ApiError, Cursor

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

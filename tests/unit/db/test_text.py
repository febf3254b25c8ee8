"""PostgreSQL-safe text and JSON: what PostgreSQL refuses becomes U+FFFD, the rest is untouched."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.db.text import pg_json, pg_json_numbers, pg_text, pg_text_or_none, pg_value

R = "\ufffd"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("", ""),
        ("a\x00b\x00", f"a{R}b{R}"),
        ("caf\u00e9 \U0001f600", "caf\u00e9 \U0001f600"),
        ("lone \ud800 high", f"lone {R} high"),
        ("lone \udfff low", f"lone {R} low"),
        ("\x00\ud83d", f"{R}{R}"),
    ],
)
def test_pg_text(value: str, expected: str) -> None:
    assert pg_text(value) == expected
    pg_text(value).encode()  # always encodable, as asyncpg must


def test_pg_text_or_none() -> None:
    assert pg_text_or_none(None) is None
    assert pg_text_or_none("\x00") == R


def test_pg_value_walks_keys_values_and_drops_non_finite_floats() -> None:
    value: dict[str, Any] = {
        "k\x00": ["a\ud800", {"n": float("inf")}, ("t\x00",), 1.5, 2, None, True],
        "nan": float("nan"),
    }
    assert pg_value(value) == {f"k{R}": [f"a{R}", {"n": None}, [f"t{R}"], 1.5, 2, None, True],
                               "nan": None}  # fmt: skip
    msgspec.json.encode(pg_value(value))  # encodable


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"a": 1, "b": "x"}', '{"a": 1, "b": "x"}'),
        ('{"a": "\\u00e9"}', '{"a": "\\u00e9"}'),
        ('{"a\\u0000": "b\\u0000c"}', '{"a\\ufffd": "b\\ufffdc"}'),
        ('{"a": "\\ud800"}', '{"a": "\\ufffd"}'),
        ('{"a": "\\uDC00\\ud800x"}', '{"a": "\\ufffd\\ufffdx"}'),
        ('{"a": "\\ud83d\\ude00"}', '{"a": "\\ud83d\\ude00"}'),
        ('{"a": "\\ud83d\\ud83d\\ude00"}', '{"a": "\\ufffd\\ud83d\\ude00"}'),
        # An escaped backslash followed by the letters u0000 is text, not an escape.
        ('{"a": "\\\\u0000"}', '{"a": "\\\\u0000"}'),
        ('{"a": "\\\\\\u0000"}', '{"a": "\\\\\\ufffd"}'),
        ("{not json \\u0000", "{not json \\ufffd"),
    ],
)
def test_pg_json(raw: str, expected: str) -> None:
    assert pg_json(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"a": 1e400, "b": 1.50}', '{"a":1E+400,"b":1.50}'),  # numeric holds them
        (
            '{"a": 1e200000, "b": [-2.5E-20000], "c": 3}',
            '{"a":"1E+200000","b":["-2.5E-20000"],"c":3}',
        ),
        ('{"a": "1e123456"}', '{"a":"1e123456"}'),  # only a string
        ("{not json 1e99999", "{not json 1e99999"),
    ],
)
def test_pg_json_numbers(raw: str, expected: str) -> None:
    assert pg_json_numbers(raw, refused_as_double=True) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"a": 1e-20000}', '{"a":"1E-20000"}'),  # a double reads it as 0; numeric refuses it
        ('{"a": 1.5e-300, "e-mail": "x"}', '{"a":1.5E-300,"e-mail":"x"}'),
        # A duplicate key hides a number jsonb would still parse: re-encoded, last one kept.
        ('{"a": 1e-20000, "a": 2}', '{"a":2}'),
        ('{"a": 0.' + "0" * 17000 + "1}", '{"a":"1E-17001"}'),
        ('{"a": 1e400}', '{"a": 1e400}'),  # not checked: the caller parsed it as a double
    ],
)
def test_pg_json_numbers_checks_tiny_numbers_a_double_accepts(raw: str, expected: str) -> None:
    assert pg_json_numbers(raw) == expected


# Any code point, surrogates included, but no high surrogate right before a low one (escaped,
# those two would be a valid pair: one character, not two lone ones).
_TEXT = st.text(st.characters(exclude_categories=())).filter(
    lambda s: not re.search("[\ud800-\udbff][\udc00-\udfff]", s)
)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_pg_json_agrees_with_pg_value(value: Any) -> None:
    # Text with NUL and surrogates written as JSON escapes (what a client may send) decodes
    # to exactly what pg_value makes of the decoded value.
    raw = _encode_with_escapes(value)
    assert msgspec.json.decode(pg_json(raw)) == pg_value(value)


def _encode_with_escapes(value: Any) -> str:
    if isinstance(value, str):
        return '"' + "".join(_escape(c) for c in value) + '"'
    if isinstance(value, dict):
        return "{" + ",".join(f"{_encode_with_escapes(k)}:{_encode_with_escapes(v)}"
                              for k, v in value.items()) + "}"  # fmt: skip
    if isinstance(value, list):
        return "[" + ",".join(_encode_with_escapes(v) for v in value) + "]"
    return msgspec.json.encode(value).decode()


def _escape(char: str) -> str:
    if char in '"\\' or ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF:
        return f"\\u{ord(char):04x}"
    return char

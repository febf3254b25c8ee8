"""Hypothesis strategies for what a visitor may send: NUL, unpaired surrogates (as JSON escapes),
huge numbers, nesting, in every id and free-form JSON field of a WAL row."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.helpers.events import group, identify, track

__all__ = ["hostile_rows"]

_ID_TEXT = st.text(st.sampled_from(["a", "é", "\x00", "\U0001f600", "\\", '"', "u"]), max_size=6)


def _escape(char: str) -> str:
    if char in '"\\' or ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF:
        return f"\\u{ord(char):04x}"
    return char


def _json_string(text: str) -> str:
    return '"' + "".join(_escape(c) for c in text) + '"'


_JSON_TEXT = st.text(
    st.sampled_from(["a", "\x00", "\ud800", "\udfff", "\ud83d", "\ude00", "é", "\\", "u"]),
    max_size=6,
).map(_json_string)
_NUMBER = st.sampled_from(["1e400", "-1e400", "1e200000", "-2.5e-20000", "1" + "0" * 400, "7"])


def _json(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(children, max_size=3).map(lambda items: "[" + ",".join(items) + "]") | (
        st.lists(st.tuples(_JSON_TEXT, children), max_size=3).map(
            lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
        )
    )


_VALUE = st.recursive(_JSON_TEXT | _NUMBER | st.just("null"), _json, max_leaves=8)
_OBJECT = st.lists(st.tuples(_JSON_TEXT, _VALUE), max_size=4).map(
    lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
)


@st.composite
def _row(draw: st.DrawFn, index: int, project_id: str) -> tuple[Any, ...]:
    message_id = f"m{index}" + draw(_ID_TEXT)
    user_id = "u" + draw(_ID_TEXT)
    kind = draw(st.sampled_from(["identify", "group", "track", "survey"]))
    if kind == "identify":
        return identify(message_id, user_id, draw(_OBJECT), project_id=project_id)
    if kind == "group":
        return group(message_id, user_id, "g" + draw(_ID_TEXT), draw(_OBJECT),
                     project_id=project_id)  # fmt: skip
    if kind == "track":
        return track(message_id, "E" + draw(_ID_TEXT), draw(_OBJECT), user_id=user_id,
                     group_id=draw(st.none() | _ID_TEXT), project_id=project_id)  # fmt: skip
    comment = draw(_JSON_TEXT)
    response_id = draw(st.none() | _JSON_TEXT)
    props = (
        '{"kind": "nps", "score": 3, "comment": ' + comment
        + (f', "response_id": {response_id}' if response_id and response_id != '""' else "")
        + ', "extra": ' + draw(_VALUE) + "}"
    )  # fmt: skip
    return track(message_id, "Survey Responded", props, user_id=user_id, project_id=project_id)


def hostile_rows(project_id: str = "prj_test", max_rows: int = 8) -> st.SearchStrategy[list[Any]]:
    return st.integers(1, max_rows).flatmap(
        lambda n: st.tuples(*(_row(i, project_id) for i in range(n))).map(list)
    )

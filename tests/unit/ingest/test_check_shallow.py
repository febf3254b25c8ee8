"""Small bodies that cannot nest deeply are judged without the headroom frames, with the
verdict those frames would give, at any stack; deeper bodies still get the frames."""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.ingest import IngestError, Limits
from cxloop.ingest import check as check_module
from cxloop.ingest.check import _SHALLOW_OPENERS, _check, check_request
from cxloop.ingest.parse import HEADROOM_FRAMES, MAX_SAFE_DEPTH, with_headroom

LIMITS = Limits(max_event_bytes=32 * 1024, max_batch_events=100)


def outcome(judge: Any, *args: Any) -> Any:
    try:
        checked = judge(*args)
    except IngestError as error:
        return error.status, error.code
    return checked.write_key, checked.events, checked.has_ip, checked.verdict("p", LIMITS)


def nested(levels: int, opener: str = "[") -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value] if opener == "[" else {"k": value}
    return value


shallow_events = st.builds(
    lambda levels, opener, user, event: msgspec.json.encode(
        {"userId": user, "event": event, "properties": {"p": nested(levels, opener)}}
    ),
    st.integers(0, _SHALLOW_OPENERS + 8),
    st.sampled_from(["[", "{"]),
    st.sampled_from(["u1", "", 5]),
    st.sampled_from(["Clicked", "", None]),
)


@settings(max_examples=200, deadline=None)
@given(body=shallow_events, route=st.sampled_from(["track", "identify", None]))
def test_the_verdict_is_the_one_the_headroom_gives(body: bytes, route: str | None) -> None:
    if route is None:
        body = b'{"batch":[' + body + b'],"writeKey":"wk"}'
    expected = outcome(with_headroom, HEADROOM_FRAMES, _check, body, route, LIMITS)
    assert outcome(check_request, body, route, LIMITS) == expected


@pytest.mark.parametrize("frames", [0, 200, sys.getrecursionlimit() - MAX_SAFE_DEPTH - 80])
def test_a_shallow_event_is_judged_alike_under_any_stack_that_takes_the_safe_depth(
    frames: int,
) -> None:
    body = msgspec.json.encode({"userId": "u1", "event": "E", "p": nested(_SHALLOW_OPENERS - 2)})
    expected = outcome(with_headroom, HEADROOM_FRAMES, _check, body, "track", LIMITS)
    assert with_headroom(frames, outcome, check_request, body, "track", LIMITS) == expected


def test_only_shallow_small_bodies_skip_the_headroom(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = check_module.with_headroom

    def counting(frames: int, call: Any, *args: Any) -> Any:
        calls.append(frames)
        return real(frames, call, *args)

    monkeypatch.setattr(check_module, "with_headroom", counting)
    shallow = msgspec.json.encode({"userId": "u", "event": "E", "p": nested(10)})
    check_request(shallow, "track", LIMITS)
    assert calls == []
    deep = msgspec.json.encode({"userId": "u", "event": "E", "p": nested(_SHALLOW_OPENERS)})
    check_request(deep, "track", LIMITS)
    assert calls == [HEADROOM_FRAMES]
    large = msgspec.json.encode({"userId": "u", "event": "E", "p": "x" * 9000})
    check_request(large, "track", LIMITS)
    assert calls == [HEADROOM_FRAMES, HEADROOM_FRAMES]

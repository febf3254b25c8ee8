"""What any website visitor can send: deep nesting, numbers beyond a double, repeated keys,
U+0000. Every case ends with a verdict per event (never an exception the service turns into
a 500), the valid neighbour kept, and no full address in anything stored."""

from __future__ import annotations

from typing import Any

import msgspec
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.ingest import IngestError, Limits, parse_batch, process_events, survey_response_problem
from cxloop.ingest.check import CheckedRequest, anonymise_body, check_request
from cxloop.ingest.expand import expand_requests
from cxloop.ingest.parse import _SCAN_DEPTH, MAX_SAFE_DEPTH, _deep_spans, with_headroom
from cxloop.wal import REQUEST_SCHEMA, rows_to_batch

LIMITS = Limits()
RECEIVED = 1_795_000_000_000_000
OK = {"type": "track", "event": "Report Exported", "userId": "u1", "messageId": "ok-1"}
encode = msgspec.json.encode


def nested(depth: int, key: bytes = b"a") -> bytes:
    """An object ``depth`` levels deep: {"a":{"a":...1...}}."""
    return b'{"' + key + b'":' + (b'{"' + key + b'":') * (depth - 1) + b"1" + b"}" * depth


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def event_with(member: bytes, name: bytes = b"properties", **fields: Any) -> bytes:
    head = encode({"type": "track", "event": "E", "userId": "u2", **fields})
    return head[:-1] + b',"' + name + b'":' + member + b"}"


def batch(*events: bytes, context: bytes | None = None) -> bytes:
    body = b'{"batch":[' + b",".join(events) + b"]"
    if context is not None:
        body += b',"context":' + context
    return body + b"}"


def ingest(body: bytes, route: str | None = None) -> tuple[CheckedRequest, int, list[Any]]:
    """What the service does before the ack: check, anonymise, judge."""
    checked = check_request(body, route, LIMITS)
    if checked.has_ip:
        checked = anonymise_body(checked, LIMITS)
    accepted, rejected = checked.verdict("p", LIMITS)
    return checked, accepted, rejected


def expanded(checked: CheckedRequest, accepted: int) -> list[dict[str, Any]]:
    """The event rows the pipeline makes of the logged request."""
    record = (
        "p",
        RECEIVED,
        "198.51.100.0",
        checked.route_type,
        checked.body,
        checked.events,
        accepted,
        LIMITS.max_event_bytes,
    )
    table = expand_requests(pa.Table.from_batches([rows_to_batch([record], REQUEST_SCHEMA)]))
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def stored_text(checked: CheckedRequest, rows: list[dict[str, Any]]) -> str:
    """Everything written anywhere: the WAL record's body and every column of every row."""
    return checked.body.decode("utf-8", "replace") + repr(rows)


# --- deep nesting -------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
@pytest.mark.parametrize("shape", ["objects", "arrays"])
def test_an_event_nested_too_deep_is_rejected_and_its_neighbour_kept(
    depth: int, shape: str
) -> None:
    deep = nested(depth) if shape == "objects" else nested_arrays(depth)
    body = batch(encode(OK), event_with(deep, context={"ip": "203.0.113.77"}))
    checked, accepted, rejected = ingest(body)
    assert accepted == 1
    assert [(r.index, r.reason) for r in rejected] == [(1, "too_deep")]
    assert "flatten" in rejected[0].detail
    rows = expanded(checked, accepted)
    assert [row["failure_reason"] for row in rows] == [None, "too_deep"]
    assert rows[0]["message_id"] == "ok-1"
    assert rows[1]["message_id"] == rejected[0].messageId  # the ack and the lake agree
    assert "203.0.113.77" not in stored_text(checked, rows)
    assert len(checked.body) < 500  # the unreadable event is not logged


def test_nesting_up_to_the_safe_depth_is_accepted_as_sent() -> None:
    deep = nested(MAX_SAFE_DEPTH - 2)  # the event object and properties are two more levels
    body = batch(encode(OK), event_with(deep))
    checked, accepted, rejected = ingest(body)
    assert (accepted, rejected) == (2, [])
    rows = expanded(checked, accepted)
    assert rows[1]["properties"] == deep.decode()


@pytest.mark.parametrize("pipeline_frames", [0, 60])
def test_the_verdict_does_not_depend_on_the_stack_that_judges_it(pipeline_frames: int) -> None:
    # Depths all around the decoder's reach (the recursion limit less the stack above it);
    # the pipeline expands the log under a deeper (or shallower) stack than the ack's.
    for depth in range(880, 1_000):
        checked, accepted, rejected = ingest(batch(encode(OK), event_with(nested(depth))))
        rows = with_headroom(pipeline_frames, expanded, checked, accepted)
        reasons = {r.index: r.reason for r in rejected}
        assert [row["failure_reason"] for row in rows] == [None, reasons.get(1)], depth


def test_a_single_event_route_keeps_the_write_key_of_a_too_deep_event() -> None:
    body = event_with(nested(3_000), writeKey="wk_1")
    checked, accepted, rejected = ingest(body, "track")
    assert checked.write_key == "wk_1"
    assert (accepted, [r.reason for r in rejected]) == (0, ["too_deep"])
    assert [row["failure_reason"] for row in expanded(checked, accepted)] == ["too_deep"]


def test_a_too_deep_batch_context_refuses_the_request_with_a_clear_error() -> None:
    with pytest.raises(IngestError) as refused:
        check_request(batch(encode(OK), context=nested(3_000)), None, LIMITS)
    assert (refused.value.status, refused.value.code) == (400, "too_deep")


def test_strings_holding_brackets_and_escapes_do_not_confuse_the_depth_scan() -> None:
    tricky = encode({"s": '}]}"\\"{[{', "t": "\\", "u": ["]"]})
    body = batch(event_with(tricky), event_with(nested(2_000)), event_with(tricky))
    _, accepted, rejected = ingest(body)
    assert accepted == 2
    assert [(r.index, r.reason) for r in rejected] == [(1, "too_deep")]


# --- numbers out of range -----------------------------------------------------------------


@pytest.mark.parametrize("number", [b"1e400", b"-1E+999", b"1" + b"0" * 400])
def test_a_number_beyond_a_double_is_kept_as_sent_next_to_a_context_ip(number: bytes) -> None:
    event = event_with(b'{"x":' + number + b"}", context={"ip": "203.0.113.77"})
    checked, accepted, rejected = ingest(batch(encode(OK), event))
    assert (accepted, rejected) == (2, [])
    rows = expanded(checked, accepted)
    assert msgspec.json.decode(rows[1]["properties"].replace(number.decode(), '"n"')) == {"x": "n"}
    assert number.decode() in rows[1]["properties"]
    assert "203.0.113.77" not in stored_text(checked, rows)


@pytest.mark.parametrize("member", [b"properties", b"context", b"extraField"])
def test_an_integer_no_decoder_reads_is_kept_as_sent_next_to_a_context_ip(member: bytes) -> None:
    huge = b"1" + b"0" * 5_000
    event = b'{"type":"track","event":"E","userId":"u2","context":{"ip":"203.0.113.77"'
    if member == b"context":
        event += b',"n":' + huge + b"}"
    else:
        event += b'},"' + member + b'":{"n":' + huge + b"}"
    checked, accepted, rejected = ingest(batch(encode(OK), event + b"}"))
    assert (accepted, rejected) == (2, [])
    rows = expanded(checked, accepted)
    assert [row["failure_reason"] for row in rows] == [None, None]
    assert huge.decode() in repr(rows[1])
    assert "203.0.113.77" not in stored_text(checked, rows)
    assert "203.0.113.0" in rows[1]["context"]


@pytest.mark.parametrize("value", [b"1e400", b"1" + b"0" * 5_000])
def test_an_identifier_out_of_range_is_rejected_with_a_typed_reason(value: bytes) -> None:
    event = b'{"type":"track","event":"E","userId":' + value + b"}"
    _, accepted, rejected = ingest(batch(encode(OK), event))
    assert accepted == 1
    assert [(r.index, r.reason) for r in rejected] == [(1, "number_out_of_range")]


@pytest.mark.parametrize(
    "score", [b"1e400", b"-1e400", b"1" + b"0" * 400, b"1" + b"0" * 5_000, b"true", b'"9"']
)
def test_a_survey_score_out_of_range_is_an_invalid_survey_response(score: bytes) -> None:
    properties = b'{"survey_id":"s","response_id":"r","kind":"nps","score":' + score + b"}"
    event = event_with(properties, event="Survey Responded")
    _, accepted, rejected = ingest(batch(encode(OK), event))
    assert accepted == 1
    assert [(r.index, r.reason) for r in rejected] == [(1, "invalid_survey_response")]
    assert "score" in rejected[0].detail or "number" in rejected[0].detail


# --- repeated keys ------------------------------------------------------------------------


REPEATS = {
    "event context": b'{"type":"track","event":"E","userId":"u","context":{"ip":"203.0.113.77"},'
    b'"context":{"page":{"path":"/"}}}',
    "ip inside context": b'{"type":"track","event":"E","userId":"u",'
    b'"context":{"ip":"203.0.113.77","ip":"198.51.100.9"}}',
    "escaped repeat": b'{"type":"track","event":"E","userId":"u",'
    b'"context":{"\\u0069p":"203.0.113.77"},"context":{}}',
    "failed event": b'{"type":"track","userId":"u","context":{"ip":"203.0.113.77"},"context":{}}',
    "then null": b'{"type":"track","event":"E","userId":"u","context":{"ip":"203.0.113.77"},'
    b'"context":null}',
}


@pytest.mark.parametrize("event", REPEATS.values(), ids=REPEATS.keys())
@pytest.mark.parametrize("route", [None, "track"])
def test_a_repeated_key_never_carries_an_address_into_storage(
    event: bytes, route: str | None
) -> None:
    body = batch(encode(OK), event) if route is None else event
    checked, accepted, rejected = ingest(body, route)
    rows = expanded(checked, accepted)
    assert len(rows) == checked.events == accepted + len(rejected)
    stored = stored_text(checked, rows)
    assert "203.0.113.77" not in stored and "198.51.100.9" not in stored


def test_a_repeated_batch_context_never_carries_an_address_into_storage() -> None:
    body = (
        b'{"context":{"ip":"203.0.113.77"},"context":{"locale":"en"},"batch":['
        + encode(OK)
        + b',{"type":"track","userId":"u"}]}'
    )
    checked, accepted, _ = ingest(body)
    assert accepted == 1
    assert "203.0.113.77" not in stored_text(checked, expanded(checked, accepted))


# --- U+0000 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["messageId", "userId", "anonymousId", "groupId", "previousId", "event", "name", "type"],
)
def test_nul_in_an_identifier_or_name_rejects_the_event_naming_the_field(field: str) -> None:
    event = {"type": "group", "userId": "u", "anonymousId": "a", "groupId": "g", "name": "n"}
    event |= {"previousId": "p", "event": "E", field: f"x\0{field}"}
    checked, accepted, rejected = ingest(batch(encode(OK), encode(event)))
    assert accepted == 1
    assert [(r.index, r.reason) for r in rejected] == [(1, "invalid_character")]
    assert field in rejected[0].detail and "U+0000" in rejected[0].detail
    assert "\0" not in rejected[0].messageId
    rows = expanded(checked, accepted)
    assert [row["failure_reason"] for row in rows] == [None, "invalid_character"]


@pytest.mark.parametrize("key", ["survey_id", "response_id"])
def test_nul_in_a_survey_id_rejects_the_response(key: str) -> None:
    properties = {"survey_id": "s", "response_id": "r", "kind": "nps", "score": 9, key: "a\0b"}
    event = encode({**OK, "event": "Survey Responded", "properties": properties})
    _, accepted, rejected = ingest(batch(encode(OK), event))
    assert accepted == 1
    assert [(r.index, r.reason) for r in rejected] == [(1, "invalid_character")]
    assert key in rejected[0].detail


def test_nul_in_a_context_group_id_rejects_the_event() -> None:
    event = encode({**OK, "messageId": "m2", "context": {"groupId": "acct\0"}})
    _, accepted, rejected = ingest(batch(encode(OK), event))
    assert accepted == 1
    assert [(r.index, r.reason) for r in rejected] == [(1, "invalid_character")]


def test_nul_in_free_form_json_is_kept_as_sent() -> None:
    event = encode(
        {
            **OK,
            "messageId": "m2",
            "properties": {"note\0": "a\0b"},
            "traits": {"x": "\0"},
            "context": {"page": {"title": "\0"}},
            "integrations": {"\0": True},
            "extraField": "\0",
        }
    )
    checked, accepted, rejected = ingest(batch(encode(OK), event))
    assert (accepted, rejected) == (2, [])
    rows = expanded(checked, accepted)
    assert msgspec.json.decode(rows[1]["properties"]) == {"note\0": "a\0b"}
    assert msgspec.json.decode(rows[1]["extra"]) == {"extraField": "\0"}


def test_an_unpaired_surrogate_refuses_the_body_as_invalid_json() -> None:
    with pytest.raises(IngestError) as refused:
        check_request(rb'{"batch":[{"type":"track","event":"E","userId":"\ud800"}]}', None, LIMITS)
    assert (refused.value.status, refused.value.code) == (400, "invalid_json")


# --- Survey Responded without response_id -------------------------------------------------


def test_a_survey_response_without_response_id_is_accepted() -> None:
    properties = {"survey_id": "s", "kind": "nps", "score": 9}
    event = encode({**OK, "event": "Survey Responded", "properties": properties})
    checked, accepted, rejected = ingest(batch(event))
    assert (accepted, rejected) == (1, [])
    assert survey_response_problem(encode(properties)) is None
    (row,) = expanded(checked, accepted)
    assert row["failure_reason"] is None and row["message_id"] == "ok-1"


def test_reference_path_never_raises_on_what_the_fast_path_defused() -> None:
    body = batch(encode(OK), event_with(nested(3_000)))
    checked = check_request(body, None, LIMITS)
    processed = process_events(
        parse_batch(checked.body, LIMITS),
        project_id="p",
        received_at_us=RECEIVED,
        client_ip=None,
        limits=LIMITS,
    )
    assert processed.accepted == 1
    assert [(r.index, r.reason) for r in processed.rejected] == [(1, "too_deep")]


# --- the depth scan -----------------------------------------------------------------------


def naive_deep_spans(body: bytes, level: int, threshold: int) -> list[tuple[int, int]]:
    """The depth scan one byte at a time, as the definition reads."""
    spans, depth, deepest, start, in_string, escaped = [], 0, 0, 0, False, False
    for index, byte in enumerate(body):
        char = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
            if depth == level:
                start, deepest = index, depth
            deepest = max(deepest, depth)
        elif char in "}]":
            if depth == level and deepest - level >= threshold:
                spans.append((start, index + 1))
            depth -= 1
    return spans


spaces = st.sampled_from([b"", b" ", b"\n\t "])
keys = st.sampled_from(
    [b'"a"', b'"{"', b'"a["', b'"\\""', b'"\\\\"', b'"}]"', b'"k\\u0069"', b'""', b'"x:{"']
)


@st.composite
def scan_bodies(draw: st.DrawFn) -> bytes:
    def value(depth: int) -> bytes:
        if depth == 0:
            return draw(st.sampled_from([b"1", b'"x{"', b'"\\\\"', b"[]", b"{}", b"null"]))
        space = draw(spaces)
        inner = value(depth - 1)
        if draw(st.booleans()):
            sibling = draw(st.sampled_from([b"", b'"s":"]}",', b'"t":{"u":[1,{}]},']))
            return b"{" + space + sibling + draw(keys) + space + b":" + space + inner + b"}"
        before = draw(st.sampled_from([b"", b"1,", b'"[",', b"true, -2.5e3 ,", b"[[]],"]))
        return b"[" + space + before + inner + space + b"]"

    events = [value(draw(st.integers(0, 100))) for _ in range(draw(st.integers(1, 4)))]
    return b'{"batch":[' + b",".join(events) + b"]}"


@settings(max_examples=300, deadline=None)
@given(scan_bodies())
def test_the_depth_scan_finds_what_a_byte_by_byte_scan_finds(body: bytes) -> None:
    msgspec.json.decode(body)  # the generator writes valid JSON
    assert _deep_spans(body, 3) == naive_deep_spans(body, 3, _SCAN_DEPTH)


# --- times outside what a datetime holds --------------------------------------------------


@pytest.mark.parametrize(
    "times",
    [
        {"timestamp": "0001-01-01T00:00:00+23:59"},
        {"timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"},
        {"originalTimestamp": "9999-12-31T23:59:59-23:59", "sentAt": "0001-01-01T00:00:00+23:00"},
    ],
)
def test_times_at_the_edge_of_the_calendar_are_stored_as_readable_datetimes(
    times: dict[str, str],
) -> None:
    checked, accepted, rejected = ingest(batch(encode(OK), encode({**OK, **times})))
    assert (accepted, rejected) == (2, [])
    rows = expanded(checked, accepted)  # converts every stored time back to a datetime
    assert all(row["failure_reason"] is None for row in rows)
    assert all(1 <= row["timestamp"].year <= 9999 for row in rows)


def test_nul_in_a_type_the_single_event_route_ignores_does_not_reject_the_event() -> None:
    _, accepted, rejected = ingest(encode({**OK, "type": "x\0"}), "track")
    assert (accepted, rejected) == (1, [])

"""The ingest decoder: every event is either a valid row or a failed row; nothing is dropped."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.ingest import IngestError, Limits, parse_batch, parse_single, process_events
from cxloop.wal import WAL_SCHEMA, field_index, rows_to_batch

RECEIVED = 1_795_428_000_000_000  # 2026-11-23T10:00:00Z
LIMITS = Limits()
COL = {f.name: field_index(f.name) for f in WAL_SCHEMA}


def run(events: list[Any], **envelope: Any) -> Any:
    body = msgspec.json.encode({"batch": events, **envelope})
    return process_events(
        parse_batch(body, LIMITS),
        project_id="prj_1",
        received_at_us=RECEIVED,
        client_ip="198.51.100.23",
        limits=LIMITS,
    )


def col(row: tuple[Any, ...], name: str) -> Any:
    return row[COL[name]]


def track(**fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Report Exported",
        "userId": "u1",
        "messageId": "m1",
        **fields,
    }


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "track", "event": "x"}, "missing_identity"),
        ({"type": "track", "userId": "u"}, "missing_event"),
        ({"type": "track", "userId": "u", "event": ""}, "missing_event"),
        ({"type": "group", "userId": "u"}, "missing_group_id"),
        ({"type": "alias", "userId": "u"}, "missing_previous_id"),
        ({"type": "purchase", "userId": "u"}, "invalid_type"),
        ({"userId": "u"}, "invalid_type"),
        ([1, 2], "not_an_object"),
        ("text", "not_an_object"),
        (track(timestamp="yesterday"), "invalid_timestamp"),
        (track(sentAt=12), "invalid_timestamp"),
        (track(properties=[1]), "invalid_field"),
        (track(traits="x"), "invalid_field"),
        (track(userId={"a": 1}), "invalid_field"),
        (track(event="Survey Responded", properties={"survey_id": "s"}), "invalid_survey_response"),
        (
            track(
                event="Survey Responded",
                properties={"survey_id": "s", "response_id": "r", "kind": "nps", "score": 11},
            ),
            "invalid_survey_response",
        ),
        (
            track(
                event="Survey Responded",
                properties={"survey_id": "s", "response_id": "r", "kind": "csat", "score": 0},
            ),
            "invalid_survey_response",
        ),
        (
            track(
                event="Survey Responded",
                properties={"survey_id": "s", "response_id": "r", "kind": "stars", "score": 3},
            ),
            "invalid_survey_response",
        ),
        (track(extra_field=1, timestamp="nope"), "invalid_timestamp"),
        (track(properties={"x": "y" * 33_000}), "event_too_large"),
    ],
)
def test_invalid_events_are_kept_with_a_typed_reason(event: Any, reason: str) -> None:
    result = run([track(messageId="ok"), event])
    assert result.accepted == 1
    assert [(r.index, r.reason) for r in result.rejected] == [(1, reason)]
    failed = result.rows[1]
    assert col(failed, "failure_reason") == reason
    assert col(failed, "failure_detail")
    assert col(failed, "raw")  # the raw event is kept for inspection and replay
    assert col(failed, "received_at") == RECEIVED
    rows_to_batch(result.rows)  # both kinds fit the WAL schema


@pytest.mark.parametrize(
    "event",
    [
        {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}},
        {"type": "group", "userId": "u1", "groupId": "acct_9", "traits": {"plan": "pro"}},
        {"type": "page", "anonymousId": "a1", "name": "Home"},
        {"type": "screen", "userId": 42, "name": "Settings"},
        {"type": "alias", "userId": "u2", "previousId": "a1"},
        track(properties=None),
        track(userId=12.0),
        track(
            event="Survey Responded",
            properties={"survey_id": "s", "response_id": "r", "kind": "thumbs", "score": 1},
        ),
        track(
            event="Survey Responded",
            properties={
                "survey_id": "s",
                "response_id": "r",
                "kind": "nps",
                "score": 0,
                "comment": "太慢了",
                "partial": False,
            },
        ),
    ],
)
def test_valid_events(event: dict[str, Any]) -> None:
    result = run([event])
    assert result.rejected == []
    assert result.accepted == 1
    assert col(result.rows[0], "failure_reason") is None


def test_numeric_ids_become_text() -> None:
    row = run([track(userId=42, messageId=7)]).rows[0]
    assert col(row, "user_id") == "42"
    assert col(row, "message_id") == "7"


def test_unknown_fields_are_kept_not_dropped() -> None:
    row = run([track(_metadata={"bundled": ["x"]}, customField=5)]).rows[0]
    assert msgspec.json.decode(col(row, "extra")) == {
        "_metadata": {"bundled": ["x"]},
        "customField": 5,
    }
    assert col(row, "failure_reason") is None


def test_properties_and_traits_are_stored_as_sent() -> None:
    props = {"feature": "export", "nested": {"a": [1, 2, {"b": None}]}, "中文": "好"}
    row = run([track(properties=props)]).rows[0]
    assert msgspec.json.decode(col(row, "properties")) == props


def test_batch_context_and_integrations_are_merged_event_wins() -> None:
    result = run(
        [track(context={"locale": "zh-CN"}), track(messageId="m2")],
        context={"locale": "en-US", "library": {"name": "lib"}},
        integrations={"All": True},
    )
    first, second = (msgspec.json.decode(col(r, "context")) for r in result.rows)
    assert first["locale"] == "zh-CN" and first["library"] == {"name": "lib"}
    assert second["locale"] == "en-US"
    assert msgspec.json.decode(col(result.rows[1], "integrations")) == {"All": True}


def test_ip_is_anonymised_from_context_or_request() -> None:
    result = run([track(context={"ip": "203.0.113.99"}), track(messageId="m2")])
    assert msgspec.json.decode(col(result.rows[0], "context"))["ip"] == "203.0.113.0"
    assert msgspec.json.decode(col(result.rows[1], "context"))["ip"] == "198.51.100.0"


def test_ip_in_a_failed_event_is_anonymised_too() -> None:
    result = run([{"type": "track", "userId": "u", "context": {"ip": "203.0.113.99"}}])
    raw = col(result.rows[0], "raw")
    assert "203.0.113.99" not in raw and "203.0.113.0" in raw


def test_account_attribution_from_context_group_id() -> None:
    result = run(
        [
            track(context={"groupId": "acct_1"}),
            {"type": "group", "userId": "u1", "groupId": "acct_2", "messageId": "g"},
        ]
    )
    assert [col(r, "group_id") for r in result.rows] == ["acct_1", "acct_2"]


def test_skew_correction_uses_batch_sent_at() -> None:
    # Client clock 1 h fast: event at 09:59 client time, sent at 11:00 client time.
    result = run(
        [track(timestamp="2026-11-23T10:59:00Z")],
        sentAt="2026-11-23T11:00:00Z",
    )
    row = result.rows[0]
    assert col(row, "timestamp") == RECEIVED - 60_000_000
    assert col(row, "original_timestamp") == RECEIVED + 3_540_000_000
    assert col(row, "sent_at") == RECEIVED + 3_600_000_000


def test_missing_message_id_is_derived_deterministically() -> None:
    event = {"type": "track", "event": "x", "userId": "u"}
    first = col(run([event]).rows[0], "message_id")
    again = col(run([event]).rows[0], "message_id")
    other = col(run([{**event, "userId": "v"}]).rows[0], "message_id")
    assert first == again != other
    assert first.startswith("cxd-")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"batch": [{"type": "track", "properties": {"x": "\xff\xfe"}}]}', 400, "invalid_json"),
        (b"[]", 400, "invalid_batch"),
        (b'{"events": []}', 400, "invalid_batch"),
        (b'{"batch": {}}', 400, "invalid_batch"),
        (b'{"batch": [], "sentAt": "soon"}', 400, "invalid_batch"),
    ],
)
def test_bad_requests(body: bytes, status: int, code: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_batch(body, LIMITS)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.message


@pytest.mark.parametrize(("count", "ok"), [(2500, True), (2501, False)])
def test_batch_event_limit_boundary(count: int, ok: bool) -> None:
    body = msgspec.json.encode({"batch": [{"type": "page", "userId": "u"}] * count})
    if ok:
        assert len(parse_batch(body, LIMITS).events) == count
    else:
        with pytest.raises(IngestError) as caught:
            parse_batch(body, LIMITS)
        assert caught.value.status == 413


def _event_of_size(size: int) -> bytes:
    base = msgspec.json.encode(track(properties={"pad": ""}))
    return msgspec.json.encode(track(properties={"pad": "x" * (size - len(base))}))


@pytest.mark.parametrize(("size", "ok"), [(32 * 1024, True), (32 * 1024 + 1, False)])
def test_event_size_limit_boundary(size: int, ok: bool) -> None:
    raw = _event_of_size(size)
    assert len(raw) == size
    body = b'{"batch":[' + raw + b"]}"
    result = process_events(
        parse_batch(body, LIMITS),
        project_id="p",
        received_at_us=RECEIVED,
        client_ip=None,
        limits=LIMITS,
    )
    assert (result.accepted == 1) is ok
    if ok:
        parse_single(raw, "track", LIMITS)
    else:
        assert result.rejected[0].reason == "event_too_large"
        with pytest.raises(IngestError) as caught:
            parse_single(raw, "track", LIMITS)
        assert caught.value.status == 413


def test_single_route_implies_the_type_and_reads_the_body_write_key() -> None:
    body = msgspec.json.encode({"event": "x", "userId": "u", "writeKey": "wk_1"})
    request = parse_single(body, "track", LIMITS)
    assert request.write_key == "wk_1"
    result = process_events(
        request, project_id="p", received_at_us=RECEIVED, client_ip=None, limits=LIMITS
    )
    assert col(result.rows[0], "type") == "track"
    assert col(result.rows[0], "extra") is None  # the credential is not stored


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "group", "page", "screen", "alias", "x"]),
        "userId": st.one_of(st.text(max_size=5), st.integers(), st.none()),
        "anonymousId": st.text(max_size=5),
        "event": st.text(max_size=5),
        "groupId": st.text(max_size=5),
        "previousId": st.text(max_size=5),
        "messageId": st.text(max_size=8),
        "properties": json_values,
        "traits": json_values,
        "context": json_values,
        "timestamp": st.one_of(st.text(max_size=5), st.just("2026-01-01T00:00:00Z")),
        "unknown": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(event_like, json_values), max_size=20))
def test_every_event_is_accounted_for(events: list[Any]) -> None:
    result = run(events)
    assert len(result.rows) == len(events)
    assert result.accepted + len(result.rejected) == len(events)
    rejected = {r.index for r in result.rejected}
    for index, row in enumerate(result.rows):
        assert (col(row, "failure_reason") is not None) == (index in rejected)
        assert col(row, "message_id")
    batch = rows_to_batch(result.rows)
    assert batch.num_rows == len(events)

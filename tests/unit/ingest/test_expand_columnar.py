"""The columnar expansion over runs of logged requests: every row as the reference path's."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.ingest import Limits, parse_batch, parse_single, process_events
from cxloop.ingest import expand as expand_module
from cxloop.ingest.enrich import splice_ip
from cxloop.ingest.expand import expand_requests
from cxloop.ingest.timestamps import (
    MAX_US,
    MIN_US,
    skew_corrected_timestamp,
    skew_corrected_timestamps,
)
from cxloop.wal import REQUEST_SCHEMA, EventRow, RequestRow, rows_to_batch

LIMITS = Limits()

_times = st.sampled_from(
    [
        "2026-11-23T10:00:00.123Z",
        "2026-11-23T18:00:00.5+08:00",
        "2026-11-23T10:00:00",  # no offset: taken as UTC
        "2026-11-25T10:00:00Z",  # more than 23 h ahead of receivedAt
        "0001-01-01T00:00:00+23:59",  # year 0 in UTC
        "9999-12-31T23:59:59-23:00",  # past year 9999 in UTC
        "1970-01-01T00:00:00Z",
    ]
)
_contexts: st.SearchStrategy[Any] = st.one_of(
    st.just("absent"),
    st.none(),
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "groupId": st.one_of(st.sampled_from(["", "acct_1"]), st.integers(-5, 10**30)),
            "ip": st.sampled_from(["203.0.113.7", "not an address"]),
            "locale": st.sampled_from(["en-US", "zh-CN"]),
            "page": st.fixed_dictionaries({"path": st.just("/app")}),
        },
    ),
)
_ids = st.sampled_from(["", "u1", "名前"])
_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["track", "page", "identify", "group", "screen", "alias"]),
        "context": _contexts,
    },
    optional={
        "userId": _ids,
        "anonymousId": _ids,
        "groupId": _ids,
        "previousId": _ids,
        "event": st.sampled_from(["Feature Used", ""]),
        "name": st.sampled_from(["Home", ""]),
        "timestamp": _times,
        "originalTimestamp": _times,
        "sentAt": _times,
        "properties": st.one_of(st.none(), st.just({"a": 1})),
        "traits": st.one_of(st.none(), st.just({"plan": "team"})),
        "integrations": st.one_of(st.none(), st.just({"All": False})),
    },
)
_requests = st.fixed_dictionaries(
    {
        "events": st.lists(_events, min_size=0, max_size=6),
        "single": st.booleans(),
        "client_ip": st.sampled_from([None, "198.51.100.0", "2001:db8::"]),
        # Whitespace where JSON allows it, after a context's "{" above all.
        "spaced": st.booleans(),
        "numeric_id": st.booleans(),  # a number as userId: the reference path's
    },
    optional={
        "batch_context": st.just({"locale": "en-GB", "groupId": "acct_b"}),
        "batch_integrations": st.just({"Segment.io": True}),
        "batch_sent_at": _times,
    },
)


def _body(request: dict[str, Any], index: int) -> tuple[str | None, bytes]:
    events = []
    for number, drawn in enumerate(request["events"]):
        event = {key: value for key, value in drawn.items() if value != "absent"}
        event["messageId"] = f"m{index}-{number}"
        events.append(event)
    if request["numeric_id"] and events:
        events[0]["userId"] = 42
    if request["single"] and events:
        event = events[0]
        route = str(event.pop("type"))
        body = msgspec.json.encode(event)
    else:
        route = None
        envelope: dict[str, Any] = {"batch": events}
        for key, name in (
            ("batch_context", "context"),
            ("batch_integrations", "integrations"),
            ("batch_sent_at", "sentAt"),
        ):
            if key in request:
                envelope[name] = request[key]
        body = msgspec.json.encode(envelope)
    if request["spaced"]:
        body = body.replace(b'"context":{', b'"context":{ \n\t').replace(b"}", b" }")
    return route, body


def _reference(route: str | None, body: bytes, received: int, ip: str | None) -> list[EventRow]:
    parsed = parse_batch(body, LIMITS) if route is None else parse_single(body, route, LIMITS)
    return process_events(
        parsed, project_id="prj", received_at_us=received, client_ip=ip, limits=LIMITS
    ).rows


@settings(max_examples=300, deadline=None)
@given(st.lists(_requests, min_size=1, max_size=6))
def test_a_run_of_logged_requests_expands_to_the_reference_rows_in_the_logs_order(
    requests: list[dict[str, Any]],
) -> None:
    logged, expected = [], []
    for index, request in enumerate(requests):
        route, body = _body(request, index)
        received = 1_795_000_000_000_000 + index * 1_000  # 2026-11-18, a ms apart
        rows = _reference(route, body, received, request["client_ip"])
        accepted = sum(row.failure_reason is None for row in rows)
        logged.append(
            RequestRow(
                "prj", received, request["client_ip"], route, body, len(rows), accepted, 32768
            )
        )
        expected += rows
    table = expand_requests(pa.Table.from_batches([rows_to_batch(logged, REQUEST_SCHEMA)]))
    assert table.num_rows == len(expected)
    assert table.column(0).num_chunks <= 1
    assert table.to_pylist() == rows_to_batch(expected).to_pylist()


def test_runs_between_reference_requests_keep_the_order_and_take_the_columnar_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "cxloop.ingest")
    bodies = [
        msgspec.json.encode({"batch": [{"type": "track", "event": "E", "messageId": f"{i}-{j}",
                                        "userId": j if i == 2 else "u"} for j in range(3)]})
        for i in range(5)
    ]  # fmt: skip
    referenced: list[bytes] = []
    original = expand_module._expand_reference

    def spy(logged: RequestRow) -> list[EventRow]:
        referenced.append(logged.body)
        return original(logged)

    monkeypatch.setattr(expand_module, "_expand_reference", spy)
    # Request 2 has numeric userIds, request 4 an ack that disagrees: both by reference.
    logged = [
        RequestRow("prj", i, "198.51.100.0", None, body, 3, 2 if i == 4 else 3, 32768)
        for i, body in enumerate(bodies)
    ]
    table = expand_requests(pa.Table.from_batches([rows_to_batch(logged, REQUEST_SCHEMA)]))
    assert referenced == [bodies[2], bodies[4]]
    assert table.column("message_id").to_pylist() == [
        f"{i}-{j}" for i in range(5) for j in range(3)
    ]
    assert table.column("user_id").to_pylist()[6:9] == ["0", "1", "2"]
    assert table.column("context").to_pylist()[:1] == ['{"ip":"198.51.100.0"}']


def test_a_table_sliced_out_of_a_segment_reads_its_own_bodies() -> None:
    bodies = [
        msgspec.json.encode({"batch": [{"type": "page", "messageId": f"p{i}"}]}) for i in range(6)
    ]
    logged = [RequestRow("prj", i, None, None, body, 1, 1, 32768) for i, body in enumerate(bodies)]
    whole = pa.Table.from_batches([rows_to_batch(logged[:3], REQUEST_SCHEMA),
                                   rows_to_batch(logged[3:], REQUEST_SCHEMA)])  # fmt: skip
    table = expand_requests(whole.slice(2, 3))
    assert table.column("message_id").to_pylist() == ["p2", "p3", "p4"]


_micros = st.one_of(st.none(), st.integers(MIN_US, MAX_US))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, MAX_US), _micros, _micros), min_size=1, max_size=20))
def test_skew_correction_over_columns_is_the_scalar_correction(
    times: list[tuple[int, int | None, int | None]],
) -> None:
    received, original, sent = (pa.array(column, pa.int64()) for column in zip(*times, strict=True))
    assert skew_corrected_timestamps(received, original, sent).to_pylist() == [
        skew_corrected_timestamp(*row) for row in times
    ]


def test_the_address_is_spliced_into_contexts_as_the_reference_path_does() -> None:
    contexts = pa.array([b'{"a":1}', b'{ \n"a":1}', b"{}", b"{\t}", b'{"b":2}'], pa.binary())
    prefixes = pa.array([b'{"ip":"x"'] * 4 + [None], pa.binary())
    assert splice_ip(contexts, prefixes).to_pylist() == [
        b'{"ip":"x","a":1}',
        b'{"ip":"x","a":1}',
        b'{"ip":"x"}',
        b'{"ip":"x"}',
        b'{"b":2}',
    ]


def test_bodies_of_another_binary_type_are_read_the_same() -> None:
    bodies = [
        msgspec.json.encode({"batch": [{"type": "page", "messageId": f"p{i}"}]}) for i in range(3)
    ]
    logged = [RequestRow("prj", i, None, None, body, 1, 1, 32768) for i, body in enumerate(bodies)]
    table = pa.Table.from_batches([rows_to_batch(logged, REQUEST_SCHEMA)])
    large = table.set_column(
        4, pa.field("body", pa.large_binary()), table.column("body").cast(pa.large_binary())
    )
    assert expand_requests(large).equals(expand_requests(table))
    assert expand_requests(large).column("message_id").to_pylist() == ["p0", "p1", "p2"]

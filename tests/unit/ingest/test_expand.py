"""The pipeline's expansion of logged requests into event rows."""

from __future__ import annotations

import logging

import msgspec
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.ingest import Limits, parse_batch, parse_single, process_events
from cxloop.ingest.expand import expand_requests
from cxloop.wal import REQUEST_SCHEMA, RequestRow, rows_to_batch


def _logged(*rows: RequestRow) -> pa.Table:
    return pa.Table.from_batches([rows_to_batch(list(rows), REQUEST_SCHEMA)])


def _event(message_id: str) -> dict[str, str]:
    return {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": message_id}


def test_a_reference_request_with_no_events_adds_no_rows_and_keeps_the_columns_aligned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "cxloop.ingest")
    empty = msgspec.json.encode({"batch": []})
    two = msgspec.json.encode({"batch": [_event("a"), _event("b")]})
    # accepted != events sends a request down the reference path.
    table = expand_requests(
        _logged(
            RequestRow("prj", 1, None, None, two, 2, 1, 32768),
            RequestRow("prj", 2, None, None, empty, 1, 0, 32768),
            RequestRow("prj", 3, None, None, two, 2, 2, 32768),
        )
    )
    assert table.column("message_id").to_pylist() == ["a", "b", "a", "b"]
    assert table.column("received_at").cast(pa.int64()).to_pylist() == [1, 1, 3, 3]
    assert table.column("failure_reason").to_pylist() == [None] * 4


_contexts = st.one_of(
    st.just(None),
    st.just("absent"),
    st.fixed_dictionaries(
        {},
        optional={
            # Valid events only: a U+0000 is refused at ingest (PostgreSQL cannot hold it).
            "groupId": st.one_of(
                st.text(st.characters(exclude_characters="\x00"), max_size=3),
                st.integers(-5, 10**30),
                st.none(),
            ),
            "ip": st.sampled_from(["203.0.113.0", "2001:db8::", None, "not an address"]),
            "locale": st.sampled_from(["en-US", "zh-CN"]),
            "page": st.fixed_dictionaries({"path": st.just("/app")}),
        },
    ),
)


LIMITS = Limits()


def _valid_event(index: int, event_type: str, context: object) -> dict[str, object]:
    event: dict[str, object] = {
        "type": event_type,
        "messageId": f"m{index}",
        "userId": f"u{index % 3}",
        "event": "Feature Used",
        "groupId": "g1",
        "timestamp": "2026-11-23T10:00:00.123Z",
    }
    if context != "absent":
        event["context"] = context
    return event


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["track", "page", "identify", "group"]), _contexts),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([None, "198.51.100.0", "2001:db8::"]),
    st.booleans(),
)
def test_the_columnar_path_stores_contexts_and_accounts_like_the_reference_path(
    events: list[tuple[str, object]], client_ip: str | None, single: bool
) -> None:
    # The contexts are peeked at in one decode of the body: an own ip, a groupId of any kind,
    # a null or absent context, the request's address spliced in or not, must all come out
    # exactly as the reference path stores them.
    batch = [_valid_event(i, kind, context) for i, (kind, context) in enumerate(events)]
    if single:
        route, body = batch[0].pop("type"), msgspec.json.encode(batch[0])
        request = parse_single(body, str(route), LIMITS)
    else:
        route, body = None, msgspec.json.encode({"batch": batch, "sentAt": "2026-11-23T10:00:01Z"})
        request = parse_batch(body, LIMITS)
    expected = process_events(
        request, project_id="prj", received_at_us=7, client_ip=client_ip, limits=LIMITS
    )
    events_logged = len(request.events)
    logged = RequestRow("prj", 7, client_ip, route, body, events_logged, expected.accepted, 32768)
    table = expand_requests(_logged(logged))
    assert expected.accepted == len(batch if route is None else batch[:1])  # the columnar path
    assert table.to_pylist() == rows_to_batch(expected.rows).to_pylist()

"""The pipeline's expansion of logged requests into event rows."""

from __future__ import annotations

import logging

import msgspec
import pyarrow as pa
import pytest

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

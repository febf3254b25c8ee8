"""WAL rows have names: the named tuples follow the Arrow schemas field for field."""

from __future__ import annotations

import msgspec
import pyarrow as pa

from cxloop.ingest import Limits, parse_batch, process_events
from cxloop.wal import REQUEST_SCHEMA, WAL_SCHEMA, EventRow, RequestRow, rows_to_batch


def test_the_row_names_are_the_schema_fields_in_order() -> None:
    assert EventRow._fields == tuple(WAL_SCHEMA.names)
    assert RequestRow._fields == tuple(REQUEST_SCHEMA.names)


def test_a_named_row_lands_in_the_column_of_its_name() -> None:
    row = EventRow(
        project_id="prj",
        message_id="m1",
        type="track",
        event="Signed Up",
        name=None,
        user_id="u1",
        anonymous_id=None,
        group_id="acme",
        previous_id=None,
        timestamp=2_000_000,
        original_timestamp=1_000_000,
        sent_at=None,
        received_at=3_000_000,
        properties=b'{"plan":"pro"}',
        traits=None,
        context=None,
        integrations=None,
        extra=None,
    )
    batch = rows_to_batch([row])
    for name, value in row._asdict().items():
        column = batch.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        expected = value.decode() if isinstance(value, bytes) else value
        assert column.to_pylist() == [expected], name
    assert (row.failure_reason, row.failure_detail, row.raw) == (None, None, None)


def test_the_reference_path_builds_named_rows() -> None:
    body = msgspec.json.encode(
        {
            "batch": [
                {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "ok"},
                {"type": "track", "userId": "u1", "messageId": "no-name"},
            ]
        }
    )
    limits = Limits()
    rows = process_events(
        parse_batch(body, limits),
        project_id="prj",
        received_at_us=5,
        client_ip=None,
        limits=limits,
    ).rows
    assert all(isinstance(row, EventRow) for row in rows)
    valid, failed = rows
    assert (valid.message_id, valid.event, valid.failure_reason) == ("ok", "Signed Up", None)
    assert (failed.message_id, failed.failure_reason, failed.received_at) == (
        "no-name",
        "missing_event",
        5,
    )

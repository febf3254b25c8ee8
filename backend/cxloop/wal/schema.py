"""The Arrow schemas of the write-ahead log.

Ingest logs one ``REQUEST_SCHEMA`` row per acked request: the body as received (decompressed,
IP addresses anonymised) with what is needed to turn it into events again. After the ack, the
pipeline expands each request into ``WAL_SCHEMA`` rows, one per event, valid or failed, which
is what the lake and the projections read. (Segments of ``WAL_SCHEMA`` rows are read as they
are.) Rows are named tuples in field order, ``RequestRow`` and ``EventRow`` (a test holds their
fields equal to the schemas'); ``rows_to_batch`` turns them into a record batch.
"""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa

__all__ = [
    "EVENT_LAKE_SCHEMA",
    "FAILED_LAKE_SCHEMA",
    "REQUEST_SCHEMA",
    "TIMESTAMP",
    "WAL_SCHEMA",
    "WAL_SCHEMA_VERSION",
    "EventRow",
    "JsonText",
    "RequestRow",
    "field_index",
]

WAL_SCHEMA_VERSION = 2

TIMESTAMP = pa.timestamp("us", tz="UTC")

WAL_SCHEMA = pa.schema(
    [
        pa.field("project_id", pa.string(), nullable=False),
        # Client-supplied, or derived from a hash of the raw event when absent (so replays dedupe).
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("type", pa.string()),  # track | identify | group | page | screen | alias
        pa.field("event", pa.string()),  # track event name
        pa.field("name", pa.string()),  # page / screen name
        pa.field("user_id", pa.string()),
        pa.field("anonymous_id", pa.string()),
        # Account known at ingest: groupId of a group call, else context.groupId.
        pa.field("group_id", pa.string()),
        pa.field("previous_id", pa.string()),
        # receivedAt - (sentAt - client timestamp), clamped; what every consumer should use.
        pa.field("timestamp", TIMESTAMP),
        pa.field("original_timestamp", TIMESTAMP),  # client's timestamp as sent
        pa.field("sent_at", TIMESTAMP),  # client's sentAt as sent
        pa.field("received_at", TIMESTAMP, nullable=False),
        # JSON texts, kept as the customer sent them (unknown keys included).
        pa.field("properties", pa.string()),
        pa.field("traits", pa.string()),
        pa.field("context", pa.string()),  # batch context merged in, IP anonymised
        pa.field("integrations", pa.string()),
        pa.field("extra", pa.string()),  # unknown top-level fields, as a JSON object
        # Failed events only: typed reason, human detail, and the raw event (IP anonymised).
        pa.field("failure_reason", pa.string()),
        pa.field("failure_detail", pa.string()),
        pa.field("raw", pa.string()),
    ]
)

REQUEST_SCHEMA = pa.schema(
    [
        pa.field("project_id", pa.string(), nullable=False),
        pa.field("received_at", TIMESTAMP, nullable=False),
        pa.field("client_ip", pa.string()),  # the connection's address, anonymised
        pa.field("route", pa.string()),  # the single-event route's type; null for /v1/batch
        # The JSON body as decoded (UTF-8 checked), every context.ip anonymised.
        pa.field("body", pa.binary(), nullable=False),
        pa.field("events", pa.int32(), nullable=False),
        pa.field("accepted", pa.int32(), nullable=False),  # the verdict given in the ack
        pa.field("max_event_bytes", pa.int32(), nullable=False),  # the limit it was judged by
    ]
)

# JSON text as the client sent it: bytes from ingest (viewed as string in Arrow), str elsewhere.
JsonText = bytes | str | None


class EventRow(NamedTuple):
    """One ``WAL_SCHEMA`` row: an event, valid or failed. Timestamps are epoch microseconds.

    A tuple, so ``rows_to_batch`` transposes it as fast as a plain one; the names are for
    the code that builds and reads rows."""

    project_id: str
    message_id: str
    type: str | None
    event: str | None
    name: str | None
    user_id: str | None
    anonymous_id: str | None
    group_id: str | None
    previous_id: str | None
    timestamp: int | None
    original_timestamp: int | None
    sent_at: int | None
    received_at: int
    properties: JsonText
    traits: JsonText
    context: JsonText
    integrations: JsonText
    extra: JsonText
    # Failed events only.
    failure_reason: str | None = None
    failure_detail: str | None = None
    raw: str | None = None


class RequestRow(NamedTuple):
    """One ``REQUEST_SCHEMA`` row: an acked request as the log keeps it."""

    project_id: str
    received_at: int  # epoch microseconds
    client_ip: str | None
    route: str | None
    body: bytes
    events: int
    accepted: int
    max_event_bytes: int


_FAILURE_COLUMNS = ("failure_reason", "failure_detail", "raw")

# Lake files are Hive-partitioned by project_id and date, so those are not stored in the files.
EVENT_LAKE_SCHEMA = pa.schema(
    [f for f in WAL_SCHEMA if f.name not in _FAILURE_COLUMNS and f.name != "project_id"]
)

FAILED_LAKE_SCHEMA = pa.schema(
    [
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("received_at", TIMESTAMP, nullable=False),
        pa.field("type", pa.string()),
        pa.field("failure_reason", pa.string(), nullable=False),
        pa.field("failure_detail", pa.string()),
        pa.field("raw", pa.string()),
    ]
)


def field_index(name: str) -> int:
    """Position of a column in ``WAL_SCHEMA`` (and so in an ``EventRow``)."""
    return int(WAL_SCHEMA.get_field_index(name))

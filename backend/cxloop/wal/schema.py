"""The Arrow schemas of the write-ahead log.

Ingest logs one ``REQUEST_SCHEMA`` row per acked request: the body as received (decompressed,
IP addresses anonymised) with what is needed to turn it into events again. After the ack, the
pipeline expands each request into ``WAL_SCHEMA`` rows, one per event, valid or failed, which
is what the lake and the projections read. (Segments of ``WAL_SCHEMA`` rows are read as they
are.) Rows are plain tuples in field order; ``rows_to_batch`` turns them into a record batch.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "EVENT_LAKE_SCHEMA",
    "FAILED_LAKE_SCHEMA",
    "REQUEST_SCHEMA",
    "TIMESTAMP",
    "WAL_SCHEMA",
    "WAL_SCHEMA_VERSION",
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
    """Position of a column in ``WAL_SCHEMA`` (and so in an ingest row tuple)."""
    return int(WAL_SCHEMA.get_field_index(name))

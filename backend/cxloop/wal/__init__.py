"""The write-ahead log: durable, group-committed Arrow IPC segments per worker process."""

from cxloop.wal.schema import (
    EVENT_LAKE_SCHEMA,
    FAILED_LAKE_SCHEMA,
    REQUEST_SCHEMA,
    TIMESTAMP,
    WAL_SCHEMA,
    EventRow,
    RequestRow,
    field_index,
)
from cxloop.wal.segment import (
    SegmentReadResult,
    SegmentState,
    fsync_dir,
    read_segment,
    segment_id,
    segment_state,
)
from cxloop.wal.writer import (
    RecoveryReport,
    WalOverloaded,
    WalUnavailable,
    WalWriter,
    acquire_slot,
    columns_to_batch,
    recover_slot,
    rows_to_batch,
)

__all__ = [
    "EVENT_LAKE_SCHEMA",
    "FAILED_LAKE_SCHEMA",
    "REQUEST_SCHEMA",
    "TIMESTAMP",
    "WAL_SCHEMA",
    "EventRow",
    "RecoveryReport",
    "RequestRow",
    "SegmentReadResult",
    "SegmentState",
    "WalOverloaded",
    "WalUnavailable",
    "WalWriter",
    "acquire_slot",
    "columns_to_batch",
    "field_index",
    "fsync_dir",
    "read_segment",
    "recover_slot",
    "rows_to_batch",
    "segment_id",
    "segment_state",
]

"""The Parquet lake: crash-safe compaction of WAL segments with exact dedupe, and readers."""

from cxloop.lake.compactor import (
    CompactionResult,
    compact_segment,
    owned_valid_events,
    segment_keys,
)
from cxloop.lake.dedupe import DedupeIndex, dedupe_key
from cxloop.lake.reader import (
    duckdb_events_sql,
    duckdb_failed_sql,
    events_dataset,
    read_event_ids,
)

__all__ = [
    "CompactionResult",
    "DedupeIndex",
    "compact_segment",
    "dedupe_key",
    "duckdb_events_sql",
    "duckdb_failed_sql",
    "events_dataset",
    "owned_valid_events",
    "read_event_ids",
    "segment_keys",
]

"""The Parquet lake: crash-safe compaction of WAL segments with exact dedupe, and readers."""

from cxloop.lake.compactor import (
    DEFAULT_ROW_GROUP_ROWS,
    EVENTS_STORE,
    FAILED_STORE,
    CompactionResult,
    Expand,
    compact_segment,
    compact_segments,
    owned_valid_events,
    partition_dir,
    project_dir,
    segment_keys,
)
from cxloop.lake.dedupe import Claim, DedupeIndex, DedupeIndexBusy, DedupeKey, DedupeStats, KeyKind
from cxloop.lake.reader import (
    PARTITION_SCHEMA,
    duckdb_events_sql,
    duckdb_failed_sql,
    events_dataset,
    failed_dataset,
    read_event_ids,
)

__all__ = [
    "DEFAULT_ROW_GROUP_ROWS",
    "EVENTS_STORE",
    "FAILED_STORE",
    "PARTITION_SCHEMA",
    "Claim",
    "CompactionResult",
    "DedupeIndex",
    "DedupeIndexBusy",
    "DedupeKey",
    "DedupeStats",
    "Expand",
    "KeyKind",
    "compact_segment",
    "compact_segments",
    "duckdb_events_sql",
    "duckdb_failed_sql",
    "events_dataset",
    "failed_dataset",
    "owned_valid_events",
    "partition_dir",
    "project_dir",
    "read_event_ids",
    "segment_keys",
]

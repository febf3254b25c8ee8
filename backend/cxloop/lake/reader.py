"""Reading the lake as it lies on disk: pyarrow datasets and DuckDB table expressions."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from cxloop.lake.compactor import EVENTS_STORE, FAILED_STORE
from cxloop.wal import EVENT_LAKE_SCHEMA, FAILED_LAKE_SCHEMA

__all__ = [
    "PARTITION_SCHEMA",
    "duckdb_events_sql",
    "duckdb_failed_sql",
    "events_dataset",
    "failed_dataset",
    "read_event_ids",
]

PARTITION_SCHEMA = pa.schema([("project_id", pa.string()), ("date", pa.date32())])
_PARTITIONING = ds.partitioning(PARTITION_SCHEMA, flavor="hive")


def events_dataset(lake_dir: Path) -> ds.Dataset:
    """Every valid event, with ``project_id`` (string) and ``date`` (date32) columns."""
    return _dataset(lake_dir / EVENTS_STORE, EVENT_LAKE_SCHEMA)


def failed_dataset(lake_dir: Path) -> ds.Dataset:
    """Every failed event, with ``project_id`` and ``date`` (the receive date)."""
    return _dataset(lake_dir / FAILED_STORE, FAILED_LAKE_SCHEMA)


def _dataset(root: Path, schema: pa.Schema) -> ds.Dataset:
    full_schema = pa.unify_schemas([schema, PARTITION_SCHEMA])
    if not root.is_dir():  # nothing compacted yet: an empty lake, not an error
        return ds.dataset([], format="parquet", schema=full_schema)
    # Temp files start with '.', which discovery skips (ignore_prefixes defaults to . and _).
    return ds.dataset(root, format="parquet", partitioning=_PARTITIONING, schema=full_schema)


def duckdb_events_sql(lake_dir: Path) -> str:
    """A ``read_parquet(...)`` table expression over every valid event, for a FROM clause.

    DuckDB raises when the lake has no file yet.
    """
    return _duckdb_source(lake_dir / EVENTS_STORE)


def duckdb_failed_sql(lake_dir: Path) -> str:
    """Like :func:`duckdb_events_sql`, over the failed events."""
    return _duckdb_source(lake_dir / FAILED_STORE)


def _duckdb_source(root: Path) -> str:
    # A table function's file list cannot be a bound parameter in every DuckDB version, so the
    # path (ours, not user input) goes in as a quoted literal. Explicit hive_types keep a
    # numeric-looking project id a string; union_by_name survives later schema additions.
    pattern = str(root.resolve() / "*" / "*" / "*.parquet").replace("'", "''")
    return (
        f"read_parquet('{pattern}', hive_partitioning = true, union_by_name = true, "
        "hive_types = {'project_id': VARCHAR, 'date': DATE})"
    )


def read_event_ids(lake_dir: Path, project_id: str | None = None) -> list[str]:
    """Message ids of the valid events in the lake (one project's, or all)."""
    condition = None if project_id is None else ds.field("project_id") == project_id
    table = events_dataset(lake_dir).to_table(columns=["message_id"], filter=condition)
    ids: list[str] = table.column("message_id").to_pylist()
    return ids

"""Reading the lake as it is: pyarrow datasets and DuckDB expressions."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

__all__ = ["duckdb_events_sql", "duckdb_failed_sql", "events_dataset", "read_event_ids"]

_PARTITIONING = ds.partitioning(
    pa.schema([("project_id", pa.string()), ("date", pa.date32())]), flavor="hive"
)


def events_dataset(lake_dir: Path, store: str = "events") -> ds.Dataset:
    return ds.dataset(
        lake_dir / store,
        format="parquet",
        partitioning=_PARTITIONING,
        ignore_prefixes=[".", "_"],
    )


def _duckdb_source(lake_dir: Path, store: str) -> str:
    pattern = str((lake_dir / store).resolve() / "**" / "*.parquet").replace("'", "''")
    return (
        f"read_parquet('{pattern}', hive_partitioning = true, union_by_name = true, "
        "hive_types = {'project_id': VARCHAR, 'date': DATE})"
    )


def duckdb_events_sql(lake_dir: Path) -> str:
    """A table expression for DuckDB's FROM clause over every event in the lake."""
    return _duckdb_source(lake_dir, "events")


def duckdb_failed_sql(lake_dir: Path) -> str:
    return _duckdb_source(lake_dir, "failed")


def read_event_ids(lake_dir: Path, project_id: str | None = None) -> list[str]:
    if not (lake_dir / "events").exists():
        return []
    dataset = events_dataset(lake_dir)
    filter_ = ds.field("project_id") == project_id if project_id is not None else None
    ids: list[str] = (
        dataset.to_table(columns=["message_id"], filter=filter_).column("message_id").to_pylist()
    )
    return ids

"""DuckDB connections with bounded memory, for the processes that query the lake.

DuckDB's default ``memory_limit`` is 80 % of the machine's RAM and its default ``threads`` one
per core, per connection: a health rollup or a fingerprint batch in the pipeline could take
hundreds of MB (a 3M-group aggregate: 240 MB peak RSS unbounded, 106 MB at a 32 MB limit,
spilling). :func:`duckdb_connect` opens an in-memory connection under a limit, with one
thread by default (the pipeline and the workers share a 2-core box with PostgreSQL), and
spills past the limit to ``temp_directory`` instead of failing where the operator can spill
(sorts, aggregates, joins); what cannot spill fails with DuckDB's ``OutOfMemoryException``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

__all__ = ["DUCKDB_MEMORY_LIMIT", "DUCKDB_THREADS", "duckdb_config", "duckdb_connect"]

DUCKDB_MEMORY_LIMIT = "256MB"
DUCKDB_THREADS = 1


def duckdb_config(
    *,
    memory_limit: str = DUCKDB_MEMORY_LIMIT,
    threads: int = DUCKDB_THREADS,
    temp_directory: Path | None = None,
    preserve_insertion_order: bool = True,
) -> dict[str, str | bool | int | float | list[str]]:
    """The connection settings :func:`duckdb_connect` uses. ``preserve_insertion_order=False``
    lets DuckDB stream (less memory) where a query's order does not matter: only for queries
    with their own ORDER BY, or whose callers do not depend on row order."""
    if threads < 1:
        raise ValueError(f"DuckDB needs at least one thread, not {threads}")
    if not memory_limit.strip():
        raise ValueError("a DuckDB memory_limit is a size such as '256MB'")
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "threads": threads,
        "preserve_insertion_order": preserve_insertion_order,
    }
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    return config


def duckdb_connect(
    *,
    memory_limit: str = DUCKDB_MEMORY_LIMIT,
    threads: int = DUCKDB_THREADS,
    temp_directory: Path | None = None,
    preserve_insertion_order: bool = True,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection under :func:`duckdb_config`'s settings."""
    import duckdb

    config = duckdb_config(
        memory_limit=memory_limit,
        threads=threads,
        temp_directory=temp_directory,
        preserve_insertion_order=preserve_insertion_order,
    )
    return duckdb.connect(config=config)

"""Reading the lake where it lies: pyarrow datasets and DuckDB table expressions.

Every reader takes a :class:`LakeLocation` (a ``Path`` still means a local lake). On local disk
DuckDB globs the directories itself, as before. On object storage the files are the listing's
live ones (:func:`cxloop.lake.live_files`: a merge's sources are skipped once its result is
listed), read by pyarrow (its S3 client and Parquet reader) and handed to DuckDB as Arrow
datasets (:func:`attach`, :func:`files_dataset`): DuckDB's own httpfs extension would be a
download at run time, and DuckDB reading through an fsspec wrapper of pyarrow's filesystem,
cheaper in CPU, once read the wrong column of an S3 file in a benchmark.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from cxloop.lake.compactor import EVENTS_STORE, FAILED_STORE, project_dir
from cxloop.lake.location import LakeLocation
from cxloop.lake.objects import LakeFile, as_location, live_files, superseded
from cxloop.wal import EVENT_LAKE_SCHEMA, FAILED_LAKE_SCHEMA

__all__ = [
    "PARTITION_SCHEMA",
    "attach",
    "duckdb_events_sql",
    "duckdb_failed_sql",
    "events_dataset",
    "failed_dataset",
    "files_dataset",
    "project_partitions",
    "read_event_ids",
]

PARTITION_SCHEMA = pa.schema([("project_id", pa.string()), ("date", pa.date32())])
_PARTITIONING = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
_SCHEMAS = {EVENTS_STORE: EVENT_LAKE_SCHEMA, FAILED_STORE: FAILED_LAKE_SCHEMA}
# What attach() registers an object-store lake's stores as.
_VIEWS = {EVENTS_STORE: "cxloop_lake_events", FAILED_STORE: "cxloop_lake_failed"}


def events_dataset(lake: Path | LakeLocation) -> ds.Dataset:
    """Every valid event, with ``project_id`` (string) and ``date`` (date32) columns."""
    return _dataset(as_location(lake), EVENTS_STORE, EVENT_LAKE_SCHEMA)


def failed_dataset(lake: Path | LakeLocation) -> ds.Dataset:
    """Every failed event, with ``project_id`` and ``date`` (the receive date)."""
    return _dataset(as_location(lake), FAILED_STORE, FAILED_LAKE_SCHEMA)


def _dataset(location: LakeLocation, store: str, schema: pa.Schema) -> ds.Dataset:
    full_schema = pa.unify_schemas([schema, PARTITION_SCHEMA])
    if location.local is not None:
        root = location.local / store
        if not root.is_dir():  # nothing compacted yet: an empty lake, not an error
            return ds.dataset([], format="parquet", schema=full_schema)
        # Temp files start with '.', which discovery skips (ignore_prefixes defaults to . and _).
        return ds.dataset(root, format="parquet", partitioning=_PARTITIONING, schema=full_schema)
    return files_dataset(location, store, [f.key for f in _live_store(location, store)])


def files_dataset(lake: Path | LakeLocation, store: str, keys: list[str]) -> ds.Dataset:
    """These files of ``store`` (``events`` or ``failed``) as one dataset with their
    ``project_id`` and ``date``; a column a file lacks reads as nulls."""
    location = as_location(lake)
    full_schema = pa.unify_schemas([_SCHEMAS[store], PARTITION_SCHEMA])
    if not keys:
        return ds.dataset([], format="parquet", schema=full_schema)
    return ds.dataset(
        keys,
        filesystem=location.fs,
        format="parquet",
        partitioning=_PARTITIONING,
        partition_base_dir=location.path(store),
        schema=full_schema,
    )


def _live_store(location: LakeLocation, store: str) -> list[LakeFile]:
    return [
        f
        for by_day in project_partitions(location, store).values()
        for files in by_day.values()
        for f in files
    ]


def project_partitions(
    lake: Path | LakeLocation, store: str, project_id: str | None = None
) -> dict[str, dict[date, list[LakeFile]]]:
    """The live files of a Hive-partitioned store (``events``, ``rollups/usage_user``, …) by
    project and day, sorted; one project's when ``project_id`` is given. On object storage one
    listing (paged) serves the whole store or project, not one per day."""
    location = as_location(lake)
    out: dict[str, dict[date, list[LakeFile]]] = defaultdict(dict)
    if location.local is not None:
        if project_id is None:
            directories = sorted((location.local / store).glob("project_id=*/date=*"))
        else:
            directories = sorted(project_dir(location.local, store, project_id).glob("date=*"))
        for directory in directories:
            if not directory.is_dir():
                continue
            parts = [directory.parent.name, directory.name]
            files = live_files(location, "/".join([store, *parts]))
            if files:
                project, day = _partition_values(parts)
                out[project][day] = files
        return dict(out)
    base = location.path(
        str(project_dir(Path(), store, project_id)) if project_id is not None else store
    )
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    grouped: dict[tuple[str, str], list[LakeFile]] = defaultdict(list)
    for info in location.fs.get_file_info(selector):
        if info.type != pafs.FileType.File or not info.base_name.endswith(".parquet"):
            continue
        parts = info.path.split("/")
        if len(parts) < 3 or info.base_name.startswith("."):
            continue
        project_part, day_part = parts[-3], parts[-2]
        if not (project_part.startswith("project_id=") and day_part.startswith("date=")):
            continue
        file = LakeFile(info.path, int(info.size or 0), int(info.mtime_ns or 0))
        grouped[(project_part, day_part)].append(file)
    for (project_part, day_part), files in sorted(grouped.items()):
        files.sort(key=lambda f: f.key)
        gone = superseded(location, files)
        project, day = _partition_values([project_part, day_part])
        out[project][day] = [f for f in files if f.name not in gone]
    return dict(out)


def _partition_values(parts: list[str]) -> tuple[str, date]:
    project = unquote(parts[0].split("=", 1)[1])
    return project, date.fromisoformat(parts[1].split("=", 1)[1])


def attach(db: duckdb.DuckDBPyConnection, lake: Path | LakeLocation) -> None:
    """Let ``db`` read what :func:`duckdb_events_sql` and :func:`duckdb_failed_sql` name: on
    object storage each store's live files as listed now (a no-op locally)."""
    location = as_location(lake)
    if location.local is None:
        for store, view in _VIEWS.items():
            keys = [f.key for f in _live_store(location, store)]
            db.register(view, files_dataset(location, store, keys))


def duckdb_events_sql(lake: Path | LakeLocation) -> str:
    """A ``read_parquet(...)`` table expression over every valid event, for a FROM clause
    (on object storage the dataset :func:`attach` registered in the connection).

    DuckDB raises when the lake has no file yet.
    """
    return _duckdb_source(as_location(lake), EVENTS_STORE)


def duckdb_failed_sql(lake: Path | LakeLocation) -> str:
    """Like :func:`duckdb_events_sql`, over the failed events."""
    return _duckdb_source(as_location(lake), FAILED_STORE)


def _duckdb_source(location: LakeLocation, store: str) -> str:
    # A table function's file list cannot be a bound parameter in every DuckDB version, so the
    # path (ours, not user input) goes in as a quoted literal. Explicit hive_types keep a
    # numeric-looking project id a string; union_by_name survives later schema additions.
    if location.local is None:
        return _VIEWS[store]
    source = _quoted(str((location.local / store).resolve() / "*" / "*" / "*.parquet"))
    return (
        f"read_parquet({source}, hive_partitioning = true, union_by_name = true, "
        "hive_types = {'project_id': VARCHAR, 'date': DATE})"
    )


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_event_ids(lake: Path | LakeLocation, project_id: str | None = None) -> list[str]:
    """Message ids of the valid events in the lake (one project's, or all)."""
    condition = None if project_id is None else ds.field("project_id") == project_id
    table = events_dataset(lake).to_table(columns=["message_id"], filter=condition)
    ids: list[str] = table.column("message_id").to_pylist()
    return ids

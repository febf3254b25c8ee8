"""Compaction: one sealed WAL segment → deduplicated, Hive-partitioned zstd Parquet files.

Crash safety comes from the order of work and deterministic names: keys are claimed in the
dedupe index (committed) *before* files are written; each file is named after the segment,
written to a hidden temp name, fsync-ed, renamed into place and its directory fsync-ed. A
crash anywhere means the segment is compacted again, makes the same claims, and replaces the
same files with identical content.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cxloop.lake.dedupe import DedupeIndex, dedupe_key
from cxloop.wal import (
    EVENT_LAKE_SCHEMA,
    FAILED_LAKE_SCHEMA,
    fsync_dir,
    read_segment,
    segment_id,
)

__all__ = ["CompactionResult", "compact_segment", "owned_valid_events", "segment_keys"]

EVENTS = "events"
FAILED = "failed"


@dataclass
class CompactionResult:
    segment: str
    events_written: int = 0
    failed_written: int = 0
    duplicates: int = 0
    corrupt_frames: int = 0
    files: int = 0


def segment_keys(table: pa.Table, kind: str) -> list[str]:
    projects = table.column("project_id").to_pylist()
    messages = table.column("message_id").to_pylist()
    return [dedupe_key(kind, p, m) for p, m in zip(projects, messages, strict=True)]


def compact_segment(
    path: Path,
    *,
    lake_dir: Path,
    index: DedupeIndex,
    corrupt_dir: Path,
    row_group_rows: int = 128 * 1024,
) -> CompactionResult:
    name = segment_id(path)
    read = read_segment(path)
    result = CompactionResult(segment=name, corrupt_frames=read.corrupt_frames)
    if read.corrupt_ranges:
        _quarantine(path, read.corrupt_ranges, corrupt_dir)
    table = read.table()
    if table.num_rows == 0:
        return result
    valid_mask = pc.is_null(table.column("failure_reason"))
    for kind, part in (
        (EVENTS, table.filter(valid_mask)),
        (FAILED, table.filter(pc.invert(valid_mask))),
    ):
        if part.num_rows == 0:
            continue
        owned = index.claim(
            name, segment_keys(part, kind), part.column("received_at").cast(pa.int64()).to_pylist()
        )
        kept = part.filter(pa.array(owned, type=pa.bool_()))
        result.duplicates += part.num_rows - kept.num_rows
        if kind == EVENTS:
            result.events_written += kept.num_rows
        else:
            result.failed_written += kept.num_rows
        result.files += _write_partitions(kept, kind, name, lake_dir, row_group_rows)
    return result


def owned_valid_events(path: Path, index: DedupeIndex) -> pa.Table:
    """The valid events a compacted segment put in the lake (for the projections)."""
    table = read_segment(path).table()
    table = table.filter(pc.is_null(table.column("failure_reason")))
    if table.num_rows == 0:
        return table
    mask = index.owned(segment_id(path), segment_keys(table, EVENTS))
    return table.filter(pa.array(mask, type=pa.bool_()))


def _write_partitions(
    table: pa.Table, kind: str, segment: str, lake_dir: Path, row_group_rows: int
) -> int:
    if table.num_rows == 0:
        return 0
    if kind == EVENTS:
        schema, date_column, sort_column = EVENT_LAKE_SCHEMA, "timestamp", "timestamp"
    else:
        schema, date_column, sort_column = FAILED_LAKE_SCHEMA, "received_at", "received_at"
    dates = pc.strftime(table.column(date_column), format="%Y-%m-%d")
    table = table.append_column("_date", dates)
    partitions = table.group_by(["project_id", "_date"]).aggregate([]).to_pylist()
    files = 0
    for partition in partitions:
        project_id, date = partition["project_id"], partition["_date"]
        part = table.filter(
            pc.and_(pc.equal(table.column("project_id"), project_id), pc.equal(dates, date))
        ).sort_by(sort_column)
        directory = lake_dir / kind / f"project_id={project_id}" / f"date={date}"
        _write_file(part.select(schema.names).cast(schema), directory, segment, row_group_rows)
        files += 1
    return files


def _write_file(table: pa.Table, directory: Path, segment: str, row_group_rows: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"part-{segment}.parquet"
    # A leading dot keeps half-written files out of readers' globs and dataset discovery.
    temp = directory / f".part-{segment}.parquet.tmp"
    pq.write_table(
        table,
        temp,
        compression="zstd",
        row_group_size=row_group_rows,
        write_statistics=True,
    )
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, final)
    fsync_dir(directory)


def _quarantine(path: Path, ranges: list[tuple[int, int]], corrupt_dir: Path) -> None:
    corrupt_dir.mkdir(parents=True, exist_ok=True)
    data = path.read_bytes()
    for start, end in ranges:
        (corrupt_dir / f"{segment_id(path)}-{start}.bin").write_bytes(data[start:end])

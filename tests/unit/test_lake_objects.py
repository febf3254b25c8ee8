"""Lake listing helpers on a local lake, and the object-store primitives' contracts (run on the
local file system, which pyarrow drives through the same calls)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxloop.lake import (
    LakeLocation,
    as_location,
    file_uri,
    is_merged_name,
    lake_file_name,
    list_partitions,
    live_files,
    merged_name,
    objects,
    partition_key,
)
from cxloop.lake.objects import ParallelPuts, put_parquet, superseded

PARTITION = "events/project_id=p/date=2026-12-01"


def test_names() -> None:
    assert is_merged_name(merged_name(["part-a.parquet", "part-b.parquet"]))
    assert not is_merged_name(lake_file_name("w0-01795428000000000001"))
    # A node id starting with "m" cannot pass for a merged file: a segment id holds a '-'.
    assert not is_merged_name(lake_file_name("m0123456789abcdef0123.w0-1"))
    assert lake_file_name("node-a.w0-1") == "part-node-a.w0-1.parquet"
    from datetime import date

    assert partition_key("events", "a/b", date(2026, 12, 1)) == (
        "events/project_id=a%2Fb/date=2026-12-01"
    )


def test_local_listing(tmp_path: Path) -> None:
    lake = as_location(tmp_path / "lake")
    assert lake == LakeLocation.directory(tmp_path / "lake")
    assert live_files(lake, PARTITION) == []
    assert list_partitions(lake, "events") == []
    directory = tmp_path / "lake" / PARTITION
    directory.mkdir(parents=True)
    (tmp_path / "lake" / "events/project_id=p/date=2026-12-02").mkdir()  # empty: not listed
    pq.write_table(pa.table({"x": [1]}), directory / "part-b.parquet")
    pq.write_table(pa.table({"x": [2]}), directory / "part-a.parquet")
    (directory / ".part-c.parquet.tmp").write_bytes(b"half")  # a temp: never listed
    (directory / ".hidden.parquet").write_bytes(b"")
    files = live_files(lake, PARTITION)
    assert [f.name for f in files] == ["part-a.parquet", "part-b.parquet"]
    assert files[0].key == str(directory / "part-a.parquet")
    assert file_uri(lake, files[0]) == files[0].key
    assert files[0].size == (directory / "part-a.parquet").stat().st_size
    assert list_partitions(lake, "events") == [PARTITION]


def test_superseded_needs_the_merged_file_in_the_same_listing(tmp_path: Path) -> None:
    lake = LakeLocation.directory(tmp_path)
    merged = merged_name(["part-a.parquet", "part-gone.parquet"])
    sources = json.dumps(["part-a.parquet", "part-gone.parquet"]).encode()
    put_parquet(lake, lake.path(merged), pa.table({"x": [1]}).replace_schema_metadata(
        {b"cxloop.merged_from": sources}))  # fmt: skip
    put_parquet(lake, lake.path("part-a.parquet"), pa.table({"x": [1]}))
    put_parquet(lake, lake.path("part-b.parquet"), pa.table({"x": [2]}))
    files = objects.partition_files(lake, "")
    assert superseded(lake, files) == {"part-a.parquet"}
    assert superseded(lake, [f for f in files if f.name != merged]) == set()


def test_parallel_puts_wait_and_raise_the_first_failure(tmp_path: Path) -> None:
    lake = LakeLocation.directory(tmp_path)
    with ParallelPuts(lake, concurrency=2) as puts:
        for i in range(5):
            puts.put(lake.path(f"k{i}"), pa.py_buffer(b"x" * i))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"k{i}" for i in range(5)]
    with pytest.raises(FileNotFoundError), ParallelPuts(lake) as puts:
        puts.put(lake.path("no-such-dir", "k"), pa.py_buffer(b"x"))

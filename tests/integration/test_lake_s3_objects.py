"""Listing live lake files on a real S3 API (moto): a merged file hides the sources it names."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxloop.lake import LakeLocation, finish_merges, list_partitions, live_files
from cxloop.lake.objects import put_parquet
from tests.helpers.s3 import S3Server, s3_server

PARTITION = "events/project_id=p/date=2026-12-01"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def lake(s3: S3Server) -> LakeLocation:
    return LakeLocation.object_store(s3.lake_url(), s3.endpoint_url)


def _put(lake: LakeLocation, name: str, rows: list[int], sources: list[str] | None = None) -> None:
    table = pa.table({"x": rows})
    if sources is not None:
        table = table.replace_schema_metadata({b"cxloop.merged_from": json.dumps(sources).encode()})
    put_parquet(lake, lake.path(PARTITION, name), table)


def test_live_files_skip_the_sources_of_a_present_merged_file(lake: LakeLocation) -> None:
    merged = "part-m" + "0" * 20 + ".parquet"
    _put(lake, "part-a-1.parquet", [1])
    _put(lake, "part-a-2.parquet", [2])
    _put(lake, "part-a-3.parquet", [3])
    assert [f.name for f in live_files(lake, PARTITION)] == [
        "part-a-1.parquet", "part-a-2.parquet", "part-a-3.parquet",
    ]  # fmt: skip
    # The merge's PUT is done, its DELETEs are not: readers see the merged file alone.
    _put(lake, merged, [1, 2], sources=["part-a-1.parquet", "part-a-2.parquet"])
    live = live_files(lake, PARTITION)
    assert [f.name for f in live] == ["part-a-3.parquet", merged]
    rows = sorted(
        r for f in live for r in pq.read_table(f.key, filesystem=lake.fs)["x"].to_pylist()
    )
    assert rows == [1, 2, 3]
    assert all(f.size > 0 and f.mtime_ns > 0 for f in live)
    # The next look finishes the merge.
    assert finish_merges(lake, PARTITION) == 2
    assert [f.name for f in live_files(lake, PARTITION)] == ["part-a-3.parquet", merged]
    assert list_partitions(lake, "events") == [PARTITION]
    assert list_partitions(lake, "failed") == []
    assert live_files(lake, "events/project_id=q/date=2026-12-01") == []

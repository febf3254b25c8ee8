"""The lake's writers on a real S3 API (moto): compaction, merges, erasure rewrites, recovery.

The same segments go into a local lake and an object-store lake; what readers get must be the
same, row for row. On object storage a file appears by one PUT of its final key (no temp name
is ever listed), a retry writes the same keys with the same bytes, a merge interrupted between
its PUT and its DELETEs is invisible to readers and finished on the next look.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from cxloop.ingest import events_table
from cxloop.lake import (
    DedupeIndex,
    LakeLocation,
    compact_segments,
    list_partitions,
    live_files,
    recover_lake,
    rewrite_file,
    tidy_partitions,
)
from cxloop.lake import rewrite as rewrite_module
from tests.helpers.rows import wal_row
from tests.helpers.s3 import S3Server, s3_server
from tests.helpers.segments import BASE_US, DAY_US, failed_row, segment_path, write_segment


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket_lake(s3: S3Server) -> LakeLocation:
    return LakeLocation.object_store(s3.lake_url(), s3.endpoint_url)


def _segments(wal: Path, count: int, per: int, *, overlap: int = 0) -> list[Path]:
    """``count`` segments of ``per`` events over two projects and two days; each repeats the
    last ``overlap`` events of the one before (a client's retry: duplicates to drop)."""
    paths = []
    n = 0
    for s in range(count):
        rows: list[Any] = []
        first = max(0, n - overlap) if s else 0
        for i in range(first, n + per):
            day = BASE_US + (i % 2) * DAY_US
            rows.append(wal_row(f"m{i}", f"p{i % 2}", timestamp=day, received_at=day + 1))
        rows.append(failed_row(f"f{s}", "p0", received_at=BASE_US))
        n += per
        paths.append(write_segment(segment_path(wal, s + 1), [rows]))
    return paths


def _all_keys(location: LakeLocation) -> list[str]:
    selector = pafs.FileSelector(location.root, recursive=True, allow_not_found=True)
    return sorted(
        i.path for i in location.fs.get_file_info(selector) if i.type == pafs.FileType.File
    )


def _rows(location: LakeLocation, store: str) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for partition in list_partitions(location, store):
        for file in live_files(location, partition):
            table = pq.read_table(file.key, filesystem=location.fs)
            out.extend(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))
    return sorted(out, key=repr)


def _compact(paths: list[Path], lake: Path | LakeLocation, root: Path, **kw: Any) -> Any:
    index = DedupeIndex(root / "dedupe.sqlite")
    try:
        return compact_segments(
            paths,
            expand=events_table,
            lake_dir=lake,
            index=index,
            corrupt_dir=root / "corrupt",
            row_group_rows=1000,
            **kw,
        )
    finally:
        index.close()


def test_compaction_into_s3_equals_local_and_a_retry_is_idempotent(
    tmp_path: Path, bucket_lake: LakeLocation
) -> None:
    paths = _segments(tmp_path / "wal", 3, 50, overlap=10)
    local = LakeLocation.directory(tmp_path / "lake")
    local_results = _compact(paths, local, tmp_path / "local-state")
    results = _compact(paths, bucket_lake, tmp_path / "s3-state")
    assert [r.events_written for r in results] == [r.events_written for r in local_results]
    assert sum(r.events_written for r in results) == 150  # the 20 repeats were dropped
    assert sum(r.duplicate_events for r in results) == 20
    for store in ("events", "failed"):
        assert _rows(bucket_lake, store) == _rows(local, store)
        assert list_partitions(bucket_lake, store) == list_partitions(local, store)
    keys = _all_keys(bucket_lake)
    # One object per file, at its final key: nothing hidden or temporary was ever left.
    assert all(k.rsplit("/", 1)[1].startswith("part-w0-") for k in keys), keys
    assert {str(f) for r in results for f in r.files} == set(keys)
    before = {k: bucket_lake.fs.open_input_file(k).read() for k in keys}
    # A crash before the segments were renamed: compacted again, same keys, same bytes.
    again = _compact(paths, bucket_lake, tmp_path / "s3-state")
    assert [r.events_written for r in again] == [r.events_written for r in results]
    assert {k: bucket_lake.fs.open_input_file(k).read() for k in _all_keys(bucket_lake)} == before


def test_cluster_file_names_carry_the_node(tmp_path: Path, bucket_lake: LakeLocation) -> None:
    # Two nodes whose segment ids are equal: their files must not overwrite each other.
    a = _segments(tmp_path / "wal-a", 1, 10)
    b = [write_segment(segment_path(tmp_path / "wal-b", 1), [[wal_row("other", "p0")]])]
    _compact(a, bucket_lake, tmp_path / "a", node_id="node-a")
    _compact(b, bucket_lake, tmp_path / "b", node_id="node_b")
    names = {k.rsplit("/", 1)[1] for k in _all_keys(bucket_lake)}
    segment = a[0].stem
    assert f"part-node-a.{segment}.parquet" in names
    assert f"part-node_b.{segment}.parquet" in names
    assert len(_rows(bucket_lake, "events")) == 11
    key = next(k for k in _all_keys(bucket_lake) if "node_b" in k)
    footer = pq.read_schema(key, filesystem=bucket_lake.fs).metadata
    assert footer[b"cxloop.segment"] == f"node_b.{segment}".encode()


def _small_files(tmp_path: Path, location: LakeLocation, count: int) -> list[str]:
    """``count`` one-segment compactions: that many small files in each partition."""
    for s in range(count):
        rows = [wal_row(f"s{s}-{i}", "p0", timestamp=BASE_US + s * 1000 + i) for i in range(20)]
        path = write_segment(segment_path(tmp_path / "wal", s + 1), [rows])
        _compact([path], location, tmp_path / "state")
    return list_partitions(location, "events")


def test_merge_on_s3_survives_a_crash_between_put_and_delete(
    tmp_path: Path, bucket_lake: LakeLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    (partition,) = _small_files(tmp_path, bucket_lake, 8)
    rows = _rows(bucket_lake, "events")
    assert len(rows) == 160

    class Crash(Exception):
        pass

    def crash(location: LakeLocation, keys: Any) -> None:
        raise Crash

    monkeypatch.setattr(rewrite_module, "delete_keys", crash)
    with pytest.raises(Crash):
        tidy_partitions(bucket_lake, None, min_files=8, target_bytes=1 << 30, budget_s=60)
    monkeypatch.undo()
    # The merged file and all its sources are stored; readers see the merged file alone.
    assert len(_all_keys(bucket_lake)) == 9
    (merged,) = live_files(bucket_lake, partition)
    assert merged.name.startswith("part-m")
    assert _rows(bucket_lake, "events") == rows
    table = pq.read_table(merged.key, filesystem=bucket_lake.fs)
    assert pc.all(pc.greater_equal(table["timestamp"][1:], table["timestamp"][:-1])).as_py()
    # Recovery (on start, or tidy's next look) deletes the sources.
    assert recover_lake(bucket_lake) == 8
    assert [k.rsplit("/", 1)[1] for k in _all_keys(bucket_lake)] == [merged.name]
    assert _rows(bucket_lake, "events") == rows


def test_tidy_on_s3_merges_and_finishes_an_interrupted_merge_first(
    tmp_path: Path, bucket_lake: LakeLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    (partition,) = _small_files(tmp_path, bucket_lake, 8)
    rows = _rows(bucket_lake, "events")
    real = rewrite_module.delete_keys  # type: ignore[attr-defined]
    monkeypatch.setattr(rewrite_module, "delete_keys", lambda location, keys: None)
    tidy_partitions(bucket_lake, None, min_files=8, target_bytes=1 << 30, budget_s=60)
    monkeypatch.setattr(rewrite_module, "delete_keys", real)
    report = tidy_partitions(
        bucket_lake,
        [Path(bucket_lake.path(partition))],  # as the pipeline passes them: keys as paths
        min_files=8,
        target_bytes=1 << 30,
        budget_s=60,
    )
    assert report.finished_sources == 8
    assert report.merges == 0
    assert len(_all_keys(bucket_lake)) == 1
    assert _rows(bucket_lake, "events") == rows


def test_leases_let_one_node_tidy_a_partition(tmp_path: Path, bucket_lake: LakeLocation) -> None:
    (partition,) = _small_files(tmp_path, bucket_lake, 8)
    asked: list[str] = []

    class Leases:
        def __init__(self, grant: bool) -> None:
            self.grant = grant

        @contextlib.contextmanager
        def hold(self, name: str) -> Iterator[bool]:
            asked.append(name)
            yield self.grant

    tidy = dict(min_files=8, target_bytes=1 << 30, budget_s=60)
    report = tidy_partitions(bucket_lake, None, leases=Leases(False), **tidy)  # type: ignore[arg-type]
    assert (report.merges, report.leased_elsewhere) == (0, 1)
    assert asked == [partition]
    report = tidy_partitions(bucket_lake, None, leases=Leases(True), **tidy)  # type: ignore[arg-type]
    assert (report.merges, report.files_merged, report.leased_elsewhere) == (1, 8, 0)


def test_erasure_rewrite_on_s3_puts_over_the_same_key(
    tmp_path: Path, bucket_lake: LakeLocation
) -> None:
    (partition,) = _small_files(tmp_path, bucket_lake, 2)
    first, second = live_files(bucket_lake, partition)
    schema = pq.read_schema(first.key, filesystem=bucket_lake.fs)

    def drop(ids: set[str]) -> Any:
        return lambda table: pc.invert(pc.is_in(table["message_id"], pa.array(sorted(ids))))

    result = rewrite_file(first.key, drop({"s0-3", "s0-4"}), location=bucket_lake)
    assert (result.rows_before, result.rows_kept, result.removed) == (20, 18, False)
    after = pq.read_table(first.key, filesystem=bucket_lake.fs)
    assert after.num_rows == 18 and "s0-3" not in after["message_id"].to_pylist()
    assert after.schema == schema  # metadata (the segment) and types kept
    metadata = pq.read_metadata(first.key, filesystem=bucket_lake.fs)
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert [f.key for f in live_files(bucket_lake, partition)] == [first.key, second.key]
    unchanged = rewrite_file(second.key, drop({"nobody"}), location=bucket_lake)
    assert not unchanged.changed
    gone = rewrite_file(second.key, drop({f"s1-{i}" for i in range(20)}), location=bucket_lake)
    assert gone.removed
    assert [f.key for f in live_files(bucket_lake, partition)] == [first.key]
    with pytest.raises(FileNotFoundError):
        rewrite_file(second.key, drop(set()), location=bucket_lake)

"""Rewriting lake files: exactly the unselected rows stay, atomically, and a crash leaves the old
file (plus a stale temp that readers ignore and the next rewrite or a clean removes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cxloop.ingest import events_table
from cxloop.lake import (
    DedupeIndex,
    clean_stale_temps,
    compact_segment,
    events_dataset,
    failed_dataset,
    merge_files,
    recover_merges,
    rewrite_file,
    temp_path,
)
from cxloop.lake import rewrite as rewrite_module
from tests.helpers.rows import wal_row
from tests.helpers.segments import BASE_US, failed_row, segment_path, write_segment


def compacted_lake(root: Path, rows: list[Any], row_group_rows: int = 7) -> list[Path]:
    """The compactor's own files for one segment of ``rows``."""
    index = DedupeIndex(root / "state" / "dedupe.sqlite")
    try:
        segment = write_segment(segment_path(root / "wal" / "w0", 1), [rows])
        result = compact_segment(
            segment,
            expand=events_table,
            lake_dir=root / "lake",
            index=index,
            corrupt_dir=root / "wal" / "corrupt",
            row_group_rows=row_group_rows,
        )
    finally:
        index.close()
    return list(result.files)


def subject_rows(n: int = 40) -> list[Any]:
    """Events of u0..u3 in one partition, u1 being the subject, in time order."""
    return [
        wal_row(
            f"m{i:03d}",
            user_id=f"u{i % 4}",
            anonymous_id=f"a{i % 4}",
            timestamp=BASE_US + i,
            received_at=BASE_US + i,
            properties=f'{{"feature":"f{i % 3}","n":{i}}}',
        )
        for i in range(n)
    ]


def not_u1(table: pa.Table) -> pa.Array:
    return pc.invert(pc.fill_null(pc.equal(table.column("user_id"), "u1"), False))


def test_rewrite_keeps_exactly_the_other_rows_schema_order_and_write_options(
    tmp_path: Path,
) -> None:
    (path,) = compacted_lake(tmp_path, subject_rows())
    before = pq.ParquetFile(path)
    original = before.read()
    old_meta = before.metadata

    result = rewrite_file(path, not_u1, row_group_rows=7)

    after = pq.ParquetFile(path)
    table = after.read()
    assert result.rows_before == 40 and result.rows_kept == 30 and result.rows_dropped == 10
    assert result.bytes_written == path.stat().st_size > 0
    assert table.schema.equals(original.schema, check_metadata=True)  # cxloop.segment kept
    assert table.equals(original.filter(not_u1(original)))  # values and order
    assert "u1" not in table.column("user_id").to_pylist()
    # Same choices as the compactor: row groups, compression, dictionaries, statistics, sorting.
    new_meta = after.metadata
    assert [new_meta.row_group(i).num_rows for i in range(new_meta.num_row_groups)] == [
        7, 7, 7, 7, 2
    ]  # fmt: skip
    for i in range(old_meta.num_columns):
        old, new = old_meta.row_group(0).column(i), new_meta.row_group(0).column(i)
        assert (new.compression, new.has_dictionary_page, new.is_stats_set) == (
            old.compression,
            old.has_dictionary_page,
            old.is_stats_set,
        ), old.path_in_schema
    assert new_meta.row_group(0).sorting_columns == old_meta.row_group(0).sorting_columns
    assert not temp_path(path).exists()


def test_nothing_to_drop_writes_nothing_and_all_dropped_removes_the_file(tmp_path: Path) -> None:
    (path,) = compacted_lake(tmp_path, subject_rows())
    stat = path.stat()
    unchanged = rewrite_file(path, lambda t: pa.array([True] * t.num_rows))
    assert not unchanged.changed and path.stat().st_mtime_ns == stat.st_mtime_ns

    gone = rewrite_file(path, lambda t: pa.array([False] * t.num_rows))
    assert gone.removed and gone.rows_kept == 0 and not path.exists()
    assert events_dataset(tmp_path / "lake").to_table().num_rows == 0


def test_failed_store_files_rewrite_too(tmp_path: Path) -> None:
    rows = [
        failed_row(f"f{i}", received_at=BASE_US + i, raw=f'{{"userId":"u{i % 2}"}}')
        for i in range(6)
    ]
    (path,) = compacted_lake(tmp_path, rows)
    rewrite_file(path, lambda t: pc.invert(pc.match_substring(t.column("raw"), '"u1"')))
    kept = failed_dataset(tmp_path / "lake").to_table()
    assert sorted(kept.column("message_id").to_pylist()) == ["f0", "f2", "f4"]


def test_a_crash_before_the_rename_leaves_the_old_file_and_a_temp_nobody_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (path,) = compacted_lake(tmp_path, subject_rows())
    original = path.read_bytes()

    def crash(*args: object) -> None:
        raise SystemExit("killed between temp write and rename")

    monkeypatch.setattr(rewrite_module, "os", _OsWithout(crash))
    with pytest.raises(SystemExit):
        rewrite_file(path, not_u1)
    monkeypatch.undo()

    temp = temp_path(path)
    assert path.read_bytes() == original  # the old file, whole
    assert temp.exists() and temp.name.startswith(".")  # the stale temp...
    assert events_dataset(tmp_path / "lake").to_table().num_rows == 40  # ...ignored by readers

    # The next rewrite overwrites the stale temp and publishes; a clean finds nothing left.
    rewrite_file(path, not_u1)
    assert not temp.exists()
    assert events_dataset(tmp_path / "lake").to_table().num_rows == 30
    temp.write_bytes(b"torn")  # another crash's leftover
    assert clean_stale_temps(path.parent) == 1 and not temp.exists()
    assert events_dataset(tmp_path / "lake").to_table().num_rows == 30


def test_merge_files_keeps_every_row_once(tmp_path: Path) -> None:
    (path,) = compacted_lake(tmp_path, subject_rows())
    table = pq.read_table(path)
    directory = path.parent
    parts = []
    for i in range(4):
        part = directory / f"part-small-{i}.parquet"
        pq.write_table(table.slice(i * 10, 10), part, compression="zstd")
        parts.append(part)
    path.unlink()

    target = directory / "part-merged.parquet"
    merged = merge_files(parts, target, row_group_rows=16)
    assert merged.rows_kept == 40
    assert sorted(p.name for p in directory.iterdir()) == ["part-merged.parquet"]
    assert pq.read_table(target).equals(table.replace_schema_metadata(None))
    # Nothing is left in the staging root but the old set, waiting out its grace period.
    (old,) = (tmp_path / "lake" / ".merge").glob("*.replaced-*")
    assert len(list(old.glob("*.parquet"))) == 4


def test_the_intent_file_fallback_recovers_from_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kernel cannot exchange directories, a merge publishes with an intent file."""
    monkeypatch.setattr(rewrite_module, "_EXCHANGE", None)
    (path,) = compacted_lake(tmp_path, subject_rows())
    table = pq.read_table(path)
    directory = path.parent
    path.unlink()
    target = directory / "part-merged.parquet"

    # Crash after publishing, before the sources are gone: recovery removes them.
    again = [directory / f"part-again-{i}.parquet" for i in range(2)]
    for i, part in enumerate(again):
        pq.write_table(table.slice(i * 20, 20), part)
    real_unlink = Path.unlink

    def die_on_source_unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name.startswith("part-again"):
            raise SystemExit("killed after the rename")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", die_on_source_unlink)
    with pytest.raises(SystemExit):
        merge_files(again, target)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert recover_merges(directory) == 1
    assert sorted(p.name for p in directory.iterdir()) == ["part-merged.parquet"]
    assert pq.read_table(target).num_rows == 40

    # Crash before publishing: the sources stay the truth, the temp and intent go.
    for i, part in enumerate(again):
        pq.write_table(table.slice(i * 20, 20), part)
    target.unlink()
    monkeypatch.setattr(rewrite_module, "os", _OsWithout(lambda *a: _raise()))
    with pytest.raises(SystemExit):
        merge_files(again, target)
    monkeypatch.setattr(rewrite_module, "os", os)
    assert recover_merges(directory) == 1
    assert sorted(p.name for p in directory.iterdir()) == [p.name for p in again]


def _raise() -> None:
    raise SystemExit("killed before the rename")


class _OsWithout:
    """``os`` as the rewrite module sees it, with ``replace`` swapped for a crash."""

    def __init__(self, replace: object) -> None:
        self.replace = replace

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

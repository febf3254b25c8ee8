"""The paced sink: same bytes as a plain write, synced in steps, durable on close."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxloop.lake.paced import PacedFile


def test_syncs_every_step_and_on_close(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    chunk = bytes(range(256)) * 40  # 10,240 bytes
    with PacedFile(path, sync_every=25_000) as sink:
        for _ in range(10):
            assert sink.write(chunk) == len(chunk)
        assert sink.tell() == 102_400
        steps = sink.syncs
    # 102,400 bytes in 10,240-byte writes: a sync once 25,000 have gathered (after the 3rd,
    # 6th and 9th write), then the closing fsync.
    assert steps == 3
    assert sink.syncs == 4
    assert path.read_bytes() == chunk * 10


def test_truncates_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    with PacedFile(path) as sink:
        sink.write(memoryview(b"abc"))
    assert path.read_bytes() == b"abc"


def test_a_failed_write_closes_without_syncing(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    with pytest.raises(RuntimeError), PacedFile(path) as sink:
        sink.write(b"partial")
        raise RuntimeError("encoder failed")
    assert sink.closed
    assert sink.syncs == 0


def test_parquet_through_the_sink_reads_back(tmp_path: Path) -> None:
    table = pa.table({"n": list(range(200_000)), "s": [f"v{i}" for i in range(200_000)]})
    path = tmp_path / "t.parquet"
    with PacedFile(path, sync_every=64 * 1024) as sink:
        pq.write_table(table, sink, compression="zstd", row_group_size=50_000)
    assert sink.syncs > 2
    assert pq.read_table(path).equals(table)


def test_rejects_a_step_that_is_not_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sync_every"):
        PacedFile(tmp_path / "f.bin", sync_every=0)

"""bench/bench_table_format.py at a tiny size, so it does not rot: every format on local disk
and on moto's S3, with PostgreSQL as Iceberg's catalog. Checks what the bench's findings rest
on, not its timings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("pyiceberg")
pytest.importorskip("deltalake")
pytest.importorskip("polars")

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_table_format_bench_tiny(postgres_server_url: str, tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    import bench_table_format as bench

    results = bench.main(
        [
            "--rows", "1500", "--commits", "1", "--writers", "1",
            "--small-files", "3", "--small-rows", "200",
            "--days", "2", "--files-per-day", "2", "--delete-events", "2000",
            "--subject-days", "2", "--sections", "append,compaction,delete",
            "--database-url", postgres_server_url, "--dir", str(tmp_path),
        ]
    )  # fmt: skip
    for store in ["local", "s3"]:
        for kind in ["hive", "iceberg", "delta"]:
            entry = results[store][kind]
            append = entry["append_1w"]
            assert append["rows_seen"] == append["rows_written"] == 1500, (store, kind)
            assert append["failed_commits"] == 0
            compaction = entry["compaction"]
            assert compaction["files_after"] == 1
            assert compaction["own_rows_after"] == compaction["truth_rows"]
            # A plain glob sees each format's sources and merged file together until the
            # format's maintenance removes them; cxloop's lake never does.
            expected_glob = compaction["truth_rows"] * (1 if kind == "hive" else 2)
            assert compaction["glob_rows_after"] == expected_glob, (store, kind)
            delete = entry["delete"]
            assert delete["subject_rows"] > 0
            assert delete["subject_rows_own_reader_after"] == 0
            assert delete["rows_own_reader_after"] == delete["rows"] - delete["subject_rows"]
            # Copy-on-write in both libraries: the old files keep the subject's rows until
            # VACUUM (Delta); pyiceberg has no orphan-file removal, so they stay (Iceberg).
            glob_left = {"hive": 0, "delta": 0, "iceberg": delete["subject_rows"]}
            assert delete["subject_rows_glob_after_maintenance"] == glob_left[kind]
    readers = results["local"]["delta"]["delete"]["readers"]
    assert readers["polars_native"] == readers["truth"]
    assert readers["polars_glob"] > readers["truth"]

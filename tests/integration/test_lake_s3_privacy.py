"""Erasure and retention on an object-store lake (moto): the deletion job's lake phase finds,
counts and rewrites the subject's files by PUT (an interrupted merge is finished first, so no
row is counted twice), and retention deletes whole day partitions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxloop.ingest import events_table
from cxloop.lake import DedupeIndex, LakeLocation, compact_segments, list_partitions, live_files
from cxloop.lake.objects import put_parquet
from cxloop.ops import Registry
from cxloop.privacy.export import ExportSubject, subject_events, subject_failed_events
from cxloop.privacy.jobs import DeletionJobs, _Job
from cxloop.privacy.purge import SubjectIds
from cxloop.privacy.retention import RetentionSweep, _Retention
from cxloop.settings import Settings
from tests.helpers.rows import wal_row
from tests.helpers.s3 import S3Server, s3_server
from tests.helpers.segments import BASE_US, DAY_US, failed_row, segment_path, write_segment


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


def _settings(tmp_path: Path, s3: S3Server) -> Settings:
    return Settings(data_dir=tmp_path, lake_url=s3.lake_url(), s3_endpoint_url=s3.endpoint_url)


def _compact(tmp_path: Path, location: LakeLocation, segments: list[list[Any]]) -> None:
    paths = [write_segment(segment_path(tmp_path / "wal", n + 1), [rows])
             for n, rows in enumerate(segments)]  # fmt: skip
    index = DedupeIndex(tmp_path / "dedupe.sqlite")
    try:
        compact_segments(
            paths, expand=events_table, lake_dir=location, index=index,
            corrupt_dir=tmp_path / "corrupt",
        )  # fmt: skip
    finally:
        index.close()


def _message_ids(location: LakeLocation, store: str) -> list[str]:
    out: list[str] = []
    for partition in list_partitions(location, store):
        for file in live_files(location, partition):
            out += pq.read_table(file.key, filesystem=location.fs)["message_id"].to_pylist()
    return sorted(out)


def test_the_lake_phase_of_an_erasure_on_s3(tmp_path: Path, s3: S3Server) -> None:
    settings = _settings(tmp_path, s3)
    location = LakeLocation.from_settings(settings)
    _compact(
        tmp_path,
        location,
        [
            [wal_row(f"a{i}", "p", user_id="alice" if i % 3 == 0 else "bob") for i in range(9)],
            [wal_row("a-late", "p", user_id="alice", timestamp=BASE_US + DAY_US),
             wal_row("b-late", "p", user_id="bob", timestamp=BASE_US + DAY_US)],
            [failed_row("fa", "p", raw='{"userId":"alice"}'),
             failed_row("fb", "p", raw='{"userId":"bob"}')],
            [wal_row("q1", "q", user_id="alice")],  # another project: untouched
        ],
    )  # fmt: skip
    # A merge interrupted between its PUT and its DELETEs in the first day: the merged file
    # and its source hold the same rows; the job must count them once.
    (first, _late) = list_partitions(location, "events")[:2]
    (source,) = live_files(location, first)
    table = pq.read_table(source.key, filesystem=location.fs)
    merged_from = json.dumps([source.name]).encode()
    table = table.replace_schema_metadata(
        {**table.schema.metadata, b"cxloop.merged_from": merged_from}
    )
    put_parquet(location, location.path(first, "part-m" + "1" * 20 + ".parquet"), table)

    jobs = DeletionJobs(settings, Registry(), wait_for_workers=False)
    job = _Job("r1", "p", SubjectIds(user_id="alice"), datetime.now(UTC), {"phase": "lake"})
    for _ in range(20):
        jobs._lake_work(job, time.monotonic() + 5)
        if job.receipt["phase"] != "lake":
            break
    assert job.receipt["phase"] == "postgres"
    lake = job.lake
    assert (lake["events"], lake["failed"]) == (4, 1)  # a0, a3, a6, a-late; fa
    assert (lake["files_rewritten"], lake["files_removed"]) == (3, 0)
    assert lake["bytes_rewritten"] > 0
    base = datetime.fromtimestamp(BASE_US / 1e6, UTC).date()
    assert sorted(lake["days"]) == [base.isoformat(), (base + timedelta(days=1)).isoformat()]
    assert _message_ids(location, "events") == sorted(
        ["a1", "a2", "a4", "a5", "a7", "a8", "b-late", "q1"]
    )
    assert _message_ids(location, "failed") == ["fb"]
    # The merge was finished: its source is gone.
    assert [f.name for f in live_files(location, first)] == ["part-m" + "1" * 20 + ".parquet"]


def test_retention_on_s3_deletes_whole_day_partitions(tmp_path: Path, s3: S3Server) -> None:
    settings = _settings(tmp_path, s3)
    location = LakeLocation.from_settings(settings)
    today = datetime.fromtimestamp(BASE_US / 1e6, UTC).date() + timedelta(days=40)
    old = BASE_US  # 40 days before "today"
    recent = BASE_US + 39 * DAY_US
    _compact(
        tmp_path,
        location,
        [[wal_row("old", "p", timestamp=old, received_at=old),
          wal_row("new", "p", timestamp=recent, received_at=recent),
          wal_row("other", "q", timestamp=old, received_at=old),
          failed_row("f-old", "p", received_at=old)]],
    )  # fmt: skip
    old_day = datetime.fromtimestamp(old / 1e6, UTC).date()
    rollup = f"rollups/usage_user/project_id=p/date={old_day.isoformat()}"
    put_parquet(location, location.path(rollup, "part-0.parquet"), pa.table({"x": [1]}))
    sweep = RetentionSweep(settings, Registry(), today=lambda: today)
    database: Any = SimpleNamespace(pool=None)
    removed = asyncio.run(sweep._sweep(database, _Retention("p", 30, keep_rollups=False)))
    assert removed == 3  # events, failed, rollups of the old day
    assert _message_ids(location, "events") == ["new", "other"]
    assert _message_ids(location, "failed") == []
    assert not location.fs.get_file_info(location.path(rollup, "part-0.parquet")).is_file
    assert asyncio.run(sweep._sweep(database, _Retention("p", 30, keep_rollups=False))) == 0


def test_export_from_s3_equals_export_from_a_local_lake(tmp_path: Path, s3: S3Server) -> None:
    location = LakeLocation.object_store(s3.lake_url(), s3.endpoint_url)
    local = LakeLocation.directory(tmp_path / "local" / "lake")
    segments: list[list[Any]] = [
        [wal_row(f"e{i}", "p", user_id="alice" if i % 2 else "bob",
                 timestamp=BASE_US + (i % 3) * DAY_US) for i in range(12)],
        [failed_row("fa", "p", raw='{"userId":"alice"}'), failed_row("fb", "p", raw="{}")],
        [wal_row("e-q", "q", user_id="alice")],
    ]  # fmt: skip
    _compact(tmp_path / "s3", location, segments)
    _compact(tmp_path / "local", local, segments)
    subject = ExportSubject(project_id="p", user_id="alice")
    for read in (subject_events, subject_failed_events):
        mine = pa.Table.from_batches(list(read(location, subject)))
        theirs = pa.Table.from_batches(list(read(tmp_path / "local" / "lake", subject)))
        assert mine.num_rows == theirs.num_rows > 0
        assert sorted(mine["message_id"].to_pylist()) == sorted(theirs["message_id"].to_pylist())
    assert sorted(
        b["message_id"]
        for b in pa.Table.from_batches(list(subject_events(location, subject))).to_pylist()
    ) == ["e1", "e11", "e3", "e5", "e7", "e9"]

"""Small-file merging in a running server: events for many past days in many small batches (a
file per partition-day per WAL segment) end up in a bounded number of files per partition-day,
every message id exactly once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from cxloop.lake import events_dataset, failed_dataset, max_small_files, read_consistently
from tests.helpers.server import Project, RunningServer

MIN_FILES = 4
TARGET_BYTES = 128 * 1024 * 1024
BATCHES = 30
DAYS = 8


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    # Segments sealed every 0.2 s: each batch below is compacted on its own, so every
    # partition-day gains a file per batch, as late events do under real traffic.
    return {
        "wal_segment_max_age_s": 0.2,
        "lake_merge_min_files": MIN_FILES,
        "lake_target_file_bytes": TARGET_BYTES,
    }


def _ids(server: RunningServer, project: Project, store: str) -> list[str]:
    lake = server.data_dir / "lake"
    dataset = events_dataset if store == "events" else failed_dataset

    def read() -> pa.Table:
        return dataset(lake).to_table(columns=["message_id", "project_id"])

    table = read_consistently(lake, read, retry_on=(FileNotFoundError, pa.ArrowInvalid))
    return [
        m
        for m, p in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True)
        if p == project.id
    ]


def _files_per_partition(server: RunningServer) -> dict[str, int]:
    lake = server.data_dir / "lake"
    return {
        str(d.relative_to(lake)): len(list(d.glob("*.parquet")))
        for d in sorted(lake.glob("*/project_id=*/date=*"))
    }


def test_many_small_batches_for_past_days_merge_into_few_files_exactly_once(
    server: RunningServer, project: Project
) -> None:
    now = datetime.now(UTC)
    expected: set[str] = set()
    expected_failed: set[str] = set()
    with server.client() as client:
        for b in range(BATCHES):
            batch: list[dict[str, Any]] = [
                {
                    "type": "track",
                    "event": "Report Viewed",
                    "userId": f"u{i}",
                    "messageId": f"b{b:02d}-d{d}-{i}",
                    "timestamp": (now - timedelta(days=d, minutes=i)).isoformat(),
                }
                for d in range(1, DAYS + 1)
                for i in range(3)
            ]
            batch.append({"type": "track", "userId": "u", "messageId": f"b{b:02d}-bad"})
            answer = client.post(
                "/v1/batch",
                json={"batch": batch, "sentAt": now.isoformat()},
                headers=project.basic_auth,
            )
            assert answer.status_code == 200, answer.text
            expected |= {e["messageId"] for e in batch[:-1]}
            expected_failed.add(f"b{b:02d}-bad")
            time.sleep(0.3)  # its own segment
        # A replay of a whole batch is deduplicated, merged files or not.
        answer = client.post(
            "/v1/batch",
            json={"batch": batch, "sentAt": now.isoformat()},
            headers=project.basic_auth,
        )
        assert answer.status_code == 200

    bound = max_small_files(MIN_FILES, TARGET_BYTES)
    deadline = time.monotonic() + 120
    while True:
        ids = _ids(server, project, "events")
        failed = _ids(server, project, "failed")
        files = _files_per_partition(server)
        settled = set(ids) == expected and set(failed) == expected_failed
        if settled and files and max(files.values()) < MIN_FILES:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"not merged in time: {files}, {len(set(ids))} ids")
        time.sleep(0.5)

    # Every id exactly once, in both stores.
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert [i for i, n in Counter(failed).items() if n > 1] == []
    assert len(ids) == len(expected) and len(failed) == len(expected_failed)
    # Each of the DAYS event partitions received a file per batch; merged files hold them now.
    lake = server.data_dir / "lake"
    assert len([p for p in files if p.startswith("events/")]) == DAYS
    assert max(files.values()) <= bound
    assert list(lake.glob("events/*/*/part-m*.parquet"))
    assert "Traceback" not in server.log()

"""The deletion job's parts that need no database: which rows are the subject's, the WAL wait,
and the lake phase — bounded steps that resume from the receipt alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from cxloop.ingest import events_table
from cxloop.lake import DedupeIndex, compact_segment, events_dataset, failed_dataset, temp_path
from cxloop.ops import Registry
from cxloop.privacy.jobs import (
    DeletionJobs,
    _final_receipt,
    _Job,
    _Waiting,
    events_of_subject,
    failed_of_subject,
)
from cxloop.privacy.purge import SubjectIds
from cxloop.settings import Settings
from tests.helpers.rows import wal_row
from tests.helpers.segments import BASE_US, DAY_US, failed_row, segment_path, write_segment

P = "prj_test"
USER = SubjectIds(user_id="u-subject", anonymous_id="a-subject")
ACCOUNT = SubjectIds(account_id="acct-gone")


def ids_table(rows: list[dict[str, Any]]) -> pa.Table:
    columns = ("user_id", "anonymous_id", "previous_id", "group_id")
    return pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns})


@pytest.mark.parametrize(
    ("row", "subject", "expected"),
    [
        ({"user_id": "u-subject"}, USER, True),
        ({"anonymous_id": "a-subject"}, USER, True),
        ({"user_id": None, "anonymous_id": "a-subject"}, USER, True),
        ({"previous_id": "a-subject", "user_id": "u-new"}, USER, True),  # their alias call
        ({"user_id": "u-other", "group_id": "acct-gone"}, USER, False),
        ({"user_id": "u-other", "group_id": "acct-gone"}, ACCOUNT, True),
        ({"user_id": "u-subject"}, ACCOUNT, False),
        ({"user_id": "u-subjectx"}, USER, False),
        ({}, USER, False),
    ],
)
def test_events_of_subject(row: dict[str, Any], subject: SubjectIds, expected: bool) -> None:
    assert events_of_subject(ids_table([row]), subject).to_pylist() == [expected]


@pytest.mark.parametrize(
    ("raw", "subject", "expected"),
    [
        ('{"userId": "u-subject", "type": "purchase"}', USER, True),
        ('{"anonymousId": "a-subject"}', USER, True),
        ('{"userId": 42}', SubjectIds(user_id="42"), True),  # numeric ids as ingest keeps them
        ('{"userId": "u-other", "properties": {"x": "u-subject"}}', USER, False),
        ('{"userId": "u-other", "context": {"groupId": "acct-gone"}}', ACCOUNT, True),
        ('{"groupId": "acct-gone", "type": "group"}', ACCOUNT, True),
        ('{"userId": "u-subject"', USER, True),  # not JSON: by the quoted id in the text
        ('{"userId": "u-subjectx"', USER, False),
        ('["u-subject"]', USER, True),
        (None, USER, False),
    ],
)
def test_failed_of_subject(raw: str | None, subject: SubjectIds, expected: bool) -> None:
    table = pa.table({"raw": pa.array([raw], pa.string())})
    assert failed_of_subject(table, subject).to_pylist() == [expected]


# -- the lake phase on a real compacted lake -------------------------------------------------


def lake_with_subject(root: Path, days: int = 4, per_day: int = 30) -> tuple[int, int]:
    """Compacted files over ``days`` days; the subject on every other day. Returns the
    subject's valid and failed event counts."""
    rows: list[Any] = []
    subject_events = 0
    for day in range(days):
        for i in range(per_day):
            mine = day % 2 == 0 and i % 5 == 0
            subject_events += mine
            rows.append(
                wal_row(
                    f"m{day}-{i}",
                    P,
                    user_id="u-subject" if mine else f"u{i % 7}",
                    timestamp=BASE_US + day * DAY_US + i,
                    received_at=BASE_US + day * DAY_US + i,
                )
            )
    rows.append(failed_row("f1", P, raw='{"userId":"u-subject","type":"nope"}'))
    rows.append(failed_row("f2", P, raw='{"userId":"u-other","type":"nope"}'))
    index = DedupeIndex(root / "state" / "dedupe.sqlite")
    try:
        compact_segment(
            write_segment(segment_path(root / "wal" / "w0", 1), [rows]),
            expand=events_table,
            lake_dir=root / "lake",
            index=index,
            corrupt_dir=root / "wal" / "corrupt",
            row_group_rows=8,
        )
    finally:
        index.close()
    # The segment is in the lake: the WAL no longer holds it (as once projected).
    for path in (root / "wal" / "w0").iterdir():
        path.unlink()
    return subject_events, 1


def job(receipt: dict[str, Any], subject: SubjectIds = USER) -> _Job:
    created = datetime.now(UTC) - timedelta(seconds=60)
    return _Job("del_test", P, subject, created, receipt)


def jobs_for(root: Path, budget_s: float = 2.0) -> DeletionJobs:
    settings = Settings(data_dir=root, key_refresh_s=0.5, lake_row_group_rows=8)
    return DeletionJobs(settings, Registry(), budget_s=budget_s)


def test_the_lake_phase_removes_the_subject_and_keeps_everything_else(tmp_path: Path) -> None:
    events, failed = lake_with_subject(tmp_path)
    lake = tmp_path / "lake"
    others_before = sorted(
        r["message_id"] for r in events_dataset(lake).to_table().to_pylist()
        if r["user_id"] != "u-subject"
    )  # fmt: skip
    receipt: dict[str, Any] = {"phase": "lake"}
    work = job(receipt)
    deletions = jobs_for(tmp_path)
    deletions._lake_work(work, deadline=float("inf"))
    # The scan's findings are committed before any rewrite: the first call only counts.
    assert receipt["phase"] == "lake" and len(receipt["lake"]["pending"]) == 3
    assert events_dataset(lake).to_table().num_rows == len(others_before) + events
    deletions._lake_work(work, deadline=float("inf"))

    assert receipt["phase"] == "postgres"
    assert receipt["lake"]["events"] == events and receipt["lake"]["failed"] == failed
    assert receipt["lake"]["files_rewritten"] == 3  # two event days, one failed file
    assert sorted(receipt["lake"]["days"]) == ["2026-11-23", "2026-11-25"]
    after = events_dataset(lake).to_table().to_pylist()
    assert sorted(r["message_id"] for r in after) == others_before
    assert [r["message_id"] for r in failed_dataset(lake).to_table().to_pylist()] == ["f2"]
    assert deletions.bytes_rewritten.values[()] == receipt["lake"]["bytes_rewritten"] > 0
    final = _final_receipt(receipt)
    assert set(final["lake"]) == {
        "events", "failed", "files_rewritten", "files_removed", "bytes_rewritten"
    }  # fmt: skip
    assert "u-subject" not in msgspec.json.encode(final).decode()


def test_the_lake_phase_resumes_from_its_receipt_in_tiny_steps(tmp_path: Path) -> None:
    """A budget too small for more than one file per call, and the receipt round-tripped
    through JSON between calls (what a restart reads back): same end as in one go."""
    events, failed = lake_with_subject(tmp_path, days=6)
    receipt: dict[str, Any] = {"phase": "lake"}
    deletions = jobs_for(tmp_path, budget_s=0.0)
    calls = 0
    while receipt["phase"] == "lake":
        work = job(receipt)
        deletions._lake_work(work, deadline=0.0)  # one unit of work, then the deadline
        receipt = msgspec.json.decode(msgspec.json.encode(work.receipt))
        calls += 1
        assert calls < 100
    assert calls > 4
    assert (receipt["lake"]["events"], receipt["lake"]["failed"]) == (events, failed)
    assert receipt["lake"]["files_rewritten"] == 4


def test_a_stale_rewrite_temp_is_cleaned_and_never_counted(tmp_path: Path) -> None:
    lake_with_subject(tmp_path)
    some_file = next((tmp_path / "lake" / "events").rglob("*.parquet"))
    stale = temp_path(some_file)
    stale.write_bytes(b"left by a crash")
    receipt: dict[str, Any] = {"phase": "lake"}
    work, deletions = job(receipt), jobs_for(tmp_path)
    deletions._lake_work(work, deadline=float("inf"))
    deletions._lake_work(work, deadline=float("inf"))
    assert not stale.exists()
    assert receipt["phase"] == "postgres"


def test_the_wal_phase_waits_for_the_suppression_and_older_segments(tmp_path: Path) -> None:
    deletions = jobs_for(tmp_path)
    fresh = _Job("del_test", P, USER, datetime.now(UTC), {"phase": "wal"})
    with pytest.raises(_Waiting, match="suppresses"):
        deletions._wal_phase(fresh)

    old = job({"phase": "wal"})
    slot = tmp_path / "wal" / "w0"
    before_ns = int((old.created_at - timedelta(seconds=1)).timestamp() * 1e9)
    waiting = write_segment(slot / f"w0-{before_ns:020d}.sealed", [[wal_row("x", P)]])
    with pytest.raises(_Waiting, match="1 WAL segment"):
        deletions._wal_phase(old)
    # Made after the request's moment: ingest already refused the subject there.
    after_ns = int(datetime.now(UTC).timestamp() * 1e9)
    write_segment(slot / f"w0-{after_ns:020d}.sealed", [[wal_row("y", P)]])
    waiting.unlink()
    deletions._wal_phase(old)
    assert old.receipt["phase"] == "lake" and old.receipt["wal"] == {"events_dropped": 0}

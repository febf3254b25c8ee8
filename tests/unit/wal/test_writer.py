"""The group-commit writer: acks after the write, shares fsyncs, refuses when it must."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cxloop.ops.metrics import Registry
from cxloop.wal import (
    REQUEST_SCHEMA,
    WAL_SCHEMA,
    SegmentState,
    WalOverloaded,
    WalUnavailable,
    WalWriter,
    acquire_slot,
    read_segment,
)
from tests.helpers.rows import wal_row


def sealed_ids(slot: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(slot.glob(f"*.{SegmentState.SEALED}")):
        out += read_segment(path).table().column("message_id").to_pylist()
    return out


async def test_concurrent_appends_share_commits_and_all_land(tmp_path: Path) -> None:
    slot, _fd = acquire_slot(tmp_path)
    registry = Registry()
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=registry)
    await writer.start()
    await asyncio.gather(
        *(writer.append([wal_row(f"m{i}-{j}") for j in range(10)]) for i in range(200))
    )
    await writer.close()
    assert sorted(sealed_ids(slot)) == sorted(f"m{i}-{j}" for i in range(200) for j in range(10))
    commits = sum(writer.commit_events.counts)
    assert commits < 200, "concurrent requests should share group commits"


async def test_ack_means_the_frame_is_on_disk(tmp_path: Path) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry(), segment_max_age_s=3600)
    await writer.start()
    await writer.append([wal_row("durable")])
    # Before any seal or close: the open segment already holds the acked frame.
    # (The other open segment is the spare made ahead of the next rotation: header only.)
    reads = [read_segment(path) for path in sorted(slot.glob(f"*.{SegmentState.OPEN}"))]
    assert [read.rows for read in reads] == [1, 0]
    assert reads[0].table().column("message_id").to_pylist() == ["durable"]
    await writer.close()


async def test_segments_rotate_by_age(tmp_path: Path) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry(), segment_max_age_s=0.05)
    await writer.start()
    await writer.append([wal_row("a")])
    await asyncio.sleep(0.3)
    assert sealed_ids(slot) == ["a"], "an idle segment is sealed so the lake catches up"
    await writer.append([wal_row("b")])
    await writer.close()
    assert sealed_ids(slot) == ["a", "b"]


async def test_back_pressure_refuses_instead_of_queueing_forever(tmp_path: Path) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry(), max_pending_events=5)
    await writer.start()
    # Both requests arrive before the writer gets to run: the second finds the queue full.
    first = asyncio.ensure_future(writer.append([wal_row(f"a{i}") for i in range(5)]))
    second = asyncio.ensure_future(writer.append([wal_row("b")]))
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], WalOverloaded)
    await writer.close()


def request_record(body: bytes, events: int) -> tuple[object, ...]:
    return ("prj", 1_700_000_000_000_000, "10.0.0.0", None, body, events, events, 32768)


async def test_request_records_count_their_events_for_back_pressure(tmp_path: Path) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, registry=Registry(), max_pending_events=100)
    await writer.start()
    # One row each, but 60 events each: the second would take the queue past 100 events.
    first = asyncio.ensure_future(writer.append([request_record(b"{}", 60)], events=60))
    second = asyncio.ensure_future(writer.append([request_record(b"{}", 60)], events=60))
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], WalOverloaded)
    await writer.append([request_record(b'{"batch":[]}', 0)], events=0)
    await writer.close()
    (sealed,) = slot.glob(f"*.{SegmentState.SEALED}")
    read = read_segment(sealed)
    assert read.holds_requests and read.schema.equals(REQUEST_SCHEMA)
    assert read.table().column("body").to_pylist() == [b"{}", b'{"batch":[]}']
    assert writer.commit_events.total == 60


async def test_low_disk_makes_it_not_ready(tmp_path: Path) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry(), min_free_bytes=1 << 62)
    await writer.start()
    assert not writer.ready
    assert "free" in (writer.not_ready_reason or "")
    with pytest.raises(WalUnavailable):
        await writer.append([wal_row("x")])
    await writer.close()


async def test_a_failed_write_is_not_acked_and_the_writer_recovers(tmp_path: Path) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry())
    await writer.start()
    await writer.append([wal_row("before")])
    # Simulate the disk failing under the open segment: close its descriptor behind its back.
    assert writer._fd is not None
    import os

    os.close(writer._fd)
    with pytest.raises(WalUnavailable):
        await writer.append([wal_row("lost-but-never-acked")])
    assert writer.write_errors.values[()] == 1
    await writer.append([wal_row("after")])  # a new segment is opened
    assert writer.ready
    await writer.close()
    assert sealed_ids(slot) == ["before", "after"]


def test_slots_are_exclusive(tmp_path: Path) -> None:
    first, fd1 = acquire_slot(tmp_path)
    second, fd2 = acquire_slot(tmp_path)
    assert first.name == "w0" and second.name == "w1"
    import os

    os.close(fd1)
    again, _ = acquire_slot(tmp_path)
    assert again.name == "w0", "a dead worker's slot is adopted"
    os.close(fd2)

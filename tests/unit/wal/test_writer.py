"""The group-commit writer: acks after the write, shares fsyncs, refuses when it must."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.ops.metrics import Registry
from cxloop.wal import (
    REQUEST_SCHEMA,
    WAL_SCHEMA,
    RequestRow,
    SegmentState,
    WalOverloaded,
    WalUnavailable,
    WalWriter,
    acquire_slot,
    columns_to_batch,
    read_segment,
    rows_to_batch,
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


async def test_requests_served_in_one_turn_of_the_loop_share_one_commit(tmp_path: Path) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry())
    await writer.start()
    await asyncio.gather(*(writer.append([wal_row(f"m{i}")]) for i in range(100)))
    assert writer.commit_events.counts == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]  # one of 100
    await writer.close()
    assert sorted(sealed_ids(slot)) == sorted(f"m{i}" for i in range(100))


async def test_acks_wait_for_the_fsync_and_what_arrives_meanwhile_is_the_next_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[tuple[str, Any]] = []
    syncing = threading.Event()
    real_fdatasync, real_pwritev = os.fdatasync, os.pwritev

    def slow_sync() -> None:
        log.append(("sync", None))
        syncing.set()
        time.sleep(0.2)

    def slow_fdatasync(fd: int) -> None:
        slow_sync()
        real_fdatasync(fd)
        log.append(("synced", None))

    def slow_pwritev(fd: int, buffers: Any, offset: int, flags: int = 0) -> int:
        if flags & os.RWF_DSYNC:  # the writer's write-and-sync in one call
            slow_sync()
        written = real_pwritev(fd, buffers, offset, flags)
        if flags & os.RWF_DSYNC:
            log.append(("synced", None))
        return written

    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry(), segment_max_age_s=3600)
    await writer.start()
    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    monkeypatch.setattr(os, "pwritev", slow_pwritev)

    async def request(message_id: str) -> None:
        await writer.append([wal_row(message_id)])
        log.append(("ack", message_id))

    first = asyncio.ensure_future(request("first"))
    await asyncio.to_thread(syncing.wait, 5)  # the first commit is in its fsync
    later = [asyncio.ensure_future(request(f"later{i}")) for i in range(20)]
    await asyncio.gather(first, *later)
    monkeypatch.undo()
    synced = [i for i, (kind, _) in enumerate(log) if kind == "synced"]
    acked = {message_id: i for i, (kind, message_id) in enumerate(log) if kind == "ack"}
    assert len(synced) == 2
    assert acked["first"] > synced[0], "no ack before its fsync returned"
    assert all(acked[f"later{i}"] > synced[1] for i in range(20))
    assert sum(writer.commit_events.counts) == 2, "the 20 that came during the fsync: one commit"
    await writer.close()


async def test_rows_arrow_cannot_hold_fail_their_commit_and_the_writer_goes_on(
    tmp_path: Path,
) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry())
    await writer.start()
    with pytest.raises(WalUnavailable, match="could not encode"):
        await writer.append([wal_row("bad", timestamp="not a number")])
    assert writer.ready
    await writer.append([wal_row("good")])
    await writer.close()
    assert sealed_ids(slot) == ["good"]


async def test_appending_before_start_is_refused_not_left_waiting(tmp_path: Path) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry())
    with pytest.raises(WalUnavailable, match="not started"):
        await writer.append([wal_row("x")])


_text = st.one_of(st.none(), st.text(max_size=12))
_json = st.one_of(
    st.none(), st.text(max_size=12), st.binary(max_size=12).map(lambda b: b.hex().encode())
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8),
            st.integers(0, 2**62),
            _text,
            _text,
            st.binary(max_size=40),
            st.integers(0, 2**31 - 1),
            st.integers(0, 2**31 - 1),
            st.integers(0, 2**31 - 1),
        ),
        max_size=30,
    )
)
def test_rows_to_batch_builds_what_a_column_per_field_builds(rows: list[tuple[Any, ...]]) -> None:
    records = [RequestRow(*row) for row in rows]
    columns = list(zip(*records, strict=True)) if records else [() for _ in REQUEST_SCHEMA]
    expected = columns_to_batch(columns, REQUEST_SCHEMA)
    batch = rows_to_batch(records, REQUEST_SCHEMA)
    assert batch.schema.equals(REQUEST_SCHEMA)
    assert batch.equals(expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), _json, _json), max_size=20))
def test_json_text_columns_take_bytes_or_str_and_read_as_strings(
    rows: list[tuple[str, Any, Any]],
) -> None:
    records = [
        wal_row(message_id, properties=properties, context=context)
        for message_id, properties, context in rows
    ]
    batch = rows_to_batch(records)
    expected = columns_to_batch(
        list(zip(*records, strict=True)) or [() for _ in WAL_SCHEMA], WAL_SCHEMA
    )
    assert batch.schema.equals(WAL_SCHEMA)
    assert batch.equals(expected)
    assert batch.column("properties").to_pylist() == [
        value.decode() if isinstance(value, bytes) else value for _, value, _ in rows
    ]


def test_a_row_that_is_not_a_tuple_of_the_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="None"):
        rows_to_batch([wal_row("a"), None])  # type: ignore[list-item]
    with pytest.raises(Exception, match="Tuple size"):
        rows_to_batch([("prj", 1)], REQUEST_SCHEMA)


async def test_without_rwf_dsync_it_writes_then_fdatasyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fdatasync = os.fdatasync

    def no_dsync(fd: int, buffers: Any, offset: int, flags: int = 0) -> int:
        raise OSError(errno.EOPNOTSUPP, "not on this file system")

    def counting_fdatasync(fd: int) -> None:
        synced.append(fd)
        real_fdatasync(fd)

    monkeypatch.setattr(os, "pwritev", no_dsync)
    monkeypatch.setattr(os, "fdatasync", counting_fdatasync)
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry())
    await writer.start()
    await writer.append([wal_row("a")])
    await writer.append([wal_row("b")])
    assert len(synced) == 2, "each commit is synced by fdatasync instead"
    await writer.close()
    assert sealed_ids(slot) == ["a", "b"]


async def test_if_the_io_thread_dies_requests_are_refused_not_left_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot, _fd = acquire_slot(tmp_path)
    writer = WalWriter(slot, schema=WAL_SCHEMA, registry=Registry())
    await writer.start()

    def die(commit: object) -> None:
        raise SystemExit("the thread goes away")  # not an Exception: nothing catches it

    monkeypatch.setattr(writer, "_commit", die)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)
    with pytest.raises(WalUnavailable):
        await asyncio.wait_for(writer.append([wal_row("x")]), 5)
    assert not writer.ready
    with pytest.raises(WalUnavailable):
        await writer.append([wal_row("y")])
    await asyncio.wait_for(writer.close(), 5)

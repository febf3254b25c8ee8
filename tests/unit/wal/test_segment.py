"""Segment files: torn final writes are cut, damaged frames skipped and reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.wal import (
    WAL_SCHEMA,
    SegmentState,
    read_segment,
    recover_slot,
    rows_to_batch,
    segment_created_ns,
    segment_id,
    segments_in_flight,
)
from cxloop.wal.segment import encode_frame, encode_header
from tests.helpers.rows import wal_row


def write_segment(path: Path, frames: list[list[str]]) -> list[bytes]:
    encoded = [encode_frame(rows_to_batch([wal_row(m) for m in ids])) for ids in frames]
    path.write_bytes(encode_header(WAL_SCHEMA) + b"".join(encoded))
    return encoded


def ids(result: object) -> list[str]:
    table = result.table()  # type: ignore[attr-defined]
    return table.column("message_id").to_pylist()


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "w0-1.sealed"
    write_segment(path, [["a", "b"], ["c"]])
    result = read_segment(path)
    assert ids(result) == ["a", "b", "c"]
    assert (result.torn_tail_bytes, result.corrupt_frames) == (0, 0)
    assert result.good_length == path.stat().st_size


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=1, max_value=10_000))
def test_any_truncation_loses_only_the_last_frame(
    tmp_path_factory: pytest.TempPathFactory, cut: int
) -> None:
    path = tmp_path_factory.mktemp("seg") / "w0-1.open"
    frames = write_segment(path, [["a"], ["b", "c"], ["d"]])
    data = path.read_bytes()
    cut = min(cut, len(frames[-1]))
    path.write_bytes(data[:-cut])
    result = read_segment(path)
    assert ids(result) == ["a", "b", "c"]
    assert result.torn_tail_bytes == len(frames[-1]) - cut
    assert result.corrupt_frames == 0


def test_torn_header_is_an_empty_segment(tmp_path: Path) -> None:
    path = tmp_path / "w0-1.open"
    path.write_bytes(encode_header(WAL_SCHEMA)[:7])
    result = read_segment(path)
    assert not result.header_ok and result.rows == 0


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_damaged_middle_frame_is_skipped_and_the_rest_read(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("seg") / "w0-1.sealed"
    frames = write_segment(path, [["a"], ["b"], ["c"]])
    raw = bytearray(path.read_bytes())
    start = len(encode_header(WAL_SCHEMA)) + len(frames[0])
    position = data.draw(st.integers(min_value=start, max_value=start + len(frames[1]) - 1))
    raw[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    path.write_bytes(bytes(raw))
    result = read_segment(path)
    assert ids(result) == ["a", "c"]
    assert result.corrupt_frames == 1
    assert result.corrupt_ranges[0][0] == start


def test_recover_slot_cuts_torn_tails_and_seals(tmp_path: Path) -> None:
    slot = tmp_path / "w0"
    slot.mkdir()
    torn = slot / "w0-00000000000000000001.open"
    frames = write_segment(torn, [["a"], ["b"]])
    with open(torn, "r+b") as handle:
        handle.truncate(torn.stat().st_size - len(frames[-1]) // 2)
    empty = slot / "w0-00000000000000000002.open"
    empty.write_bytes(encode_header(WAL_SCHEMA))

    report = recover_slot(slot)

    assert (report.segments, report.rows, report.torn_tails) == (2, 1, 1)
    assert not empty.exists()
    sealed = slot / f"w0-00000000000000000001.{SegmentState.SEALED}"
    assert sealed.exists() and not torn.exists()
    again = read_segment(sealed)
    assert ids(again) == ["a"] and again.torn_tail_bytes == 0
    assert sealed.stat().st_size == again.good_length
    assert os.listdir(slot) == [sealed.name]


def test_segments_in_flight_are_those_made_before_the_instant_that_may_hold_events(
    tmp_path: Path,
) -> None:
    slot = tmp_path / "w0"
    slot.mkdir()

    def segment(stamp: int, state: str, frames: list[list[str]]) -> Path:
        path = slot / f"w0-{stamp:020d}.{state}"
        write_segment(path, frames)
        return path

    made_ahead = segment(1, SegmentState.OPEN, [])  # only a header: holds nothing
    open_with_frames = segment(2, SegmentState.OPEN, [["a"]])
    sealed = segment(3, SegmentState.SEALED, [["b"]])
    compacted = segment(4, SegmentState.COMPACTED, [["c"]])
    later = segment(9, SegmentState.SEALED, [["d"]])
    (slot / "w0-00000000000000000005.tmp").write_bytes(b"")
    assert segment_created_ns(later) == 9
    assert segments_in_flight(tmp_path, created_before_ns=9) == [
        segment_id(open_with_frames),
        segment_id(sealed),
        segment_id(compacted),
    ]
    assert segment_id(made_ahead) not in segments_in_flight(tmp_path, created_before_ns=10)
    assert segment_id(later) in segments_in_flight(tmp_path, created_before_ns=10)

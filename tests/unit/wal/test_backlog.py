"""The backlog scan: what the WAL holds that the lake and PostgreSQL do not have yet, and since
when (the first frame's receive time, not the file's creation time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxloop.wal import WAL_SCHEMA, SegmentState, backlog, first_event_ns, rows_to_batch
from cxloop.wal import segment as segment_module
from cxloop.wal.segment import encode_frame, encode_header
from tests.helpers.rows import BASE_US, wal_row

NS = 1_000_000_000
BASE_NS = BASE_US * 1000


def write(slot: Path, stamp_ns: int, state: str, frames: list[list[tuple[str, int]]]) -> Path:
    """A segment ``<slot>-<stamp>.<state>``; each frame is (message id, received_at µs) rows."""
    slot.mkdir(exist_ok=True)
    path = slot / f"{slot.name}-{stamp_ns:020d}.{state}"
    encoded = [
        encode_frame(rows_to_batch([wal_row(m, received_at=us) for m, us in frame]))
        for frame in frames
    ]
    path.write_bytes(encode_header(WAL_SCHEMA) + b"".join(encoded))
    return path


def test_an_empty_wal_has_no_backlog(tmp_path: Path) -> None:
    scan = backlog(tmp_path / "wal")
    assert (scan.pending_bytes, scan.unprojected_bytes) == (0, 0)
    assert scan.oldest_unlaked_ns is None and scan.lag_s() == 0.0
    assert scan.projection_lag_s() == 0.0 and scan.in_flight == frozenset()


def test_counts_open_segments_holding_frames_and_sealed_as_pending(tmp_path: Path) -> None:
    w0 = tmp_path / "w0"
    # Made ahead an hour before anything was written into it: holds only its header.
    made_ahead = write(w0, BASE_NS - 3600 * NS, SegmentState.OPEN, [])
    sealed = write(w0, BASE_NS - 3600 * NS + 1, SegmentState.SEALED, [[("a", BASE_US)]])
    open_ = write(w0, BASE_NS - 3600 * NS + 2, SegmentState.OPEN, [[("b", BASE_US + 5)]])
    compacted = write(tmp_path / "w1", BASE_NS - 7200 * NS, SegmentState.COMPACTED, [])
    compacted.write_bytes(sealed.read_bytes())
    (w0 / "w0-00000000000000000009.tmp").write_bytes(b"not a segment")
    (w0 / "slot.lock").write_bytes(b"")

    scan = backlog(tmp_path)

    size = sealed.stat().st_size
    assert scan.pending_bytes == size + open_.stat().st_size
    assert scan.unprojected_bytes == scan.pending_bytes + compacted.stat().st_size
    assert (scan.open_segments, scan.sealed_segments, scan.compacted_segments) == (1, 1, 1)
    assert set(scan.pending) == {sealed.stem, open_.stem}
    assert scan.sealed == {sealed.stem}  # what the pipeline can take now
    assert made_ahead.stem not in scan.in_flight
    assert scan.in_flight == {sealed.stem, open_.stem, compacted.stem}
    # The receive time of the first event, not the hour-old file names.
    assert scan.oldest_unlaked_ns == BASE_NS
    assert scan.oldest_unprojected_ns == BASE_NS
    assert scan.lag_s(BASE_NS + 3 * NS) == pytest.approx(3.0)


def test_a_made_ahead_segment_created_long_ago_does_not_read_as_old(tmp_path: Path) -> None:
    # The spare was made at start-up, a day ago; its first frame came in a second ago.
    write(tmp_path / "w0", BASE_NS - 86_400 * NS, SegmentState.OPEN, [[("a", BASE_US)]])
    assert backlog(tmp_path).lag_s(BASE_NS + NS) == pytest.approx(1.0)


def test_oldest_is_the_first_frames_smallest_receive_time_across_slots(tmp_path: Path) -> None:
    write(tmp_path / "w0", 10, SegmentState.SEALED, [[("a", BASE_US + 7), ("b", BASE_US + 3)]])
    write(tmp_path / "w0", 11, SegmentState.SEALED, [[("c", BASE_US + 1)]])
    write(tmp_path / "w1", 12, SegmentState.SEALED, [[("d", BASE_US + 5)]])
    write(tmp_path / "w2", 1, SegmentState.COMPACTED, [[("e", BASE_US - 9)]])
    scan = backlog(tmp_path)
    # Per slot, the first segment in write order holds the oldest: w0's first frame's min.
    assert scan.oldest_unlaked_ns == (BASE_US + 3) * 1000
    assert scan.oldest_unprojected_ns == (BASE_US - 9) * 1000


def test_an_open_segment_whose_first_frame_is_being_written_reads_as_now(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "w0", 5, SegmentState.OPEN, [[("a", BASE_US)]])
    path.write_bytes(path.read_bytes()[:-3])  # the frame's last bytes are not there yet
    assert first_event_ns(path) is None
    scan = backlog(tmp_path)
    assert scan.open_segments == 1 and scan.pending_bytes == path.stat().st_size
    assert scan.oldest_unlaked_ns == scan.scanned_ns


def test_a_sealed_segment_with_a_damaged_first_frame_falls_back_to_its_creation_time(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "w0", BASE_NS - 60 * NS, SegmentState.SEALED, [[("a", BASE_US)]])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert backlog(tmp_path).oldest_unlaked_ns == BASE_NS - 60 * NS


def test_the_first_frame_is_read_once_per_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    real = segment_module.first_event_ns

    def counting(path: Path) -> int | None:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(segment_module, "first_event_ns", counting)
    opened = write(tmp_path / "w0", 20, SegmentState.OPEN, [[("a", BASE_US)]])
    write(tmp_path / "w0", 21, SegmentState.SEALED, [[("b", BASE_US + 1)]])
    for _ in range(3):
        assert backlog(tmp_path).oldest_unlaked_ns == BASE_NS
    # Sealed under another name: still the same segment, its time is known.
    opened.rename(opened.with_suffix(f".{SegmentState.SEALED}"))
    assert backlog(tmp_path).oldest_unlaked_ns == BASE_NS
    assert reads == [opened], "only the oldest segment of the slot is read, and only once"


def test_a_segment_renamed_during_the_scan_is_followed_to_its_next_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = write(tmp_path / "w0", 30, SegmentState.OPEN, [[("a", BASE_US)]])
    real_scandir = segment_module._scandir

    def listing_then_rename(directory: Path | str) -> list[object]:
        entries = real_scandir(directory)
        if Path(directory).name == "w0" and opened.exists():  # sealed right after the listing
            opened.rename(opened.with_suffix(f".{SegmentState.SEALED}"))
        return entries  # type: ignore[return-value]

    monkeypatch.setattr(segment_module, "_scandir", listing_then_rename)
    scan = backlog(tmp_path)
    assert scan.in_flight == {opened.stem}
    assert (scan.open_segments, scan.sealed_segments) == (0, 1)
    assert scan.oldest_unlaked_ns == BASE_NS

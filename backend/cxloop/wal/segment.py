"""WAL segment files: a header with the Arrow schema, then CRC-checked frames of record batches.

Arrow IPC has no checksums, so each record batch is framed as
``MAGIC | payload length (u32) | crc32(payload) (u32) | payload`` where the payload is the IPC
message of one record batch. A torn final frame (the process died mid-write, before the fsync,
so it was never acked) is cut off on recovery; a damaged frame in the middle (disk corruption)
is skipped by scanning for the next MAGIC, and its bytes are kept in ``corrupt/`` for forensics.

Segment names sort in write order: ``<slot>-<20-digit ns>.<state>``, where state is ``open``
(being written), ``sealed`` (complete, waiting for compaction), ``compacted`` (in the lake,
waiting for the PostgreSQL projections). Projected segments are deleted.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from cxloop.wal.schema import REQUEST_SCHEMA, WAL_SCHEMA

__all__ = [
    "FILE_MAGIC",
    "FRAME_MAGIC",
    "Backlog",
    "SegmentReadResult",
    "SegmentState",
    "backlog",
    "encode_frame",
    "encode_header",
    "first_event_ns",
    "frame_parts",
    "fsync_dir",
    "read_segment",
    "segment_created_ns",
    "segment_id",
    "segment_state",
    "segments_in_flight",
]

FILE_MAGIC = b"CXWAL\x00\x01\n"
FRAME_MAGIC = b"CXFR"
_FRAME_HEAD = struct.Struct("<4sII")  # magic, payload length, crc32
_U32 = struct.Struct("<I")
# A frame can never be larger than a segment; anything bigger is a corrupt length field.
MAX_FRAME_BYTES = 1 << 30


class SegmentState:
    OPEN = "open"
    SEALED = "sealed"
    COMPACTED = "compacted"


def segment_id(path: Path) -> str:
    return path.name.rsplit(".", 1)[0]


def segment_state(path: Path) -> str:
    return path.name.rsplit(".", 1)[1]


def segment_created_ns(path: Path) -> int:
    """When the segment was made: the nanosecond stamp in ``<slot>-<ns>.<state>``."""
    return _created_ns(segment_id(path))


def _created_ns(name: str) -> int:
    """The nanosecond stamp of segment id ``<slot>-<ns>``."""
    return int(name.partition("-")[2])


def segments_in_flight(wal_dir: Path, created_before_ns: int) -> list[str]:
    """Ids of the segments made before ``created_before_ns`` whose events may not have reached
    the lake and PostgreSQL yet: open ones that hold a frame, sealed and compacted ones (the
    same scan as :func:`backlog`)."""
    return backlog(wal_dir).in_flight_before(created_before_ns)


def _holds_frames(path: Path | str) -> bool:
    """Whether the file is longer than its header (magic, schema length, schema, crc)."""
    with open(path, "rb") as file:
        head = file.read(len(FILE_MAGIC) + _U32.size)
        size = os.fstat(file.fileno()).st_size
    if len(head) < len(FILE_MAGIC) + _U32.size:
        return False
    schema_length: int = _U32.unpack_from(head, len(FILE_MAGIC))[0]
    return size > len(FILE_MAGIC) + _U32.size + schema_length + _U32.size


@dataclass(frozen=True, slots=True)
class Backlog:
    """What the WAL holds that the lake or PostgreSQL does not have yet, from one directory scan.

    *Pending* is acked and not in the lake: open segments holding a frame (a segment made ahead
    of need holds only its header and is not a backlog) and sealed ones. *Unprojected* adds the
    compacted segments (in the lake, not yet in PostgreSQL). Times are receive times of events
    (epoch ns): a segment's oldest event is its first frame's, however long before that first
    frame the segment file was made.
    """

    scanned_ns: int
    pending_bytes: int = 0
    unprojected_bytes: int = 0
    oldest_unlaked_ns: int | None = None
    oldest_unprojected_ns: int | None = None
    open_segments: int = 0  # open and holding at least one frame
    sealed_segments: int = 0
    compacted_segments: int = 0
    # Segment id -> bytes, of the pending segments: successive scans tell what drained.
    pending: dict[str, int] = field(default_factory=dict)
    # Ids of every segment whose events may not be in the lake and PostgreSQL yet.
    in_flight: frozenset[str] = frozenset()
    # Ids of the sealed segments: work the pipeline can take now (open ones it cannot yet).
    sealed: frozenset[str] = frozenset()

    def in_flight_before(self, created_before_ns: int) -> list[str]:
        """Ids of the in-flight segments made before ``created_before_ns``, in name order."""
        return sorted(name for name in self.in_flight if _created_ns(name) < created_before_ns)

    def lag_s(self, now_ns: int | None = None) -> float:
        """Age of the oldest acked event not yet in the lake; 0 when there is none."""
        return _age_s(self.oldest_unlaked_ns, self.scanned_ns if now_ns is None else now_ns)

    def projection_lag_s(self, now_ns: int | None = None) -> float:
        """Age of the oldest acked event not yet in PostgreSQL; 0 when there is none."""
        return _age_s(self.oldest_unprojected_ns, self.scanned_ns if now_ns is None else now_ns)


def _age_s(oldest_ns: int | None, now_ns: int) -> float:
    return 0.0 if oldest_ns is None else max(0.0, (now_ns - oldest_ns) / 1e9)


# Segment path -> receive time of its first event. A segment's first frame never changes, so
# each segment is read once per process (only the oldest segment of each slot is read).
_first_event_ns: dict[str, int] = {}
_first_event_lock = threading.Lock()


def backlog(wal_dir: Path) -> Backlog:
    """One ``os.scandir`` pass over the slot directories of ``wal_dir``.

    Costs a ``stat`` per segment, a 12-byte read per open segment, and the first frame of the
    oldest pending and oldest unprojected segment of each slot, once per segment (cached).
    """
    now_ns = time.time_ns()
    pending: dict[str, int] = {}
    in_flight: list[str] = []
    sealed: list[str] = []
    pending_bytes = unprojected_bytes = 0
    counts = {SegmentState.OPEN: 0, SegmentState.SEALED: 0, SegmentState.COMPACTED: 0}
    oldest_unlaked: int | None = None
    oldest_unprojected: int | None = None
    seen: set[str] = set()
    for slot in _scandir(wal_dir):
        if not slot.name.startswith("w") or not slot.is_dir(follow_symlinks=False):
            continue
        # Per slot, names sort in write order: the first pending (and the first unprojected)
        # segment holds the slot's oldest event of that kind.
        # Plain strings, not Paths: pathlib's parsing was most of a scan's cost.
        first_pending: tuple[str, str, str] | None = None
        first_unprojected: tuple[str, str, str] | None = None
        prefix = slot.name + "-"
        for entry in _scandir(slot.path):
            name, _, state = entry.name.rpartition(".")
            if state not in counts or not name.startswith(prefix):
                continue
            base = entry.path[: -len(state) - 1]  # the path without ".<state>"
            found = _look(base, state)
            if found is None:
                continue  # made ahead of need and holding nothing yet, or projected and gone
            state, size = found
            counts[state] += 1
            in_flight.append(name)
            seen.add(base)
            unprojected_bytes += size
            if first_unprojected is None or name < first_unprojected[0]:
                first_unprojected = (name, base, state)
            if state == SegmentState.SEALED:
                sealed.append(name)
            if state != SegmentState.COMPACTED:
                pending[name] = size
                pending_bytes += size
                if first_pending is None or name < first_pending[0]:
                    first_pending = (name, base, state)
        if first_pending is not None:
            oldest_unlaked = _min(oldest_unlaked, _first_event(*first_pending[1:], now_ns))
        if first_unprojected is not None:
            oldest_unprojected = _min(
                oldest_unprojected, _first_event(*first_unprojected[1:], now_ns)
            )
    if oldest_unlaked is not None:  # what is not in the lake is not in PostgreSQL either
        oldest_unprojected = _min(oldest_unprojected, oldest_unlaked)
    _forget_first_events(wal_dir, seen)
    return Backlog(
        scanned_ns=now_ns,
        pending_bytes=pending_bytes,
        unprojected_bytes=unprojected_bytes,
        oldest_unlaked_ns=oldest_unlaked,
        oldest_unprojected_ns=oldest_unprojected,
        open_segments=counts[SegmentState.OPEN],
        sealed_segments=counts[SegmentState.SEALED],
        compacted_segments=counts[SegmentState.COMPACTED],
        pending=pending,
        in_flight=frozenset(in_flight),
        sealed=frozenset(sealed),
    )


_NEXT_STATE = {
    SegmentState.OPEN: SegmentState.SEALED,
    SegmentState.SEALED: SegmentState.COMPACTED,
}


def _look(base: str, state: str) -> tuple[str, int] | None:
    """The state and size now of segment ``<base>.<state>``; None once it holds nothing to
    wait for.

    A segment renamed to its next state between the directory listing and the ``stat`` is
    followed there, so a scan never misses one that is on its way (``wait_for_acked`` relies
    on it); one that is gone was projected."""
    while True:
        path = f"{base}.{state}"
        try:
            size = os.stat(path).st_size
            if state == SegmentState.OPEN and not _holds_frames(path):
                return None  # made ahead of need: holds nothing yet
            return state, size
        except FileNotFoundError:
            following = _NEXT_STATE.get(state)
            if following is None:
                return None
            state = following


def _scandir(directory: Path | str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _min(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _first_event(base: str, state: str, now_ns: int) -> int:
    """Receive time of the segment's first event: its first frame's smallest ``received_at``.

    The segment's state only picks the fallback when that frame cannot be read: an open
    segment's first frame may be being written this very moment (its events are being acked
    now); a sealed or compacted one's may be damaged (then the file's creation time, never
    later than its events, is the safe answer). A vanished file was just renamed or done.
    """
    cached = _first_event_ns.get(base)
    if cached is not None:
        return cached
    try:
        found = first_event_ns(Path(f"{base}.{state}"))
    except FileNotFoundError:
        found = None
        state = SegmentState.OPEN  # it moved on: its events are not old
    if found is None:
        return now_ns if state == SegmentState.OPEN else int(base.rpartition("-")[2])
    with _first_event_lock:
        _first_event_ns[base] = found
    return found


def _forget_first_events(wal_dir: Path, seen: set[str]) -> None:
    """Drop cached times of ``wal_dir``'s segments that are gone (projected and deleted)."""
    prefix = str(wal_dir) + os.sep
    with _first_event_lock:
        for key in [k for k in _first_event_ns if k.startswith(prefix) and k not in seen]:
            del _first_event_ns[key]


def first_event_ns(path: Path) -> int | None:
    """The smallest ``received_at`` (epoch ns) of the segment's first frame; None when the
    header or that frame is not (yet) intact or holds no receive time."""
    with path.open("rb") as file:
        head = file.read(len(FILE_MAGIC) + _U32.size)
        if len(head) < len(FILE_MAGIC) + _U32.size or not head.startswith(FILE_MAGIC):
            return None
        schema_length: int = _U32.unpack_from(head, len(FILE_MAGIC))[0]
        if schema_length > MAX_FRAME_BYTES:
            return None
        header = head + file.read(schema_length + _U32.size)
        schema = _read_header(header)
        if schema is None or schema.get_field_index("received_at") < 0:
            return None
        frame_head = file.read(_FRAME_HEAD.size)
        if len(frame_head) < _FRAME_HEAD.size:
            return None
        _, length, _ = _FRAME_HEAD.unpack(frame_head)
        if length > MAX_FRAME_BYTES:
            return None
        frame = _decode_frame_at(frame_head + file.read(length), 0, schema)
    if frame is None or frame[1].num_rows == 0:
        return None
    received = pc.min(frame[1].column("received_at")).cast(pa.int64()).as_py()
    if received is None:
        return None
    unit = frame[1].schema.field("received_at").type.unit
    return int(received) * _NS_PER_UNIT[unit]


_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def encode_header(schema: pa.Schema) -> bytes:
    schema_bytes = bytes(schema.serialize().to_pybytes())
    return (
        FILE_MAGIC
        + _U32.pack(len(schema_bytes))
        + schema_bytes
        + _U32.pack(zlib.crc32(schema_bytes))
    )


def encode_frame(batch: pa.RecordBatch) -> bytes:
    return b"".join(frame_parts(batch))


def frame_parts(batch: pa.RecordBatch) -> tuple[bytes, memoryview]:
    """A frame as (head, payload) without copying the payload: for ``os.writev``."""
    payload = memoryview(batch.serialize())
    return _FRAME_HEAD.pack(FRAME_MAGIC, len(payload), zlib.crc32(payload)), payload


def fsync_dir(directory: Path) -> None:
    """Make a create/rename/unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class SegmentReadResult:
    batches: list[pa.RecordBatch] = field(default_factory=list)
    # Byte offset just past the last good frame: where a torn tail gets cut.
    good_length: int = 0
    torn_tail_bytes: int = 0
    corrupt_frames: int = 0
    corrupt_ranges: list[tuple[int, int]] = field(default_factory=list)
    header_ok: bool = True
    schema: pa.Schema = WAL_SCHEMA  # the rows' schema, from the segment's header

    @property
    def holds_requests(self) -> bool:
        """Rows are logged requests (``REQUEST_SCHEMA``), still to be expanded into events."""
        return bool(self.schema.equals(REQUEST_SCHEMA))

    @property
    def rows(self) -> int:
        return sum(b.num_rows for b in self.batches)

    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=self.schema)


def read_segment(path: Path) -> SegmentReadResult:
    """Read every intact frame of a segment; never raises for damaged content."""
    data = path.read_bytes()
    result = SegmentReadResult()
    schema = _read_header(data)
    if schema is None:
        # A header torn at creation time: the file never held an acked frame.
        result.header_ok = False
        result.torn_tail_bytes = len(data)
        return result
    result.schema = schema
    offset = len(FILE_MAGIC) + 4 + len(schema.serialize()) + 4
    result.good_length = offset
    for start, end, batch in _scan_frames(data, offset, schema):
        if batch is None:
            if end >= len(data):  # nothing intact after it: the unacked final write
                result.torn_tail_bytes = len(data) - start
            else:
                result.corrupt_frames += 1
                result.corrupt_ranges.append((start, end))
            continue
        result.batches.append(batch)
        result.good_length = end
    return result


def _read_header(data: bytes) -> pa.Schema | None:
    if len(data) < len(FILE_MAGIC) + 8 or not data.startswith(FILE_MAGIC):
        return None
    (schema_len,) = _U32.unpack_from(data, len(FILE_MAGIC))
    start = len(FILE_MAGIC) + 4
    end = start + schema_len
    if end + 4 > len(data):
        return None
    schema_bytes = data[start:end]
    if zlib.crc32(schema_bytes) != _U32.unpack_from(data, end)[0]:
        return None
    return pa.ipc.read_schema(pa.py_buffer(schema_bytes))


def _scan_frames(
    data: bytes, offset: int, schema: pa.Schema
) -> Iterator[tuple[int, int, pa.RecordBatch | None]]:
    """Yield (start, end, batch) per frame; batch is None for a damaged or torn stretch."""
    size = len(data)
    while offset < size:
        frame = _decode_frame_at(data, offset, schema)
        if frame is not None:
            end, batch = frame
            yield offset, end, batch
            offset = end
            continue
        # Damaged: resynchronise at the next MAGIC that starts a frame which checks out.
        # A damaged stretch that runs to the end of the file is a torn final write.
        probe = data.find(FRAME_MAGIC, offset + 1)
        while probe != -1 and _decode_frame_at(data, probe, schema) is None:
            probe = data.find(FRAME_MAGIC, probe + 1)
        end = size if probe == -1 else probe
        yield offset, end, None
        offset = end


def _decode_frame_at(
    data: bytes, offset: int, schema: pa.Schema
) -> tuple[int, pa.RecordBatch] | None:
    head = _FRAME_HEAD.size
    if offset + head > len(data):
        return None
    magic, length, crc = _FRAME_HEAD.unpack_from(data, offset)
    if magic != FRAME_MAGIC or length > MAX_FRAME_BYTES:
        return None
    start = offset + head
    end = start + length
    if end > len(data):
        return None
    payload = memoryview(data)[start:end]
    if zlib.crc32(payload) != crc:
        return None
    try:
        batch = pa.ipc.read_record_batch(pa.py_buffer(payload), schema)
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    return end, batch

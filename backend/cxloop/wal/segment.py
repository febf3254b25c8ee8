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
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from cxloop.wal.schema import REQUEST_SCHEMA, WAL_SCHEMA

__all__ = [
    "FILE_MAGIC",
    "FRAME_MAGIC",
    "SegmentReadResult",
    "SegmentState",
    "encode_frame",
    "encode_header",
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
    return int(segment_id(path).partition("-")[2])


def segments_in_flight(wal_dir: Path, created_before_ns: int) -> list[Path]:
    """Segments made before ``created_before_ns`` whose events may not have reached the lake
    and PostgreSQL yet: open ones that hold a frame, sealed and compacted ones."""
    waiting = (SegmentState.OPEN, SegmentState.SEALED, SegmentState.COMPACTED)
    found = []
    for path in wal_dir.glob("w*/w*-*.*"):
        if segment_state(path) not in waiting or segment_created_ns(path) >= created_before_ns:
            continue
        try:
            if segment_state(path) == SegmentState.OPEN and not _holds_frames(path):
                continue  # a segment made ahead of need: holds nothing
        except FileNotFoundError:
            continue
        found.append(path)
    return found


def _holds_frames(path: Path) -> bool:
    """Whether the file is longer than its header (magic, schema length, schema, crc)."""
    with path.open("rb") as file:
        head = file.read(len(FILE_MAGIC) + _U32.size)
        size = os.fstat(file.fileno()).st_size
    if len(head) < len(FILE_MAGIC) + _U32.size:
        return False
    schema_length: int = _U32.unpack_from(head, len(FILE_MAGIC))[0]
    return size > len(FILE_MAGIC) + _U32.size + schema_length + _U32.size


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

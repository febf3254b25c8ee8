"""The write-ahead log writer: group commit of concurrent requests into one fsync per commit.

One writer per worker process owns one *slot* directory (``wal/w<N>/``), claimed with an
exclusive ``flock`` so N workers never share one and a restarted worker adopts a dead one's
slot and recovers its open segment. Requests hand rows to :meth:`WalWriter.append` and are
answered only after the frame holding them has been written and ``fdatasync``-ed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from cxloop.ops.metrics import Registry
from cxloop.wal.schema import WAL_SCHEMA
from cxloop.wal.segment import (
    SegmentState,
    encode_frame,
    encode_header,
    fsync_dir,
    read_segment,
)

__all__ = [
    "RecoveryReport",
    "WalOverloaded",
    "WalUnavailable",
    "WalWriter",
    "acquire_slot",
    "recover_slot",
    "rows_to_batch",
]

log = logging.getLogger("cxloop.wal")

Row = tuple[Any, ...]


class WalUnavailable(Exception):
    """The log cannot be written now (I/O error, disk nearly full, shutting down): answer 503."""


class WalOverloaded(Exception):
    """Too many events are already waiting for a commit: answer 503 with Retry-After."""


def acquire_slot(wal_dir: Path, max_slots: int = 1024) -> tuple[Path, int]:
    """Claim the first free slot directory; returns it and the lock fd to keep open."""
    wal_dir.mkdir(parents=True, exist_ok=True)
    for index in range(max_slots):
        slot = wal_dir / f"w{index}"
        slot.mkdir(exist_ok=True)
        fd = os.open(slot / "slot.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    raise WalUnavailable(f"all {max_slots} WAL slots under {wal_dir} are taken")


@dataclass
class RecoveryReport:
    segments: int = 0
    rows: int = 0
    torn_tails: int = 0
    torn_bytes: int = 0
    corrupt_frames: int = 0


def recover_slot(slot: Path) -> RecoveryReport:
    """Seal the open segments a dead writer left behind, cutting off torn final writes."""
    report = RecoveryReport()
    for path in sorted(slot.glob(f"*.{SegmentState.OPEN}")):
        result = read_segment(path)
        report.segments += 1
        report.rows += result.rows
        report.corrupt_frames += result.corrupt_frames
        if result.torn_tail_bytes:
            report.torn_tails += 1
            report.torn_bytes += result.torn_tail_bytes
            log.warning(
                "WAL recovery: cut a torn final write of %d bytes from %s (never acked)",
                result.torn_tail_bytes,
                path.name,
            )
        if result.rows == 0 and not result.corrupt_frames:
            path.unlink()
            continue
        if result.torn_tail_bytes:
            with open(path, "r+b") as handle:
                handle.truncate(result.good_length)
                os.fsync(handle.fileno())
        path.rename(path.with_suffix(f".{SegmentState.SEALED}"))
    fsync_dir(slot)
    return report


# Ingest hands these over as the JSON bytes it received, from a body it has checked to be
# UTF-8: built as binary and viewed as string (zero-copy), which avoids both a str per value
# and a cast's large fixed cost per column.
_BYTES_COLUMNS = frozenset({"properties", "traits", "context", "integrations", "extra"})
_COLUMN_TYPES = [
    (pa.binary(), field.type) if field.name in _BYTES_COLUMNS else (field.type, None)
    for field in WAL_SCHEMA
]


def rows_to_batch(rows: Sequence[Row]) -> pa.RecordBatch:
    """Turn row tuples in ``WAL_SCHEMA`` order into one record batch."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in WAL_SCHEMA]
    arrays = []
    for column, (build_type, final_type) in zip(columns, _COLUMN_TYPES, strict=True):
        array = pa.array(column, type=build_type)
        arrays.append(array.view(final_type) if final_type is not None else array)
    return pa.RecordBatch.from_arrays(arrays, schema=WAL_SCHEMA)


class WalWriter:
    """Appends rows durably; many concurrent :meth:`append` calls share one fsync."""

    def __init__(
        self,
        slot: Path,
        *,
        registry: Registry,
        fsync: bool = True,
        segment_max_bytes: int = 64 * 1024 * 1024,
        segment_max_age_s: float = 2.0,
        max_pending_events: int = 100_000,
        min_free_bytes: int = 0,
    ) -> None:
        self.slot = slot
        self._fsync = fsync
        self._segment_max_bytes = segment_max_bytes
        self._segment_max_age_s = segment_max_age_s
        self._max_pending_events = max_pending_events
        self._min_free_bytes = min_free_bytes
        self._pending: list[Row] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake: asyncio.Future[None] | None = None
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cxloop-wal")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._rows_in_segment = 0
        self._opened_at = 0.0
        self._last_ns = 0
        self._error: str | None = None
        self._disk_low = False
        self._last_disk_check = 0.0

        self.fsync_seconds = registry.histogram(
            "cxloop_wal_fsync_seconds", "Time to write and fsync one group commit."
        )
        self.commit_events = registry.histogram(
            "cxloop_wal_commit_events",
            "Events per group commit.",
            buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 50000),
        )
        self.pending_gauge = registry.gauge(
            "cxloop_wal_pending_events", "Events waiting for the next group commit."
        )
        self.segments_sealed = registry.counter(
            "cxloop_wal_segments_sealed_total", "WAL segments sealed for compaction."
        )
        self.write_errors = registry.counter(
            "cxloop_wal_write_errors_total", "Failed WAL writes or fsyncs (nothing acked)."
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._check_disk(force=True)
        self._task = asyncio.create_task(self._run(), name="cxloop-wal-writer")

    async def close(self) -> None:
        """Commit what is pending, seal the current segment, stop."""
        self._closing = True
        self._notify()
        if self._task is not None:
            await self._task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._io, self._seal_current)
        self._io.shutdown(wait=True)

    # -- health --------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        self._check_disk()
        return self._error is None and not self._disk_low and not self._closing

    @property
    def not_ready_reason(self) -> str | None:
        self._check_disk()
        if self._closing:
            return "shutting down"
        if self._disk_low:
            return f"less than {self._min_free_bytes} bytes free under {self.slot}"
        return self._error

    def _check_disk(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_disk_check < 1.0:
            return
        self._last_disk_check = now
        if self._min_free_bytes <= 0:
            self._disk_low = False
            return
        try:
            self._disk_low = shutil.disk_usage(self.slot).free < self._min_free_bytes
        except OSError as exc:
            self._error = f"cannot stat the WAL directory: {exc}"

    # -- appending -----------------------------------------------------------------------

    async def append(self, rows: Sequence[Row]) -> None:
        """Return once ``rows`` are on disk; raise WalUnavailable/WalOverloaded otherwise."""
        if not rows:
            return
        if not self.ready:
            raise WalUnavailable(self.not_ready_reason or "WAL not ready")
        if len(self._pending) + len(rows) > self._max_pending_events and self._pending:
            raise WalOverloaded(f"{len(self._pending)} events already waiting for the disk")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.extend(rows)
        self._waiters.append(future)
        self._notify()
        await future

    def _notify(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _sleep_until_woken(
        self, loop: asyncio.AbstractEventLoop, wait_s: float | None
    ) -> None:
        """Wait for an append (or the timeout). A bare future and timer, not wait_for():
        this runs once per commit, and wait_for costs a Task per call."""
        if self._pending or self._closing:
            return
        self._wake = loop.create_future()
        timer = loop.call_later(wait_s, self._notify) if wait_s is not None else None
        try:
            await self._wake
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            timeout = 1.0 if self._error else None
            if self._rows_in_segment:
                timeout = max(0.0, self._opened_at + self._segment_max_age_s - time.monotonic())
            await self._sleep_until_woken(loop, timeout)
            if self._error and not self._pending:
                await loop.run_in_executor(self._io, self._try_reopen)
            if self._pending:
                rows, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                self.pending_gauge.set(0)
                await self._commit(loop, rows, waiters)
                self.pending_gauge.set(len(self._pending))
            elif self._closing:
                return
            if self._rows_in_segment and (
                self._size >= self._segment_max_bytes
                or time.monotonic() - self._opened_at >= self._segment_max_age_s
            ):
                await loop.run_in_executor(self._io, self._seal_current)

    async def _commit(
        self,
        loop: asyncio.AbstractEventLoop,
        rows: list[Row],
        waiters: list[asyncio.Future[None]],
    ) -> None:
        try:
            frame = encode_frame(rows_to_batch(rows))
        except Exception as exc:  # a row that Arrow cannot hold is a bug: fail loudly, ack nothing
            log.exception("could not encode %d WAL rows", len(rows))
            _fail(waiters, WalUnavailable(f"could not encode events: {exc}"))
            return
        started = time.perf_counter()
        try:
            await loop.run_in_executor(self._io, self._write, frame, len(rows))
        except OSError as exc:
            self.write_errors.inc()
            self._error = f"WAL write failed: {exc}"
            log.error("WAL write failed, answering 503 until a write succeeds: %s", exc)
            failure = WalUnavailable(self._error)
            await loop.run_in_executor(self._io, self._abandon_current)
            await loop.run_in_executor(self._io, self._try_reopen)
            _fail(waiters, failure)
            return
        self._error = None
        self.fsync_seconds.observe(time.perf_counter() - started)
        self.commit_events.observe(len(rows))
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- file work (runs on the single I/O thread) -----------------------------------------

    def _write(self, frame: bytes, rows: int) -> None:
        if self._fd is None:
            self._open_segment()
        assert self._fd is not None
        view = memoryview(frame)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if self._fsync:
            os.fdatasync(self._fd)
        self._size += len(frame)
        self._rows_in_segment += rows

    def _open_segment(self) -> None:
        now_ns = max(time.time_ns(), self._last_ns + 1)
        self._last_ns = now_ns
        path = self.slot / f"{self.slot.name}-{now_ns:020d}.{SegmentState.OPEN}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            header = encode_header()
            os.write(fd, header)
            if self._fsync:
                os.fsync(fd)
                fsync_dir(self.slot)
        except OSError:
            os.close(fd)
            raise
        self._fd, self._path = fd, path
        self._size = len(header)
        self._rows_in_segment = 0
        self._opened_at = time.monotonic()

    def _seal_current(self) -> None:
        if self._fd is None or self._path is None:
            return
        os.close(self._fd)
        path, self._fd, self._path = self._path, None, None
        if self._rows_in_segment == 0:
            path.unlink()
        else:
            path.rename(path.with_suffix(f".{SegmentState.SEALED}"))
            self.segments_sealed.inc()
        if self._fsync:
            fsync_dir(self.slot)
        self._rows_in_segment = 0

    def _try_reopen(self) -> None:
        """After a failure: a fresh segment that can be created and synced clears the error."""
        try:
            if self._fd is None:
                self._open_segment()
        except OSError as exc:
            self._error = f"WAL write failed: {exc}"
            return
        self._error = None

    def _abandon_current(self) -> None:
        """After a failed write the segment may end in a partial frame: seal it via recovery."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd, self._path = None, None
        self._rows_in_segment = 0
        with contextlib.suppress(OSError):
            recover_slot(self.slot)


def _fail(waiters: list[asyncio.Future[None]], exc: Exception) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(exc)

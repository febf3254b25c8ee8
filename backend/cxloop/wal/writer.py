"""The write-ahead log writer: group commit of concurrent requests into one fsync per commit.

One writer per worker process owns one *slot* directory (``wal/w<N>/``), claimed with an
exclusive ``flock`` so N workers never share one and a restarted worker adopts a dead one's
slot and recovers its open segment. Requests hand rows to :meth:`WalWriter.append` and are
answered only after the frame holding them has been written and ``fdatasync``-ed.

The event loop encodes everything pending as one frame and hands it to the writer's own I/O
thread, which writes and syncs it in one system call (``pwritev`` with ``RWF_DSYNC``) and wakes
the loop once per commit, not once per request. Python work stays on the loop: each time the
I/O thread needs the GIL back while the loop is busy it can wait up to the switch interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from cxloop.ops import Registry
from cxloop.wal.gate import BacklogGate, BacklogView, PipelineBehind
from cxloop.wal.schema import REQUEST_SCHEMA, WAL_SCHEMA
from cxloop.wal.segment import (
    SegmentState,
    backlog,
    encode_header,
    frame_parts,
    fsync_dir,
    read_segment,
)

__all__ = [
    "RecoveryReport",
    "WalOverloaded",
    "WalUnavailable",
    "WalWriter",
    "acquire_slot",
    "columns_to_batch",
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


# Event rows carry the JSON bytes ingest received, from a body it checked to be UTF-8: built
# as binary and viewed as string (zero-copy), which avoids both a str per value and a cast's
# large fixed cost per column.
_BYTES_COLUMNS = frozenset({"properties", "traits", "context", "integrations", "extra"})


@lru_cache(maxsize=8)
def _column_types(schema: pa.Schema) -> list[tuple[pa.DataType, pa.DataType | None]]:
    return [
        (pa.binary(), field.type)
        if field.name in _BYTES_COLUMNS and field.type == pa.string()
        else (field.type, None)
        for field in schema
    ]


@lru_cache(maxsize=8)
def _row_struct(schema: pa.Schema) -> tuple[pa.StructType, tuple[int, ...]]:
    """The struct type Arrow converts ``schema``'s row tuples into, and which of its fields are
    built as binary and viewed as string afterwards."""
    fields, views = [], []
    for index, (field, (build_type, final_type)) in enumerate(
        zip(schema, _column_types(schema), strict=True)
    ):
        fields.append(pa.field(field.name, build_type, nullable=field.nullable))
        if final_type is not None:
            views.append(index)
    return pa.struct(fields), tuple(views)


def rows_to_batch(rows: Sequence[Row], schema: pa.Schema = WAL_SCHEMA) -> pa.RecordBatch:
    """Turn row tuples in ``schema`` field order into one record batch.

    One conversion of the rows as structs: a converter per column costs ~4 µs each before the
    first value, which was most of a small group commit (a single-event request's)."""
    struct_type, views = _row_struct(schema)
    if None in rows:  # Arrow would take it for a row of nulls (it rejects a tuple's wrong size)
        raise ValueError("a row is None, not a tuple of values")
    structs = pa.array(rows, type=struct_type)
    if not views:  # the struct's fields are the schema's: its columns, as they are (~2 µs)
        return pa.RecordBatch.from_struct_array(structs)
    columns = structs.flatten()
    for index in views:
        columns[index] = columns[index].view(schema.field(index).type)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def columns_to_batch(columns: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Turn column value lists in ``schema`` field order into one record batch."""
    arrays = []
    for column, (build_type, final_type) in zip(columns, _column_types(schema), strict=True):
        array = pa.array(column, type=build_type)
        arrays.append(array.view(final_type) if final_type is not None else array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class WalWriter:
    """Appends rows durably; many concurrent :meth:`append` calls share one fsync.

    Rows follow ``schema``: ingest logs ``REQUEST_SCHEMA`` rows (one per request).
    """

    def __init__(
        self,
        slot: Path,
        *,
        registry: Registry,
        schema: pa.Schema = REQUEST_SCHEMA,
        fsync: bool = True,
        segment_max_bytes: int = 64 * 1024 * 1024,
        segment_max_age_s: float = 2.0,
        max_pending_events: int = 100_000,
        min_free_bytes: int = 0,
        backlog_max_bytes: int = 0,
        backlog_max_s: float = 0.0,
        backlog_scan_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``backlog_max_bytes``/``backlog_max_s``: the bounds of :class:`BacklogGate` (0: off);
        the whole WAL directory (every slot) is scanned every ``backlog_scan_s`` seconds."""
        self.slot = slot
        self.schema = schema
        self._fsync = fsync
        self._segment_max_bytes = segment_max_bytes
        self._segment_max_age_s = segment_max_age_s
        self._max_pending_events = max_pending_events
        self._min_free_bytes = min_free_bytes
        # The event loop's side: what waits for the next commit, and whether one is on the
        # I/O thread (then the next waits for it: one commit, one fsync in flight at a time).
        self._pending: list[Row] = []
        self._pending_events = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._committing = False
        self._in_flight: _Commit | None = None
        self._handoff_due = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drained: asyncio.Future[None] | None = None
        # The I/O thread takes commits from here; it alone touches the open segment's state.
        self._jobs: queue.SimpleQueue[_Commit | None] = queue.SimpleQueue()
        self._io: threading.Thread | None = None
        self._io_done: asyncio.Future[None] | None = None
        # Segment files are made ahead and sealed on their own thread, off the commit path:
        # creating, renaming and directory fsyncs must not stall the acks queued behind them.
        self._files = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cxloop-wal-files")
        self._spare: Future[tuple[int, Path, int]] | None = None
        self._name_lock = threading.Lock()
        self._closing = False
        self._dsync_writes = hasattr(os, "RWF_DSYNC")
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._rows_in_segment = 0
        self._opened_at = 0.0
        self._last_ns = 0
        self._error: str | None = None
        self._disk_low = False
        self._last_disk_check = 0.0
        self.backlog_gate = BacklogGate(backlog_max_bytes, backlog_max_s)
        self._backlog_scan_s = backlog_scan_s
        self._clock = clock
        # The scan stats every segment: its own thread, so it never delays a commit or the
        # making of the next segment (a rotation waits for that one).
        self._scanner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cxloop-wal-scan")
        self._watch: asyncio.Task[None] | None = None

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
        self.backlog_scan_errors = registry.counter(
            "cxloop_wal_backlog_scan_errors_total",
            "Scans of the WAL directory for its backlog that failed (retried).",
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._check_disk(force=True)
        # A backlog left from before a restart is refused from the first request on.
        await self.scan_backlog()
        self._loop = asyncio.get_running_loop()
        self._io_done = self._loop.create_future()
        self._io = threading.Thread(
            target=self._io_main, args=(self._loop, self._io_done), name="cxloop-wal", daemon=True
        )
        self._io.start()
        self._watch = asyncio.create_task(self._watch_backlog(), name="cxloop-wal-backlog")

    async def close(self) -> None:
        """Commit what is pending, seal the current segment, stop."""
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._io is not None and self._io_done is not None:
            self._hand_off()
            if self._committing:
                self._drained = asyncio.get_running_loop().create_future()
                await self._drained
            self._jobs.put(None)  # the I/O thread seals the segment, drops the spare, ends
            await self._io_done
            self._io.join()
        self._files.shutdown(wait=True)
        self._scanner.shutdown(wait=True)

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

    # -- the backlog -----------------------------------------------------------------------

    @property
    def pipeline_behind(self) -> PipelineBehind | None:
        """Set while ingest must be refused because the pipeline is behind (back-pressure)."""
        return self.backlog_gate.behind

    @property
    def backlog_view(self) -> BacklogView | None:
        """The latest scan of the WAL's backlog (None before the first one)."""
        return self.backlog_gate.view

    async def scan_backlog(self) -> PipelineBehind | None:
        """Scan the WAL directory (off the event loop) and update the back-pressure."""
        loop = asyncio.get_running_loop()
        try:
            scan = await loop.run_in_executor(self._scanner, backlog, self.slot.parent)
        except OSError as exc:
            self.backlog_scan_errors.inc()
            log.warning("could not scan the WAL directory for its backlog: %s", exc)
            return self.backlog_gate.behind
        before = self.backlog_gate.behind
        behind = self.backlog_gate.observe(scan, self._clock())
        if (before is None) != (behind is None):
            if behind is not None:
                log.warning("the pipeline is behind, refusing ingest: %s", behind.reason)
            else:
                log.info("the pipeline caught up, accepting ingest again")
        return behind

    async def _watch_backlog(self) -> None:
        while True:
            await asyncio.sleep(self._backlog_scan_s)
            await self.scan_backlog()

    # -- appending -----------------------------------------------------------------------

    async def append(self, rows: Sequence[Row], events: int | None = None) -> None:
        """Return once ``rows`` are on disk; raise WalUnavailable/WalOverloaded otherwise.

        ``events`` is what the rows hold, for the overload bound (default: one per row).
        """
        if not rows:
            return
        if not self.ready:
            raise WalUnavailable(self.not_ready_reason or "WAL not ready")
        events = len(rows) if events is None else events
        if self._pending and self._pending_events + events > self._max_pending_events:
            raise WalOverloaded(f"{self._pending_events} events already waiting for the disk")
        loop = self._loop
        if loop is None:
            raise WalUnavailable("the WAL writer is not started")
        future: asyncio.Future[None] = loop.create_future()
        self._pending.extend(rows)
        self._pending_events += events
        self._waiters.append(future)
        if not self._committing and not self._handoff_due:
            # At the end of this turn of the loop, not now: requests served in the same
            # turn share the commit.
            self._handoff_due = True
            loop.call_soon(self._hand_off)
        await future

    def _hand_off(self) -> None:
        """Encode everything pending as one frame for the I/O thread (unless one is on it)."""
        self._handoff_due = False
        if self._committing or not self._pending:
            return
        rows, waiters, events = self._pending, self._waiters, self._pending_events
        self._pending, self._waiters, self._pending_events = [], [], 0
        self.pending_gauge.set(0)
        try:
            frame = frame_parts(rows_to_batch(rows, self.schema))
        except Exception as exc:  # a row that Arrow cannot hold is a bug: fail loudly, ack nothing
            log.exception("could not encode %d WAL rows", len(rows))
            _fail(waiters, WalUnavailable(f"could not encode events: {exc}"))
            return
        self._committing = True
        self._in_flight = _Commit(frame, len(rows), waiters, events)
        self._jobs.put(self._in_flight)

    def _committed(self, commit: _Commit) -> None:
        """On the loop, once per commit: answer its requests and hand over the next one."""
        self._committing = False
        self._in_flight = None
        if commit.failure is None:
            self.fsync_seconds.observe(commit.seconds)
            self.commit_events.observe(commit.events)
            for waiter in commit.waiters:
                if not waiter.done():
                    waiter.set_result(None)
        else:
            if commit.write_failed:
                self.write_errors.inc()
            _fail(commit.waiters, commit.failure)
        self.pending_gauge.set(self._pending_events)
        self._hand_off()  # what arrived during this commit
        if not self._committing and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- the I/O thread --------------------------------------------------------------------

    def _io_main(self, loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]) -> None:
        try:
            while True:
                try:
                    commit = self._jobs.get(timeout=self._idle_timeout())
                except queue.Empty:
                    self._when_idle()
                    continue
                if commit is None:
                    self._seal_current()
                    self._drop_spare()
                    return
                self._commit(commit)
                try:
                    loop.call_soon_threadsafe(self._committed, commit)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    return
                self._rotate_if_due()
        except BaseException:
            log.exception("the WAL I/O thread stopped")
            self._error = "the WAL I/O thread stopped"
            raise
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._io_stopped, done)

    def _io_stopped(self, done: asyncio.Future[None]) -> None:
        """On the loop: the I/O thread has ended; nothing waits for it any more."""
        if self._committing or self._pending:  # only if it died: refuse, never leave waiting
            failure = WalUnavailable(self._error or "the WAL I/O thread stopped")
            if self._in_flight is not None:
                _fail(self._in_flight.waiters, failure)
            self._committing, self._in_flight = False, None
            waiters, self._waiters, self._pending = self._waiters, [], []
            self._pending_events = 0
            _fail(waiters, failure)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        _set_done(done)

    def _idle_timeout(self) -> float | None:
        """How long the thread may wait for a commit: until the open segment is due to be
        sealed, or a second to retry after an error."""
        if self._rows_in_segment:
            return max(0.0, self._opened_at + self._segment_max_age_s - time.monotonic())
        return 1.0 if self._error else None

    def _when_idle(self) -> None:
        if self._error:
            self._try_reopen()
        self._rotate_if_due()

    def _rotate_if_due(self) -> None:
        if self._rows_in_segment and (
            self._size >= self._segment_max_bytes
            or time.monotonic() - self._opened_at >= self._segment_max_age_s
        ):
            self._seal_current()

    def _commit(self, commit: _Commit) -> None:
        """Write and sync one commit; its outcome goes back in ``commit``."""
        started = time.perf_counter()
        try:
            self._write(commit.frame, commit.rows)
        except Exception as exc:  # OSError, or a bug: either way nothing of it is acked
            self._error = f"WAL write failed: {exc}"
            log.error("WAL write failed, answering 503 until a write succeeds: %s", exc)
            if not isinstance(exc, OSError):
                log.exception("unexpected error writing the WAL")
            commit.failure = WalUnavailable(self._error)
            commit.write_failed = True
            self._abandon_current()
            self._try_reopen()
            return
        self._error = None
        commit.seconds = time.perf_counter() - started

    # -- file work (runs on the single I/O thread) -----------------------------------------

    def _write(self, frame: tuple[bytes, memoryview], rows: int) -> None:
        if self._fd is None:
            self._open_segment()
        assert self._fd is not None
        head, payload = frame
        size = len(head) + len(payload)
        synced = False
        if self._fsync and self._dsync_writes:
            # Write and sync in one call: the I/O thread takes the GIL back once, not twice.
            try:
                written = os.pwritev(self._fd, [head, payload], self._size, os.RWF_DSYNC)
                synced = True
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                log.info("the WAL's file system cannot write with RWF_DSYNC: %s", exc)
                self._dsync_writes = False
                written = os.writev(self._fd, [head, payload])
        else:
            written = os.writev(self._fd, [head, payload])
        if written < size:  # a short write (rare on a regular file): finish byte by byte
            synced = False
            rest = memoryview(b"".join(frame))[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]
        if self._fsync and not synced:
            os.fdatasync(self._fd)
        self._size += size
        self._rows_in_segment += rows

    def _open_segment(self) -> None:
        """Switch to the spare segment made ahead of time (or make one now), and start the
        next spare in the background: a rotation never waits for a file to be created."""
        spare, self._spare = self._spare, None
        segment = None
        if spare is not None:
            try:
                segment = spare.result()
            except OSError:
                segment = None  # making it failed in the background: try again right here
        if segment is None:
            segment = self._create_segment()
        self._fd, self._path, self._size = segment
        self._rows_in_segment = 0
        self._opened_at = time.monotonic()
        self._spare = self._files.submit(self._create_segment)

    def _create_segment(self) -> tuple[int, Path, int]:
        """A new ``.open`` segment holding just its header, created durably."""
        with self._name_lock:
            now_ns = max(time.time_ns(), self._last_ns + 1)
            self._last_ns = now_ns
        path = self.slot / f"{self.slot.name}-{now_ns:020d}.{SegmentState.OPEN}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            header = encode_header(self.schema)
            os.write(fd, header)
            if self._fsync:
                os.fsync(fd)
                fsync_dir(self.slot)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        return fd, path, len(header)

    def _seal_current(self) -> None:
        """Detach the current segment; closing and renaming it happen in the background."""
        if self._fd is None or self._path is None:
            return
        detached = (self._fd, self._path, self._rows_in_segment)
        self._fd, self._path = None, None
        self._rows_in_segment = 0
        self._files.submit(self._finish_segment, *detached)

    def _finish_segment(self, fd: int, path: Path, rows: int) -> None:
        os.close(fd)
        if rows == 0:
            path.unlink()
        else:
            path.rename(path.with_suffix(f".{SegmentState.SEALED}"))
            self.segments_sealed.inc()
        if self._fsync:
            fsync_dir(self.slot)

    def _drop_spare(self) -> None:
        """Close and remove the spare segment (it holds no frame)."""
        spare, self._spare = self._spare, None
        if spare is None:
            return
        with contextlib.suppress(OSError):
            fd, path, _ = spare.result()
            os.close(fd)
            path.unlink()

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
        # Recovery must not see the spare as a dead writer's segment; wait for the sealing of
        # earlier segments so it does not race with their renames either.
        self._drop_spare()
        self._files.submit(lambda: None).result()
        with contextlib.suppress(OSError):
            recover_slot(self.slot)


class _Commit:
    """One group commit (its encoded frame) on its way to the I/O thread and back."""

    __slots__ = ("events", "failure", "frame", "rows", "seconds", "waiters", "write_failed")

    def __init__(
        self,
        frame: tuple[bytes, memoryview],
        rows: int,
        waiters: list[asyncio.Future[None]],
        events: int,
    ) -> None:
        self.frame = frame
        self.rows = rows
        self.waiters = waiters
        self.events = events
        self.seconds = 0.0
        self.failure: WalUnavailable | None = None
        self.write_failed = False


def _set_done(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _fail(waiters: list[asyncio.Future[None]], exc: Exception) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(exc)

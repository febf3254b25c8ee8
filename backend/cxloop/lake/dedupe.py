"""The exact dedupe index: which WAL segment owns each (kind, project, messageId).

Ownership is what makes compaction crash-safe. A segment claims its keys before it writes
any Parquet; a key nobody holds becomes its own, a key another segment holds is a
duplicate, and a key it already holds (a retry after a crash) is still its own. So a segment
compacted twice reaches the same decision both times and rewrites the same files.

Keys are 96-bit keyed fingerprints (:mod:`cxloop.lake.fingerprint`): exact for any
practical purpose (a false duplicate among 50M keys has a chance of about 1e-21 per new
key). They live in immutable *runs*: files of a sorted ``hi: uint64[n]`` then the matching
``lo: uint32[n]``, 12 bytes a key and nothing else, one directory per receive day::

    <dir>/salt                      the index's secret (8 random bytes, hex)
    <dir>/<YYYY-MM-DD>/<segment>.claim  keys a segment owns, not yet projected
    <dir>/<YYYY-MM-DD>/<segment>.rel    the same once released (projected)
    <dir>/<YYYY-MM-DD>/merged-<n>.run   released runs of the day, merged

A segment's own run *is* its ownership record: :meth:`DedupeIndex.owned` answers from it,
and a claim retried after a crash finds its keys there. The run is written (fsync-ed, then
renamed into place) before the claim returns, so nothing downstream runs ahead of it.
Released runs of a day are merged into one (a streaming merge, bounded memory), so a probe
visits about one run per day plus the few segments in flight. A probe maps each run
for the duration of one batch only and walks it a slice at a time, dropping each slice's
pages from the mapping after it, so the page cache is not held in the process's RSS.

Expiry drops whole days. With ``max_bytes`` set, the oldest days are dropped early when the
runs outgrow it (never the newest day): dedupe stays exact within a shorter window,
reported by :attr:`DedupeStats.window_seconds`, and claims never stop.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import logging
import mmap
import os
import re
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from cxloop.lake.fingerprint import SALT_BYTES, Fingerprinter, Fingerprints, KeyBatch
from cxloop.lake.paced import PacedFile
from cxloop.wal import fsync_dir

__all__ = [
    "Claim",
    "DedupeIndex",
    "DedupeIndexBusy",
    "DedupeKey",
    "DedupeStats",
    "KeyBatch",
    "KeyKind",
    "OwnedMask",
]


log = logging.getLogger("cxloop.lake")


class KeyKind(enum.StrEnum):
    """Valid and failed events are separate namespaces: a failed retry never hides a good one."""

    EVENT = "e"
    FAILED = "f"


# (kind, project_id, message_id)
DedupeKey = tuple[str, str, str]
Keys = KeyBatch | Sequence[DedupeKey]
OwnedMask = npt.NDArray[np.bool_]
U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
Positions = npt.NDArray[np.intp]

KEY_BYTES = 12  # on disk, per key: hi (8) + lo (4)


class DedupeIndexBusy(RuntimeError):
    """Another process has the index open for writing."""


@dataclass(frozen=True, slots=True)
class Claim:
    """One segment's keys for :meth:`DedupeIndex.claim_many`."""

    segment_id: str
    keys: Keys
    received_day: date | None = None


@dataclass(frozen=True, slots=True)
class DedupeStats:
    keys: int
    segments: int  # segments with a run of their own (claimed or released, not merged)
    runs: int
    days: int
    bytes: int  # of the run files: keys x 12
    filter_bytes: int  # resident: the runs' filters in memory
    window_seconds: float  # how far back duplicates are recognised now (shorter on a budget)


RunState = Literal["claim", "rel", "run"]
_RUN_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_][A-Za-z0-9_.=+-]*)\.(?P<state>claim|rel|run)$")
_DAY_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SEGMENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=+-]*$")
_MERGED_PREFIX = "merged-"
_SALT_FILE = "salt"
_FLOOR_FILE = "budget-floor"  # ordinal of the oldest day kept since the budget last dropped one
_IMPORT_CHUNK = 1_000_000
# Keys of the big run read per step of a merge: bounds its memory (~40 B a key, ~10 MiB).
_MERGE_CHUNK = 1 << 18
# Runs this big get a filter in memory: 4 to 8 bits a key (0.5-1 B), so that a new key
# passes it with a chance of 12-22 % and skips the binary search otherwise.
_FILTER_MIN_KEYS = 1 << 14
# A day's biggest run is merged with the others once they hold 1/_MERGE_RATIO of its keys.
_MERGE_RATIO = 4
_FILTER_BITS_PER_KEY = 4
# Keys of a run searched (or filtered) per step of a probe, 4 MiB of hi: the pages of one
# step are all of the run that is resident at a time (``_Mapping.drop``). A power of two,
# so that every step starts on a page.
_SLICE_KEYS = 1 << 19


@dataclass(slots=True)
class _Run:
    path: Path
    day: int  # date ordinal
    count: int
    state: RunState
    # A one-hash Bloom filter over the top ``filter_bits`` bits of hi (built on first probe):
    # most new keys are ruled out without a binary search in the mapped run.
    filter: npt.NDArray[np.uint8] | None = None
    filter_bits: int = 0

    @property
    def name(self) -> str:
        return self.path.name.rsplit(".", 1)[0]


class DedupeIndex:
    """File-backed dedupe index; one writing process, used from one thread at a time.

    ``path`` is the index directory; a path ending in ``.sqlite`` (the location of the
    SQLite index it replaces) means the directory beside it without the suffix, and that
    SQLite file, if present, is imported on first open and renamed ``*.imported``.
    """

    def __init__(
        self,
        path: Path,
        *,
        window_days: int = 8,
        max_bytes: int = 0,
        merge_runs: int = 8,
        readonly: bool = False,
    ) -> None:
        if window_days < 7:
            raise ValueError(f"the dedupe window must be at least 7 days, not {window_days}")
        if max_bytes < 0:
            raise ValueError(
                f"the dedupe disk budget must be 0 (none) or positive, not {max_bytes}"
            )
        if merge_runs < 2:
            raise ValueError(f"merge_runs must be at least 2, not {merge_runs}")
        if path.suffix == ".sqlite":
            self.path, legacy = path.with_suffix(""), path
        else:
            self.path, legacy = path, path.with_name(path.name + ".sqlite")
        self.window_days = window_days
        self.max_bytes = max_bytes
        self.merge_runs = merge_runs
        self.readonly = readonly
        self._runs: dict[Path, _Run] = {}
        self._segments: dict[str, _Run] = {}
        self._budget_floor: int | None = None
        self._full_warned = False
        self._lock_fd: int | None = None
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock_exclusively(self.path.with_name(self.path.name + ".lock"))
        try:
            if not readonly:
                self.path.mkdir(exist_ok=True)
            self._fingerprint = Fingerprinter(self._salt())
            self._scan()
            if not readonly and legacy.is_file():
                self._import_sqlite(legacy)
        except BaseException:
            self._release_lock()
            raise

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        self._fingerprint.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> DedupeIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _salt(self) -> bytes:
        path = self.path / _SALT_FILE
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            if self.readonly:
                return bytes(SALT_BYTES)  # an empty index: nothing will match anyway
            if any(self.path.glob("*/*")):
                raise RuntimeError(
                    f"the dedupe index {self.path} has runs but no salt; it cannot be read"
                ) from None
            text = secrets.token_bytes(SALT_BYTES).hex()
            _write_durably(path, text.encode())
        try:
            salt = bytes.fromhex(text)
        except ValueError:
            salt = b""
        if len(salt) != SALT_BYTES:
            raise RuntimeError(f"the dedupe salt {path} is damaged")
        return salt

    def _scan(self) -> None:
        """Read the catalogue of runs from the directory (and tidy after a crash)."""
        self._runs.clear()
        self._segments.clear()
        floor = self.path / _FLOOR_FILE
        with contextlib.suppress(FileNotFoundError, ValueError):
            self._budget_floor = int(floor.read_text())
        if not self.path.is_dir():
            return
        for day_dir in sorted(self.path.iterdir()):
            if not (day_dir.is_dir() and _DAY_NAME.match(day_dir.name)):
                continue
            day = date.fromisoformat(day_dir.name).toordinal()
            for file in day_dir.iterdir():
                match = _RUN_NAME.match(file.name)
                if match is None:
                    if file.name.endswith(".tmp") and not self.readonly:
                        file.unlink(missing_ok=True)  # a write cut short by a crash
                    continue
                size = file.stat().st_size
                if size % KEY_BYTES:
                    raise RuntimeError(f"the dedupe run {file} is damaged ({size} bytes)")
                state: RunState = match["state"]  # type: ignore[assignment]
                self._add(_Run(file, day, size // KEY_BYTES, state))

    def _add(self, run: _Run) -> None:
        self._runs[run.path] = run
        if run.state == "run":
            return
        held = self._segments.get(run.name)
        if held is None or _newer(run, held):
            self._segments[run.name] = run
            if held is not None and not self.readonly:
                # A crash between writing a segment's run on a newer day and removing the old
                # one: the newer one holds every key of the older.
                self._forget(held)
        elif not self.readonly:
            self._forget(run)

    def _forget(self, run: _Run) -> None:
        run.path.unlink(missing_ok=True)
        self._runs.pop(run.path, None)
        if self._segments.get(run.name) is run:
            del self._segments[run.name]

    # -- claiming ------------------------------------------------------------------------

    def claim(
        self,
        segment_id: str,
        keys: Keys,
        *,
        received_day: date | None = None,
    ) -> OwnedMask:
        """Make ``segment_id`` the owner of every key nobody owns; True where it owns the key.

        A key owned already by this segment (a retry after a crash) stays its own; one owned
        by another segment is a duplicate. Within ``keys`` only the first occurrence owns.
        ``received_day`` (default: today, UTC) is the newest receive date among the segment's
        rows: its claims expire ``window_days`` after it. Durable before returning.
        """
        return self.claim_many([Claim(segment_id, keys, received_day)])[0]

    def claim_many(self, claims: Sequence[Claim]) -> list[OwnedMask]:
        """Several segments' claims, answered exactly as one :meth:`claim` after another."""
        self._check_writable()
        masks = [self._claim(claim) for claim in claims]
        self._enforce_budget(datetime.now(UTC))
        return masks

    def _claim(self, claim: Claim) -> OwnedMask:
        _check_segment_id(claim.segment_id)
        day = (claim.received_day or datetime.now(UTC).date()).toordinal()
        prints = self._fingerprints(claim.keys)
        mask, hi, lo, first = _first_occurrences(prints)
        own = self._segments.get(claim.segment_id)
        in_own = np.zeros(len(hi), np.bool_)
        in_other = np.zeros(len(hi), np.bool_)
        for run in list(self._runs.values()):
            found = _probe(run, hi, lo)
            if run is own:
                in_own |= found
            else:
                in_other |= found
        new = ~(in_own | in_other)
        owned = in_own | new
        mask[first[~owned]] = False
        if own is None or new.any() or own.day < day:
            self._write_segment_run(
                claim.segment_id, max(day, own.day if own else day), own, hi[new], lo[new]
            )
        return mask

    def _write_segment_run(
        self, segment: str, day: int, own: _Run | None, hi: U64, lo: U32
    ) -> None:
        if own is not None and own.count:
            mapped = _Mapping(own)
            hi, lo = np.concatenate([mapped.hi, hi]), np.concatenate([mapped.lo, lo])
            del mapped
        order = np.argsort(hi, kind="stable")
        path = self._day_dir(day) / f"{segment}.claim"
        _write_run(path, hi[order], lo[order])
        run = _Run(path, day, len(hi), "claim")
        self._runs[path] = run
        self._segments[segment] = run
        if own is not None and own.path != path:
            own.path.unlink(missing_ok=True)
            self._runs.pop(own.path, None)

    def owned(self, segment_id: str, keys: Keys) -> OwnedMask:
        """Read-only: True where ``segment_id`` owns the key (first occurrence only).

        When the index cannot know (the segment's claims expired because it waited longer
        than the window, the budget dropped its day, it was released and merged, or the
        index was reset), every first occurrence counts as owned: projections are
        idempotent, so re-projecting a duplicate is harmless where silently dropping an
        event would not be.
        """
        if self.readonly:
            self._scan()
        prints = self._fingerprints(keys)
        mask, hi, lo, first = _first_occurrences(prints)
        if len(hi) == 0:
            return mask
        own = self._segments.get(segment_id)
        if own is None or not own.path.exists():
            log.warning(
                "segment %s is unknown to the dedupe index %s (expired, released or reset); "
                "treating its first occurrences as owned",
                segment_id,
                self.path,
            )
            return mask
        mask[first[~_probe(own, hi, lo)]] = False
        return mask

    def release(self, segment_id: str) -> None:
        """The segment is projected: nobody will ask :meth:`owned` about it again. Its keys
        stay until expiry, merged with the day's other released keys."""
        self._check_writable()
        run = self._segments.get(segment_id)
        if run is None or run.state != "claim":
            return
        released = run.path.with_suffix(".rel")
        os.replace(run.path, released)
        fsync_dir(released.parent)
        del self._runs[run.path]
        run.path, run.state = released, "rel"
        self._runs[released] = run
        self._merge_day(run.day, min_runs=self.merge_runs)

    def claimed_segments(self) -> list[str]:
        """Segments holding an unreleased run (for the pipeline to release any whose WAL
        file is gone, e.g. after a crash between projecting and releasing)."""
        return sorted(name for name, run in self._segments.items() if run.state == "claim")

    def fingerprints(self, keys: Keys) -> Fingerprints:
        """The keys' fingerprints under this index's salt (for tools and benchmarks)."""
        return self._fingerprints(keys)

    def _fingerprints(self, keys: Keys) -> Fingerprints:
        batch = keys if isinstance(keys, KeyBatch) else KeyBatch.from_keys(keys)
        return self._fingerprint(batch)

    # -- merging -------------------------------------------------------------------------

    def _merge_day(self, day: int, *, min_runs: int, whole: bool = False) -> None:
        """Merge the day's released and merged runs when there are ``min_runs`` of them.

        The day's biggest run joins only when the others hold a quarter of its keys (or
        ``whole``), so a busy day is not rewritten for every few segments: a day keeps at
        most ``merge_runs`` + 1 runs, and each key is rewritten a bounded number of times.
        """
        runs = sorted(
            (r for r in self._runs.values() if r.day == day and r.state != "claim"),
            key=lambda r: (r.count, r.path.name),
        )
        if len(runs) < min_runs:
            return
        others = sum(r.count for r in runs[:-1])
        if not whole and others * _MERGE_RATIO < runs[-1].count:
            runs = runs[:-1]
        number = 1 + max(
            (
                int(r.name.removeprefix(_MERGED_PREFIX))
                for r in self._runs.values()
                if r.day == day and r.state == "run"
            ),
            default=0,
        )
        path = self._day_dir(day) / f"{_MERGED_PREFIX}{number}.run"
        count = _merge_runs(runs, path)
        self._runs[path] = _Run(path, day, count, "run")
        for run in runs:
            self._forget(run)
        fsync_dir(path.parent)

    # -- expiry and the budget -----------------------------------------------------------

    def expire(self, now: datetime | None = None) -> int:
        """Forget the keys of days received before the window; returns keys removed.

        Keeps everything received on the last ``window_days`` calendar days before today
        (UTC) and today itself, so a key is remembered at least ``window_days`` x 24 h.
        Merges the released runs of past days and applies the disk budget. Call it
        regularly (the pipeline does, hourly).
        """
        self._check_writable()
        now = (now or datetime.now(UTC)).astimezone(UTC)
        today = now.date().toordinal()
        cutoff = today - self.window_days
        removed = sum(self._drop_day(day) for day in self._days() if day < cutoff)
        for day in self._days():
            if day < today:
                self._merge_day(day, min_runs=2, whole=True)
        removed += self._enforce_budget(now)
        return removed

    def _enforce_budget(self, now: datetime) -> int:
        """Drop the oldest days while the runs hold more than ``max_bytes`` (never the
        newest day, nor today); returns keys removed."""
        if not self.max_bytes:
            return 0
        removed = 0
        today = now.date().toordinal()
        while self._bytes() > self.max_bytes:
            days = self._days()
            oldest = days[0] if days else today
            if oldest >= today or oldest == days[-1]:
                if not self._full_warned:
                    log.warning(
                        "the dedupe index %s holds %d bytes, over its budget of %d, in one "
                        "day's keys; it keeps them (raise dedupe_max_bytes)",
                        self.path,
                        self._bytes(),
                        self.max_bytes,
                    )
                    self._full_warned = True
                break
            keys = self._drop_day(oldest)
            removed += keys
            self._budget_floor = oldest + 1
            _write_durably(self.path / _FLOOR_FILE, str(oldest + 1).encode())
            log.warning(
                "the dedupe index %s reached its disk budget of %d bytes: forgot the %d keys "
                "received on %s; duplicates are now recognised for %.1f days instead of %d",
                self.path,
                self.max_bytes,
                keys,
                date.fromordinal(oldest),
                self._window_seconds(now) / 86400,
                self.window_days,
            )
        return removed

    def _drop_day(self, day: int) -> int:
        runs = [r for r in self._runs.values() if r.day == day]
        for run in runs:
            self._forget(run)
        day_dir = self.path / date.fromordinal(day).isoformat()
        for leftover in day_dir.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            day_dir.rmdir()
        fsync_dir(self.path)
        return sum(r.count for r in runs)

    def _window_seconds(self, now: datetime) -> float:
        configured = float(self.window_days * 86400)
        if self._budget_floor is None:
            return configured
        start = datetime.combine(date.fromordinal(self._budget_floor), datetime.min.time(), UTC)
        return min(configured, max(0.0, (now - start).total_seconds()))

    def stats(self, now: datetime | None = None) -> DedupeStats:
        """Counts from the catalogue (no file is read): cheap enough for gauges."""
        if self.readonly:
            self._scan()
        now = (now or datetime.now(UTC)).astimezone(UTC)
        return DedupeStats(
            keys=sum(r.count for r in self._runs.values()),
            segments=len(self._segments),
            runs=len(self._runs),
            days=len(self._days()),
            bytes=self._bytes(),
            filter_bytes=sum(len(r.filter) for r in self._runs.values() if r.filter is not None),
            window_seconds=self._window_seconds(now),
        )

    # -- upgrade -------------------------------------------------------------------------

    def _import_sqlite(self, legacy: Path) -> None:
        """Import the keys of the SQLite index this one replaces, by their segment's receive
        day, as released runs (their ownership is not carried over: a compacted segment not
        yet projected then counts its first occurrences as owned, see :meth:`owned`)."""
        for leftover in self.path.glob(".import-*.tmp"):  # an import cut short: start over
            leftover.unlink()
        db = sqlite3.connect(legacy, isolation_level=None)
        try:
            tables = {name for (name,) in db.execute(_LEGACY_TABLES)}
            if not {"dedupe_namespaces", "dedupe_segments"} <= tables:
                raise RuntimeError(f"{legacy} is not a cxloop dedupe index")
            # Unsorted fingerprints by day in temp files first: only one day is in memory
            # (sorted) at a time, not the whole window.
            days: set[int] = set()
            for table in ("dedupe_recent", "dedupe_settled"):
                if table not in tables:
                    continue
                cursor = db.execute(_LEGACY_KEYS[table])
                while rows := cursor.fetchmany(_IMPORT_CHUNK):
                    kinds, projects, messages, received = zip(*rows, strict=True)
                    batch = KeyBatch(
                        pa.array([kind == "f" for kind in kinds], pa.bool_()),
                        pa.array(projects, pa.string()),
                        pa.array(messages, pa.string()),
                    )
                    prints = self._fingerprint(batch)
                    day_of = np.asarray(received, np.int64)
                    for day in np.unique(day_of).tolist():
                        pick = day_of == day
                        days.add(day)
                        with open(self._import_temp(day, "hi"), "ab") as out:
                            out.write(prints.hi[pick].tobytes())
                        with open(self._import_temp(day, "lo"), "ab") as out:
                            out.write(prints.lo[pick].tobytes())
        finally:
            db.close()
        keys = 0
        for day in sorted(days):
            hi = np.fromfile(self._import_temp(day, "hi"), np.uint64)
            lo = np.fromfile(self._import_temp(day, "lo"), np.uint32)
            order = np.argsort(hi, kind="stable")
            path = self._day_dir(day) / f"{_MERGED_PREFIX}0.run"
            _write_run(path, hi[order], lo[order])
            self._runs[path] = _Run(path, day, len(hi), "run")
            keys += len(hi)
            del hi, lo, order
            for part in ("hi", "lo"):
                self._import_temp(day, part).unlink()
        imported = legacy.with_name(legacy.name + ".imported")
        os.replace(legacy, imported)
        for suffix in ("-wal", "-shm", ".lock"):  # the SQLite index's own leftovers
            legacy.with_name(legacy.name + suffix).unlink(missing_ok=True)
        fsync_dir(legacy.parent)
        log.warning(
            "imported %d keys of %d days from %s into %s; the old file is kept as %s",
            keys,
            len(days),
            legacy,
            self.path,
            imported,
        )

    def _import_temp(self, day: int, part: str) -> Path:
        return self.path / f".import-{day}.{part}.tmp"

    # -- helpers -------------------------------------------------------------------------

    def _days(self) -> list[int]:
        return sorted({r.day for r in self._runs.values()})

    def _bytes(self) -> int:
        return KEY_BYTES * sum(r.count for r in self._runs.values())

    def _day_dir(self, day: int) -> Path:
        directory = self.path / date.fromordinal(day).isoformat()
        if not directory.is_dir():
            directory.mkdir()
            fsync_dir(self.path)
        return directory

    def _check_writable(self) -> None:
        if self.readonly:
            raise PermissionError(f"the dedupe index {self.path} was opened read-only")


_LEGACY_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"
_LEGACY_KEYS = {
    "dedupe_recent": (
        "SELECT n.kind, n.project_id, k.message_id, s.received_day FROM dedupe_recent AS k "
        "JOIN dedupe_namespaces AS n ON n.ns = k.ns JOIN dedupe_segments AS s ON s.seq = k.owner"
    ),
    "dedupe_settled": (
        "SELECT n.kind, n.project_id, k.message_id, s.received_day FROM dedupe_settled AS k "
        "JOIN dedupe_namespaces AS n ON n.ns = k.ns JOIN dedupe_segments AS s ON s.seq = k.owner"
    ),
}


def _first_occurrences(prints: Fingerprints) -> tuple[OwnedMask, U64, U32, Positions]:
    """A mask with True at each key's first position, and the distinct fingerprints sorted
    by ``hi`` with their first positions."""
    count = len(prints)
    mask = np.zeros(count, np.bool_)
    if count == 0:
        return mask, prints.hi, prints.lo, np.empty(0, np.intp)
    # Not a stable sort (about twice as slow): the first position of each group of equal
    # keys is its smallest, found with one reduceat.
    order = np.argsort(prints.hi)
    hi, lo = prints.hi[order], prints.lo[order]
    same_hi = hi[1:] == hi[:-1]
    if not same_hi.any():  # the usual case: all distinct
        mask[:] = True
        return mask, hi, lo, order
    if (same_hi & (lo[1:] != lo[:-1])).any():  # equal hi, different lo: about never
        order = np.lexsort((prints.lo, prints.hi))
        hi, lo = prints.hi[order], prints.lo[order]
        same_hi = hi[1:] == hi[:-1]
    starts = np.flatnonzero(np.concatenate(([True], ~(same_hi & (lo[1:] == lo[:-1])))))
    first = np.minimum.reduceat(order, starts)
    mask[first] = True
    return mask, hi[starts], lo[starts], first


class _Mapping:
    """A run's arrays, memory-mapped read-only, and the means to drop pages from the RSS.

    The kernel keeps a touched page of a mapped file in the process's RSS until it is
    unmapped, so a probe that walks a 20M-key run would count 240 MB of page cache as the
    pipeline's own. Probes and merges walk a run in order of ``hi`` and :meth:`drop` what
    they are done with (``MADV_DONTNEED``: the pages leave this process, the page cache keeps
    them), so only about one slice is resident at a time. The map goes when the last array of
    it goes (callers hold it for one probe or merge).
    """

    __slots__ = ("_map", "count", "hi", "lo")

    def __init__(self, run: _Run) -> None:
        self.count = run.count
        self._map: mmap.mmap | None = None
        if run.count == 0:
            self.hi: U64 = np.empty(0, np.uint64)
            self.lo: U32 = np.empty(0, np.uint32)
            return
        with open(run.path, "rb") as file:
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        self._map.madvise(mmap.MADV_RANDOM)  # probes jump around: read-ahead would be wasted
        self.hi = np.frombuffer(self._map, np.uint64, run.count)
        self.lo = np.frombuffer(self._map, np.uint32, run.count, offset=8 * run.count)

    def drop(self, start: int, stop: int) -> None:
        """Leave the pages of keys ``[start, stop)`` (hi and lo) out of the RSS."""
        if self._map is None or stop <= start:
            return
        for offset, width in ((0, 8), (8 * self.count, 4)):
            first = (offset + start * width) // mmap.PAGESIZE * mmap.PAGESIZE
            last = min(len(self._map), offset + stop * width)
            if last > first:
                self._map.madvise(mmap.MADV_DONTNEED, first, last - first)


def _probe(run: _Run, hi: U64, lo: U32) -> OwnedMask:
    """True where (hi, lo) — sorted by hi — is in the run.

    The run is searched one slice of ``_SLICE_KEYS`` keys at a time (the probes of a slice
    are those whose hi falls in its range) and each slice's pages leave the RSS after it.
    """
    found = np.zeros(len(hi), np.bool_)
    if run.count == 0 or len(hi) == 0:
        return found
    mapping = _Mapping(run)
    run_hi, run_lo = mapping.hi, mapping.lo
    if run.count >= _FILTER_MIN_KEYS:
        if run.filter is None:
            run.filter_bits, run.filter = _build_filter(mapping)
        slots = hi >> np.uint64(64 - run.filter_bits)
        bits = run.filter[slots >> np.uint64(3)] >> (np.uint8(7) - (slots & np.uint64(7))).astype(
            np.uint8
        )
        maybe = np.flatnonzero(bits & np.uint8(1))
    else:
        maybe = np.arange(len(hi))
    wanted = hi[maybe]
    # Slice s of the run starts where the hi at s * _SLICE_KEYS first occurs (its equal hi
    # stay together); a probe in [first hi of slice s, first hi of slice s + 1) can only be
    # found from there to the start of slice s + 1.
    firsts = run_hi[_SLICE_KEYS::_SLICE_KEYS].copy()  # not a view: used after the drop
    edges = [0, *np.searchsorted(run_hi, firsts).tolist(), run.count]
    # Those searches touched pages all over the run, and a touched page can bring a whole
    # large folio of the page cache (up to 2 MiB) into the mapping: drop them.
    mapping.drop(0, run.count)
    cuts = [0, *np.searchsorted(wanted, firsts).tolist(), len(wanted)]
    for part in range(len(cuts) - 1):
        if cuts[part] == cuts[part + 1]:
            continue
        base = edges[part]
        stop = min(run.count, edges[part + 1] + 1)
        these = maybe[cuts[part] : cuts[part + 1]]
        at = base + np.searchsorted(run_hi[base:stop], wanted[cuts[part] : cuts[part + 1]])
        inside = at < run.count
        these, at = these[inside], at[inside]
        equal = run_hi[at] == hi[these]
        these, at = these[equal], at[equal]
        same = run_lo[at] == lo[these]
        found[these[same]] = True
        # Equal hi, another lo at the first position: look at the rest of the equal hi.
        for k, start in zip(these[~same].tolist(), at[~same].tolist(), strict=True):
            j = start + 1
            while j < run.count and run_hi[j] == hi[k]:
                if run_lo[j] == lo[k]:
                    found[k] = True
                    break
                j += 1
        mapping.drop(base, stop)
    return found


def _build_filter(mapping: _Mapping) -> tuple[int, npt.NDArray[np.uint8]]:
    """The packed one-hash filter of a run, built a slice at a time (no byte per bit)."""
    bits = max(3, int(np.ceil(np.log2(mapping.count * _FILTER_BITS_PER_KEY))))
    packed = np.zeros(max(1, (1 << bits) >> 3), np.uint8)
    shift = np.uint64(64 - bits)
    for start in range(0, mapping.count, _SLICE_KEYS):
        stop = min(mapping.count, start + _SLICE_KEYS)
        slots = mapping.hi[start:stop] >> shift  # sorted, as hi is
        cells = slots >> np.uint64(3)
        marks = np.left_shift(np.uint8(1), (np.uint64(7) - (slots & np.uint64(7))).astype(np.uint8))
        heads = np.flatnonzero(np.concatenate(([True], cells[1:] != cells[:-1])))
        packed[cells[heads]] |= np.bitwise_or.reduceat(marks, heads)
        mapping.drop(start, stop)
    return bits, packed


def _merge_runs(runs: Sequence[_Run], path: Path) -> int:
    """Write the union of ``runs`` as one run at ``path``; returns its keys.

    A k-way merge in slices of the hi space (fingerprints are uniform, so equal slices hold
    about equal keys): every run is mapped, and only one slice of each is in memory at a
    time, about ``_MERGE_CHUNK`` keys in all; each slice's pages leave the RSS after it. A
    key in two runs (a merge cut short by a crash left its inputs behind) is written once.
    """
    total = sum(r.count for r in runs)
    slices = max(1, -(-total // _MERGE_CHUNK))
    bounds = [(i << 64) // slices for i in range(1, slices)]
    mapped = [_Mapping(r) for r in runs]
    cuts = [
        [0, *np.searchsorted(m.hi, np.array(bounds, np.uint64)).tolist(), m.count] for m in mapped
    ]
    for m in mapped:  # the searches touched pages all over each run
        m.drop(0, m.count)
    temp = path.with_name(f".{path.name}.tmp")
    temp_lo = path.with_name(f".{path.name}.lo.tmp")
    count = 0
    # The run is synced as it is written (PacedFile): one fsync of a run of hundreds of MB
    # at the end would queue all of it ahead of the ingest workers' WAL syncs.
    with PacedFile(temp) as hi_out, open(temp_lo, "wb+") as lo_out:
        for part in range(slices):
            hi = np.concatenate(
                [m.hi[c[part] : c[part + 1]] for m, c in zip(mapped, cuts, strict=True)]
            )
            lo = np.concatenate(
                [m.lo[c[part] : c[part + 1]] for m, c in zip(mapped, cuts, strict=True)]
            )
            for m, c in zip(mapped, cuts, strict=True):
                m.drop(c[part], c[part + 1])
            order = np.argsort(hi)
            hi, lo = hi[order], lo[order]
            keep = np.ones(len(hi), np.bool_)
            same_hi = hi[1:] == hi[:-1]
            if same_hi.any():
                # Equal hi with other lo between them would hide a repeat: order by lo too.
                order = np.lexsort((lo, hi))
                hi, lo = hi[order], lo[order]
                keep[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
            hi_out.write(hi[keep].tobytes())
            lo_out.write(lo[keep].tobytes())
            count += int(keep.sum())
        del mapped
        lo_out.seek(0)
        while chunk := lo_out.read(1 << 24):
            hi_out.write(chunk)
    temp_lo.unlink()
    os.replace(temp, path)
    return count


def _newer(run: _Run, held: _Run) -> bool:
    return (run.day, run.state == "claim") > (held.day, held.state == "claim")


def _check_segment_id(segment_id: str) -> None:
    if not _SEGMENT_ID.match(segment_id) or segment_id.startswith(_MERGED_PREFIX):
        raise ValueError(f"{segment_id!r} cannot name a dedupe run")


def _write_run(path: Path, hi: U64, lo: U32) -> None:
    """A run file, whole or not at all: temp, fsync, rename, fsync the directory."""
    _write_durably(
        path, hi.astype("<u8", copy=False).tobytes() + lo.astype("<u4", copy=False).tobytes()
    )


def _write_durably(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with PacedFile(temp) as file:  # durable once closed, synced in steps on the way
        file.write(data)
    os.replace(temp, path)
    fsync_dir(path.parent)


def _lock_exclusively(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DedupeIndexBusy(
            f"the dedupe index {path.with_suffix('')} is open for writing in another process; "
            "run one cxloop pipeline per data directory"
        ) from None
    return fd

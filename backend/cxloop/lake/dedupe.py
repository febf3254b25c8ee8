"""The exact dedupe index: which WAL segment owns each (kind, project, messageId).

Ownership is what makes compaction crash-safe. A segment claims its keys before it writes
any Parquet; a key nobody holds becomes its own, a key another segment holds is a
duplicate, and a key it already holds (a retry after a crash) is still its own. So a segment
compacted twice reaches the same decision both times and rewrites the same files.

Keys are stored exactly: the message id as text under a small integer namespace per
(kind, project), so there are no hash collisions to reason about. A segment's keys travel to
SQLite as one sorted JSON array per namespace (``json_each``): one statement per namespace,
no per-row binding in Python.

Message ids are random, so a claim's inserts land all over a B-tree and its commit rewrites
nearly every page they touch: with one big table the cost of a claim grows with the whole
window. Instead claims insert into a small ``recent`` table and only *read* the big
``settled`` one (sorted probes, no page rewritten); :meth:`DedupeIndex.settle` moves recent
keys over in key-range chunks, each settled page rewritten about once per settle, and
claims settle when recent has grown large, :meth:`DedupeIndex.expire` once a day. A key is
inserted into recent only when settled does not hold it, so it has one owner everywhere.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType

__all__ = [
    "Claim",
    "DedupeIndex",
    "DedupeIndexBusy",
    "DedupeKey",
    "DedupeStats",
    "KeyKind",
]


log = logging.getLogger("cxloop.lake")


class KeyKind(enum.StrEnum):
    """Valid and failed events are separate namespaces: a failed retry never hides a good one."""

    EVENT = "e"
    FAILED = "f"


# (kind, project_id, message_id)
DedupeKey = tuple[str, str, str]


class DedupeIndexBusy(RuntimeError):
    """Another process has the index open for writing."""


@dataclass(frozen=True, slots=True)
class Claim:
    """One segment's keys for :meth:`DedupeIndex.claim_many`."""

    segment_id: str
    keys: Sequence[DedupeKey]
    received_day: date | None = None


@dataclass(frozen=True, slots=True)
class DedupeStats:
    keys: int
    segments: int
    namespaces: int


_SCHEMA_VERSION = 1
_KEY_TABLE = """(
        ns INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        owner INTEGER NOT NULL,  -- dedupe_segments.seq
        PRIMARY KEY (ns, message_id)
    ) WITHOUT ROWID"""
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS dedupe_namespaces (
        ns INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        project_id TEXT NOT NULL,
        UNIQUE (kind, project_id)
    )""",
    # received_day: the newest receive date (days since 0001-01-01) among the segment's rows.
    """CREATE TABLE IF NOT EXISTS dedupe_segments (
        seq INTEGER PRIMARY KEY,
        segment_id TEXT NOT NULL UNIQUE,
        received_day INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS dedupe_segments_day ON dedupe_segments (received_day)",
    # No secondary index on the keys: each would be one more random B-tree write per key,
    # and expiry can afford a chunked scan once a day.
    "CREATE TABLE IF NOT EXISTS dedupe_recent " + _KEY_TABLE,
    "CREATE TABLE IF NOT EXISTS dedupe_settled " + _KEY_TABLE,
    # expired_before_day, recent_keys (approximate), recent_since_day
    """CREATE TABLE IF NOT EXISTS dedupe_meta (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )""",
)

_SELECT_NAMESPACES = "SELECT kind, project_id, ns FROM dedupe_namespaces"
_INSERT_NAMESPACE = (
    "INSERT INTO dedupe_namespaces (kind, project_id) VALUES (?, ?) "
    "ON CONFLICT (kind, project_id) DO NOTHING"
)
_SELECT_NAMESPACE = "SELECT ns FROM dedupe_namespaces WHERE kind = ? AND project_id = ?"
_UPSERT_SEGMENT = (
    "INSERT INTO dedupe_segments (segment_id, received_day) VALUES (?, ?) "
    "ON CONFLICT (segment_id) DO UPDATE "
    "SET received_day = max(received_day, excluded.received_day) "
    "RETURNING seq"
)
_SELECT_SEGMENT = "SELECT seq, received_day FROM dedupe_segments WHERE segment_id = ?"
# The JSON arrays are sorted: inserts and probes walk the B-tree leaves in order. CROSS JOIN
# pins the loop order (walk the keys, probe the table); left to itself the planner may scan
# a whole namespace and probe the JSON array for each row.
_SETTLED_OWNERS = (
    "SELECT k.message_id, k.owner FROM json_each(?) AS j CROSS JOIN dedupe_settled AS k "
    "ON k.ns = ? AND k.message_id = j.value"
)
_CLAIM = (
    "INSERT OR IGNORE INTO dedupe_recent (ns, message_id, owner) "
    "SELECT ?, value, ? FROM json_each(?)"
)
_RECENT_HELD_BY_OTHERS = (
    "SELECT k.message_id FROM json_each(?) AS j CROSS JOIN dedupe_recent AS k "
    "ON k.ns = ? AND k.message_id = j.value WHERE k.owner <> ?"
)
_HELD_BY_SEGMENT = (
    "SELECT k.message_id FROM json_each(?) AS j CROSS JOIN dedupe_recent AS k "
    "ON k.ns = ? AND k.message_id = j.value WHERE k.owner = ? "
    "UNION ALL "
    "SELECT k.message_id FROM json_each(?) AS j CROSS JOIN dedupe_settled AS k "
    "ON k.ns = ? AND k.message_id = j.value WHERE k.owner = ?"
)
_SELECT_META = "SELECT value FROM dedupe_meta WHERE name = ?"
_SET_META = (
    "INSERT INTO dedupe_meta (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)
_RAISE_META = (
    "INSERT INTO dedupe_meta (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)"
)
_LOWER_META = (
    "INSERT INTO dedupe_meta (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = min(value, excluded.value)"
)
_ADD_META = (
    "INSERT INTO dedupe_meta (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)
_DELETE_META = "DELETE FROM dedupe_meta WHERE name = ?"
_COUNT_EXPIRED_SEGMENTS = "SELECT count(*) FROM dedupe_segments WHERE received_day < ?"
# Chunks are key ranges [start, end): a chunk's writes land in one stretch of the B-tree.
_RECENT_CHUNK_END = (
    "SELECT ns, message_id FROM dedupe_recent WHERE (ns, message_id) >= (?, ?) "
    "ORDER BY ns, message_id LIMIT 1 OFFSET ?"
)
_SETTLED_CHUNK_END = (
    "SELECT ns, message_id FROM dedupe_settled WHERE (ns, message_id) >= (?, ?) "
    "ORDER BY ns, message_id LIMIT 1 OFFSET ?"
)
# OR IGNORE: should a key ever be in both tables, the settled (older) owner stays.
_SETTLE_RANGE = (
    "INSERT OR IGNORE INTO dedupe_settled (ns, message_id, owner) "
    "SELECT ns, message_id, owner FROM dedupe_recent "
    "WHERE (ns, message_id) >= (?, ?) AND (ns, message_id) < (?, ?) ORDER BY ns, message_id"
)
_EMPTY_RECENT = "DELETE FROM dedupe_recent"
_EXPIRE_SETTLED_RANGE = (
    "DELETE FROM dedupe_settled "
    "WHERE (ns, message_id) >= (?, ?) AND (ns, message_id) < (?, ?) "
    "AND owner IN (SELECT seq FROM dedupe_segments WHERE received_day < ?)"
)
_EXPIRE_RECENT = (
    "DELETE FROM dedupe_recent "
    "WHERE owner IN (SELECT seq FROM dedupe_segments WHERE received_day < ?)"
)
_DELETE_EXPIRED_SEGMENTS = "DELETE FROM dedupe_segments WHERE received_day < ?"
_COUNT_KEYS = "SELECT (SELECT count(*) FROM dedupe_recent) + (SELECT count(*) FROM dedupe_settled)"
_COUNT_SEGMENTS = "SELECT count(*) FROM dedupe_segments"
_COUNT_NAMESPACES = "SELECT count(*) FROM dedupe_namespaces"

_EXPIRED_BEFORE = "expired_before_day"
_RECENT_KEYS = "recent_keys"
_RECENT_SINCE = "recent_since_day"

# Keys scanned per chunk of settling or expiry, one transaction each, so neither ever grows
# the SQLite WAL to the size of the whole index.
_CHUNK_KEYS = 500_000
_FIRST_KEY = (-1, "")
_PAST_LAST_KEY = (1 << 62, "")
KeyBound = tuple[int, str]


class DedupeIndex:
    """SQLite-backed dedupe index; one writing process, used from one thread at a time."""

    def __init__(
        self,
        path: Path,
        *,
        window_days: int = 8,
        settle_keys: int = 1_000_000,
        cache_mib: int = 512,
        readonly: bool = False,
    ) -> None:
        if window_days < 7:
            raise ValueError(f"the dedupe window must be at least 7 days, not {window_days}")
        self.path = path
        self.window_days = window_days
        # Settle once recent holds this many keys (and daily, in expire()): bigger makes every
        # claim rewrite more recent pages, smaller makes settling, which rewrites the settled
        # pages, more frequent.
        self.settle_keys = settle_keys
        self.readonly = readonly
        self._lock_fd: int | None = None
        self._namespaces: dict[tuple[str, str], int] = {}
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock_exclusively(path.with_name(path.name + ".lock"))
        try:
            self._db = self._connect(cache_mib)
        except BaseException:
            self._release_lock()
            raise

    def _connect(self, cache_mib: int) -> sqlite3.Connection:
        if self.readonly:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # Must precede the first write; ignored for an existing file. Random message ids
            # make a claim dirty most index pages; 16 KiB pages carry the same bytes in a
            # quarter of the WAL frames, measured ~1.5x the claim rate of 4 KiB pages.
            db.execute("PRAGMA page_size = 16384")
            db.execute("PRAGMA journal_mode = WAL")
        # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss. A claim
        # must be durable before the Parquet files it justifies are published and the segment
        # is renamed .compacted; otherwise the projector would find no owner for rows that are
        # in the lake, and a later replay of them would be taken as new. One fsync per segment.
        db.execute("PRAGMA synchronous = FULL")
        db.execute(f"PRAGMA cache_size = {-1024 * int(cache_mib)}")
        db.execute("PRAGMA temp_store = MEMORY")
        if not self.readonly:
            with _transaction(db):
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        self._namespaces = {(k, p): int(ns) for k, p, ns in db.execute(_SELECT_NAMESPACES)}
        return db

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()
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

    # -- claiming ------------------------------------------------------------------------

    def claim(
        self,
        segment_id: str,
        keys: Sequence[DedupeKey],
        *,
        received_day: date | None = None,
    ) -> list[bool]:
        """Make ``segment_id`` the owner of every key nobody owns; True where it owns the key.

        A key owned already by this segment (a retry after a crash) stays its own; one owned
        by another segment is a duplicate. Within ``keys`` only the first occurrence owns.
        ``received_day`` (default: today, UTC) is the newest receive date among the segment's
        rows: its claims expire ``window_days`` after it. Committed durably before returning.
        """
        return self.claim_many([Claim(segment_id, keys, received_day)])[0]

    def claim_many(self, claims: Sequence[Claim]) -> list[list[bool]]:
        """Several segments' claims, answered exactly as one :meth:`claim` after another, in
        one transaction. A commit rewrites every index page the keys touch, so a backlog
        claimed together pays that once instead of once per segment."""
        self._check_writable()
        if self._meta(_RECENT_KEYS, 0) >= self.settle_keys:
            self.settle()
        masks: list[list[bool]] = []
        new_namespaces: dict[tuple[str, str], int] = {}
        with _transaction(self._db):
            for claim in claims:
                mask, groups = _first_occurrences(claim.keys)
                day = (claim.received_day or datetime.now(UTC).date()).toordinal()
                (owner,) = self._db.execute(_UPSERT_SEGMENT, (claim.segment_id, day)).fetchone()
                inserted = 0
                for namespace, positions in groups.items():
                    ns = self._namespaces.get(namespace, new_namespaces.get(namespace))
                    if ns is None:
                        ns = new_namespaces[namespace] = self._create_namespace(namespace)
                    inserted += self._claim_namespace(ns, owner, positions, mask)
                if inserted:
                    self._db.execute(_ADD_META, (_RECENT_KEYS, inserted))
                    self._db.execute(_LOWER_META, (_RECENT_SINCE, day))
                masks.append(mask)
        self._namespaces.update(new_namespaces)  # only once the transaction is committed
        return masks

    def _claim_namespace(
        self, ns: int, owner: int, positions: dict[str, int], mask: list[bool]
    ) -> int:
        """Claim one namespace's keys (first positions in ``positions``); returns inserts."""
        message_ids = sorted(positions)
        payload = json.dumps(message_ids)
        settled = self._db.execute(_SETTLED_OWNERS, (payload, ns)).fetchall()
        if settled:  # already claimed before the last settle: never inserted again
            for message_id, holder in settled:
                if holder != owner:
                    mask[positions[message_id]] = False
            known = {message_id for message_id, _ in settled}
            message_ids = [m for m in message_ids if m not in known]
            payload = json.dumps(message_ids)
        inserted: int = self._db.execute(_CLAIM, (ns, owner, payload)).rowcount
        if inserted < len(message_ids):
            for (message_id,) in self._db.execute(_RECENT_HELD_BY_OTHERS, (payload, ns, owner)):
                mask[positions[message_id]] = False
        return inserted

    def owned(self, segment_id: str, keys: Sequence[DedupeKey]) -> list[bool]:
        """Read-only: True where ``segment_id`` owns the key (first occurrence only).

        When the index cannot know (the segment's claims expired because it waited longer
        than the window, or the index was reset), every first occurrence counts as owned:
        projections are idempotent, so re-projecting a duplicate is harmless where silently
        dropping an event would not be.
        """
        mask, groups = _first_occurrences(keys)
        if not keys:
            return mask
        row = self._db.execute(_SELECT_SEGMENT, (segment_id,)).fetchone()
        if row is None:
            log.warning(
                "segment %s is unknown to the dedupe index %s (expired or reset); "
                "treating its first occurrences as owned",
                segment_id,
                self.path,
            )
            return mask
        owner, received_day = int(row[0]), int(row[1])
        if received_day < self._meta(_EXPIRED_BEFORE, -1):
            return mask
        for namespace, positions in groups.items():
            ns = self._namespaces.get(namespace)
            if ns is None:
                ns = self._lookup_namespace(namespace)
            held: set[str] = set()
            if ns is not None:
                payload = json.dumps(sorted(positions))
                args = (payload, ns, owner, payload, ns, owner)
                held = {m for (m,) in self._db.execute(_HELD_BY_SEGMENT, args)}
            for message_id, position in positions.items():
                if message_id not in held:
                    mask[position] = False
        return mask

    def settle(self) -> int:
        """Move every recent key into the settled table; returns how many moved."""
        self._check_writable()

        def copy(start: KeyBound, end: KeyBound) -> int:
            copied: int = self._db.execute(_SETTLE_RANGE, (*start, *end)).rowcount
            return copied

        moved = self._in_key_ranges(_RECENT_CHUNK_END, copy)
        # Emptied at once at the end (SQLite frees the pages without visiting the rows). A
        # crash before it leaves keys in both tables with the same owner, which every reader
        # tolerates: claims look in settled first, owned() looks in both.
        with _transaction(self._db):
            self._db.execute(_EMPTY_RECENT)
            self._db.execute(_SET_META, (_RECENT_KEYS, 0))
            self._db.execute(_DELETE_META, (_RECENT_SINCE,))
        return moved

    # -- expiry --------------------------------------------------------------------------

    def expire(self, now: datetime | None = None) -> int:
        """Forget the claims of segments received before the window; returns keys removed.

        Keeps everything received on the last ``window_days`` calendar days before today
        (UTC) and today itself, so a key is remembered at least ``window_days`` x 24 h.
        Settles first when recent holds keys from an earlier day. Call it regularly (the
        pipeline does, hourly).
        """
        self._check_writable()
        today = (now or datetime.now(UTC)).astimezone(UTC).date().toordinal()
        cutoff = today - self.window_days
        with _transaction(self._db):
            # First, so that owned() treats half-expired segments conservatively after a crash.
            self._db.execute(_RAISE_META, (_EXPIRED_BEFORE, cutoff))
            (segments,) = self._db.execute(_COUNT_EXPIRED_SEGMENTS, (cutoff,)).fetchone()
        recent_since = self._meta(_RECENT_SINCE, today)
        if recent_since < today or self._meta(_RECENT_KEYS, 0) >= self.settle_keys:
            self.settle()
        if not segments:
            return 0

        def forget(start: KeyBound, end: KeyBound) -> int:
            removed: int = self._db.execute(_EXPIRE_SETTLED_RANGE, (*start, *end, cutoff)).rowcount
            return removed

        removed = self._in_key_ranges(_SETTLED_CHUNK_END, forget)
        with _transaction(self._db):
            removed += self._db.execute(_EXPIRE_RECENT, (cutoff,)).rowcount
            self._db.execute(_DELETE_EXPIRED_SEGMENTS, (cutoff,))
        return removed

    def _in_key_ranges(self, chunk_end: str, work: Callable[[KeyBound, KeyBound], int]) -> int:
        """Run ``work`` over consecutive key ranges of about ``_CHUNK_KEYS`` keys of a table
        (found by ``chunk_end``), one transaction per range; returns the sum of its results."""
        total = 0
        start = _FIRST_KEY
        while True:
            with _transaction(self._db):
                row = self._db.execute(chunk_end, (*start, _CHUNK_KEYS)).fetchone()
                end = _PAST_LAST_KEY if row is None else (int(row[0]), str(row[1]))
                total += work(start, end)
            if row is None:
                return total
            start = end

    def stats(self) -> DedupeStats:
        """Counts (a full scan of the keys: for tests and the CLI, not the hot path)."""
        return DedupeStats(
            keys=int(self._db.execute(_COUNT_KEYS).fetchone()[0]),
            segments=int(self._db.execute(_COUNT_SEGMENTS).fetchone()[0]),
            namespaces=int(self._db.execute(_COUNT_NAMESPACES).fetchone()[0]),
        )

    # -- helpers -------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.readonly:
            raise PermissionError(f"the dedupe index {self.path} was opened read-only")

    def _create_namespace(self, namespace: tuple[str, str]) -> int:
        self._db.execute(_INSERT_NAMESPACE, namespace)
        (ns,) = self._db.execute(_SELECT_NAMESPACE, namespace).fetchone()
        return int(ns)

    def _lookup_namespace(self, namespace: tuple[str, str]) -> int | None:
        row = self._db.execute(_SELECT_NAMESPACE, namespace).fetchone()
        if row is None:
            return None
        self._namespaces[namespace] = int(row[0])
        return int(row[0])

    def _meta(self, name: str, default: int) -> int:
        row = self._db.execute(_SELECT_META, (name,)).fetchone()
        return default if row is None else int(row[0])


def _first_occurrences(
    keys: Sequence[DedupeKey],
) -> tuple[list[bool], dict[tuple[str, str], dict[str, int]]]:
    """A mask with True at each key's first position, and those positions by namespace."""
    mask = [False] * len(keys)
    groups: dict[tuple[str, str], dict[str, int]] = {}
    kind = project_id = ""
    positions: dict[str, int] = {}
    # Keys come in runs of one namespace: look the namespace up only when it changes.
    for position, (key_kind, key_project, message_id) in enumerate(keys):
        if key_kind != kind or key_project != project_id or not groups:
            kind, project_id = key_kind, key_project
            positions = groups.setdefault((kind, project_id), {})
        if positions.setdefault(message_id, position) == position:
            mask[position] = True
    return mask, groups


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # a failed COMMIT may or may not have ended it
            db.execute("ROLLBACK")
        raise


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

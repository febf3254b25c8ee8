"""The exact dedupe index: which WAL segment first wrote each (kind, project, messageId).

Ownership is what makes compaction crash-safe: a segment compacted twice claims the same
keys and gets the same answer, so the retry rewrites the same Parquet files; a key already
owned by another segment is a duplicate. Keys are 128-bit BLAKE2b digests of
(kind, project, messageId) in hex: compact, uniform B-tree keys that a whole segment can
pass to SQLite as one JSON array (one statement instead of one per key). A collision needs
about 2^64 events.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DedupeIndex", "dedupe_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS seen (
    key TEXT PRIMARY KEY,      -- hex blake2b-128 of kind, project, message id
    owner INTEGER NOT NULL,    -- segments.id of the segment that wrote it to the lake
    day INTEGER NOT NULL       -- received day (days since epoch), for expiry
) WITHOUT ROWID;
"""
_CLAIM = (
    "INSERT OR IGNORE INTO seen (key, owner, day) "
    "SELECT value, ?, ? FROM json_each(?) ORDER BY 1 RETURNING key"
)
_ALREADY_OWNED = "SELECT key FROM seen WHERE owner = ? AND key IN (SELECT value FROM json_each(?))"
_US_PER_DAY = 86_400_000_000


def dedupe_key(kind: str, project_id: str, message_id: str) -> str:
    digest = hashlib.blake2b(digest_size=16, person=b"cxloop-dedupe")
    digest.update(f"{kind}\x00{project_id}\x00{message_id}".encode())
    return digest.hexdigest()


class DedupeIndex:
    """SQLite-backed; one writer (the pipeline process), used from one thread."""

    def __init__(self, path: Path, *, window_days: int = 8) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.window_days = window_days
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a claim must be durable before the Parquet files it justifies are renamed in,
        # or a power loss could forget a claim whose files exist (then a replay duplicates).
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA cache_size=-262144")  # 256 MiB of page cache
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _segment_id(self, name: str) -> int | None:
        row = self._db.execute("SELECT id FROM segments WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def claim(self, segment: str, keys: Sequence[str], received_us: Sequence[int]) -> list[bool]:
        """Record keys not seen before as owned by ``segment``; True where it owns the key.

        Within one call only the first occurrence of a key owns it. The received day of the
        segment's newest event dates the claims for expiry.
        """
        if not keys:
            return []
        day = max(received_us) // _US_PER_DAY
        payload = json.dumps(list(keys))
        self._db.execute("BEGIN IMMEDIATE")
        try:
            owner = self._segment_id(segment)
            recompaction = owner is not None
            if owner is None:
                cursor = self._db.execute("INSERT INTO segments (name) VALUES (?)", (segment,))
                owner = int(cursor.lastrowid or 0)
            owned = {row[0] for row in self._db.execute(_CLAIM, (owner, day, payload))}
            if recompaction:  # after a crash: what this segment claimed the first time
                owned.update(row[0] for row in self._db.execute(_ALREADY_OWNED, (owner, payload)))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return _first_occurrences(keys, owned)

    def owned(self, segment: str, keys: Sequence[str]) -> list[bool]:
        """Read-only: which keys ``segment`` owns (first occurrence only)."""
        if not keys:
            return []
        owner = self._segment_id(segment)
        if owner is None:
            return [False] * len(keys)
        rows = self._db.execute(_ALREADY_OWNED, (owner, json.dumps(list(keys))))
        return _first_occurrences(keys, {row[0] for row in rows})

    def expire(self, now_us: int | None = None) -> int:
        """Forget keys received before the window; returns how many."""
        now_us = time.time_ns() // 1000 if now_us is None else now_us
        cutoff = now_us // _US_PER_DAY - self.window_days
        self._db.execute("BEGIN IMMEDIATE")
        cursor = self._db.execute("DELETE FROM seen WHERE day < ?", (cutoff,))
        self._db.execute("DELETE FROM segments WHERE id NOT IN (SELECT DISTINCT owner FROM seen)")
        self._db.execute("COMMIT")
        return cursor.rowcount

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])


def _first_occurrences(keys: Sequence[str], owned: set[str]) -> list[bool]:
    seen: set[str] = set()
    mask = []
    for key in keys:
        mask.append(key in owned and key not in seen)
        seen.add(key)
    return mask

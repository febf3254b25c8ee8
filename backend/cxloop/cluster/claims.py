"""Dedupe claims shared by the nodes of a cluster, in PostgreSQL.

The same decision as the local index (:class:`cxloop.lake.DedupeIndex`, ARCHITECTURE.md
decision 6), made for every node at once: a key is the 96-bit keyed fingerprint of (kind,
project, messageId) under ONE salt for the cluster (kept in PostgreSQL), and its owner is the
segment that claimed it first, named ``<node_id>.<segment_id>`` (segment ids are unique per
node only). A key nobody holds becomes the claimant's, a key the claimant holds already (a
retry after a crash) stays its own, a key another owner holds is a duplicate; within a claim
only the first occurrence owns. :meth:`ClusterDedupe.owned` reads back what a segment owns.

Keys live in one partition per *generation* (``GENERATION_DAYS`` UTC days of claims, migration
0012); expiry drops whole partitions. A claim batch is one transaction: a shared advisory lock (so the
generation cannot move meanwhile), one binary COPY of the batch's distinct fingerprints into a
temp table, one statement that looks each up by key in every generation and inserts the new
ones into the current generation (``ON CONFLICT DO NOTHING``: of two nodes racing for a key,
the second waits for the first and gets nothing), and returns only the keys the claimant does
not own. A key lost to a race in that statement is read back once more by a second statement,
whose snapshot sees the winner.

The interface is synchronous, like :class:`DedupeIndex`'s (the pipeline calls it from its
index thread): each instance has its own connection on its own event loop, run to completion
per call. Not the pipeline's pool: its four connections are one per loop, and a claim must not
wait behind a health refresh's transaction, nor an event loop's turn.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, TypeVar

import asyncpg
import numpy as np
import numpy.typing as npt

from cxloop.lake import (
    SALT_BYTES,
    Claim,
    DedupeKey,
    DedupeStats,
    Fingerprinter,
    Fingerprints,
    KeyBatch,
    OwnedMask,
    first_occurrences,
)

__all__ = ["ClusterDedupe", "ClusterDedupeUnavailable", "owner_name"]

log = logging.getLogger("cxloop.cluster")

Keys = KeyBatch | Sequence[DedupeKey]
T = TypeVar("T")

# Days of claims in one partition. Every key is looked up in every partition of the window
# (about window / GENERATION_DAYS + 1 of them), and a partition is dropped once its newest day
# is out of the window: 4 days keeps keys 8 to 11 days for 3 lookups a key, where a partition
# a day cost 9 (bench/bench_cluster_claims.py). The same for every node (not a setting).
GENERATION_DAYS = 4

# pg_advisory_xact_lock key of the claims' generation ("cxdedupe" in ASCII): claims hold it
# shared, moving to the next generation and expiry hold it exclusively.
GENERATION_LOCK = 0x6378646564757065

CREATE_BATCH_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS cluster_dedupe_batch (
    owner bigint NOT NULL,
    seq integer NOT NULL,
    pos integer NOT NULL,
    hi bigint NOT NULL,
    lo integer NOT NULL
) ON COMMIT DELETE ROWS
"""
BATCH_COLUMNS = ("owner", "seq", "pos", "hi", "lo")

MAKE_SALT = "INSERT INTO cluster_dedupe_salt (salt) VALUES ($1) ON CONFLICT (singleton) DO NOTHING"
READ_SALT = "SELECT salt FROM cluster_dedupe_salt"
LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared($1)"
LOCK_EXCLUSIVE = "SELECT pg_advisory_xact_lock($1)"
CURRENT_GENERATION = "SELECT day FROM cluster_dedupe_generation"
OPEN_GENERATION = "SELECT cluster_dedupe_open_day($1)"
ADVANCE_GENERATION = """
INSERT INTO cluster_dedupe_generation AS g (day) VALUES ($1)
ON CONFLICT (singleton) DO UPDATE SET day = greatest(g.day, excluded.day)
"""
UPSERT_OWNERS = """
INSERT INTO cluster_dedupe_owners AS o (node_id, segment_id, received_day, claimed_day)
SELECT $1, segment_id, received_day, $4
FROM unnest($2::text[], $3::date[]) AS t(segment_id, received_day)
ON CONFLICT (node_id, segment_id) DO UPDATE
SET received_day = greatest(o.received_day, excluded.received_day),
    claimed_day = greatest(o.claimed_day, excluded.claimed_day),
    released_at = NULL
RETURNING owner, segment_id
"""
# Each key of the batch looked up by key in every generation (LATERAL ... OFFSET 0: an index
# probe per key, never a join that may scan a partition), the new ones inserted by the first
# claim in the batch to hold them; returns the keys their claimant does not own (owner NULL:
# a race lost to another node's claim, read back by READ_BACK), and one row (seq -1) with the
# number of keys inserted.
CLAIM = """
WITH found AS MATERIALIZED (
    SELECT b.seq, b.pos, b.hi, b.lo, b.owner AS claimant, c.owner
    FROM cluster_dedupe_batch AS b
    LEFT JOIN LATERAL (
        SELECT c.owner FROM cluster_dedupe_claims AS c
        WHERE c.hi = b.hi AND c.lo = b.lo
        OFFSET 0
    ) AS c ON true
),
inserted AS (
    INSERT INTO cluster_dedupe_claims (day, hi, lo, owner)
    SELECT DISTINCT ON (hi, lo) $1::date, hi, lo, claimant
    FROM found WHERE owner IS NULL
    ORDER BY hi, lo, seq
    ON CONFLICT DO NOTHING
    RETURNING hi, lo, owner
)
SELECT f.seq, f.pos, coalesce(f.owner, i.owner) AS owner
FROM found AS f
LEFT JOIN inserted AS i ON f.owner IS NULL AND i.hi = f.hi AND i.lo = f.lo
WHERE coalesce(f.owner, i.owner) IS DISTINCT FROM f.claimant
UNION ALL
SELECT -1, count(*)::integer, NULL FROM inserted
"""
# The keys of the batch their claimant does not own, read after the claim (a new snapshot).
READ_BACK = """
SELECT b.seq, b.pos, c.owner
FROM cluster_dedupe_batch AS b
LEFT JOIN LATERAL (
    SELECT c.owner FROM cluster_dedupe_claims AS c
    WHERE c.hi = b.hi AND c.lo = b.lo
    OFFSET 0
) AS c ON true
WHERE c.owner IS DISTINCT FROM b.owner
"""
COUNT_KEYS = "UPDATE cluster_dedupe_days SET keys = keys + $2 WHERE day = $1"
FIND_OWNER = "SELECT owner FROM cluster_dedupe_owners WHERE node_id = $1 AND segment_id = $2"
RELEASE = """
UPDATE cluster_dedupe_owners SET released_at = now()
WHERE node_id = $1 AND segment_id = $2 AND released_at IS NULL
"""
CLAIMED_SEGMENTS = """
SELECT segment_id FROM cluster_dedupe_owners
WHERE node_id = $1 AND released_at IS NULL ORDER BY segment_id
"""
DROP_DAYS = "SELECT cluster_dedupe_drop_days($1)"
STATS = """
SELECT
    (SELECT coalesce(sum(keys), 0)::bigint FROM cluster_dedupe_days) AS keys,
    (SELECT count(*) FROM cluster_dedupe_days) AS days,
    (SELECT count(*) FROM cluster_dedupe_owners) AS segments,
    (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint
     FROM pg_inherits WHERE inhparent = 'cluster_dedupe_claims'::regclass) AS bytes
"""

# A binary COPY stream: signature, flags, header extension length; rows; trailer.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_BATCH_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("owner_size", ">i4"),
        ("owner", ">i8"),
        ("seq_size", ">i4"),
        ("seq", ">i4"),
        ("pos_size", ">i4"),
        ("pos", ">i4"),
        ("hi_size", ">i4"),
        ("hi", ">i8"),
        ("lo_size", ">i4"),
        ("lo", ">i4"),
    ]
)

# Connection failures a call survives by reconnecting once (PostgreSQL restarted, a
# connection cut); anything else is raised as it is.
_CONNECTION_ERRORS = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


class ClusterDedupeUnavailable(RuntimeError):
    """PostgreSQL, which holds the cluster's dedupe claims, cannot be reached."""


def owner_name(node_id: str, segment_id: str) -> str:
    """How a segment of a node is named as an owner (in logs and lake file names)."""
    return f"{node_id}.{segment_id}"


@dataclass(slots=True)
class _Batch:
    """The distinct keys of each claim: sorted fingerprints, and where each came from."""

    masks: list[OwnedMask]  # per claim: True at each first occurrence (narrowed later)
    firsts: list[npt.NDArray[np.intp]]  # per claim: the first position of each distinct key
    rows: npt.NDArray[Any]  # _BATCH_ROW, one per distinct key of each claim


class ClusterDedupe:
    """The cluster's dedupe claims, with :class:`DedupeIndex`'s interface (for compaction and
    projection). One per node's pipeline; safe to call from any one thread at a time."""

    def __init__(
        self,
        database_url: str,
        node_id: str,
        *,
        window_days: int = 8,
        generation_days: int = GENERATION_DAYS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if window_days < 7:
            raise ValueError(f"the dedupe window must be at least 7 days, not {window_days}")
        if generation_days < 1:
            raise ValueError(f"a generation lasts at least a day, not {generation_days}")
        self.generation_days = generation_days
        self.database_url = database_url
        self.node_id = node_id
        self.window_days = window_days
        self._clock = clock or (lambda: datetime.now(UTC))
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._conn: asyncpg.Connection | None = None
        self._fingerprint: Fingerprinter | None = None
        try:
            self._fingerprint = Fingerprinter(self._run(self._load_salt))
        except BaseException:
            self.close()
            raise

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                try:
                    self._loop.run_until_complete(conn.close(timeout=5))
                except (*_CONNECTION_ERRORS, TimeoutError):
                    conn.terminate()
            if not self._loop.is_closed():
                self._loop.close()
            if self._fingerprint is not None:
                self._fingerprint.close()
                self._fingerprint = None

    def __enter__(self) -> ClusterDedupe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, work: Callable[[asyncpg.Connection], Coroutine[Any, Any, T]]) -> T:
        """``work(connection)`` to completion on this instance's loop; one reconnect and retry
        if the connection was lost (every unit of work is one idempotent transaction)."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    return self._loop.run_until_complete(self._with_connection(work))
                except _CONNECTION_ERRORS as exc:
                    self._drop_connection()
                    if attempt == 2:
                        raise ClusterDedupeUnavailable(
                            f"the cluster's dedupe claims in PostgreSQL cannot be reached "
                            f"({type(exc).__name__}: {exc}); compaction waits until it can "
                            "(check DATABASE_URL and that PostgreSQL is up)"
                        ) from exc
            raise AssertionError("unreachable")

    async def _with_connection(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.database_url, timeout=10)
            await self._conn.execute(CREATE_BATCH_TABLE)
        return await work(self._conn)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def _load_salt(self, conn: asyncpg.Connection) -> bytes:
        """The cluster's salt: made by the first node to ask, the same for all after."""
        await conn.execute(MAKE_SALT, secrets.token_bytes(SALT_BYTES))
        salt: bytes = await conn.fetchval(READ_SALT)
        return bytes(salt)

    # -- claiming ------------------------------------------------------------------------

    def claim(self, segment_id: str, keys: Keys, *, received_day: date | None = None) -> OwnedMask:
        """Make this node's ``segment_id`` the owner of every key nobody owns (see
        :meth:`DedupeIndex.claim`); committed before returning."""
        return self.claim_many([Claim(segment_id, keys, received_day)])[0]

    def claim_many(self, claims: Sequence[Claim]) -> list[OwnedMask]:
        """Several segments' claims in one transaction, answered exactly as one :meth:`claim`
        after another."""
        if not claims:
            return []
        today = self._clock().astimezone(UTC).date()
        generation_start = self._generation_of(today)
        segments = list(dict.fromkeys(claim.segment_id for claim in claims))
        received: dict[str, date] = {}
        for claim in claims:
            day = claim.received_day or today
            received[claim.segment_id] = max(day, received.get(claim.segment_id, day))
        prints = [self._fingerprints(claim.keys) for claim in claims]

        async def work(conn: asyncpg.Connection) -> list[OwnedMask]:
            while True:
                async with conn.transaction():
                    await conn.execute(LOCK_SHARED, GENERATION_LOCK)
                    generation: date | None = await conn.fetchval(CURRENT_GENERATION)
                    if generation is not None and generation >= generation_start:
                        return await self._claim(
                            conn, generation, claims, prints, segments, received
                        )
                await self._advance(conn, generation_start)

        return self._run(work)

    async def _claim(
        self,
        conn: asyncpg.Connection,
        generation: date,
        claims: Sequence[Claim],
        prints: list[Fingerprints],
        segments: list[str],
        received: dict[str, date],
    ) -> list[OwnedMask]:
        rows = await conn.fetch(
            UPSERT_OWNERS,
            self.node_id,
            segments,
            [received[segment] for segment in segments],
            generation,
        )
        owners = {row["segment_id"]: int(row["owner"]) for row in rows}
        batch = _batch([owners[claim.segment_id] for claim in claims], prints)
        await _copy_batch(conn, batch.rows)
        answer = await conn.fetch(CLAIM, generation)
        inserted = next(row["pos"] for row in answer if row["seq"] == -1)
        lost = [row for row in answer if row["seq"] != -1]
        if any(row["owner"] is None for row in lost):
            # Another node's claim of a key committed after this statement's snapshot: read
            # the batch again (a new snapshot sees it).
            lost = await conn.fetch(READ_BACK)
        if inserted:
            await conn.execute(COUNT_KEYS, generation, inserted)
        for row in lost:
            seq, pos = row["seq"], row["pos"]
            batch.masks[seq][batch.firsts[seq][pos]] = False
        return batch.masks

    def _generation_of(self, day: date) -> date:
        """The first day of the generation ``day`` falls in (generations are whole days
        since day 1 of the proleptic calendar, so every node agrees)."""
        ordinal = day.toordinal()
        return date.fromordinal(ordinal - (ordinal - 1) % self.generation_days)

    async def _advance(self, conn: asyncpg.Connection, generation: date) -> None:
        """Make ``generation`` the current one (its partition first); waits for the claims
        in flight, which hold the lock shared."""
        async with conn.transaction():
            await conn.execute(LOCK_EXCLUSIVE, GENERATION_LOCK)
            await conn.execute(OPEN_GENERATION, generation)
            await conn.execute(ADVANCE_GENERATION, generation)
        log.info("dedupe claims: generation %s is open", generation.isoformat())

    def owned(self, segment_id: str, keys: Keys) -> OwnedMask:
        """True where this node's ``segment_id`` owns the key (first occurrences only); every
        first occurrence when the segment is unknown (expired), as :meth:`DedupeIndex.owned`."""
        prints = self._fingerprints(keys)

        async def work(conn: asyncpg.Connection) -> OwnedMask:
            owner = await conn.fetchval(FIND_OWNER, self.node_id, segment_id)
            batch = _batch([owner or 0], [prints])
            if owner is None:
                log.warning(
                    "segment %s is unknown to the cluster's dedupe claims (expired or reset); "
                    "treating its first occurrences as owned",
                    owner_name(self.node_id, segment_id),
                )
                return batch.masks[0]
            if len(batch.rows) == 0:
                return batch.masks[0]
            async with conn.transaction():
                await _copy_batch(conn, batch.rows)
                for row in await conn.fetch(READ_BACK):
                    batch.masks[0][batch.firsts[0][row["pos"]]] = False
            return batch.masks[0]

        return self._run(work)

    def release(self, segment_id: str) -> None:
        """The segment is projected: nobody will ask :meth:`owned` about it again (its keys
        stay until their generation expires)."""

        async def work(conn: asyncpg.Connection) -> None:
            await conn.execute(RELEASE, self.node_id, segment_id)

        self._run(work)

    def claimed_segments(self) -> list[str]:
        """This node's segments not released yet (the pipeline releases those whose WAL
        file is gone)."""

        async def work(conn: asyncpg.Connection) -> list[str]:
            return [row["segment_id"] for row in await conn.fetch(CLAIMED_SEGMENTS, self.node_id)]

        return self._run(work)

    def fingerprints(self, keys: Keys) -> Fingerprints:
        """The keys' fingerprints under the cluster's salt (for tools and tests)."""
        return self._fingerprints(keys)

    def _fingerprints(self, keys: Keys) -> Fingerprints:
        assert self._fingerprint is not None, "the cluster dedupe is closed"
        batch = keys if isinstance(keys, KeyBatch) else KeyBatch.from_keys(keys)
        return self._fingerprint(batch)

    # -- expiry and stats ----------------------------------------------------------------

    def expire(self, now: datetime | None = None) -> int:
        """Drop the generations older than the window (whole partitions); keys removed.

        Keeps every generation holding a claim made on the last ``window_days`` days before
        today (UTC) or today, so a key is remembered at least ``window_days`` x 24 h after its
        claim (and at most ``generation_days`` - 1 days more). Any node may call it; the
        claims in flight finish first.
        """
        today = (now or self._clock()).astimezone(UTC).date()
        oldest_kept = today.toordinal() - self.window_days
        cutoff = date.fromordinal(oldest_kept - self.generation_days + 1)

        async def work(conn: asyncpg.Connection) -> int:
            async with conn.transaction():
                # Today's generation first: the current one is never dropped, and after days
                # without a claim it may be out of the window.
                await conn.execute(LOCK_EXCLUSIVE, GENERATION_LOCK)
                await conn.execute(OPEN_GENERATION, self._generation_of(today))
                await conn.execute(ADVANCE_GENERATION, self._generation_of(today))
                removed: int = await conn.fetchval(DROP_DAYS, cutoff)
            return removed

        removed = self._run(work)
        if removed:
            log.info("dedupe claims: dropped %d keys claimed before %s", removed, cutoff)
        return removed

    def stats(self, now: datetime | None = None) -> DedupeStats:
        """The cluster's claims (all nodes): keys, generations, owners, bytes on disk."""

        async def work(conn: asyncpg.Connection) -> asyncpg.Record:
            row: asyncpg.Record | None = await conn.fetchrow(STATS)
            assert row is not None
            return row

        row = self._run(work)
        return DedupeStats(
            keys=int(row["keys"]),
            segments=int(row["segments"]),
            runs=int(row["days"]),
            days=int(row["days"]),
            bytes=int(row["bytes"]),
            filter_bytes=0,
            window_seconds=float(self.window_days * 86400),
        )


def _batch(owners: Sequence[int], prints: Sequence[Fingerprints]) -> _Batch:
    """The distinct keys of each claim as binary COPY rows, sorted by ``hi`` across claims (so
    that the probes walk each index in order)."""
    masks: list[OwnedMask] = []
    firsts: list[npt.NDArray[np.intp]] = []
    parts: list[npt.NDArray[Any]] = []
    for seq, (owner, claim_prints) in enumerate(zip(owners, prints, strict=True)):
        mask, hi, lo, first = first_occurrences(claim_prints)
        masks.append(mask)
        firsts.append(first)
        rows = np.empty(len(hi), _BATCH_ROW)
        rows["fields"] = len(BATCH_COLUMNS)
        rows["owner_size"], rows["seq_size"], rows["pos_size"] = 8, 4, 4
        rows["hi_size"], rows["lo_size"] = 8, 4
        rows["owner"] = owner
        rows["seq"] = seq
        rows["pos"] = np.arange(len(hi), dtype=np.int32)
        rows["hi"] = hi.view(np.int64)
        rows["lo"] = lo.view(np.int32)
        parts.append(rows)
    # concatenate gives the native byte order; the wire's is big-endian
    rows = np.concatenate(parts).astype(_BATCH_ROW, copy=False)
    if len(parts) > 1:
        rows = rows[np.argsort(rows["hi"], kind="stable")]
    return _Batch(masks, firsts, rows)


async def _copy_batch(conn: asyncpg.Connection, rows: npt.NDArray[Any]) -> None:
    """The rows into the session's batch table by one binary COPY (no per-key Python)."""
    stream = io.BytesIO(_COPY_HEADER + rows.tobytes() + _COPY_TRAILER)
    await conn.copy_to_table(
        "cluster_dedupe_batch", source=stream, columns=list(BATCH_COLUMNS), format="binary"
    )

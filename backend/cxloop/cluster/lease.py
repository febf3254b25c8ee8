"""Named leases in PostgreSQL: who does a piece of work that only one node may do at a time.

A lease is a row of ``cluster_leases`` (name, holder, expires_at). Acquire, renew and release
are one statement each; expiry is judged by PostgreSQL's clock only, so the nodes' clocks may
disagree. A holder trusts its lease only until its own monotonic clock, started before the
statement was sent, passes the TTL: a slow answer shortens the lease, never lengthens it.

- :class:`Leases`: the async API (acquire succeeds when the lease is free, expired, or already
  this holder's).
- :class:`SingletonRole`: work one node of the cluster does (health refresh, retention): kept by
  renewing it every third of its TTL; when the holder dies another node takes it within a TTL
  and a third.
- :class:`PartitionLeases`: the synchronous ``hold(partition)`` the lake thread's merges and
  erasure rewrites take (``cxloop.lake``'s ``PartitionLeases`` protocol), run on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from cxloop.db import Connection, ResilientPool

__all__ = [
    "HEALTH_REFRESH_LEASE",
    "RETENTION_LEASE",
    "LeaseStatus",
    "Leases",
    "PartitionLeases",
    "SingletonRole",
    "list_leases",
    "partition_lease_name",
]

log = logging.getLogger("cxloop.cluster")

HEALTH_REFRESH_LEASE = "health-refresh"
RETENTION_LEASE = "retention"

# Free, expired, or ours: taken (an expired lease is taken over whoever held it).
ACQUIRE = """
INSERT INTO cluster_leases AS lease (name, holder, expires_at)
VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::float8))
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE lease.holder = excluded.holder OR lease.expires_at <= clock_timestamp()
RETURNING expires_at
"""
# Still ours (expired or not: nobody took it over, or the holder would differ): extended.
RENEW = """
UPDATE cluster_leases SET expires_at = clock_timestamp() + make_interval(secs => $3::float8)
WHERE name = $1 AND holder = $2
RETURNING expires_at
"""
RELEASE = "DELETE FROM cluster_leases WHERE name = $1 AND holder = $2"
RELEASE_ALL = "DELETE FROM cluster_leases WHERE holder = $1"
LIST_LEASES = """
SELECT name, holder, expires_at, expires_at > clock_timestamp() AS live
FROM cluster_leases ORDER BY name
"""

# A lease statement that fails means "not held": the safe answer for work only one node may do.
_UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# A lease statement waits no longer than this for PostgreSQL.
STATEMENT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    name: str
    holder: str
    expires_at: datetime
    live: bool


async def list_leases(conn: Connection) -> list[LeaseStatus]:
    rows = await conn.fetch(LIST_LEASES)
    return [LeaseStatus(r["name"], r["holder"], r["expires_at"], r["live"]) for r in rows]


def partition_lease_name(partition: str) -> str:
    """The lease of a lake partition, by its key under the lake's root
    (``events/project_id=p/date=2026-12-01``)."""
    return f"partition:{partition}"


class Leases:
    """The leases ``holder`` (this node's id) takes, renews and gives back; ``ttl_s`` unless a
    call says otherwise. Every method answers False rather than raise when PostgreSQL cannot
    be reached."""

    def __init__(self, database: ResilientPool, holder: str, ttl_s: float) -> None:
        self.database = database
        self.holder = holder
        self.ttl_s = ttl_s
        # Lease name -> monotonic time until which this holder may act on it.
        self._valid_until: dict[str, float] = {}

    def holds(self, name: str) -> bool:
        """Whether the last acquire or renewal of ``name`` is still good by our own clock."""
        return time.monotonic() < self._valid_until.get(name, 0.0)

    async def acquire(self, name: str, ttl_s: float | None = None) -> bool:
        return await self._take(ACQUIRE, name, ttl_s)

    async def renew(self, name: str, ttl_s: float | None = None) -> bool:
        return await self._take(RENEW, name, ttl_s)

    async def release(self, name: str) -> None:
        self._valid_until.pop(name, None)
        pool = self.database.pool
        if pool is None:
            return
        with contextlib.suppress(*_UNREACHABLE):
            await pool.execute(RELEASE, name, self.holder, timeout=STATEMENT_TIMEOUT_S)

    async def release_all(self) -> None:
        """Give back every lease this holder has (a node leaving the cluster)."""
        self._valid_until.clear()
        pool = self.database.pool
        if pool is not None:
            with contextlib.suppress(*_UNREACHABLE):
                await pool.execute(RELEASE_ALL, self.holder, timeout=STATEMENT_TIMEOUT_S)

    async def _take(self, statement: str, name: str, ttl_s: float | None) -> bool:
        ttl = self.ttl_s if ttl_s is None else ttl_s
        pool = self.database.pool
        sent = time.monotonic()
        if pool is None:
            self._valid_until.pop(name, None)
            return False
        try:
            expires = await pool.fetchval(
                statement, name, self.holder, ttl, timeout=STATEMENT_TIMEOUT_S
            )
        except _UNREACHABLE as exc:
            log.warning("lease %s: PostgreSQL did not answer (%s); not held", name, exc)
            expires = None
        if expires is None:
            self._valid_until.pop(name, None)
            return False
        self._valid_until[name] = sent + ttl
        return True


class SingletonRole:
    """Work that one node of the cluster does at a time, under the lease ``name``.

    :meth:`run` takes the lease when it is free or expired and keeps it by renewing every
    third of the TTL; :attr:`held` says whether this node has it now. A node that stops
    gracefully gives it back at once; one that dies leaves it to expire.
    """

    def __init__(self, leases: Leases, name: str) -> None:
        self.leases = leases
        self.name = name
        self._was_held = False

    @property
    def held(self) -> bool:
        return self.leases.holds(self.name)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                held = await self.leases.acquire(self.name)
                if held != self._was_held:
                    log.info(
                        "%s: %s %s",
                        self.leases.holder,
                        "took the lease" if held else "no longer holds the lease",
                        self.name,
                    )
                    self._was_held = held
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.leases.ttl_s / 3)
        finally:
            if self._was_held:
                await self.leases.release(self.name)


class PartitionLeases:
    """``hold(partition)`` for the lake thread: the partition's lease, taken on the event loop
    ``loop`` and renewed there while held, given back on leaving. Yields False (skip the
    partition for now) when another node holds it or PostgreSQL does not answer."""

    def __init__(self, leases: Leases, loop: asyncio.AbstractEventLoop) -> None:
        self.leases = leases
        self.loop = loop

    @contextlib.contextmanager
    def hold(self, partition: str) -> Iterator[bool]:
        if _loop_of_this_thread() is self.loop:
            raise RuntimeError("PartitionLeases.hold blocks: call it off the event loop")
        name = partition_lease_name(partition)
        try:
            held = asyncio.run_coroutine_threadsafe(self.leases.acquire(name), self.loop).result(
                STATEMENT_TIMEOUT_S * 2
            )
        except (TimeoutError, RuntimeError) as exc:  # the loop is stopping or stuck
            log.warning("lease %s not taken: %s", name, exc)
            held = False
        if not held:
            yield False
            return
        renewing = asyncio.run_coroutine_threadsafe(self._renew(name), self.loop)
        try:
            yield True
        finally:
            renewing.cancel()
            with contextlib.suppress(TimeoutError, RuntimeError, asyncio.CancelledError):
                asyncio.run_coroutine_threadsafe(self.leases.release(name), self.loop).result(
                    STATEMENT_TIMEOUT_S * 2
                )

    async def _renew(self, name: str) -> None:
        while True:
            await asyncio.sleep(self.leases.ttl_s / 3)
            if not await self.leases.renew(name):
                # Nothing can stop a merge half-way; the TTL is sized for the longest one.
                log.error("lease %s lost while held (PostgreSQL away longer than its TTL)", name)
                return


def _loop_of_this_thread() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None

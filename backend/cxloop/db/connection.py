"""A connection pool that may not exist yet: ingest must keep working while PostgreSQL is down."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

__all__ = ["ResilientPool"]

log = logging.getLogger("cxloop.db")

# A new connection (at start, or when the pool replaces a dead one during a request) gives up
# after this long: a request then answers 503 database_unavailable instead of hanging for
# asyncpg's default minute.
CONNECT_TIMEOUT_S = 5.0


class ResilientPool:
    """Connects in the background and keeps retrying; ``pool`` is None until it succeeds."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        self._min_size = min_size
        self._max_size = max_size
        self.pool: asyncpg.Pool | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self, wait_s: float = 2.0) -> None:
        """Start connecting; wait up to ``wait_s`` for the first success, never fail."""
        self._task = asyncio.create_task(self._connect_forever(), name="cxloop-db-connect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.connected.wait()), wait_s)

    async def _connect_forever(self) -> None:
        from cxloop.db.pool import create_pool

        delay = 0.5
        while self.pool is None:
            try:
                self.pool = await create_pool(
                    self.url,
                    min_size=self._min_size,
                    max_size=self._max_size,
                    timeout=CONNECT_TIMEOUT_S,
                )
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("PostgreSQL not reachable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.connected.set()

    async def probe(self, timeout_s: float = 1.0) -> str | None:
        """None when PostgreSQL answers a query within ``timeout_s``, else why not.

        The pool object outlives the server it connects to, so only a round trip tells the
        truth (readiness used to say "ok" while every query failed).
        """
        if self.pool is None:
            return "not connected yet"
        try:
            async with asyncio.timeout(timeout_s):
                async with self.pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
        except TimeoutError:
            return f"no answer within {timeout_s:g}s"
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.pool is not None:
            await self.pool.close()

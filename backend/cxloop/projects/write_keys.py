"""Write key → project id for the ingest hot path, from memory.

Every ingest request carries a write key, so resolving it must not cost a database round trip:
the whole map lives in memory (refreshed every few seconds) and is mirrored to a JSON file, so
a worker restarted while PostgreSQL is down still accepts every key it knew. A key not in memory
(a project created since the last refresh) is looked up once; unknown keys are remembered for a
while so a flood of bad keys costs PostgreSQL one query per distinct key per ``negative_ttl_s``.

A write key retired by a rotation keeps working until its ``valid_until``: the cache holds that
time with the key and refuses the key by itself once it has passed, without waiting for a
refresh or asking the database again (a retired key never comes back).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import asyncpg
import msgspec

from cxloop.db import Connection, Pool
from cxloop.projects.mirror import refresh_forever, write_atomically

if TYPE_CHECKING:
    from cxloop.db import ResilientPool

__all__ = [
    "WRITE_KEYS_STATE_KEY",
    "DatabaseKeyResolver",
    "KeyResolver",
    "LookupUnavailable",
    "WriteKeyCache",
    "project_for_write_key",
]

log = logging.getLogger("cxloop.projects")

# Where the app's lifespan leaves its resolver (``app.state``) for the routes that check keys.
WRITE_KEYS_STATE_KEY = "write_keys"
# Current keys (valid_until NULL) and retired keys still in their grace period (epoch seconds).
SELECT_WRITE_KEYS = """
SELECT write_key, id, NULL::float8 AS valid_until FROM projects
UNION ALL
SELECT key_value, project_id, extract(epoch FROM valid_until)::float8 FROM retired_keys
WHERE kind = 'write' AND valid_until > now()
"""
SELECT_PROJECT_BY_WRITE_KEY = """
SELECT id, NULL::float8 AS valid_until FROM projects WHERE write_key = $1
UNION ALL
SELECT project_id, extract(epoch FROM valid_until)::float8 FROM retired_keys
WHERE kind = 'write' AND key_value = $1 AND valid_until > now()
LIMIT 1
"""

# Our keys are "wk_" + 24 url-safe characters; be lenient about the shape (keys might be
# imported one day) but never send junk such as a 30 KB header value to the database.
_PLAUSIBLE_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class LookupUnavailable(Exception):
    """The key is not cached and the database cannot be reached to check it."""


class KeyResolver(Protocol):
    """What ingest and the public routes need to know about write keys."""

    def resolve(self, write_key: str) -> str | None:
        """From memory, no I/O: the project id, or None when the key is not cached."""

    async def resolve_miss(self, write_key: str) -> str | None:
        """Ask the database; raise ``LookupUnavailable`` when it cannot be asked."""


async def project_for_write_key(keys: KeyResolver, write_key: str) -> str | None:
    """The project of ``write_key``: from memory, else the database; None for an unknown key.

    Raises ``LookupUnavailable`` when the key is not in memory and PostgreSQL is down: the
    caller answers "retry later", never a wrong "unknown key" (ARCHITECTURE decision 8).
    """
    project_id = keys.resolve(write_key)
    if project_id is not None:
        return project_id
    return await keys.resolve_miss(write_key)


class _KeyFile(msgspec.Struct, kw_only=True):
    # Version 1 files have no valid_until: every key in them is current.
    version: int = 2
    keys: dict[str, str] = msgspec.field(default_factory=dict)
    # retired key -> end of its grace period, Unix seconds
    valid_until: dict[str, float] = msgspec.field(default_factory=dict)


_encode_key_file = msgspec.json.Encoder().encode
_decode_key_file = msgspec.json.Decoder(_KeyFile).decode


class WriteKeyCache:
    """Resolves write keys to project ids without touching the database per request."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        negative_ttl_s: float = 30.0,
        max_negative_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.negative_ttl_s = negative_ttl_s
        self.max_negative_entries = max_negative_entries
        self._clock = clock
        # Grace periods end at a time of day (PostgreSQL's), so they are read on the wall clock.
        self._wall_clock = wall_clock
        self._keys: dict[str, str] = {}
        self._valid_until: dict[str, float] = {}
        if path is not None:
            self._keys, self._valid_until = self._load()
        self._saved = (self._keys, self._valid_until)
        # key -> time the "unknown" verdict expires; insertion order is age order.
        self._unknown: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Task[str | None]] = {}
        self._save_lock = asyncio.Lock()
        self.database_lookups = 0  # single-key lookups made; for tests and metrics

    def __len__(self) -> int:
        return len(self._keys)

    def resolve(self, write_key: str) -> str | None:
        """The project id from memory, or None when the key is not (yet) known here or is a
        retired key whose grace period has ended."""
        project_id = self._keys.get(write_key)
        # Most projects have no retired key: then this costs one truth test (hot path).
        if project_id is not None and self._valid_until and self._expired(write_key):
            return None
        return project_id

    def valid_until(self, write_key: str) -> float | None:
        """When a retired key stops working (Unix seconds); None for a current or unknown key."""
        return self._valid_until.get(write_key)

    async def refresh(self, pool: Pool | Connection) -> int:
        """Replace the map with every key in the database; returns how many there are.

        Raises whatever the database raises; :meth:`run_refresher` is the forgiving loop.
        """
        rows = await pool.fetch(SELECT_WRITE_KEYS)
        keys: dict[str, str] = {}
        valid_until: dict[str, float] = {}
        for row in rows:
            keys[row["write_key"]] = row["id"]
            if row["valid_until"] is not None:
                valid_until[row["write_key"]] = row["valid_until"]
        self._keys, self._valid_until = keys, valid_until
        for key in self._keys.keys() & self._unknown.keys():
            del self._unknown[key]
        await self._persist()
        return len(self._keys)

    async def lookup_miss(self, pool: Pool | Connection, write_key: str) -> str | None:
        """Look up a key that :meth:`resolve` did not know; None when no project has it.

        Concurrent misses for one key share one query. Database errors propagate (the caller
        answers "retry later" rather than "unknown key"), and are not cached.
        """
        project_id = self._keys.get(write_key)
        if project_id is not None:
            # A retired key past its grace never works again: no need to ask.
            return None if self._expired(write_key) else project_id
        if self._known_unknown(write_key) or not _PLAUSIBLE_KEY.fullmatch(write_key):
            return None
        task = self._inflight.get(write_key)
        if task is None:
            task = asyncio.create_task(self._lookup(pool, write_key))
            self._inflight[write_key] = task
            task.add_done_callback(lambda _: self._inflight.pop(write_key, None))
        # shield: one cancelled request must not cancel the lookup the others wait for.
        return await asyncio.shield(task)

    async def run_refresher(
        self, pool: Pool | Connection, interval_s: float, *, max_backoff_s: float = 30.0
    ) -> None:
        """Refresh every ``interval_s`` until cancelled; database outages are logged and retried."""
        await refresh_forever(
            lambda: self.refresh(pool),
            interval_s,
            log=log,
            what="write keys",
            known=lambda: len(self._keys),
            max_backoff_s=max_backoff_s,
        )

    async def _lookup(self, pool: Pool | Connection, write_key: str) -> str | None:
        self.database_lookups += 1
        row = await pool.fetchrow(SELECT_PROJECT_BY_WRITE_KEY, write_key)
        if row is None:
            self._remember_unknown(write_key)
            return None
        project_id: str = row["id"]
        self._keys = {**self._keys, write_key: project_id}
        if row["valid_until"] is not None:
            self._valid_until = {**self._valid_until, write_key: row["valid_until"]}
        await self._persist()
        return project_id

    def _expired(self, write_key: str) -> bool:
        until = self._valid_until.get(write_key)
        return until is not None and until <= self._wall_clock()

    def _known_unknown(self, write_key: str) -> bool:
        expires = self._unknown.get(write_key)
        if expires is None:
            return False
        if expires > self._clock():
            return True
        del self._unknown[write_key]
        return False

    def _remember_unknown(self, write_key: str) -> None:
        now = self._clock()
        self._unknown.pop(write_key, None)
        self._unknown[write_key] = now + self.negative_ttl_s
        while len(self._unknown) > self.max_negative_entries:
            del self._unknown[next(iter(self._unknown))]

    def _load(self) -> tuple[dict[str, str], dict[str, float]]:
        assert self.path is not None
        try:
            saved = _decode_key_file(self.path.read_bytes())
        except FileNotFoundError:
            return {}, {}
        except (OSError, msgspec.DecodeError) as exc:
            log.warning("ignoring unreadable write key file %s: %s", self.path, exc)
            return {}, {}
        return saved.keys, saved.valid_until

    async def _persist(self) -> None:
        current = (self._keys, self._valid_until)
        if self.path is None or current == self._saved:
            return
        async with self._save_lock:
            try:
                await asyncio.to_thread(_write_atomically, self.path, *current)
            except OSError as exc:
                log.warning("cannot save write keys to %s: %s", self.path, exc)
            else:
                self._saved = current


class DatabaseKeyResolver:
    """Write keys from memory; a miss asks PostgreSQL, or says it cannot when it is down."""

    def __init__(self, cache: WriteKeyCache, database: ResilientPool) -> None:
        self.cache = cache
        self.database = database

    def resolve(self, write_key: str) -> str | None:
        return self.cache.resolve(write_key)

    async def resolve_miss(self, write_key: str) -> str | None:
        if self.database.pool is None:
            raise LookupUnavailable
        try:
            return await self.cache.lookup_miss(self.database.pool, write_key)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise LookupUnavailable from exc


def _write_atomically(path: Path, keys: dict[str, str], valid_until: dict[str, float]) -> None:
    write_atomically(path, _encode_key_file(_KeyFile(keys=keys, valid_until=valid_until)))

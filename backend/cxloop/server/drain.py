"""``cxloop drain``: empty a stopped node's WAL into the lake and PostgreSQL, then (in a cluster)
take the node out of ``cluster_nodes``.

The node's ``cxloop serve`` must be stopped first (SIGTERM: its workers seal their segments);
drain holds the serve lock meanwhile, so none can start. Each WAL slot is locked and recovered
(open segments a killed worker left are sealed, torn tails cut), then the pipeline's own
compaction and projection run until no segment is left. Anything that stops that — PostgreSQL
away, a worker still writing — ends in a refusal that says what is left; the node's row stays,
so erasures keep waiting for its WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from cxloop.db import database_url_for
from cxloop.ops import configure_logging
from cxloop.server.supervisor import _only_serve
from cxloop.settings import Settings

__all__ = ["DrainRefused", "drain"]

log = logging.getLogger("cxloop.drain")

CONNECT_WAIT_S = 15.0


class DrainRefused(RuntimeError):
    """The WAL cannot be emptied now; the message says why and what to do."""


@contextlib.contextmanager
def _locked_slots(wal_dir: Path) -> Iterator[int]:
    """Every WAL slot locked (no worker writes it) and recovered; yields the segments sealed."""
    from cxloop.wal import recover_slot

    descriptors: list[int] = []
    sealed = 0
    try:
        for slot in sorted(wal_dir.glob("w*")):
            if not slot.is_dir():
                continue
            fd = os.open(slot / "slot.lock", os.O_RDWR | os.O_CREAT, 0o644)
            descriptors.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DrainRefused(
                    f"a process still writes the WAL slot {slot}: stop cxloop serve on this "
                    "data directory first (SIGTERM), then run cxloop drain"
                ) from None
            sealed += recover_slot(slot).segments
        yield sealed
    finally:
        for fd in descriptors:
            os.close(fd)


def drain(settings: Settings, *, timeout_s: float, echo: Callable[[str], None] = print) -> None:
    """Empty this data directory's WAL; raises :class:`DrainRefused` when it cannot."""
    configure_logging(settings.log_level, "drain")
    if not settings.wal_dir.is_dir():
        raise DrainRefused(f"{settings.data_dir} holds no WAL (wal/): is it a cxloop data dir?")
    settings = msgspec.structs.replace(settings, data_dir=settings.data_dir.resolve())
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    from cxloop.server.supervisor import ServeError

    try:
        with (
            _only_serve(settings.state_dir, then="then run cxloop drain"),
            _locked_slots(settings.wal_dir) as sealed,
        ):
            if sealed:
                echo(f"sealed {sealed} segment(s) left open")
            with database_url_for(settings.database_url, settings.postgres_dir) as url:
                settings = msgspec.structs.replace(settings, database_url=url)
                asyncio.run(_drain(settings, timeout_s, echo))
    except ServeError as exc:
        raise DrainRefused(str(exc)) from exc


async def _drain(settings: Settings, timeout_s: float, echo: Callable[[str], None]) -> None:
    import asyncpg

    from cxloop.cluster import forget_node, node_id
    from cxloop.db import ResilientPool, apply_migrations, redact_url
    from cxloop.ops import Registry
    from cxloop.pipeline import DrainError, Pipeline

    assert settings.database_url
    where = redact_url(settings.database_url)
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=CONNECT_WAIT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DrainRefused(
            f"cannot reach PostgreSQL at {where} ({exc}); the WAL keeps every segment: start "
            "PostgreSQL or fix DATABASE_URL, then run cxloop drain again"
        ) from exc
    try:
        for name in await apply_migrations(conn):
            echo(f"applied migration {name}")
    finally:
        await conn.close()
    database = ResilientPool(settings.database_url, max_size=2)
    await database.start(wait_s=CONNECT_WAIT_S)
    pipeline = Pipeline(settings, Registry())
    try:
        try:
            report = await pipeline.drain(database, timeout_s=timeout_s, progress=echo)
        except DrainError as exc:
            raise DrainRefused(f"cannot empty the WAL: {exc}") from exc
        echo(
            f"WAL empty: {report.compacted} segment(s) compacted, {report.projected} projected "
            f"in {report.seconds:.1f} s"
        )
        if settings.cluster:
            node = node_id(settings)
            pool = database.pool
            assert pool is not None
            async with pool.acquire() as connection:
                had_row = await forget_node(connection, node)
            echo(
                f"node {node} left the cluster"
                if had_row
                else f"node {node} had no row in cluster_nodes (never started, or drained)"
            )
    finally:
        await database.close()
        await asyncio.to_thread(pipeline.close)

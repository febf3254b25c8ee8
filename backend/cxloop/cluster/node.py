"""A node of the cluster: its name, its heartbeat row in ``cluster_nodes``, and what the other
nodes' WALs may still hold.

Every pipeline in cluster mode upserts its node's row every few seconds: when it last spoke
(PostgreSQL's clock: liveness), and from one scan of its WAL (the node's clock, like the WAL's
segment stamps) when the oldest segment not yet in the lake and PostgreSQL was made and how many
bytes wait. An erasure reads those columns (:func:`nodes_holding_wal_before`); ``cxloop cluster
status`` lists them; ``cxloop drain`` deletes the row once the node's WAL is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from cxloop.wal import backlog, fsync_dir, segment_created_ns

if TYPE_CHECKING:
    from cxloop.db import Connection, ResilientPool
    from cxloop.ops import Registry
    from cxloop.settings import Settings

__all__ = [
    "HEARTBEAT_MAX_S",
    "NodeHeartbeat",
    "NodeStatus",
    "WalReport",
    "WalWaiter",
    "forget_node",
    "heartbeat_interval_s",
    "list_nodes",
    "node_id",
    "nodes_holding_wal_before",
    "wal_report",
]

log = logging.getLogger("cxloop.cluster")

NODE_ID_FILE = "node_id"
HEARTBEAT_MAX_S = 5.0

# One statement per beat: the row upserted, and how many other nodes spoke within the lease
# time (the row itself is not visible to the SELECT of the same statement: +1).
HEARTBEAT = """
WITH beat AS (
    INSERT INTO cluster_nodes AS node (node_id, host, data_dir, pid, started_at, heartbeat_at,
                                       wal_scanned_at, oldest_segment_at, backlog_bytes)
    VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8)
    ON CONFLICT (node_id) DO UPDATE SET
        host = excluded.host, data_dir = excluded.data_dir, pid = excluded.pid,
        started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
        wal_scanned_at = excluded.wal_scanned_at, oldest_segment_at = excluded.oldest_segment_at,
        backlog_bytes = excluded.backlog_bytes
    RETURNING node_id
)
SELECT 1 + count(*) FROM cluster_nodes
WHERE node_id <> $1 AND heartbeat_at > now() - make_interval(secs => $9::float8)
"""
LIST_NODES = """
SELECT node_id, host, data_dir, pid, started_at, heartbeat_at, wal_scanned_at, oldest_segment_at,
       backlog_bytes, heartbeat_at > now() - make_interval(secs => $1::float8) AS live,
       extract(epoch FROM now() - heartbeat_at)::float8 AS silent_s
FROM cluster_nodes ORDER BY node_id
"""
# Nodes other than ours whose WAL may hold a segment made before $2: their last scan was
# before it, or found such a segment. A node that stopped speaking stays listed.
HOLDING_WAL_BEFORE = """
SELECT node_id, heartbeat_at > now() - make_interval(secs => $3::float8) AS live,
       heartbeat_at
FROM cluster_nodes
WHERE node_id <> $1 AND (wal_scanned_at < $2 OR oldest_segment_at < $2)
ORDER BY node_id
"""
FORGET_NODE = "DELETE FROM cluster_nodes WHERE node_id = $1"
FORGET_LEASES = "DELETE FROM cluster_leases WHERE holder = $1"


def node_id(settings: Settings) -> str:
    """This node's name: ``settings.node_id``, else the one made on first use and kept in
    ``<data dir>/state/node_id`` (written whole and synced: it names the node's lake files and
    dedupe claims, so it must survive a crash unchanged)."""
    if settings.node_id:
        return settings.node_id
    path = settings.state_dir / NODE_ID_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_node_id(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    made = f"node-{secrets.token_hex(6)}"
    partial = path.with_name(f".{NODE_ID_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        with open(partial, "w") as file:
            file.write(made + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            # A link fails when the name exists: two processes making it at once agree on one.
            os.link(partial, path)
        except FileExistsError:
            return _read_node_id(path)
        fsync_dir(path.parent)
    finally:
        partial.unlink(missing_ok=True)
    return made


def _read_node_id(path: Path) -> str:
    text = path.read_text().strip()
    if not text:
        raise RuntimeError(f"{path} is empty: delete it (a new node id is made) or write one")
    return text


@dataclass(frozen=True, slots=True)
class WalReport:
    """One scan of a node's WAL, for its heartbeat row."""

    scanned_at: datetime  # the node's clock before the scan
    oldest_segment_at: datetime | None  # made-at of the oldest segment still in flight
    backlog_bytes: int


def wal_report(wal_dir: Path) -> WalReport:
    scan = backlog(wal_dir)
    made = [segment_created_ns(Path(name)) for name in scan.in_flight]
    return WalReport(
        scanned_at=_at(scan.scanned_ns),
        oldest_segment_at=_at(min(made)) if made else None,
        backlog_bytes=scan.unprojected_bytes,
    )


def _at(epoch_ns: int) -> datetime:
    return datetime.fromtimestamp(epoch_ns / 1e9, UTC)


def heartbeat_interval_s(settings: Settings) -> float:
    """Every few seconds, and at least three times per lease time."""
    return min(HEARTBEAT_MAX_S, settings.cluster_lease_s / 3)


class NodeHeartbeat:
    """Upserts this node's ``cluster_nodes`` row every :func:`heartbeat_interval_s`."""

    def __init__(
        self, settings: Settings, database: ResilientPool, node: str, registry: Registry
    ) -> None:
        self.settings = settings
        self.database = database
        self.node = node
        self.started_at = datetime.now(UTC)
        self.live_nodes = registry.gauge(
            "cxloop_cluster_live_nodes",
            "Nodes of the cluster whose heartbeat is within the lease time (this one included).",
        )
        self.beats = 0

    async def beat(self) -> int | None:
        """One heartbeat; the number of live nodes, or None when PostgreSQL did not answer."""
        pool = self.database.pool
        if pool is None:
            return None
        report = await asyncio.to_thread(wal_report, self.settings.wal_dir)
        try:
            live: int = await pool.fetchval(
                HEARTBEAT,
                self.node,
                socket.gethostname(),
                str(self.settings.data_dir),
                os.getpid(),
                self.started_at,
                report.scanned_at,
                report.oldest_segment_at,
                report.backlog_bytes,
                self.settings.cluster_lease_s,
                timeout=5.0,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("heartbeat of node %s failed, will retry: %s", self.node, exc)
            return None
        self.beats += 1
        self.live_nodes.set(live)
        return live

    async def run(self, stop: asyncio.Event) -> None:
        interval = heartbeat_interval_s(self.settings)
        while not stop.is_set():
            started = time.monotonic()
            await self.beat()
            left = interval - (time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, left))


@dataclass(frozen=True, slots=True)
class NodeStatus:
    node_id: str
    host: str
    data_dir: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    silent_s: float
    live: bool
    wal_scanned_at: datetime
    oldest_segment_at: datetime | None
    backlog_bytes: int


async def list_nodes(conn: Connection, lease_s: float) -> list[NodeStatus]:
    rows = await conn.fetch(LIST_NODES, lease_s)
    return [
        NodeStatus(
            node_id=row["node_id"],
            host=row["host"],
            data_dir=row["data_dir"],
            pid=row["pid"],
            started_at=row["started_at"],
            heartbeat_at=row["heartbeat_at"],
            silent_s=row["silent_s"],
            live=row["live"],
            wal_scanned_at=row["wal_scanned_at"],
            oldest_segment_at=row["oldest_segment_at"],
            backlog_bytes=row["backlog_bytes"],
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class WalWaiter:
    """A node whose WAL may still hold a segment made before some moment."""

    node_id: str
    live: bool
    heartbeat_at: datetime


async def nodes_holding_wal_before(
    conn: Connection, own_node: str, before: datetime, lease_s: float
) -> list[WalWaiter]:
    """The other nodes whose WAL may hold a segment made before ``before`` (by their last
    heartbeat); one whose heartbeat stopped stays listed (``live`` False) until it is
    drained or comes back and reports an empty WAL."""
    rows = await conn.fetch(HOLDING_WAL_BEFORE, own_node, before, lease_s)
    return [WalWaiter(row["node_id"], row["live"], row["heartbeat_at"]) for row in rows]


async def forget_node(conn: Connection, node: str) -> bool:
    """The node leaves the cluster: its row and its leases go. Whether it had a row."""
    async with conn.transaction():
        await conn.execute(FORGET_LEASES, node)
        status: str = await conn.execute(FORGET_NODE, node)
    return status.endswith(" 1")

"""Cluster coordination against a real PostgreSQL: leases race, expire and are taken over;
heartbeat rows; one node refreshes health; a killed holder's work moves to another node; an
erasure waits for a silent node's WAL."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cxloop.cluster import (
    Leases,
    NodeHeartbeat,
    forget_node,
    list_leases,
    list_nodes,
    nodes_holding_wal_before,
)
from cxloop.db import ResilientPool, apply_migrations
from cxloop.ops import Registry
from cxloop.settings import Settings
from tests.helpers.rows import wal_row
from tests.helpers.segments import segment_path, write_segment

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def cluster_db(database_url: str) -> AsyncIterator[str]:
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    yield database_url


async def _pool(url: str) -> ResilientPool:
    database = ResilientPool(url, max_size=2)
    await database.start(wait_s=10)
    assert database.pool is not None
    return database


async def test_two_holders_racing_for_a_lease_get_it_once(cluster_db: str) -> None:
    databases = [await _pool(cluster_db) for _ in range(4)]
    try:
        holders = [Leases(db, f"n{i}", ttl_s=30) for i, db in enumerate(databases)]
        for round_ in range(25):
            won = await asyncio.gather(*(h.acquire(f"job-{round_}") for h in holders))
            assert sum(won) == 1, won
            winner = holders[won.index(True)]
            assert (await winner.acquire(f"job-{round_}")) is True  # already ours
            others = [h for h in holders if h is not winner]
            assert not any(await asyncio.gather(*(h.acquire(f"job-{round_}") for h in others)))
            assert not any(await asyncio.gather(*(h.renew(f"job-{round_}") for h in others)))
    finally:
        for db in databases:
            await db.close()


async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(
    cluster_db: str,
) -> None:
    one, two = await _pool(cluster_db), await _pool(cluster_db)
    try:
        first, second = Leases(one, "n1", ttl_s=1.0), Leases(two, "n2", ttl_s=1.0)
        assert await first.acquire("health-refresh")
        assert not await second.acquire("health-refresh")
        await asyncio.sleep(1.2)
        assert not first.holds("health-refresh")  # its own clock says so too
        assert await second.acquire("health-refresh")
        assert not await first.renew("health-refresh")
        assert not await first.acquire("health-refresh")
        await first.release("health-refresh")  # not its lease: nothing happens
        async with one.pool.acquire() as conn:  # type: ignore[union-attr]
            [lease] = await list_leases(conn)
        assert (lease.holder, lease.live) == ("n2", True)
    finally:
        await one.close()
        await two.close()


async def test_a_renewed_lease_stays_and_a_released_one_is_free_at_once(cluster_db: str) -> None:
    one, two = await _pool(cluster_db), await _pool(cluster_db)
    try:
        first, second = Leases(one, "n1", ttl_s=1.0), Leases(two, "n2", ttl_s=1.0)
        assert await first.acquire("retention")
        for _ in range(6):  # 2.4 s: more than two TTLs
            await asyncio.sleep(0.4)
            assert await first.renew("retention")
            assert not await second.acquire("retention")
        await first.release("retention")
        assert await second.acquire("retention")
    finally:
        await one.close()
        await two.close()


async def test_the_heartbeat_row_reports_the_wal(cluster_db: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=cluster_db, cluster=True, node_id="n1")
    database = await _pool(cluster_db)
    try:
        heartbeat = NodeHeartbeat(settings, database, "n1", Registry())
        assert await heartbeat.beat() == 1
        assert database.pool is not None
        async with database.pool.acquire() as conn:
            [node] = await list_nodes(conn, settings.cluster_lease_s)
            assert (node.node_id, node.live, node.oldest_segment_at) == ("n1", True, None)
            assert node.backlog_bytes == 0 and node.data_dir == str(tmp_path)
            sealed = write_segment(segment_path(settings.wal_dir / "w0", 7), [[wal_row("m1")]])
            made = datetime.fromtimestamp(int(sealed.stem.split("-")[1]) / 1e9, UTC)
            await heartbeat.beat()
            [node] = await list_nodes(conn, settings.cluster_lease_s)
            assert node.oldest_segment_at == made
            assert node.backlog_bytes == sealed.stat().st_size
            # An erasure on another node waits for this WAL, and no longer once it is empty.
            later = datetime.now(UTC)
            assert [w.node_id for w in await nodes_holding_wal_before(conn, "n2", later, 30)] == [
                "n1"
            ]
            sealed.unlink()
            await heartbeat.beat()
            assert await nodes_holding_wal_before(conn, "n2", later, 30) == []
            # A node that stopped speaking with segments in its WAL still blocks, as not live.
            await conn.execute(
                "UPDATE cluster_nodes SET heartbeat_at = now() - interval '1 hour', "
                "wal_scanned_at = now() - interval '1 hour'"
            )
            [waiter] = await nodes_holding_wal_before(conn, "n2", later, 30)
            assert (waiter.node_id, waiter.live) == ("n1", False)
            assert await forget_node(conn, "n1")
            assert await list_nodes(conn, 30) == []
    finally:
        await database.close()


async def test_an_erasure_waits_for_a_silent_node_and_says_so(
    cluster_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from cxloop.privacy import DeletionJobs
    from cxloop.privacy.jobs import _Job, _Waiting
    from cxloop.privacy.purge import SubjectIds

    settings = Settings(
        data_dir=tmp_path, database_url=cluster_db, cluster=True, node_id="n1", key_refresh_s=0
    )
    jobs = DeletionJobs(settings, Registry())
    created = datetime.now(UTC) - timedelta(seconds=5)
    job = _Job("req1", "prj_test", SubjectIds.from_json({"userId": "u1"}), created, {})
    conn = await asyncpg.connect(cluster_db)
    try:
        await conn.execute(
            "INSERT INTO cluster_nodes (node_id, host, data_dir, pid, started_at, heartbeat_at, "
            "wal_scanned_at, oldest_segment_at, backlog_bytes) VALUES ('n2', 'h', '/d', 1, "
            "now() - interval '2 hours', now() - interval '1 hour', now() - interval '1 hour', "
            "now() - interval '1 hour', 4096)"
        )
        with pytest.raises(_Waiting, match=r"1 other node\(s\) \(1 not live\)"):
            await jobs._wait_for_other_nodes(conn, job)
        assert job.receipt["wal"]["waiting_for_nodes"] == [{"node": "n2", "live": False}]
        assert "waits for node n2" in caplog.text and "cxloop drain" in caplog.text
        await forget_node(conn, "n2")  # drained
        await jobs._wait_for_other_nodes(conn, job)
        jobs._wal_phase(job)
        assert job.receipt["phase"] == "lake"
        assert "waiting_for_nodes" not in job.receipt["wal"]
    finally:
        await conn.close()


async def test_cluster_status_lists_nodes_and_leases(cluster_db: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(cluster_db)
    try:
        await conn.execute(
            "INSERT INTO cluster_nodes (node_id, host, data_dir, pid, started_at, heartbeat_at, "
            "wal_scanned_at, oldest_segment_at, backlog_bytes) VALUES "
            "('n1', 'host-a', '/data/a', 11, now(), now(), now(), now() - interval '42 s', "
            "3145728), ('n2', 'host-b', '/data/b', 12, now(), now() - interval '1 hour', "
            "now(), NULL, 0)"
        )
        await conn.execute(
            "INSERT INTO cluster_leases VALUES ('health-refresh', 'n1', now() + interval '20 s')"
        )
    finally:
        await conn.close()
    shown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cxloop.cli", "cluster", "status"],
        env={**os.environ, "PYTHONPATH": str(REPO / "backend"), "DATABASE_URL": cluster_db},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    n1 = next(line for line in lines if line.startswith("n1 "))
    n2 = next(line for line in lines if line.startswith("n2 "))
    assert " live " in n1 and "3.0 MiB" in n1 and "host-a:/data/a (pid 11)" in n1
    # The oldest WAL segment's age (42 s when written, plus however long the command took).
    ages = [int(age) for age in re.findall(r"(\d+) s", n1)]
    assert 42 <= ages[1] < 90, n1
    assert " silent " in n2
    lease = next(line for line in lines if line.startswith("health-refresh"))
    assert " n1 " in lease and " in " in lease


# -- two pipelines, one PostgreSQL ----------------------------------------------------------


def _start_pipeline(
    url: str, data_dir: Path, node: str, **settings: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "backend"), str(REPO)]),
        "DATABASE_URL": url,
        "CXLOOP_DATA_DIR": str(data_dir),
        "CXLOOP_CLUSTER": "true",
        "CXLOOP_NODE_ID": node,
        "CXLOOP_PIPELINE_PRIORITY": "nice",
        "CXLOOP_LAKE_MERGE_MIN_FILES": "0",
        **settings,
    }
    code = (
        "from cxloop.pipeline import run_pipeline; from cxloop.settings import Settings; "
        "run_pipeline(Settings.from_env())"
    )
    log = open(data_dir.parent / f"{node}.log", "wb")  # noqa: SIM115 - the child's stderr
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log)


def _refresh_rounds(data_dir: Path) -> int:
    try:
        snapshot = json.loads((data_dir / "state" / "metrics" / "pipeline.json").read_text())
    except (OSError, ValueError):
        return 0
    samples = snapshot["metrics"].get("cxloop_health_refresh_rounds_total", {}).get("samples")
    return int(sum(value for _, value in samples or []))


async def _until(check: Callable[[], Any], within_s: float) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    return None


async def test_one_node_refreshes_and_another_takes_over_when_it_is_killed(
    cluster_db: str, tmp_path: Path
) -> None:
    lease_s = 3.0
    settings = {"CXLOOP_HEALTH_REFRESH_S": "0.5", "CXLOOP_CLUSTER_LEASE_S": str(lease_s)}
    dirs = {node: tmp_path / node for node in ("n1", "n2")}
    for directory in dirs.values():
        directory.mkdir()
    children = {node: _start_pipeline(cluster_db, d, node, **settings) for node, d in dirs.items()}
    conn = await asyncpg.connect(cluster_db)
    try:

        async def holder() -> str | None:
            row = await conn.fetchrow(
                "SELECT holder FROM cluster_leases WHERE name = 'health-refresh' "
                "AND expires_at > clock_timestamp()"
            )
            return None if row is None else str(row["holder"])

        async def both_beating() -> bool:
            return len([n for n in await list_nodes(conn, lease_s) if n.live]) == 2

        assert await _until(both_beating, 60), "both nodes' heartbeat rows"
        first = await _until(holder, 30)
        assert first in dirs
        other = "n2" if first == "n1" else "n1"
        assert await _until(lambda: _async(_refresh_rounds(dirs[first]) >= 3), 30)
        assert _refresh_rounds(dirs[other]) == 0, "the node without the lease refreshed"
        assert await holder() == first  # kept by renewing, not passed around

        children[first].send_signal(signal.SIGKILL)
        children[first].wait(10)
        killed_at = time.monotonic()
        assert await _until(lambda: _async_eq(holder(), other), lease_s + 5), "takeover"
        took_s = time.monotonic() - killed_at
        print(f"takeover {took_s:.2f} s after kill -9 (lease {lease_s} s)")
        assert took_s <= lease_s + lease_s / 3 + 1.0, took_s
        assert await _until(lambda: _async(_refresh_rounds(dirs[other]) >= 1), 10)
        # The killed node's row stays (not live) until it comes back or is drained.
        rows = {n.node_id: n.live for n in await list_nodes(conn, lease_s)}
        await asyncio.sleep(0)
        assert set(rows) == {"n1", "n2"}
    finally:
        await conn.close()
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()


async def _async(value: Any) -> Any:
    return value


async def _async_eq(awaitable: Any, expected: Any) -> bool:
    return bool(await awaitable == expected)

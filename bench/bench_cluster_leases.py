"""What cluster coordination costs PostgreSQL: a lease's round trip, and a node's heartbeat.

Every statement runs through the same one-connection pool, so the CPU its PostgreSQL backend
spent (``/proc/<backend pid>/stat``) is this bench's alone. The baseline, measured in the same
run on the same connection, is ``SELECT 1``: the round trip nothing can go under.

    .venv/bin/python bench/bench_cluster_leases.py [--n 2000] [--nodes 3]

Prints, per operation, median and p99 wall time (µs) with its ratio to ``SELECT 1``, and the
backend's CPU per operation; then a node's steady load at the default settings (a heartbeat
every 5 s, two singleton leases each acquired every 10 s: 24 statements a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "backend"))

import asyncpg  # noqa: E402

from cxloop.cluster import Leases, NodeHeartbeat, heartbeat_interval_s  # noqa: E402
from cxloop.db import ResilientPool, apply_migrations, embedded_postgres  # noqa: E402
from cxloop.ops import Registry  # noqa: E402
from cxloop.settings import Settings  # noqa: E402


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one PostgreSQL backend process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    name: str, n: int, pid: int, op: Callable[[int], Awaitable[object]]
) -> tuple[str, float, float, float]:
    for i in range(min(50, n)):  # warm the plan cache
        await op(-1 - i)
    times = []
    cpu_before = backend_cpu(pid)
    for i in range(n):
        started = time.perf_counter()
        await op(i)
        times.append(time.perf_counter() - started)
    cpu = backend_cpu(pid) - cpu_before
    times.sort()
    return name, times[len(times) // 2] * 1e6, times[int(len(times) * 0.99)] * 1e6, cpu / n * 1e6


async def run(url: str, n: int, nodes: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
        # Other nodes' rows: the heartbeat counts the live ones.
        for i in range(nodes - 1):
            await conn.execute(
                "INSERT INTO cluster_nodes (node_id, host, data_dir, pid, started_at, "
                "wal_scanned_at) VALUES ($1, 'h', '/d', 1, now(), now()) "
                "ON CONFLICT DO NOTHING",
                f"other-{i}",
            )
    finally:
        await conn.close()
    database = ResilientPool(url, min_size=1, max_size=1)
    await database.start(wait_s=10)
    pool = database.pool
    assert pool is not None
    pid = await pool.fetchval("SELECT pg_backend_pid()")
    leases = Leases(database, "bench-node", ttl_s=30)
    other = Leases(database, "other-node", ttl_s=30)
    await other.acquire("held-elsewhere")
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch), database_url=url, cluster=True)
        heartbeat = NodeHeartbeat(settings, database, "bench-node", Registry())

        async def select_one(_: int) -> object:
            return await pool.fetchval("SELECT 1")

        async def acquire_free(i: int) -> object:
            return await leases.acquire(f"free-{i}")

        async def acquire_ours(_: int) -> object:
            return await leases.acquire("ours")

        async def acquire_taken(_: int) -> object:
            return await leases.acquire("held-elsewhere")

        async def renew(_: int) -> object:
            return await leases.renew("ours")

        async def release(i: int) -> object:
            await leases.release(f"free-{i}")
            return None

        async def beat(_: int) -> object:
            return await heartbeat.beat()

        results = [
            await measure("SELECT 1 (baseline)", n, pid, select_one),
            await measure("acquire, free", n, pid, acquire_free),
            await measure("acquire, already ours (a role's renewal)", n, pid, acquire_ours),
            await measure("acquire, another node's (refused)", n, pid, acquire_taken),
            await measure("renew", n, pid, renew),
            await measure("release", n, pid, release),
            await measure(f"heartbeat ({nodes} nodes, WAL scan incl.)", n, pid, beat),
        ]
        interval = heartbeat_interval_s(settings)
        lease_s = settings.cluster_lease_s
    await database.close()

    base = results[0][1]
    print(f"{'operation':<44} {'median µs':>10} {'p99 µs':>9} {'× SELECT 1':>11} {'PG CPU µs':>10}")
    for name, median, p99, cpu in results:
        print(f"{name:<44} {median:>10.0f} {p99:>9.0f} {median / base:>11.2f} {cpu:>10.1f}")
    beats = 60 / interval
    role_acquires = 2 * 60 / (lease_s / 3)
    by_name = {name: cpu for name, _, _, cpu in results}
    cpu_ms = (
        beats * by_name[f"heartbeat ({nodes} nodes, WAL scan incl.)"]
        + role_acquires * by_name["acquire, already ours (a role's renewal)"]
    ) / 1000
    print(
        f"\nper node per minute at the defaults (lease {lease_s:.0f} s): {beats:.0f} heartbeats + "
        f"{role_acquires:.0f} role lease statements = {beats + role_acquires:.0f} statements, "
        f"~{cpu_ms:.1f} ms of PostgreSQL CPU (plus acquire + renew every {lease_s / 3:.0f} s + "
        "release per partition merge)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="operations measured per row")
    parser.add_argument("--nodes", type=int, default=3, help="nodes in cluster_nodes")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    with ExitStack() as stack:
        if not url:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-lease-")))
            url = stack.enter_context(embedded_postgres(root / "pg"))
        asyncio.run(run(url, args.n, args.nodes))


if __name__ == "__main__":
    main()

"""Cluster dedupe claims in PostgreSQL against the local index, per key, in the same run.

    python bench/bench_cluster_claims.py                         # embedded PostgreSQL
    python bench/bench_cluster_claims.py --sizes 0,1000000 --rounds 3 --database-url ...

At each window size (keys already claimed, spread over ``--days`` past generations), each
round claims one segment-sized batch of new keys (``--dup`` of them replays of keys claimed in
earlier rounds) and asks ``owned`` for it, cluster then local. Printed per size: wall and CPU
per key for each, the cluster's split between this process (fingerprints, encoding) and its
PostgreSQL backend, and the ratios. Both are prefilled with random fingerprints (uniform, as
real ones are): the cluster's server-side, the local one as one merged run per day. With
``--expiry``: dropping one generation's partition against deleting the same rows from a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import asyncpg
import numpy as np
import psutil
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(1, str(ROOT / "bench"))

from bench_dedupe import TODAY, key_batch, prefill_runs  # noqa: E402
from benchlib import bench_postgres, drop_database, fresh_database  # noqa: E402
from cxloop.cluster import ClusterDedupe  # noqa: E402
from cxloop.lake import DedupeIndex, KeyBatch  # noqa: E402

PREFILL_DAY = """
INSERT INTO cluster_dedupe_claims (day, hi, lo, owner)
SELECT $1::date, ((random() - 0.5) * 1.8e19)::bigint, ((random() - 0.5) * 4.2e9)::integer, 0
FROM generate_series(1, $2)
ON CONFLICT DO NOTHING
"""
COUNT_DAY = "UPDATE cluster_dedupe_days SET keys = keys + $2 WHERE day = $1"


async def prefill_cluster(url: str, keys: int, days: int, generation_days: int) -> None:
    """``keys`` more random claims, spread over the past ``days`` days (in partitions of
    ``generation_days`` days each)."""
    if keys <= 0:
        return
    conn = await asyncpg.connect(url)
    try:
        for back in range(1, days + 1):
            ordinal = (TODAY - timedelta(days=back)).toordinal()
            day = date.fromordinal(ordinal - (ordinal - 1) % generation_days)
            await conn.execute("SELECT cluster_dedupe_open_day($1)", day)
            await conn.execute(PREFILL_DAY, day, keys // days)
            await conn.execute(COUNT_DAY, day, keys // days)
        await conn.execute("VACUUM ANALYZE cluster_dedupe_claims")
    finally:
        await conn.close()


def backend_cpu(claims: ClusterDedupe) -> float:
    """CPU seconds so far of the PostgreSQL backend serving ``claims``."""
    assert claims._conn is not None
    times = psutil.Process(claims._conn.get_server_pid()).cpu_times()
    return float(times.user + times.system)


def measure(work: Callable[[], object], claims: ClusterDedupe | None) -> tuple[float, float, float]:
    """Wall, this process's CPU, and the backend's CPU (0 for the local index) of ``work``."""
    gc.collect()
    backend = backend_cpu(claims) if claims else 0.0
    cpu = time.process_time()
    started = time.perf_counter()
    work()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return wall, cpu, (backend_cpu(claims) - backend) if claims else 0.0


def replayed(
    batch: KeyBatch, earlier: list[KeyBatch], share: float, rng: np.random.Generator
) -> KeyBatch:
    """``batch`` with ``share`` of its keys replaced by keys of earlier batches."""
    if not earlier or share <= 0:
        return batch
    count = int(len(batch) * share)
    source = earlier[int(rng.integers(len(earlier)))]
    picks = rng.choice(len(source), count, replace=False)
    messages = batch.message_id.to_pylist()
    projects = batch.project_id.to_pylist()
    for at, pick in zip(
        rng.choice(len(batch), count, replace=False).tolist(), picks.tolist(), strict=True
    ):
        messages[at] = source.message_id[pick].as_py()
        projects[at] = source.project_id[pick].as_py()
    return KeyBatch(batch.failed, pa.array(projects, pa.string()), pa.array(messages, pa.string()))


async def expiry_cost(url: str) -> tuple[float, float, int]:
    """Seconds to drop the oldest generation (as expiry does) and to DELETE the same rows from
    a plain copy of it with an index on the day; the rows."""
    conn = await asyncpg.connect(url)
    try:
        day = await conn.fetchval("SELECT min(day) FROM cluster_dedupe_days")
        rows = await conn.fetchval("SELECT keys FROM cluster_dedupe_days WHERE day = $1", day)
        await conn.execute(
            "CREATE TABLE bench_flat AS SELECT * FROM cluster_dedupe_claims WHERE day = $1", day
        )
        await conn.execute("ALTER TABLE bench_flat ADD PRIMARY KEY (hi, lo)")
        await conn.execute("CREATE INDEX ON bench_flat (day)")
        await conn.execute("CHECKPOINT")
        started = time.perf_counter()
        await conn.execute("DELETE FROM bench_flat WHERE day = $1", day)
        delete_s = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("SELECT cluster_dedupe_drop_days($1)", day + timedelta(days=1))
        drop_s = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_flat")
        return drop_s, delete_s, int(rows)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None, help="server (default: embedded)")
    parser.add_argument("--sizes", default="0,1000000,4000000", help="window sizes in keys")
    parser.add_argument("--batch", type=int, default=100_000, help="keys per segment claim")
    parser.add_argument("--days", type=int, default=8, help="past days of prefilled keys")
    parser.add_argument(
        "--generation-days", type=int, default=4, help="days a cluster partition holds"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dup", type=float, default=0.01, help="share of replayed keys")
    parser.add_argument("--expiry", action="store_true", help="also time dropping a generation")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    rng = np.random.default_rng(19)
    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix="bench_claims_") as tmp,
    ):
        server, _ = bench_postgres(stack, args.database_url, None, Path(tmp), "bench_claims_pg_")
        url = asyncio.run(fresh_database(server, "bench_claims_", "prj_bench"))
        stack.callback(lambda: asyncio.run(drop_database(server, url)))
        claims = stack.enter_context(
            ClusterDedupe(url, "bench", generation_days=args.generation_days)
        )
        print(
            f"keys per claim {args.batch:,}, dup share {args.dup}, {args.days} past days, "
            f"partitions of {args.generation_days} days, "
            f"{args.rounds} rounds per size (medians)"
        )
        earlier: list[KeyBatch] = []
        filled = 0
        for size in sizes:
            asyncio.run(prefill_cluster(url, size - filled, args.days, args.generation_days))
            filled = max(filled, size)
            local_dir = Path(tmp) / f"local-{size}"
            local = prefill_runs(local_dir, size, args.days) if size else DedupeIndex(local_dir)
            results: dict[str, list[tuple[float, float, float]]] = {
                "cluster claim": [],
                "local claim": [],
                "cluster owned": [],
                "local owned": [],
            }
            for round_number in range(args.rounds):
                start = (size * 10 + round_number) * args.batch
                fresh = key_batch(start, args.batch)
                batch = replayed(fresh, earlier, args.dup, rng)
                segment = f"s{size}-{round_number}"
                claim_cluster = partial(claims.claim, segment, batch, received_day=TODAY)
                claim_local = partial(local.claim, segment, batch, received_day=TODAY)
                results["cluster claim"].append(measure(claim_cluster, claims))
                results["local claim"].append(measure(claim_local, None))
                results["cluster owned"].append(
                    measure(partial(claims.owned, segment, batch), claims)
                )
                results["local owned"].append(measure(partial(local.owned, segment, batch), None))
                earlier.append(fresh)
            local.close()
            print(f"\nwindow {size:,} keys (cluster table {claims.stats().keys:,} keys):")
            per_key = 1e6 / args.batch
            medians = {
                name: tuple(statistics.median(r[i] for r in rows) * per_key for i in range(3))
                for name, rows in results.items()
            }
            for name, (wall, cpu, backend) in medians.items():
                extra = (
                    f"  (+ PostgreSQL backend CPU {backend:6.2f})"
                    if name.startswith("cluster")
                    else ""
                )
                print(f"  {name:14s} wall {wall:6.2f} us/key  CPU here {cpu:6.2f}{extra}")
            for what in ("claim", "owned"):
                cluster, local_m = medians[f"cluster {what}"], medians[f"local {what}"]
                print(
                    f"  cluster/local {what}: wall {cluster[0] / local_m[0]:.1f}x, "
                    f"CPU (here + backend) {(cluster[1] + cluster[2]) / local_m[1]:.1f}x"
                )
        size_bytes = claims.stats().bytes
        print(f"\nPostgreSQL bytes per key: {size_bytes / max(1, claims.stats().keys):.1f}")
        if args.expiry:
            drop_s, delete_s, rows = asyncio.run(expiry_cost(url))
            print(
                f"expiry of one generation ({rows:,} keys): DROP partition {drop_s * 1e3:.1f} ms, "
                f"DELETE from an indexed table {delete_s * 1e3:.0f} ms"
            )


if __name__ == "__main__":
    main()

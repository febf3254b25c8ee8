"""Health benchmark: rollups over a 10M-event lake, scoring 5,000 accounts, the health route.

The lake is synthetic but shaped like the SDK's traffic: per account and day, each active user
(about 60% of 8 seats) views a page and works in 1-4 of 8 features, about 4 events each.

1. Rollup: ``rollup_project`` (DuckDB over the lake, into the two Parquet rollup stores) on a
   synthetic lake of ``--events`` events in the real layout, against a plain DuckDB scan of
   the same files reading the same columns, in the same run (target: within 3x of the scan).
   Also timed: the bare GROUP BY (day, account, user, feature) that exact active users per
   feature need, writing nothing -- the floor under any exact rollup in this engine -- and a
   scan touching every column (the files read whole).
2. Scoring: ``refresh_project`` with nothing left to roll up, i.e. the inputs query, scoring
   every account and writing the day's snapshots (target: 5,000 accounts under 2 s).
3. ``GET /v1/accounts/{id}`` on a running ``cxloop serve``: p50/p99 over random accounts,
   one connection, closed loop (target: p99 under 20 ms).

Usage: python bench/bench_health.py [--events 10000000] [--accounts 5000] [--days 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_ingest as ingest  # noqa: E402
from cxloop.db import apply_migrations, database_url_for  # noqa: E402
from cxloop.db.pool import create_pool  # noqa: E402
from cxloop.health.rollup import (  # noqa: E402
    FEATURE_SQL,
    lake_partitions,
    literal_list,
    rollup_project,
)
from cxloop.health.service import refresh_project  # noqa: E402
from cxloop.lake.compactor import partition_dir  # noqa: E402
from cxloop.wal import EVENT_LAKE_SCHEMA  # noqa: E402

FEATURES = [f"feature_{i}" for i in range(12)]


def day_table(rng: random.Random, rows: int, accounts: int, day: date) -> pa.Table:
    """One day of browser-shaped events, generated as sessions: an active user views a page,
    then works in a few features, a few events each (what the SDK sends from a real app)."""
    base = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1e6)
    columns: dict[str, list[Any]] = {f.name: [] for f in EVENT_LAKE_SCHEMA}
    count = 0

    def add(account: int, user: str, feature: str | None, at: int) -> None:
        nonlocal count
        values = {
            "message_id": f"{day.isoformat()}-{count}",
            "type": "page" if feature is None else "track",
            "event": None if feature is None else "Feature Used",
            "name": "Dashboard" if feature is None else None,
            "user_id": user,
            "anonymous_id": None,
            "group_id": f"acct_{account}",
            "previous_id": None,
            "timestamp": at,
            "original_timestamp": at,
            "sent_at": None,
            "received_at": at,
            "properties": None if feature is None else f'{{"feature":"{feature}","n":{count % 7}}}',
            "traits": None,
            "context": '{"library":{"name":"cxloop-js"},"locale":"zh-CN"}',
            "integrations": None,
            "extra": None,
        }
        for name, value in values.items():
            columns[name].append(value)
        count += 1

    while count < rows:
        account = rng.randrange(accounts)
        for seat in range(8):
            if rng.random() > 0.6:
                continue
            user = f"u{account}_{seat}"
            at = base + rng.randrange(80_000_000_000)
            add(account, user, None, at)
            for feature in rng.sample(FEATURES[:8], rng.randint(1, 4)):
                for _ in range(1 + int(rng.expovariate(1 / 3))):
                    at += rng.randrange(1_000_000, 60_000_000)
                    add(account, user, feature, at)
    return pa.table(columns, schema=EVENT_LAKE_SCHEMA)


def build_lake(lake: Path, project_id: str, events: int, accounts: int, days: int) -> date:
    rng = random.Random(11)
    today = datetime.now(UTC).date()
    per_day = events // days
    # A handful of distinct day tables, reused across dates (generation is not what is measured).
    tables = [day_table(rng, per_day, accounts, today) for _ in range(3)]
    for offset in range(days):
        day = today - timedelta(days=offset)
        directory = partition_dir(lake, "events", project_id, day)
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(tables[offset % 3], directory / "part-bench.parquet", compression="zstd",
                       row_group_size=128 * 1024)  # fmt: skip
    return today


def timed_query(lake: Path, project_id: str, query: str) -> float:
    """Seconds to run ``query`` (``{source}``: the project's lake files) in a fresh DuckDB."""
    files = [f.key for p in lake_partitions(lake)[project_id] for f in p.files]
    source = f"read_parquet({literal_list(files)}, hive_partitioning = true)"
    started = time.perf_counter()
    with duckdb.connect() as db:
        db.execute(query.replace("{source}", source)).fetchall()
    return time.perf_counter() - started


# The baseline: the columns the rollup reads, each touched, nothing grouped but the users.
PLAIN_SCAN = (
    "SELECT count(*), count(group_id), count(DISTINCT user_id), sum(length(properties)), "
    "count(event), max(type) FROM {source}"
)
# Reading the files whole: every column of the event store touched once.
FULL_SCAN = (
    "SELECT count(*), "
    + ", ".join(
        f"max(length({f.name}))" if pa.types.is_string(f.type) else f"max({f.name})"
        for f in EVENT_LAKE_SCHEMA
    )
    + " FROM {source}"
)
# The floor under any exact rollup in this engine: the GROUP BY (day, account, user, feature)
# that active users per account and feature and day need, counting the groups and writing
# nothing (no member attribution, no filter, no second grain).
BARE_AGGREGATE = (
    f"SELECT count(*) FROM (SELECT e.date, e.group_id, e.user_id, {FEATURE_SQL}, "
    "count(*) FROM {source} AS e GROUP BY ALL)"
)


async def rollup_and_score(
    database_url: str, lake: Path, project_id: str, accounts: int
) -> dict[str, Any]:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn)
            await conn.execute(
                "INSERT INTO projects (id, name, write_key, secret_key_hash, secret_key_prefix) "
                "VALUES ($1, 'bench', 'wk_bench', 'h', 'sk_') ON CONFLICT DO NOTHING",
                project_id,
            )
            now = datetime.now(UTC)
            await conn.executemany(
                """INSERT INTO accounts (project_id, account_id, traits, first_seen_at,
                       last_seen_at) VALUES ($1, $2, $3::text::jsonb, $4, $4)
                   ON CONFLICT DO NOTHING""",
                [(project_id, f"acct_{a}", json.dumps({"name": f"A{a}", "seats": 10,
                  "plan": "pro"}), now - timedelta(days=90)) for a in range(accounts)],
            )  # fmt: skip
            partitions = lake_partitions(lake)[project_id]
            started = time.perf_counter()
            async with conn.transaction():
                report = await rollup_project(conn, lake, project_id, partitions)
            rollup_s = time.perf_counter() - started
            score_runs = []
            for _ in range(3):
                refreshed = await refresh_project(conn, lake, project_id)
                score_runs.append(refreshed.seconds)
        return {
            "rollup_seconds": rollup_s,
            "rollup_events": report.events,
            "rollup_partitions": report.partitions,
            "scored_accounts": refreshed.accounts,
            "score_seconds_runs": score_runs,
        }
    finally:
        await pool.close()


def route_latency(url: str, secret: str, accounts: int, requests: int) -> dict[str, float]:
    rng = random.Random(5)
    times = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}) as client:
        scored = [a["account_id"] for a in client.get("/v1/accounts?limit=1000").json()["accounts"]]
        for _ in range(requests):
            account = rng.choice(scored)
            started = time.perf_counter()
            response = client.get(f"/v1/accounts/{account}")
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and response.json()["health"] is not None
    times.sort()
    return {
        "requests": requests,
        "p50_ms": round(times[len(times) // 2], 2),
        "p99_ms": round(times[int(len(times) * 0.99)], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="cxloop-health-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "data"
        lake = data_dir / "lake"
        with database_url_for(None, tmp / "pg") as database_url:
            secret_project = ingest.project_keys(database_url)
            project_id = secret_project["id"]
            print(f"building a {args.events:,}-event lake ...", flush=True)
            started = time.perf_counter()
            build_lake(lake, project_id, args.events, args.accounts, args.days)
            results["lake_build_seconds"] = round(time.perf_counter() - started, 1)
            scans = [timed_query(lake, project_id, PLAIN_SCAN) for _ in range(3)]
            floors = [timed_query(lake, project_id, BARE_AGGREGATE) for _ in range(3)]
            full_scans = [timed_query(lake, project_id, FULL_SCAN) for _ in range(3)]
            print("rolling up and scoring ...", flush=True)
            measured = asyncio.run(rollup_and_score(database_url, lake, project_id, args.accounts))
            scan_s = statistics.median(scans)
            results["rollup"] = {
                "events": measured["rollup_events"],
                "partitions": measured["rollup_partitions"],
                "seconds": round(measured["rollup_seconds"], 2),
                "events_per_s": round(measured["rollup_events"] / measured["rollup_seconds"]),
                "plain_scan_seconds_median": round(scan_s, 2),
                "plain_scan_events_per_s": round(args.events // args.days * args.days / scan_s),
                "ratio_to_scan": round(measured["rollup_seconds"] / scan_s, 2),
                "bare_aggregate_seconds_median": round(statistics.median(floors), 2),
                "bare_aggregate_ratio_to_scan": round(statistics.median(floors) / scan_s, 2),
                "full_scan_seconds_median": round(statistics.median(full_scans), 2),
                "ratio_to_full_scan": round(
                    measured["rollup_seconds"] / statistics.median(full_scans), 2
                ),
            }
            results["scoring"] = {
                "accounts": measured["scored_accounts"],
                "seconds_median": round(statistics.median(measured["score_seconds_runs"]), 3),
                "seconds_runs": [round(s, 3) for s in measured["score_seconds_runs"]],
            }
            port = ingest.free_port()
            server = ingest.start_cxloop(data_dir, database_url, port)
            url = f"http://127.0.0.1:{port}"
            try:
                ingest.wait_http(f"{url}/readyz")
                results["account_route"] = route_latency(
                    url, secret_project["secret_key"], args.accounts, args.requests
                )
            finally:
                ingest.stop(server)
    print(json.dumps(results, indent=2))
    r, s, a = results["rollup"], results["scoring"], results["account_route"]
    print(
        f"\nrollup: {r['events']:,} events in {r['seconds']} s ({r['events_per_s']:,}/s); plain "
        f"DuckDB scan {r['plain_scan_seconds_median']} s -> {r['ratio_to_scan']}x the scan "
        f"(target <= 3x); the bare GROUP BY (day, account, user, feature) alone: "
        f"{r['bare_aggregate_seconds_median']} s -> {r['bare_aggregate_ratio_to_scan']}x the scan"
        f"; a scan of every column: {r['full_scan_seconds_median']} s -> rollup "
        f"{r['ratio_to_full_scan']}x that"
        f"\nscoring: {s['accounts']:,} accounts in {s['seconds_median']} s "
        f"(median of 3; target < 2 s)\nGET /v1/accounts/{{id}}: p50 {a['p50_ms']} ms, "
        f"p99 {a['p99_ms']} ms over {a['requests']} requests (target p99 < 20 ms)"
    )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"health-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps(results, indent=2)
    )


if __name__ == "__main__":
    main()

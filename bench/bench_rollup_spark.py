"""Spark against DuckDB: the full health rollup of one lake, both engines, in the same run.

Builds bench_health's synthetic lake (``--events`` events over ``--days`` days, ``--accounts``
accounts; or reuses ``--lake``), then rolls the whole lake up from nothing ``--repeats`` times
with each engine, taking turns so both see the same machine:

- **duckdb**: ``rollup_with_engine`` with ``rollup_engine=duckdb``: the pipeline's rollup (per-file
  details, then the day's stores), with its shipped bounds (1 thread, 256 MB);
- **spark-submit**: ``rollup_engine=spark``: ``spark-submit`` of health/spark_job.py to
  ``--master`` (default ``local[2]``), what a refresh pays, JVM start included;
- **spark warm**: the same job on a SparkSession of this process started once (its start is
  reported apart): the job's own time, as on a cluster whose executors are up.

Each run starts from no rollups (``lake/rollups`` removed, ``rollup_partitions`` emptied). The
stores of the two engines are compared at the end (EXCEPT ALL both ways: 0 rows expected).
Prints the medians and the ratios to DuckDB; writes bench/results/rollup-spark-<stamp>.json.

    python bench/bench_rollup_spark.py [--events 10000000] [--repeats 3] [--lake DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "backend"))
sys.path.insert(0, str(HERE))

from bench_health import build_lake  # noqa: E402
from cxloop.db import apply_migrations, database_url_for  # noqa: E402
from cxloop.health.spark_rollup import in_process, rollup_with_engine  # noqa: E402
from cxloop.lake import LakeLocation, project_dir  # noqa: E402
from cxloop.settings import Settings  # noqa: E402

PROJECT = "prj_bench_spark"
STORES = ("usage_feature", "usage_user")


def spark_session(master: str) -> Any:
    """A session configured as spark_submit_command configures local mode."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(master)
        .appName("cxloop-bench-rollup")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    return session


def differences(expected: Path, got: Path) -> dict[str, int]:
    """Rows of each store in one lake's rollups and not the other's (both ways)."""
    out = {}
    with duckdb.connect() as db:
        for store in STORES:
            sources = []
            for root in (expected, got):
                pattern = str(project_dir(root, store, PROJECT) / "date=*" / "*.parquet")
                sources.append(
                    f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
                    "hive_types = {'date': DATE})"
                )
            a, b = sources
            row = db.execute(
                f"SELECT (SELECT count(*) FROM ({a} EXCEPT ALL {b})) "
                f"+ (SELECT count(*) FROM ({b} EXCEPT ALL {a})), (SELECT count(*) FROM ({a}))"
            ).fetchone()
            assert row is not None
            out[store] = int(row[0])
            out[f"{store}_rows"] = int(row[1])
    return out


async def measure(args: argparse.Namespace, lake: Path, database_url: str) -> dict[str, Any]:
    location = LakeLocation.directory(lake)
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn)

        async def reset() -> None:
            shutil.rmtree(lake / "rollups", ignore_errors=True)
            await conn.execute("DELETE FROM rollup_partitions")

        duck = Settings(rollup_engine="duckdb")
        spark_settings = Settings(rollup_engine="spark", spark_master=args.master)
        started = time.perf_counter()
        session = spark_session(args.master)
        session_start_s = time.perf_counter() - started
        warm = in_process(session)

        async def run_duckdb() -> Any:
            return await rollup_with_engine(duck, conn, location, PROJECT)

        async def run_submit() -> Any:
            return await rollup_with_engine(spark_settings, conn, location, PROJECT)

        async def run_warm() -> Any:
            return await rollup_with_engine(spark_settings, conn, location, PROJECT, runner=warm)

        engines: dict[str, Callable[[], Awaitable[Any]]] = {"duckdb": run_duckdb}
        if not args.no_submit:
            engines["spark_submit"] = run_submit
        engines["spark_warm"] = run_warm
        times: dict[str, list[float]] = {name: [] for name in engines}
        events: dict[str, int] = {}
        kept = lake.parent / f"{lake.name}-duckdb-rollups"
        shutil.rmtree(kept, ignore_errors=True)
        for repeat in range(args.repeats):
            order = list(engines) if repeat % 2 == 0 else list(reversed(engines))
            for name in order:
                await reset()
                started = time.perf_counter()
                report = await engines[name]()
                times[name].append(time.perf_counter() - started)
                events[name] = report.events
                print(f"  {name}: {times[name][-1]:.2f} s ({report.events:,} events)", flush=True)
                if name == "duckdb" and not kept.exists():
                    shutil.copytree(lake / "rollups", kept)
        # The last run's stores against DuckDB's.
        await reset()
        await run_warm()
        compared = differences(kept, lake / "rollups")
        shutil.rmtree(kept, ignore_errors=True)
        session.stop()
    finally:
        await conn.close()
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    return {
        "seconds": {name: [round(t, 2) for t in runs] for name, runs in times.items()},
        "median_seconds": {name: round(m, 2) for name, m in medians.items()},
        "ratio_to_duckdb": {
            name: round(m / medians["duckdb"], 2) for name, m in medians.items() if name != "duckdb"
        },
        "events_rolled_up": events,
        "spark_session_start_seconds": round(session_start_s, 2),
        "rows_differing": compared,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--lake", type=Path, help="use (or build and keep) the lake here")
    parser.add_argument("--no-submit", action="store_true", help="skip the spark-submit runs")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    with tempfile.TemporaryDirectory(prefix="cxloop-spark-bench-") as tmp_name:
        tmp = Path(tmp_name)
        lake = args.lake.absolute() if args.lake else tmp / "lake"
        if not project_dir(lake, "events", PROJECT).exists():
            print(f"building a {args.events:,}-event lake in {lake} ...", flush=True)
            started = time.perf_counter()
            build_lake(lake, PROJECT, args.events, args.accounts, args.days)
            results["lake_build_seconds"] = round(time.perf_counter() - started, 1)
        results["lake_bytes"] = sum(f.stat().st_size for f in (lake / "events").rglob("*.parquet"))
        with database_url_for(None, tmp / "pg") as database_url:
            results |= asyncio.run(measure(args, lake, database_url))
    results["machine"]["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    m, r = results["median_seconds"], results["ratio_to_duckdb"]
    print(
        f"\nfull rollup of {results['events_rolled_up']['duckdb']:,} usage events: DuckDB "
        f"{m['duckdb']} s; Spark {args.master} warm {m['spark_warm']} s "
        f"({r['spark_warm']}x DuckDB)"
        + (
            f"; spark-submit {m['spark_submit']} s ({r['spark_submit']}x)"
            if "spark_submit" in m
            else ""
        )
        + f"; rows differing: {results['rows_differing']}"
    )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"rollup-spark-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps(results, indent=2)
    )


if __name__ == "__main__":
    main()

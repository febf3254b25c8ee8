"""Table formats against cxloop's plain Hive Parquet lake (issue 19): Apache Iceberg (pyiceberg,
SQL catalog in PostgreSQL) and Delta Lake (deltalake / delta-rs), on the same data, in one run,
on local disk AND on a real S3 API (moto's server on loopback).

1. append: a segment-sized batch (``--rows`` events, lake schema, 4 projects, 10 % late events
   over 3 earlier days) per commit; ``--commits`` commits by 1 writer, then by 3 writer
   processes at once (as nodes would be): wall and CPU per commit (median), retries after a
   conflict, rows/s, rows the format's reader then sees against rows written, peak RSS.
2. compaction: ``--small-files`` files in one partition-day merged into one (Hive: cxloop's
   ``merge_files``, or on S3 PUT + DELETE; Iceberg: read the partition, overwrite-with-filter in
   one transaction — pyiceberg has no rewrite_data_files; Delta: ``optimize.compact``), timed;
   then again on a second day while a thread keeps counting that partition with a plain glob
   reader and with the format's reader: the counts each saw. Then what a plain glob counts
   after the compaction, and after the format's maintenance (Iceberg expire_snapshots, Delta
   VACUUM).
3. delete: one user erased from ``--days`` days × ``--files-per-day`` files (on
   ``--subject-days`` of the days): wall, CPU, files rewritten, data and metadata bytes written;
   the user's rows a plain glob reader still finds before and after maintenance.
4. readers (local lake, after the delete, before maintenance): counts from DuckDB, Polars,
   pandas, pyarrow and (``--spark``) Spark, by glob and by each engine's table-format reader
   where it has one here.
5. process cost: import time and RSS a pipeline process adds by importing pyiceberg, deltalake.

Usage: python bench/bench_table_format.py [--rows 200000] [--commits 4] [--small-files 20]
       [--small-rows 5000] [--days 90] [--files-per-day 4] [--delete-events 1000000]
       [--subject-days 60] [--stores local,s3] [--formats hive,iceberg,delta] [--spark]
       [--json out.json] [--database-url URL]
PostgreSQL: ``--database-url`` (a server URL; a fresh database is made and dropped), else
DATABASE_URL, else an embedded server. Needs the ``tablefmt`` extra. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import tablefmt_formats as tf  # noqa: E402
from cxloop.lake import LakeLocation  # noqa: E402

SUBJECT = "user-subject-0001"
PROJECTS = ["proj-a", "proj-b", "proj-c", "proj-d"]
EVENTS = ["Report Viewed", "Export Started", "Alert Created", "Search Run", "Dashboard Opened"]
TODAY = date(2026, 11, 30)
CONTEXT = (
    '{"library":{"name":"cxloop-js","version":"0.1.0"},"locale":"en-US","page":{"path":'
    '"/app/reports","url":"https://app.example.com/app/reports","title":"Reports"},'
    '"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",'
    '"ip":"203.0.113.0","groupId":"acct-%d"}'
)


# -- data -------------------------------------------------------------------------------------


def make_events(
    seed: int,
    projects: np.ndarray,
    days: np.ndarray,
    *,
    project_names: list[str],
    users: int = 5000,
    subject_rows: np.ndarray | None = None,
) -> pa.Table:
    """Events in ``FULL_SCHEMA``: row i in project ``projects[i]``, on day ``days[i]``."""
    rows = len(days)
    rng = np.random.default_rng(seed)
    day_us = (days.astype("datetime64[D]").astype("datetime64[us]")).astype(np.int64)
    times = np.sort(day_us + rng.integers(0, 86_400_000_000, rows))
    user_index = rng.integers(0, users, rows)
    names = pa.array([f"user-{k:05d}" for k in range(users)] + [SUBJECT])
    if subject_rows is not None:
        user_index[subject_rows] = users
    when = pa.array(times, pa.timestamp("us", tz="UTC"))
    serial = pa.array(np.arange(rows)).cast(pa.string())
    features = pa.array(rng.integers(0, len(EVENTS), rows))
    event_names = pa.array(EVENTS).take(features)
    accounts = pa.array([CONTEXT % (k // 8) for k in range(users + 1)])
    columns = {
        "project_id": pa.array(project_names).take(pa.array(projects)),
        "message_id": pc.binary_join_element_wise(f"m-{seed}-", serial, ""),
        "type": pa.array(["track"] * rows),
        "event": event_names,
        "name": pa.nulls(rows, pa.string()),
        "user_id": names.take(pa.array(user_index)),
        "anonymous_id": pc.binary_join_element_wise("anon-", names.take(pa.array(user_index)), ""),
        "group_id": pa.array([f"acct-{k // 8:04d}" for k in range(users + 1)]).take(
            pa.array(user_index)
        ),
        "previous_id": pa.nulls(rows, pa.string()),
        "timestamp": when,
        "original_timestamp": when,
        "sent_at": when,
        "received_at": when,
        "properties": pc.binary_join_element_wise(
            '{"feature":"', event_names, '","plan":"pro","count":', serial, "}", ""
        ),
        "traits": pa.nulls(rows, pa.string()),
        "context": accounts.take(pa.array(user_index)),
        "integrations": pa.nulls(rows, pa.string()),
        "extra": pa.nulls(rows, pa.string()),
        "date": pa.array(days.astype("datetime64[D]"), pa.date32()),
    }
    return pa.table(columns, schema=tf.FULL_SCHEMA)


def segment_batch(rows: int, seed: int) -> pa.Table:
    """What one compaction writes: 4 projects, 90 % of events today, 10 % over 3 late days."""
    rng = np.random.default_rng(seed + 1)
    late = rng.random(rows) < 0.1
    back = np.where(late, rng.integers(1, 4, rows), 0)
    days = np.datetime64(TODAY) - back.astype("timedelta64[D]")
    projects = rng.integers(0, len(PROJECTS), rows)
    return make_events(seed, projects, days, project_names=PROJECTS)


# -- 1. append ------------------------------------------------------------------------------


def append_worker(spec: dict[str, Any]) -> None:
    """One writer process: make its batches, say ready, wait for the start file, commit."""
    loc = tf.location(spec["location"])
    fmt = tf.make(spec["kind"], loc, spec["catalog"], spec["table"], node=f"w{spec['writer']}")
    batches = [
        segment_batch(spec["rows"], seed=1000 * spec["writer"] + i) for i in range(spec["commits"])
    ]
    print("ready", flush=True)
    start = Path(spec["start_file"])
    while not start.exists():
        time.sleep(0.01)
    commits: list[dict[str, float]] = []
    failures = 0
    began = time.time()
    for i, batch in enumerate(batches):
        for _attempt in range(5):
            try:
                _, wall, cpu = tf.timed(fmt.append, batch, f"{spec['writer']:02d}{i:06d}")
                break
            except Exception as error:  # a commit that failed after the library's own retries
                failures += 1
                print(f"commit failed: {type(error).__name__}: {error}", file=sys.stderr)
        else:
            raise RuntimeError("5 attempts failed")
        commits.append({"wall": wall, "cpu": cpu})
    ended = time.time()
    retries = tf.Iceberg.counter.retries if spec["kind"] == "iceberg" else 0
    print(
        json.dumps(
            {
                "commits": commits, "began": began, "ended": ended, "retries": retries,
                "failures": failures,
                "max_rss": _peak_rss(),
            }
        ),
        flush=True,
    )  # fmt: skip


def _peak_rss() -> int:
    """This process's peak RSS (VmHWM: reset by exec, unlike ru_maxrss, which a child
    started by fork from a big parent inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_append(
    kind: str, loc: LakeLocation, catalog: str, args: argparse.Namespace, writers: int, tmp: Path
) -> dict[str, Any]:
    table = f"append_{writers}w"
    fmt = tf.make(kind, loc, catalog, table)
    fmt.create()
    start_file = tmp / f"start-{kind}-{secrets.token_hex(3)}"
    procs = []
    for writer in range(writers):
        spec = {
            "location": tf.location_spec(loc), "kind": kind, "catalog": catalog,
            "table": table, "writer": writer, "rows": args.rows, "commits": args.commits,
            "start_file": str(start_file),
        }  # fmt: skip
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--append-worker", json.dumps(spec)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"append worker did not start: {line!r}")
    start_file.touch()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        if proc.returncode:
            raise RuntimeError(f"append worker failed ({proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    walls = [c["wall"] for r in results for c in r["commits"]]
    cpus = [c["cpu"] for r in results for c in r["commits"]]
    span = max(r["ended"] for r in results) - min(r["began"] for r in results)
    written = writers * args.commits * args.rows
    seen = fmt.count_all()
    retries = sum(r["retries"] for r in results)
    if kind == "delta":
        retries = fmt.history_conflicts()
    files = len(tf.parquet_files(fmt.loc, *fmt.data_root()))
    return {
        "writers": writers,
        "commit_wall_s_median": round(statistics.median(walls), 3),
        "commit_cpu_s_median": round(statistics.median(cpus), 3),
        "commit_wall_s_max": round(max(walls), 3),
        "rows_per_s": round(written / span),
        "retries": retries,
        "failed_commits": sum(r["failures"] for r in results),
        "rows_written": written,
        "rows_seen": seen,
        "data_files": files,
        "max_rss_mib": round(max(r["max_rss"] for r in results) / 2**20),
    }


# -- 2. compaction ----------------------------------------------------------------------------


def run_compaction(
    kind: str, loc: LakeLocation, catalog: str, args: argparse.Namespace
) -> dict[str, Any]:
    fmt = tf.make(kind, loc, catalog, "compaction")
    fmt.create()
    day_a, day_b = TODAY - timedelta(days=10), TODAY - timedelta(days=11)
    rows = args.small_rows
    for i in range(args.small_files):
        days = np.array([day_a] * rows + [day_b] * rows, dtype="datetime64[D]")
        fmt.append(
            make_events(50_000 + i, np.zeros(2 * rows, int), days, project_names=["proj-a"]),
            f"c{i:06d}",
        )
    truth = args.small_files * rows
    files_before = len(fmt.partition_files("proj-a", day_a))
    result, wall, cpu = tf.timed(fmt.compact, "proj-a", day_a)
    files_after = len(fmt.partition_files("proj-a", day_a))

    # The same again on day B while a reader thread counts that partition.
    loc, root = fmt.loc, fmt.data_root()
    marker = f"date={day_b.isoformat()}"
    seen_glob: Counter[int] = Counter()
    seen_own: Counter[int] = Counter()
    errors = Counter[str]()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                files = [f for f in tf.parquet_files(loc, *root) if marker in f]
                seen_glob[tf.glob_count(loc, files)] += 1
            except Exception as error:
                errors["glob " + type(error).__name__] += 1
            try:
                seen_own[fmt.count("proj-a", day_b)] += 1
            except Exception as error:
                errors["own " + type(error).__name__] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.2)
    fmt.compact("proj-a", day_b)
    time.sleep(0.2)
    stop.set()
    thread.join()
    glob_files = tf.parquet_files(loc, *root)
    glob_after = tf.glob_count(loc, glob_files)
    fmt.maintain()
    glob_files_maintained = tf.parquet_files(loc, *root)
    return {
        "rows": truth,
        "files_before": files_before,
        "files_after": files_after,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "bytes_written": result["bytes_written"],
        "during_glob_counts": dict(seen_glob),
        "during_own_counts": dict(seen_own),
        "during_errors": dict(errors),
        "glob_rows_after": glob_after,
        "glob_files_after": len(glob_files),
        "glob_rows_after_maintenance": tf.glob_count(loc, glob_files_maintained),
        "own_rows_after": fmt.count("proj-a", day_a) + fmt.count("proj-a", day_b),
        "truth_rows": 2 * truth,
    }


# -- 3. row-level delete (and 4. readers) ---------------------------------------------------


def delete_lake_file(i: int, args: argparse.Namespace) -> pa.Table:
    """The i-th of ``files_per_day`` compactions, each holding every day (one file a day)."""
    per_file = max(1, args.delete_events // (args.days * args.files_per_day))
    first = TODAY - timedelta(days=args.days)
    days = np.repeat(np.arange(args.days), per_file)
    dates = np.datetime64(first) + days.astype("timedelta64[D]")
    subject_days = set(np.linspace(0, args.days - 1, args.subject_days).round().astype(int))
    # An active user: twice an average user's events on the days they use it (as bench_privacy).
    subject_per_file = max(1, 2 * per_file // 2000)
    rng = np.random.default_rng(70_000 + i)
    chosen = [
        d * per_file + rng.choice(per_file, subject_per_file, replace=False)
        for d in sorted(subject_days)
    ]
    subject_rows = np.concatenate(chosen) if chosen else None
    return make_events(
        70_000 + i, np.zeros(len(days), int), dates, project_names=["proj-a"], users=2000,
        subject_rows=subject_rows,
    )  # fmt: skip


def _changed(before: list[tf.Listed], after: list[tf.Listed]) -> tuple[int, int, int]:
    """(data bytes, metadata bytes, data files) written between two listings."""
    old = {(i.path, i.size, i.mtime_ns) for i in before}
    data = meta = files = 0
    for item in after:
        if (item.path, item.size, item.mtime_ns) in old:
            continue
        if item.path.endswith(".parquet") and "/_delta_log/" not in item.path:
            data += item.size
            files += 1
        else:
            meta += item.size
    return data, meta, files


def run_delete(
    kind: str, loc: LakeLocation, catalog: str, args: argparse.Namespace, spark: Any
) -> dict[str, Any]:
    fmt = tf.make(kind, loc, catalog, "erasure")
    fmt.create()
    for i in range(args.files_per_day):
        fmt.append(delete_lake_file(i, args), f"d{i:06d}")
    root = fmt.data_root() if kind != "iceberg" else ("iceberg", fmt.table_name)
    before = tf.listing(fmt.loc, *root)
    data_files = tf.parquet_files(fmt.loc, *fmt.data_root())
    lake_bytes = sum(i.size for i in before if i.path in set(data_files))
    rows = fmt.count_all()
    subject_rows = fmt.count_all(SUBJECT)
    result, wall, cpu = tf.timed(fmt.delete_user, SUBJECT)
    after = tf.listing(fmt.loc, *root)
    data_bytes, meta_bytes, new_files = _changed(before, after)
    files_after = tf.parquet_files(fmt.loc, *fmt.data_root())
    out: dict[str, Any] = {
        "files": len(data_files),
        "lake_bytes": lake_bytes,
        "rows": rows,
        "subject_rows": subject_rows,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "files_rewritten": result["files_rewritten"],
        "data_bytes_written": data_bytes,
        "metadata_bytes_written": meta_bytes,
        "data_files_written": new_files,
        "subject_rows_own_reader_after": fmt.count_all(SUBJECT),
        "subject_rows_glob_after": tf.glob_count(fmt.loc, files_after, SUBJECT),
        "rows_glob_after": tf.glob_count(fmt.loc, files_after),
        "rows_own_reader_after": fmt.count_all(),
    }
    if "deletion_vectors" in result:
        out["deletion_vectors"] = result["deletion_vectors"]
    if loc.local is not None:
        out["readers"] = readers(fmt, out["rows_own_reader_after"], spark)
    fmt.maintain()
    files_kept = tf.parquet_files(fmt.loc, *fmt.data_root())
    out["subject_rows_glob_after_maintenance"] = tf.glob_count(fmt.loc, files_kept, SUBJECT)
    out["files_glob_after_maintenance"] = len(files_kept)
    return out


def _short(error: BaseException) -> str:
    lines = str(error).splitlines() or [""]
    # Py4J's first line names only the call; the Java exception is on a later one.
    cause = next((line for line in lines if "Exception" in line), lines[0])
    return f"{type(error).__name__}: {cause.strip()[:200]}"


def _try(call: Any) -> Any:
    try:
        return call()
    except Exception as error:
        return _short(error)


def readers(fmt: Any, truth: int, spark: Any) -> dict[str, Any]:
    """What each engine installed here counts on a local table after the delete: by a glob
    of its Parquet files, and through the engine's own reader of the format if it has one."""
    import duckdb
    import pandas as pd
    import polars as pl

    data_dir = fmt.loc.path(*fmt.data_root())
    pattern = f"{data_dir}/**/*.parquet"
    files = tf.parquet_files(fmt.loc, *fmt.data_root())
    out: dict[str, Any] = {"truth": truth}
    con = duckdb.connect()
    out["duckdb_glob"] = _try(
        lambda: con.sql(
            f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning = false)"
        ).fetchall()[0][0]
    )
    out["polars_glob"] = _try(
        lambda: pl.scan_parquet(pattern, hive_partitioning=False).select(pl.len()).collect().item()
    )
    out["pandas_dir"] = _try(lambda: len(pd.read_parquet(data_dir, columns=["message_id"])))
    out["pyarrow_glob"] = tf.glob_count(fmt.loc, files)
    if fmt.name in {"iceberg", "delta"}:
        out["duckdb_native"] = _try(lambda: _duckdb_extension(con, fmt.name))
        out["duckdb_via_arrow"] = _try(lambda: _duckdb_count(con, _native_arrow(fmt)))
        out["polars_native"] = _try(lambda: _polars_native(fmt))
        out["pandas_native"] = _try(lambda: len(_native_arrow(fmt).to_pandas()))
    if spark is not None:
        out["spark_glob"] = _try(
            lambda: spark.read.option("recursiveFileLookup", "true").parquet(data_dir).count()
        )
        if fmt.name in {"iceberg", "delta"}:
            name = "delta" if fmt.name == "delta" else "iceberg"
            out["spark_native"] = _try(lambda: spark.read.format(name).load(data_dir).count())
    return out


def _native_arrow(fmt: Any) -> pa.Table:
    """The table as the format's own Python library reads it (ids only)."""
    if fmt.name == "iceberg":
        return fmt.table.scan(selected_fields=("message_id",)).to_arrow()
    return fmt.dt().to_pyarrow_dataset().to_table(columns=["message_id"])


def _duckdb_count(con: Any, table: pa.Table) -> int:
    con.register("native", table)
    return int(con.sql("SELECT count(*) FROM native").fetchall()[0][0])


def _polars_native(fmt: Any) -> int:
    import polars as pl

    os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")  # polars_iceberg: not here
    frame = pl.scan_iceberg(fmt.table) if fmt.name == "iceberg" else pl.scan_delta(fmt.uri)
    return int(frame.select(pl.len()).collect().item())


def _duckdb_extension(con: Any, name: str) -> Any:
    con.sql(f"INSTALL {name}")
    con.sql(f"LOAD {name}")
    return "loaded"


# -- 5. process cost --------------------------------------------------------------------------

_COST_SCRIPT = """
import json, sys, time, psutil
import pyarrow, pyarrow.parquet, pyarrow.dataset, duckdb
import cxloop.pipeline.process
rss = psutil.Process().memory_info().rss
started = time.perf_counter()
exec(sys.argv[1])
print(json.dumps({"import_s": time.perf_counter() - started,
                  "rss_added": psutil.Process().memory_info().rss - rss}))
"""
_IMPORTS = {
    "pyiceberg": "from pyiceberg.catalog.sql import SqlCatalog\nimport pyiceberg.io.pyarrow",
    "deltalake": "import deltalake\nfrom deltalake import write_deltalake, DeltaTable",
}


def process_cost(reps: int = 3) -> dict[str, Any]:
    out: dict[str, Any] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "backend"), str(ROOT)])}
    for name, code in _IMPORTS.items():
        runs = []
        for _ in range(reps):
            done = subprocess.run(
                [sys.executable, "-c", _COST_SCRIPT, code], capture_output=True, text=True,
                check=True, env=env, timeout=300,
            )  # fmt: skip
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        out[name] = {
            "import_s": round(statistics.median(r["import_s"] for r in runs), 3),
            "rss_added_mib": round(statistics.median(r["rss_added"] for r in runs) / 2**20, 1),
        }
    return out


# -- driver ---------------------------------------------------------------------------------


async def _database(server_url: str, create: bool, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(server_url)
    try:
        if create:
            await admin.execute(f'CREATE DATABASE "{name}"')
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _spark() -> Any:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("cxloop-tablefmt")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--commits", type=int, default=4)
    parser.add_argument("--writers", default="1,3")
    parser.add_argument("--small-files", type=int, default=20)
    parser.add_argument("--small-rows", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--delete-events", type=int, default=1_000_000)
    parser.add_argument("--subject-days", type=int, default=60)
    parser.add_argument("--stores", default="local,s3")
    parser.add_argument("--formats", default="hive,iceberg,delta")
    parser.add_argument("--sections", default="append,compaction,delete,cost")
    parser.add_argument("--spark", action="store_true", help="also read with Spark (local[1])")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--append-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.append_worker:
        append_worker(json.loads(args.append_worker))
        return {}

    from cxloop.db import embedded_postgres
    from tests.helpers.s3 import s3_server

    sections = set(args.sections.split(","))
    results: dict[str, Any] = {
        "args": {k: v for k, v in vars(args).items() if k not in {"append_worker", "json"}},
        "versions": _versions(),
    }
    results["args"]["dir"] = str(args.dir)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=args.dir)))
        server = args.database_url
        if server is None:
            server = stack.enter_context(embedded_postgres(tmp / "pg"))
        name = "tablefmt_" + secrets.token_hex(4)
        asyncio.run(_database(server, True, name))
        stack.callback(lambda: asyncio.run(_database(server, False, name)))
        from urllib.parse import urlsplit, urlunsplit

        catalog = urlunsplit(urlsplit(server)._replace(path="/" + name))
        stores: dict[str, LakeLocation] = {}
        for store in args.stores.split(","):
            if store == "local":
                stores[store] = LakeLocation.directory(tmp / "lake")
            elif store == "s3":
                s3 = stack.enter_context(s3_server())
                stores[store] = LakeLocation.object_store(s3.lake_url("tf"), s3.endpoint_url)
        spark = None
        if args.spark:
            try:
                spark = _spark()
            except Exception as error:
                results["spark_error"] = _short(error)
        if spark is not None:
            stack.callback(spark.stop)
        for store, loc in stores.items():
            for kind in args.formats.split(","):
                sub = LakeLocation.directory(Path(loc.path(store, kind))) if loc.local else (
                    LakeLocation.object_store(loc.uri(store, kind), loc.endpoint_url)
                )  # fmt: skip
                entry = results.setdefault(store, {}).setdefault(kind, {})
                if "append" in sections:
                    for writers in [int(w) for w in args.writers.split(",")]:
                        print(f"[{store} {kind}] append, {writers} writer(s) ...", flush=True)
                        entry[f"append_{writers}w"] = run_append(
                            kind, sub, catalog, args, writers, tmp
                        )
                if "compaction" in sections:
                    print(f"[{store} {kind}] compaction ...", flush=True)
                    entry["compaction"] = run_compaction(kind, sub, catalog, args)
                if "delete" in sections:
                    print(f"[{store} {kind}] delete ...", flush=True)
                    entry["delete"] = run_delete(kind, sub, catalog, args, spark)
        if "cost" in sections:
            print("process cost ...", flush=True)
            results["process_cost"] = process_cost()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ["pyarrow", "pyiceberg", "deltalake", "duckdb", "polars", "pandas", "moto"]:
        with contextlib.suppress(PackageNotFoundError):
            out[package] = version(package)
    return out


def report(results: dict[str, Any]) -> None:
    """The tables docs/table-formats.md shows, as plain text."""
    print(json.dumps(results["versions"]))
    for store in ["local", "s3"]:
        if store not in results:
            continue
        for kind, entry in results[store].items():
            for section, values in entry.items():
                flat = {k: v for k, v in values.items() if k != "readers"}
                print(f"{store:5} {kind:7} {section:11} {json.dumps(flat)}")
                if "readers" in values:
                    print(f"{store:5} {kind:7} {'readers':11} {json.dumps(values['readers'])}")
    if "process_cost" in results:
        print("process cost", json.dumps(results["process_cost"]))


if __name__ == "__main__":
    main()
    sys.exit(0)

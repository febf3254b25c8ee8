"""Deletion benchmark: removing one data subject from a lake, against a baseline measured in
the same run — one full read (every column) of the same files with pyarrow.

1. Writes a synthetic lake directly in the lake's layout and with the compactor's write
   options (zstd, the same dictionary and statistics columns, time-sorted, the default row
   group size): ``--events`` events over ``--days`` days, ``--files-per-day`` files a day
   (compaction writes one per WAL segment and day), ``--users`` users, and the subject — an
   active user — on ``--subject-days`` of the days.
2. Times the deletion job's lake phase (``DeletionJobs``, the code the pipeline runs): the scan
   that finds and counts the subject's rows (id columns only), then the rewrites and the
   second scan that proves none is left; prints the bytes rewritten and the ratios against
   the full read.
3. Unless ``--no-ingest``: ingest throughput with and without a deletion running. A real
   ``cxloop serve`` (one worker, embedded PostgreSQL unless DATABASE_URL) on the same lake,
   wrk posting 50-event batches to another project: ``--windows`` windows of
   ``--window-seconds`` before the deletion and while it runs; medians and their ratio.

Usage: python bench/bench_privacy.py [--events 10000000] [--days 90] [--users 2000]
       [--files-per-day 4] [--subject-days 60] [--no-ingest] [--windows 3]
       [--window-seconds 5] [--dir /tmp]
Loopback only; every load is bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "backend"))
sys.path.insert(0, str(HERE))

from cxloop.lake import DEFAULT_ROW_GROUP_ROWS, partition_dir  # noqa: E402
from cxloop.ops import Registry  # noqa: E402
from cxloop.privacy.jobs import DeletionJobs, _Job  # noqa: E402
from cxloop.privacy.purge import SubjectIds  # noqa: E402
from cxloop.settings import Settings  # noqa: E402
from cxloop.wal import EVENT_LAKE_SCHEMA  # noqa: E402

SUBJECT = "user-subject-0001"
EVENTS = ["Report Viewed", "Export Started", "Alert Created", "Search Run", "Dashboard Opened"]
# The compactor's choices (lake/compactor.py).
STATISTICS = [
    "message_id", "type", "event", "name", "user_id", "anonymous_id", "group_id",
    "timestamp", "original_timestamp", "sent_at", "received_at",
]  # fmt: skip
DICTIONARY = ["type", "event", "name", "user_id", "anonymous_id", "group_id"]


def build_lake(
    lake_dir: Path,
    project_id: str,
    *,
    events: int,
    days: int,
    users: int,
    files_per_day: int,
    subject_days: int,
    seed: int = 7,
) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    user_names = pa.array([f"user-{k:05d}" for k in range(users)] + [SUBJECT])
    anon_names = pa.array([f"anon-{k:05d}" for k in range(users)] + ["anon-subject-0001"])
    accounts = pa.array([f"acct-{k // 8:04d}" for k in range(users + 1)])
    event_names = pa.array(EVENTS)
    first_day = datetime(2026, 1, 1, tzinfo=UTC)
    subject_on = set(np.linspace(0, days - 1, subject_days).round().astype(int).tolist())
    per_file = max(1, events // (days * files_per_day))
    # The subject is an active user: twice an average user's events on the days they use it.
    subject_per_file = max(1, 2 * per_file // users)
    written = {"files": 0, "bytes": 0, "rows": 0, "subject_rows": 0}
    serial = 0
    for day in range(days):
        start_us = int((first_day + timedelta(days=day)).timestamp() * 1e6)
        directory = partition_dir(
            lake_dir, "events", project_id, (first_day + timedelta(day)).date()
        )
        directory.mkdir(parents=True, exist_ok=True)
        for part in range(files_per_day):
            user_index = rng.integers(0, users, per_file)
            if day in subject_on:
                user_index[rng.choice(per_file, subject_per_file, replace=False)] = users
                written["subject_rows"] += subject_per_file
            times = np.sort(rng.integers(start_us, start_us + 86_400_000_000, per_file))
            ids = pa.array(np.arange(serial, serial + per_file)).cast(pa.string())
            serial += per_file
            indices = pa.array(user_index)
            when = pa.array(times, pa.timestamp("us", tz="UTC"))
            features = pa.array(rng.integers(0, len(EVENTS), per_file))
            table = pa.table(
                {
                    "message_id": pc.binary_join_element_wise("m-", ids, ""),
                    "type": pa.array(["track"] * per_file),
                    "event": event_names.take(features),
                    "name": pa.nulls(per_file, pa.string()),
                    "user_id": user_names.take(indices),
                    "anonymous_id": anon_names.take(indices),
                    "group_id": accounts.take(indices),
                    "previous_id": pa.nulls(per_file, pa.string()),
                    "timestamp": when,
                    "original_timestamp": when,
                    "sent_at": when,
                    "received_at": when,
                    "properties": pc.binary_join_element_wise(
                        '{"feature":"', event_names.take(features), '","plan":"pro"}', ""
                    ),
                    "traits": pa.nulls(per_file, pa.string()),
                    "context": pa.array(
                        ['{"library":{"name":"cxloop.js","version":"1.0.0"},"locale":"en-US"}']
                        * per_file
                    ),
                    "integrations": pa.nulls(per_file, pa.string()),
                    "extra": pa.nulls(per_file, pa.string()),
                },
                schema=EVENT_LAKE_SCHEMA,
            )
            path = directory / f"part-w0-{day:03d}{part:03d}.parquet"
            pq.write_table(
                table,
                path,
                row_group_size=DEFAULT_ROW_GROUP_ROWS,
                compression="zstd",
                use_dictionary=DICTIONARY,
                write_statistics=STATISTICS,
                sorting_columns=[pq.SortingColumn(EVENT_LAKE_SCHEMA.get_field_index("timestamp"))],
                write_page_checksum=True,
            )
            written["files"] += 1
            written["bytes"] += path.stat().st_size
            written["rows"] += per_file
    return written


def full_read_seconds(lake_dir: Path) -> float:
    files = sorted(lake_dir.rglob("*.parquet"))
    started = time.perf_counter()
    rows = sum(pq.read_table(path).num_rows for path in files)
    assert rows
    return time.perf_counter() - started


def time_deletion(data_dir: Path, project_id: str) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir)
    jobs = DeletionJobs(settings, Registry(), wait_for_workers=False)
    receipt: dict[str, Any] = {"phase": "lake"}
    job = _Job("del_bench", project_id, SubjectIds(user_id=SUBJECT), datetime.now(UTC), receipt)
    started = time.perf_counter()
    jobs._lake_work(job, deadline=float("inf"))  # the first scan: finds and counts
    scanned = time.perf_counter() - started
    while receipt["phase"] == "lake":
        jobs._lake_work(job, deadline=float("inf"))  # rewrites, then the proving scan
    total = time.perf_counter() - started
    lake = receipt["lake"]
    return {
        "scan_s": round(scanned, 3),
        "delete_s": round(total, 3),
        "events_removed": lake["events"],
        "files_rewritten": lake["files_rewritten"],
        "files_removed": lake["files_removed"],
        "bytes_rewritten": lake["bytes_rewritten"],
    }


# -- ingest while a deletion runs -----------------------------------------------------------


def ingest_during_deletion(args: argparse.Namespace, tmp: Path, results: dict[str, Any]) -> None:
    import bench_ingest as bi
    from cxloop.db import database_url_for

    with ExitStack() as stack:
        database_url = stack.enter_context(
            database_url_for(os.environ.get("DATABASE_URL"), tmp / "pg")
        )
        target = bi.project_keys(database_url)  # the project whose subject is deleted
        load = bi.project_keys(database_url)  # the project ingest keeps writing to
        data_dir = tmp / "data"
        print("building the lake for the served project ...", flush=True)
        build_lake(
            data_dir / "lake",
            target["id"],
            events=args.events,
            days=args.days,
            users=args.users,
            files_per_day=args.files_per_day,
            subject_days=args.subject_days,
        )
        auth = "Basic " + base64.b64encode(f"{load['write_key']}:".encode()).decode()
        body_file = tmp / "batch.jsonl"
        body_file.write_bytes(b"\n".join(bi.build_bodies(500, 50, single=False)) + b"\n")
        port = bi.free_port()
        server = bi.start_cxloop(data_dir, database_url, port, {"CXLOOP_KEY_REFRESH_S": "0.5"})
        url = f"http://127.0.0.1:{port}"
        try:
            bi.wait_http(f"{url}/readyz")
            worker = bi.ingest_worker_pid(server.pid)

            def windows() -> list[float]:
                return [
                    bi.run_wrk(
                        f"{url}/v1/batch", body_file, auth, args.window_seconds,
                        args.connections, worker,
                    )["rps"] * 50
                    for _ in range(args.windows)
                ]  # fmt: skip

            print("ingest without a deletion ...", flush=True)
            quiet = windows()
            bi.wait_drained(data_dir / "wal", 300)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
            env |= {"CXLOOP_DATA_DIR": str(data_dir), "DATABASE_URL": database_url}
            out = subprocess.run(
                [sys.executable, "-m", "cxloop.cli", "privacy", "delete",
                 "--project", target["id"], "--user-id", SUBJECT, "--json"],
                env=env, capture_output=True, text=True, check=True, timeout=60,
            )  # fmt: skip
            request_id = json.loads(out.stdout)["id"]
            phase = wait_phase(database_url, request_id, {"lake", "postgres", "rollups", "done"})
            print(f"ingest while the deletion runs (phase {phase}) ...", flush=True)
            busy = windows()
            phase_after = wait_phase(database_url, request_id, set(), timeout=0)
            results["ingest"] = {
                "events_per_s_without": round(statistics.median(quiet)),
                "events_per_s_during": round(statistics.median(busy)),
                "ratio_during_over_without": round(
                    statistics.median(busy) / statistics.median(quiet), 3
                ),
                "windows": {
                    "without": [round(x) for x in quiet],
                    "during": [round(x) for x in busy],
                },
                "deletion_phase_after_the_windows": phase_after,
            }
            wait_phase(database_url, request_id, {"done", "failed"}, timeout=600)
        finally:
            bi.stop(server)


def wait_phase(database_url: str, request_id: str, wanted: set[str], timeout: float = 120) -> str:
    """The request's phase (or final status) once it is in ``wanted``; with ``timeout=0``,
    whatever it is now."""
    import asyncio

    import asyncpg

    async def phase() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow(
                "SELECT status, receipt->>'phase' AS phase FROM privacy_requests WHERE id = $1",
                request_id,
            )
        finally:
            await conn.close()
        assert row is not None
        if row["status"] in ("done", "failed"):
            return str(row["status"])
        return str(row["phase"] or row["status"])

    deadline = time.monotonic() + timeout
    while True:
        now = asyncio.run(phase())
        if now in wanted or time.monotonic() >= deadline:
            return now
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--subject-days", type=int, default=60)
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest measurement")
    parser.add_argument("--ingest-events", type=int, default=None,
                        help="events in the served lake (default: --events)")  # fmt: skip
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--window-seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--dir", type=Path, default=None, help="where the temp data goes")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "lake_args": {
            k: getattr(args, k)
            for k in ("events", "days", "users", "files_per_day", "subject_days")
        },
    }
    tmp = Path(tempfile.mkdtemp(prefix="cxloop-bench-privacy-", dir=args.dir))
    try:
        project_id = "prj_bench0000000000"
        data_dir = tmp / "lake-only"
        print(f"building a lake of {args.events:,} events ...", flush=True)
        started = time.perf_counter()
        results["lake"] = build_lake(
            data_dir / "lake",
            project_id,
            events=args.events,
            days=args.days,
            users=args.users,
            files_per_day=args.files_per_day,
            subject_days=args.subject_days,
        )
        results["lake"]["build_s"] = round(time.perf_counter() - started, 1)
        print(json.dumps(results["lake"]), flush=True)
        # Warm the page cache for both sides alike, then the baseline, then the deletion.
        full_read_seconds(data_dir / "lake")
        baseline = full_read_seconds(data_dir / "lake")
        deletion = time_deletion(data_dir, project_id)
        assert deletion["events_removed"] == results["lake"]["subject_rows"]
        deletion["full_read_s"] = round(baseline, 3)
        deletion["ratio_delete_over_full_read"] = round(deletion["delete_s"] / baseline, 3)
        deletion["ratio_scan_over_full_read"] = round(deletion["scan_s"] / baseline, 3)
        deletion["share_of_lake_bytes_rewritten"] = round(
            deletion["bytes_rewritten"] / results["lake"]["bytes"], 3
        )
        results["deletion"] = deletion
        print(json.dumps(deletion), flush=True)
        shutil.rmtree(data_dir)
        if not args.no_ingest:
            if args.ingest_events:
                args.events = args.ingest_events
            ingest_during_deletion(args, tmp, results)
            print(json.dumps(results["ingest"]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = HERE / "results" / f"privacy-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()

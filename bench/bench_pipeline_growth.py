"""Pipeline cost per event as one day's data grows: successive equal slices of a WAL backlog.

Soak run 3 acked everything for four minutes, then needed refusals: the pipeline's events
per CPU-second fell as the day's data grew. This shows which step grows. One slice of
``--slice-events`` events of ``bench_pipeline.py``'s mix (~3 % late, ~2 % re-sent requests)
is made once; slice k is that slice with every ``messageId`` and survey ``response_id``
made unique to it and receive times moved on, so every slice lands in the same
partition-days (today's and the late days'), the same users and accounts come back, and the
dedupe index, the lake's merge tiers and PostgreSQL's tables grow slice after slice.

Each slice is written as sealed WAL segments and drained by the real ``Pipeline`` in this
process, one round as the loops take it: ``compact_pending``, ``tidy_lake`` (its budget:
half the last compaction while segments wait), ``project_pending``, comment analysis. When the slice
is drained, merging runs until the policy is satisfied (what keeps the files bounded in a
steady state), and with ``--health`` a health refresh. Per slice it prints:

  * events and pipeline CPU-s (``process_time``: every thread) and PostgreSQL CPU-s (its
    backends), as events per pipeline CPU-s and per pipeline + PostgreSQL CPU-s;
  * the CPU by phase: expand, dedupe claim, lake write (compaction's rest), dedupe release
    (run merges after projection), merge, projection prepare, projection SQL, comment
    analysis, health; PostgreSQL's CPU by phase (projection, analysis, health);
  * bytes compaction wrote, bytes merges wrote, the longest merge round (wall: the lake
    loop compacts nothing meanwhile) and the cumulative write amplification
    ``(compacted + merged) / compacted``; files and MiB in today's partition-day;
  * the dedupe index's bytes and PostgreSQL's table sizes.

``BENCH_BACKEND=<tree>/backend`` runs another checkout (A/B on the same slices).

Usage: python bench/bench_pipeline_growth.py [--slices 8] [--slice-events 500000]
       [--segment-events 25000] [--health] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_pipeline as base  # noqa: E402  (puts BENCH_BACKEND on sys.path)
import benchlib  # noqa: E402
import cxloop.pipeline.process as pipeline_process  # noqa: E402
import cxloop.projection.projector as projector  # noqa: E402
from cxloop.db import ResilientPool  # noqa: E402
from cxloop.ingest.check import check_request  # noqa: E402
from cxloop.ops import Registry  # noqa: E402
from cxloop.settings import Settings  # noqa: E402
from cxloop.wal import REQUEST_SCHEMA, encode_frame, encode_header, rows_to_batch  # noqa: E402

TABLES = ("users", "accounts", "memberships", "survey_responses", "survey_impressions")
SLICE_GAP_US = 3_600_000 // 8  # receive times move on by this much per slice (same day)


def slice_rows(template: list[tuple[Any, ...]], k: int) -> list[tuple[Any, ...]]:
    """The template slice with ids unique to slice ``k`` (re-sent requests stay re-sent)."""
    if k == 0:
        return template
    tag = f"s{k:03d}-".encode()
    rows = []
    for row in template:
        body = (
            row[4]
            .replace(b'"messageId":"', b'"messageId":"' + tag)
            .replace(b'"response_id":"', b'"response_id":"' + tag)
        )
        checked = check_request(body, None, base.LIMITS)
        accepted, _ = checked.verdict(base.PROJECT, base.LIMITS)
        rows.append(
            (row[0], row[1] + k * SLICE_GAP_US, row[2], row[3], body, checked.events, accepted,
             row[7])
        )  # fmt: skip
    return rows


def write_slice(wal_dir: Path, rows: list[tuple[Any, ...]], segment_events: int, k: int) -> int:
    slot = wal_dir / "w0"
    slot.mkdir(parents=True, exist_ok=True)
    per_segment = max(1, segment_events // base.EVENTS_PER_REQUEST)
    count = 0
    first_ns = int(base.START.timestamp() * 1e9) + k * 1_000_000
    for start in range(0, len(rows), per_segment):
        chunk = rows[start : start + per_segment]
        frames = b"".join(
            encode_frame(rows_to_batch(chunk[i : i + base.REQUESTS_PER_FRAME], REQUEST_SCHEMA))
            for i in range(0, len(chunk), base.REQUESTS_PER_FRAME)
        )
        path = slot / f"w0-{first_ns + count:020d}.sealed"
        path.write_bytes(encode_header(REQUEST_SCHEMA) + frames)
        count += 1
    return count


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _partition_stats(lake_dir: Path) -> tuple[int, int, int]:
    """(files in the busiest events partition-day, its bytes, files in the whole lake)."""
    most = (0, 0)
    total = 0
    for day in (lake_dir / "events").glob("project_id=*/date=*"):
        files = list(day.glob("*.parquet"))
        total += len(files)
        size = sum(f.stat().st_size for f in files)
        most = max(most, (len(files), size), key=lambda fs: fs[1])
    return most[0], most[1], total


class Meter:
    """CPU-seconds of this process by phase, and bytes written by compaction and merges."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.compacted_bytes = 0
        self.merged_bytes = 0
        self.merges = 0
        self.longest_tidy_s = 0.0  # wall: the lake loop waits this long for one merge round

    @contextlib.contextmanager
    def phase(self, name: str) -> Any:
        started = time.process_time()
        try:
            yield
        finally:
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - started


async def run(server_url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    started = time.perf_counter()
    template = base.make_requests(args.slice_events, args.seed)
    print(
        f"slice: {len(template)} logged requests, {sum(r[5] for r in template)} events, "
        f"made in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    database_url = await base._fresh_database(server_url)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-growth-", dir=args.dir))
    settings = Settings(data_dir=data_dir, database_url=database_url)
    pipeline = pipeline_process.Pipeline(settings, Registry())
    meter = Meter()

    def timed(name: str, function: Any) -> Any:
        def call(*a: Any, **k: Any) -> Any:
            with meter.phase(name):
                return function(*a, **k)

        return call

    pipeline.expand = timed("expand", pipeline.expand)
    index = pipeline._open_index()
    index.claim_many = timed("claim", index.claim_many)  # type: ignore[method-assign]
    pipeline._release = timed("release", pipeline._release)  # type: ignore[method-assign]
    original_compact = pipeline_process.compact_segments

    def compact(*a: Any, **k: Any) -> Any:
        results = original_compact(*a, **k)
        for result in results:
            for path in result.files:
                with contextlib.suppress(FileNotFoundError):
                    meter.compacted_bytes += path.stat().st_size
        return results

    pipeline_process.compact_segments = compact  # type: ignore[assignment]
    original_tidy = pipeline_process.tidy_partitions

    def tidy(*a: Any, **k: Any) -> Any:
        started = time.perf_counter()
        report = original_tidy(*a, **k)
        meter.longest_tidy_s = max(meter.longest_tidy_s, time.perf_counter() - started)
        meter.merged_bytes += report.bytes_written
        meter.merges += report.merges
        return report

    pipeline_process.tidy_partitions = tidy  # type: ignore[assignment]
    original_prepare = projector.prepare_batch
    projector.prepare_batch = timed("projection_prepare", original_prepare)  # type: ignore[assignment]
    original_project = pipeline_process.project_events

    async def project(*a: Any, **k: Any) -> Any:
        with meter.phase("projection"):
            return await original_project(*a, **k)

    pipeline_process.project_events = project  # type: ignore[assignment]
    database = ResilientPool(database_url, max_size=2)
    await database.start(wait_s=5)
    loop = asyncio.get_running_loop()
    out: list[dict[str, Any]] = []
    total_compacted = total_merged = 0
    try:
        for k in range(args.slices):
            rows = slice_rows(template, k)
            write_slice(settings.wal_dir, rows, args.segment_events, k)
            events = sum(r[5] for r in rows)
            meter.cpu.clear()
            meter.compacted_bytes = meter.merged_bytes = meter.merges = 0
            meter.longest_tidy_s = 0.0
            pg_before = base.postgres_cpu(args.postmaster)
            cpu_before = time.process_time()
            wall_before = time.perf_counter()
            pg_phase: dict[str, float] = {}
            while True:
                with meter.phase("compaction"):
                    compacted = await loop.run_in_executor(
                        pipeline._index_thread, pipeline.compact_pending
                    )
                with meter.phase("merge"):
                    merged = await loop.run_in_executor(pipeline._index_thread, pipeline.tidy_lake)
                pg0 = base.postgres_cpu(args.postmaster)
                projected = await pipeline.project_pending(database)
                pg_phase["projection"] = pg_phase.get("projection", 0.0) + (
                    base.postgres_cpu(args.postmaster) - pg0
                )
                pg0 = base.postgres_cpu(args.postmaster)
                with meter.phase("analysis"):
                    analysed = await pipeline_process.analyse_in_pipeline(
                        database, registry=pipeline.registry
                    )
                pg_phase["analysis"] = pg_phase.get("analysis", 0.0) + (
                    base.postgres_cpu(args.postmaster) - pg0
                )
                if not compacted and not projected and not merged and not analysed:
                    break
            await asyncio.gather(*list(pipeline._releases))
            if args.health:
                pg0 = base.postgres_cpu(args.postmaster)
                with meter.phase("health"):
                    await pipeline.refresh_health(database)
                pg_phase["health"] = base.postgres_cpu(args.postmaster) - pg0
            cpu = time.process_time() - cpu_before
            wall = time.perf_counter() - wall_before
            pg = base.postgres_cpu(args.postmaster) - pg_before
            split = dict(meter.cpu)
            split["lake_write"] = (
                split.pop("compaction", 0.0) - split.get("expand", 0.0) - split.get("claim", 0.0)
            )
            split["projection_sql"] = split.pop("projection", 0.0) - split.get(
                "projection_prepare", 0.0
            )
            split["other"] = cpu - sum(split.values())
            total_compacted += meter.compacted_bytes
            total_merged += meter.merged_bytes
            files, day_bytes, lake_files = _partition_stats(settings.lake_dir)
            async with database.pool.acquire() as conn:  # type: ignore[union-attr]
                tables = {
                    t: int(await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", t))
                    for t in TABLES
                }
            result = {
                "slice": k + 1,
                "events": events,
                "pipeline_cpu_s": cpu,
                "postgres_cpu_s": pg,
                "postgres_cpu_s_by_phase": pg_phase,
                "wall_s": wall,
                "events_per_cpu_s": events / cpu,
                "events_per_cpu_s_with_postgres": events / (cpu + pg),
                "cpu_s": split,
                "compacted_bytes": meter.compacted_bytes,
                "merged_bytes": meter.merged_bytes,
                "merges": meter.merges,
                "longest_tidy_s": meter.longest_tidy_s,
                "write_amplification": (total_compacted + total_merged) / max(1, total_compacted),
                "day_files": files,
                "day_bytes": day_bytes,
                "lake_files": lake_files,
                "dedupe_bytes": _dir_bytes(settings.state_dir / "dedupe"),
                "table_bytes": tables,
            }
            out.append(result)
            print(
                f"slice {k + 1}: {events / cpu:,.0f} ev/pipeline-CPU-s "
                f"({cpu:.1f} CPU-s; PostgreSQL {pg:.1f}: {events / (cpu + pg):,.0f} ev/CPU-s "
                f"both); "
                + ", ".join(f"{n} {v:.2f}" for n, v in split.items())
                + f"; PG {', '.join(f'{n} {v:.2f}' for n, v in pg_phase.items())}"
                f"; compacted {meter.compacted_bytes / 2**20:.1f} MiB, merged "
                f"{meter.merged_bytes / 2**20:.1f} MiB in {meter.merges} merges (longest round "
                f"{meter.longest_tidy_s:.1f} s), WA "
                f"{result['write_amplification']:.2f}; day {files} files "
                f"{day_bytes / 2**20:.1f} MiB, lake {lake_files} files; dedupe "
                f"{result['dedupe_bytes'] / 2**20:.1f} MiB; tables "
                f"{sum(tables.values()) / 2**20:.1f} MiB; wall {wall:.1f} s",
                flush=True,
            )
    finally:
        pipeline_process.compact_segments = original_compact
        pipeline_process.tidy_partitions = original_tidy
        pipeline_process.project_events = original_project
        projector.prepare_batch = original_prepare
        await database.close()
        pipeline._index_thread.shutdown(wait=True)
        await base._drop_database(server_url, database_url)
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--slice-events", type=int, default=500_000)
    parser.add_argument("--segment-events", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--health", action="store_true", help="a health refresh after each slice")
    parser.add_argument("--database-url", help="a PostgreSQL server (maintenance database)")
    parser.add_argument("--postmaster", type=int, help="its postmaster pid (for its CPU)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--json", type=Path, help="write every slice's figures here")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        server_url, args.postmaster = benchlib.bench_postgres(
            stack, args.database_url, args.postmaster, args.dir, "bench-growth-pg-"
        )
        slices = asyncio.run(run(server_url, args))
    first, last = slices[0], slices[-1]
    print(
        f"first → last slice: {first['events_per_cpu_s']:,.0f} → "
        f"{last['events_per_cpu_s']:,.0f} events per pipeline CPU-s "
        f"({last['events_per_cpu_s'] / first['events_per_cpu_s']:.2f}×); write amplification "
        f"{last['write_amplification']:.2f}; pid {os.getpid()}"
    )
    if args.json:
        args.json.write_text(json.dumps(
            {"args": vars(args) | {"dir": str(args.dir), "json": str(args.json)},
             "slices": slices}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()

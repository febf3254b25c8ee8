"""Small-file merging benchmark (``cxloop.lake.tidy``): files and bytes before and after, merge
throughput, and what the file count costs a DuckDB query, against the unmerged copy measured
in the same run.

Builds ``--segments`` sealed segments of ``--rows`` realistic rows (bench_compaction's mix:
three projects, event times over two days) and writes each one as the compactor does — a file
per (project, day) partition per segment — so the biggest partition-day holds ``--segments``
small files. A copy of that lake is kept unmerged. Then:
  * one full sweep of ``tidy_partitions`` (the pipeline's first call): merges, files and
    bytes in and out, seconds, MB/s of input, peak RSS growth of this process;
  * the same DuckDB aggregate over the biggest partition-day, small files vs merged,
    alternated ``--repeat`` times each; medians and their ratio;
  * every message id exactly once after the merge (the same multiset as before).

Usage: python bench/bench_merge.py [--segments 200] [--rows 300] [--repeat 15] [--dir /tmp]
       [--min-files 8] [--target-mib 128] [--row-group-rows 131072]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "backend"))
sys.path.insert(0, str(HERE))

from bench_compaction import write_segments  # noqa: E402
from cxloop.ingest import events_table  # noqa: E402
from cxloop.lake import (  # noqa: E402
    DEFAULT_ROW_GROUP_ROWS,
    TidyReport,
    compactor,
    events_dataset,
    failed_dataset,
    max_small_files,
    read_consistently,
    tidy_partitions,
)
from cxloop.wal import read_segment, segment_id  # noqa: E402

MiB = 1024 * 1024


def build_lake(lake: Path, segments: list[Path]) -> None:
    """Each segment written as the compactor writes it (the dedupe index is not measured)."""
    for path in segments:
        table = events_table(read_segment(path))
        valid = pc.is_null(table.column("failure_reason"))
        name = segment_id(path)
        metadata = {b"cxloop.segment": name.encode()}
        for store, rows in ((compactor._EVENTS, valid), (compactor._FAILED, pc.invert(valid))):
            source = compactor._Columns(table, pc.indices_nonzero(rows))
            compactor._write_store(source, store, name, lake, DEFAULT_ROW_GROUP_ROWS, metadata)


def census(lake: Path) -> tuple[int, int, int, Path]:
    """Files, bytes, the most files in one partition-day, and that partition."""
    files = sorted(lake.glob("*/project_id=*/date=*/*.parquet"))
    per: dict[Path, int] = {}
    for f in files:
        per[f.parent] = per.get(f.parent, 0) + 1
    biggest = max(per, key=lambda d: per[d])
    return len(files), sum(f.stat().st_size for f in files), per[biggest], biggest


def ids(lake: Path) -> list[str]:
    def read() -> list[str]:
        out: list[str] = []
        for dataset in (events_dataset(lake), failed_dataset(lake)):
            out.extend(dataset.to_table(columns=["message_id"]).column(0).to_pylist())
        return sorted(out)

    return read_consistently(lake, read)


QUERY = (
    "SELECT type, count(*) AS events, count(DISTINCT user_id) AS users, "
    "max(timestamp) AS latest FROM read_parquet(?) GROUP BY 1"
)


def query_seconds(db: duckdb.DuckDBPyConnection, partition: Path) -> float:
    started = time.perf_counter()
    db.execute(QUERY, [str(partition / "*.parquet")]).fetchall()
    return time.perf_counter() - started


def peak_rss_kib() -> int:
    """VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over the exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def merge_in_child(
    lake: Path, min_files: int, target: int, row_group_rows: int
) -> tuple[TidyReport, int, int]:
    idle = peak_rss_kib()
    report = tidy_partitions(
        lake,
        None,
        min_files=min_files,
        target_bytes=target,
        budget_s=3600,
        row_group_rows=row_group_rows,
    )
    return report, peak_rss_kib(), idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=200)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--min-files", type=int, default=8)
    parser.add_argument("--target-mib", type=int, default=128)
    parser.add_argument("--row-group-rows", type=int, default=DEFAULT_ROW_GROUP_ROWS)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cxloop-bench-merge-", dir=args.dir))
    try:
        segments, _wal_bytes = write_segments(work / "wal", args.segments, args.rows)
        lake, unmerged = work / "lake", work / "unmerged" / "lake"
        build_lake(lake, segments)
        shutil.copytree(lake, unmerged)
        before_ids = ids(lake)
        files0, bytes0, most0, biggest = census(lake)
        print(
            f"lake before: {files0} files, {bytes0 / MiB:.1f} MiB; the biggest partition-day "
            f"holds {most0} files ({biggest.relative_to(lake)})"
        )

        # Baseline, same run: read each partition-day's files whole and write them as one
        # zstd file (no order, no sync, no swap) — the Parquet decode/encode floor.
        started = time.perf_counter()
        for directory in sorted({f.parent for f in unmerged.glob("*/*/*/*.parquet")}):
            parts = sorted(directory.glob("*.parquet"))
            table = pa.concat_tables(pq.ParquetFile(f).read() for f in parts)
            pq.write_table(table, work / "baseline.parquet", compression="zstd")
        floor_s = time.perf_counter() - started
        print(
            f"baseline (read whole + write_table zstd): {bytes0 / MiB / floor_s:.1f} MB/s of input"
        )

        # In a fresh process, so its peak RSS is the merge's own.
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            report, peak_kib, idle_kib = pool.apply(
                merge_in_child, (lake, args.min_files, args.target_mib * MiB, args.row_group_rows)
            )
        files1, bytes1, most1, _ = census(lake)
        merged_in = bytes0 - (bytes1 - report.bytes_written)  # bytes of the files replaced
        print(
            f"merge: {report.merges} merges of {report.files_merged} files in "
            f"{report.seconds:.2f} s: {merged_in / MiB / report.seconds:.1f} MB/s of input, "
            f"{report.bytes_written / MiB:.1f} MiB written; peak RSS {peak_kib / 1024:.0f} MiB "
            f"(the process before merging: {idle_kib / 1024:.0f} MiB); "
            f"{floor_s / report.seconds:.2f} of the baseline's speed"
        )
        bound = max_small_files(args.min_files, args.target_mib * MiB)
        print(
            f"lake after: {files1} files, {bytes1 / MiB:.1f} MiB ({bytes1 / bytes0:.3f} of before); "
            f"the most in one partition-day {most1} (bound {bound})"
        )
        assert ids(lake) == before_ids, "the merged lake does not hold exactly the same ids"
        print(f"exactly once: the same {len(before_ids)} message ids before and after")

        small_part = unmerged / biggest.relative_to(lake)
        timings: dict[str, list[float]] = {"small": [], "merged": []}
        with duckdb.connect() as db:
            query_seconds(db, small_part), query_seconds(db, biggest)  # warm the page cache
            for _ in range(args.repeat):  # A/B alternation
                timings["small"].append(query_seconds(db, small_part))
                timings["merged"].append(query_seconds(db, biggest))
        small, merged = statistics.median(timings["small"]), statistics.median(timings["merged"])
        print(
            f"DuckDB aggregate over the partition-day, median of {args.repeat}: "
            f"{most0} small files {small * 1000:.1f} ms, merged ({most1} file(s)) "
            f"{merged * 1000:.1f} ms: {small / merged:.1f}x faster"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

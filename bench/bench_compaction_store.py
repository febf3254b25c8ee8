"""Compaction into a local lake and into an object-store lake (moto's S3 API on loopback), in
one run, from the same WAL segments.

Each repeat compacts every segment one at a time (what the pipeline does when it keeps up)
into a fresh local lake and a fresh bucket, alternating which goes first; then tidies both
lakes (each partition holds one small file per segment: every partition is merged once). It
prints, per store, the median wall time and CPU time (this process: moto's own CPU is not
counted) per segment and per merge, and the ratios object store / local.

On local disk a file is a temp write synced every 4 MiB, a rename and a directory fsync; on
object storage it is serialized in memory and sent in one PUT. moto keeps objects in memory
on loopback: this measures cxloop's side of the work plus a minimal HTTP round trip, not a
real store's latency (S3 in-region adds ~10-30 ms per PUT; see docs/scaling.md).

Usage: python bench/bench_compaction_store.py [--rows 20000] [--segments 8] [--repeat 3]
       [--dir /tmp]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "backend"))
sys.path.insert(0, str(HERE.parent))

from bench_compaction import write_segments  # noqa: E402
from cxloop.ingest import events_table  # noqa: E402
from cxloop.lake import (  # noqa: E402
    DedupeIndex,
    LakeLocation,
    compact_segment,
    tidy_partitions,
)
from tests.helpers.s3 import s3_server  # noqa: E402


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)  # per segment
    cpu: list[float] = field(default_factory=list)
    merge_wall: list[float] = field(default_factory=list)  # per merge
    merge_cpu: list[float] = field(default_factory=list)
    files: int = 0
    merges: int = 0
    bytes_merged: int = 0


def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run_once(paths: list[Path], location: LakeLocation, state: Path, samples: Samples) -> None:
    index = DedupeIndex(state / "dedupe.sqlite")
    try:
        for path in paths:
            result, wall, cpu = timed(
                lambda path=path: compact_segment(
                    path,
                    expand=events_table,
                    lake_dir=location,
                    index=index,
                    corrupt_dir=state / "corrupt",
                )
            )
            samples.wall.append(wall)
            samples.cpu.append(cpu)
            samples.files += len(result.files)
    finally:
        index.close()
    report, wall, cpu = timed(
        lambda: tidy_partitions(
            location,
            None,
            min_files=min(8, len(paths)),
            target_bytes=128 * 1024 * 1024,
            budget_s=600,
        )
    )
    if report.merges:
        samples.merge_wall.append(wall / report.merges)
        samples.merge_cpu.append(cpu / report.merges)
        samples.merges += report.merges
        samples.bytes_merged += report.bytes_written


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per segment")
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="cxloop-bench-store-", dir=args.dir))
    try:
        paths, size = write_segments(scratch / "wal", args.segments, args.rows)
        print(
            f"{args.segments} segments x {args.rows:,} rows ({size / len(paths) / 1e6:.1f} MB "
            f"of WAL each), {args.repeat} repeats"
        )
        local, remote = Samples(), Samples()
        with s3_server() as s3:
            for attempt in range(args.repeat):
                order = [("local", local), ("s3", remote)]
                if attempt % 2:
                    order.reverse()
                for name, samples in order:
                    root = scratch / f"{name}-{attempt}"
                    root.mkdir()
                    if name == "local":
                        location = LakeLocation.directory(root / "lake")
                    else:
                        location = LakeLocation.object_store(s3.lake_url(), s3.endpoint_url)
                    run_once(paths, location, root, samples)
                    shutil.rmtree(root, ignore_errors=True)
                    print(f"  {name} run {attempt + 1} done", flush=True)
        print(f"\nfiles written per run: {local.files // args.repeat} (local), "
              f"{remote.files // args.repeat} (s3); merges per run: "
              f"{local.merges // args.repeat} (local), {remote.merges // args.repeat} (s3)")  # fmt: skip
        print(f"{'median per segment':<28}{'local':>10}{'s3 (moto)':>12}{'ratio':>8}")
        for label, a, b in (
            ("compaction wall (ms)", local.wall, remote.wall),
            ("compaction CPU (ms)", local.cpu, remote.cpu),
        ):
            ratio = median_ms(b) / median_ms(a)
            print(f"{label:<28}{median_ms(a):>10.1f}{median_ms(b):>12.1f}{ratio:>8.2f}")
        print(f"{'median per merge':<28}")
        for label, a, b in (
            ("merge wall (ms)", local.merge_wall, remote.merge_wall),
            ("merge CPU (ms)", local.merge_cpu, remote.merge_cpu),
        ):
            ratio = median_ms(b) / median_ms(a)
            print(f"{label:<28}{median_ms(a):>10.1f}{median_ms(b):>12.1f}{ratio:>8.2f}")
        if local.merges and remote.merges:
            print(
                f"bytes written per merge: {local.bytes_merged / local.merges / 1e6:.2f} MB "
                f"(local), {remote.bytes_merged / remote.merges / 1e6:.2f} MB (s3)"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

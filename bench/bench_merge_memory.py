"""Memory of a small-file merge (``cxloop.lake.tidy``), this tree against another, in one run.

Builds ``--segments`` sealed segments of ``--rows`` realistic rows (bench_compaction's mix) and
writes each as the compactor does, so the biggest partition-day holds ``--segments`` files
(40 x 40k rows: a 257 MiB-decoded partition of 27 MiB of files, what a backlog leaves). Then,
alternating the trees ``--repeat`` times, a fresh process per run copies that lake and tidies
it (``tidy_partitions``, the pipeline's call, defaults min 8 files / 128 MiB), reporting:
  * peak RSS of the process (VmHWM) above its RSS before merging;
  * Arrow's peak allocation (``default_memory_pool().max_memory()``);
  * seconds, merges, files merged.
``--pools`` also runs each tree under other Arrow allocators (``ARROW_DEFAULT_MEMORY_POOL``).
Medians per (tree, pool). The machine is shared: read the ratios, not the seconds.

Usage: python bench/bench_merge_memory.py --baseline /path/to/other/backend
       [--segments 40] [--rows 40000] [--repeat 3] [--pools mimalloc,jemalloc] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "backend"))
sys.path.insert(0, str(HERE))

from bench_compaction import write_segments  # noqa: E402
from bench_merge import build_lake, census  # noqa: E402

MiB = 1024 * 1024

CHILD = r"""
import json, shutil, sys, time
from pathlib import Path
backend, src, dst = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
sys.path.insert(0, backend)
import pyarrow as pa
from cxloop.lake import tidy_partitions

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

shutil.rmtree(dst, ignore_errors=True)
shutil.copytree(src, dst)
before = status("VmRSS")
started = time.perf_counter()
report = tidy_partitions(dst, None, min_files=8, target_bytes=128 * 2**20, budget_s=3600)
seconds = time.perf_counter() - started
print(json.dumps({
    "rss_growth": status("VmHWM") - before,
    "arrow_max": pa.default_memory_pool().max_memory(),
    "pool": pa.default_memory_pool().backend_name,
    "seconds": seconds, "merges": report.merges, "files": report.files_merged,
}))
shutil.rmtree(dst, ignore_errors=True)
"""


def run(backend: Path, lake: Path, scratch: Path, pool: str) -> dict[str, float]:
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": pool, "PYTHONPATH": str(backend)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(backend), str(lake), str(scratch)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another tree's backend/")
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pools", default="mimalloc")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    trees = {"base": args.baseline.resolve(), "new": (HERE.parent / "backend").resolve()}
    pools = args.pools.split(",")

    work = Path(tempfile.mkdtemp(prefix="cxloop-bench-mergemem-", dir=args.dir))
    try:
        segments, _ = write_segments(work / "wal", args.segments, args.rows)
        lake = work / "lake"
        build_lake(lake, segments)
        shutil.rmtree(work / "wal")
        files, size, most, biggest = census(lake)
        print(
            f"lake: {files} files, {size / MiB:.1f} MiB; the biggest partition-day holds {most} "
            f"files ({biggest.relative_to(lake)})"
        )
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for i in range(args.repeat):  # alternating: base, new, base, new, ...
            for pool in pools:
                for name, backend in trees.items():
                    r = run(backend, lake, work / "copy", pool)
                    results.setdefault((name, pool), []).append(r)
                    print(
                        f"  run {i + 1} {name:<4} {pool:<8} RSS +{r['rss_growth'] / MiB:6.0f} MiB"
                        f"  Arrow peak {r['arrow_max'] / MiB:5.0f} MiB  {r['seconds']:6.1f} s"
                        f"  ({r['merges']:.0f} merges of {r['files']:.0f} files)",
                        flush=True,
                    )
        print("\nmedians (tree, Arrow pool): RSS growth, Arrow peak, seconds")
        for (name, pool), runs in results.items():
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "pool"}
            print(
                f"  {name:<4} {pool:<8} RSS +{med['rss_growth'] / MiB:.0f} MiB, Arrow "
                f"{med['arrow_max'] / MiB:.0f} MiB, {med['seconds']:.1f} s"
            )
        for pool in pools:
            base, new = results[("base", pool)], results[("new", pool)]
            ratio = statistics.median(
                b["seconds"] / n["seconds"] for b, n in zip(base, new, strict=True)
            )
            print(f"  {pool}: base/new seconds per pair, median {ratio:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Pipeline memory under a catch-up: RSS, anonymous and file-backed MB, sampled every 0.2 s.

A WAL backlog of logged requests (``bench_pipeline.py``'s realistic mix) and a dedupe index
prefilled with ``--index-keys`` random fingerprints (one merged run per past day, as
``bench_dedupe.py`` builds it) are made once; then each variant drains a copy of both with
``Pipeline.run`` (the process's three loops, decision 61) in a child process of its own
against the same PostgreSQL (a fresh database each run), while this process reads the
child's ``/proc/<pid>/smaps_rollup`` every ``--interval`` s. Phases: *idle* (imports done,
index open, before the drain) and *drain* (until no sealed or compacted segment is left).

A variant is ``label=BACKEND[,KEY=VALUE...]``: ``BACKEND`` another checkout's ``backend/``
(empty: this tree), the ``KEY=VALUE`` pairs set ``cxloop.pipeline.process`` constants in the
child (e.g. ``HANDOFF_MAX_SEGMENTS=1``; ``jemalloc_decay_ms=0`` sets Arrow's jemalloc decay). Variants alternate round by round (A/B on
a shared machine); per variant the medians over rounds are printed, with the ratio to the
first variant.

    git worktree add --detach /tmp/wt-base HEAD
    python bench/bench_pipeline_memory.py --events 600000 --segment-events 100000 \
        --index-keys 20000000 --rounds 3 \
        --variant base=/tmp/wt-base/backend --variant new=
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIELDS = ("Rss", "Anonymous", "Rss_File")  # smaps_rollup; Rss_File is derived (Rss - Anon)


def read_rollup(pid: int) -> dict[str, float] | None:
    """MB of RSS, anonymous and file-backed pages of ``pid`` now (None once it is gone)."""
    values: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                name, _, rest = line.partition(":")
                if name in ("Rss", "Anonymous"):
                    values[name] = int(rest.split()[0]) / 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    if "Rss" not in values:
        return None
    values["Rss_File"] = values["Rss"] - values.get("Anonymous", 0.0)
    return values


# -- the child: one drain --------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    backend = os.environ.get("BENCH_BACKEND") or str(HERE.parent / "backend")
    sys.path.insert(0, backend)
    sys.path.insert(0, str(HERE))
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")  # as the supervisor sets
    import pyarrow as pa

    import bench_pipeline
    import cxloop.pipeline.process as pipeline_process
    from cxloop.ops import Registry
    from cxloop.settings import Settings

    for pair in filter(None, (args.constants or "").split(",")):
        name, _, value = pair.partition("=")
        if name == "jemalloc_decay_ms":  # Arrow's jemalloc: how soon freed pages go back
            pa.jemalloc_set_decay_ms(int(value))
            continue
        if not hasattr(pipeline_process, name):
            raise SystemExit(f"cxloop.pipeline.process has no constant {name}")
        setattr(pipeline_process, name, int(value))

    async def drain() -> dict[str, Any]:
        database_url = await bench_pipeline._fresh_database(args.server_url)
        settings = Settings(data_dir=args.data_dir, database_url=database_url)
        pipeline = pipeline_process.Pipeline(settings, Registry())
        pipeline._open_index()
        print("PHASE idle", flush=True)
        await asyncio.sleep(2.0)
        print("PHASE drain", flush=True)
        cpu, wall = time.process_time(), time.perf_counter()
        await bench_pipeline._drain_with_loops(pipeline, settings)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print("PHASE done", flush=True)
        pipeline._index_thread.shutdown(wait=True)
        await bench_pipeline._drop_database(args.server_url, database_url)
        return {
            "cpu_s": cpu,
            "wall_s": wall,
            "lake_events": int(pipeline.lake_events.values[()]),
            "arrow_peak_mb": pa.default_memory_pool().max_memory() / 2**20,
            "arrow_backend": pa.default_memory_pool().backend_name,
        }

    print("RESULT " + json.dumps(asyncio.run(drain())), flush=True)


# -- the parent --------------------------------------------------------------------------


def prefill_index(directory: Path, keys: int, days: int) -> None:
    """``days`` merged runs of random fingerprints on the days before today."""
    import numpy as np

    sys.path.insert(0, str(HERE.parent / "backend"))
    from cxloop.lake import dedupe

    index = dedupe.DedupeIndex(directory, window_days=max(8, days))
    rng = np.random.default_rng(1)
    today = datetime.now(UTC).date()
    for back in range(1, days + 1):
        day = (today - timedelta(days=back)).toordinal()
        hi = np.sort(rng.integers(0, 2**64, keys // days, dtype=np.uint64))
        lo = rng.integers(0, 2**32, keys // days, dtype=np.uint32)
        dedupe._write_run(index._day_dir(day) / "merged-1.run", hi, lo)
        del hi, lo
    index.close()


def run_variant(
    label: str, backend: str, constants: str, template: Path, work: Path, server_url: str,
    interval: float,
) -> dict[str, Any]:  # fmt: skip
    data_dir = work / f"run-{label}"
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(template, data_dir)
    env = dict(os.environ)
    env.pop("BENCH_BACKEND", None)
    if backend:
        env["BENCH_BACKEND"] = backend
    command = [sys.executable, __file__, "--child", "--data-dir", str(data_dir),
               "--server-url", server_url, "--constants", constants]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    phase = ["start"]
    result: dict[str, Any] = {}

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("PHASE "):
                phase[0] = line.split()[1]
            elif line.startswith("RESULT "):
                result.update(json.loads(line[7:]))
            else:
                print("  child: " + line.rstrip(), flush=True)

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    samples: dict[str, list[dict[str, float]]] = {}
    while process.poll() is None:
        sample = read_rollup(process.pid)
        if sample is not None:
            samples.setdefault(phase[0], []).append(sample)
        time.sleep(interval)
    reader.join(timeout=10)
    shutil.rmtree(data_dir, ignore_errors=True)
    if process.returncode != 0 or not result:
        raise SystemExit(f"variant {label} failed (exit {process.returncode})")
    for name in ("idle", "drain"):
        points = samples.get(name, [])
        for field in FIELDS:
            values = [point[field] for point in points] or [0.0]
            result[f"{name}_{field}_median"] = statistics.median(values)
            result[f"{name}_{field}_max"] = max(values)
        result[f"{name}_samples"] = len(points)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--segment-events", type=int, default=100_000)
    parser.add_argument("--index-keys", type=int, default=20_000_000)
    parser.add_argument("--index-days", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--variant", action="append", default=[], help="label=BACKEND[,K=V...]")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--server-url", help=argparse.SUPPRESS)
    parser.add_argument("--constants", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    variants = []
    for text in args.variant or ["current="]:
        label, _, rest = text.partition("=")
        backend, _, constants = rest.partition(",")
        variants.append((label, backend, constants))

    sys.path.insert(0, str(HERE.parent / "backend"))
    sys.path.insert(0, str(HERE))
    import bench_pipeline
    from cxloop.db import embedded_postgres
    from cxloop.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-memory-", dir=args.dir))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        started = time.perf_counter()
        template = work / "template"
        settings = Settings(data_dir=template)
        rows = bench_pipeline.make_requests(args.events, args.seed)
        segments = bench_pipeline.write_segments(settings.wal_dir, rows, args.segment_events)
        wal_mb = sum(p.stat().st_size for p in settings.wal_dir.rglob("*.sealed")) / 2**20
        del rows
        if args.index_keys:
            settings.state_dir.mkdir(parents=True, exist_ok=True)
            prefill_index(settings.state_dir / "dedupe", args.index_keys, args.index_days)
        print(
            f"{args.events:,} events in {segments} sealed segments ({wal_mb:.0f} MiB of WAL), "
            f"dedupe index {args.index_keys:,} keys; made in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        server_url = stack.enter_context(embedded_postgres(work / "pgdata"))
        results: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in variants}
        for round_number in range(args.rounds):
            order = variants if round_number % 2 == 0 else variants[::-1]
            for label, backend, constants in order:
                result = run_variant(
                    label, backend, constants, template, work, server_url, args.interval
                )
                results[label].append(result)
                print(
                    f"round {round_number + 1} {label}: drain RSS median "
                    f"{result['drain_Rss_median']:.0f} / max {result['drain_Rss_max']:.0f} MB, "
                    f"anon {result['drain_Anonymous_median']:.0f} / "
                    f"{result['drain_Anonymous_max']:.0f}, file "
                    f"{result['drain_Rss_File_median']:.0f} / {result['drain_Rss_File_max']:.0f}; "
                    f"idle RSS {result['idle_Rss_median']:.0f}; Arrow peak "
                    f"{result['arrow_peak_mb']:.0f} MiB; CPU {result['cpu_s']:.1f} s, wall "
                    f"{result['wall_s']:.1f} s, {result['lake_events']:,} lake events",
                    flush=True,
                )
    keys = [f"{phase}_{field}_{stat}" for phase in ("idle", "drain") for field in FIELDS
            for stat in ("median", "max")] + ["arrow_peak_mb", "cpu_s", "wall_s"]  # fmt: skip
    medians = {
        label: {key: statistics.median(r[key] for r in runs) for key in keys}
        for label, runs in results.items()
    }
    first = variants[0][0]
    print(f"\nmedians of {args.rounds} rounds (MB; ratio to {first}):")
    for key in keys:
        cells = []
        for label, values in medians.items():
            base = medians[first][key]
            ratio = f" ({values[key] / base:.2f}x)" if label != first and base else ""
            cells.append(f"{label} {values[key]:.1f}{ratio}")
        print(f"  {key:24s} " + ", ".join(cells))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"dir": str(args.dir),
                                         "json": str(args.json)}, "runs": results},
                                        indent=2, default=str))  # fmt: skip


if __name__ == "__main__":
    main()

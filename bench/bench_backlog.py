"""What watching the WAL backlog costs: the scan itself, and the ack path beside it.

1. ``backlog(wal_dir)`` over a WAL holding a backlog of ``--segments`` segments spread over
   ``--slots`` slots (sealed, compacted, one open with frames and one made-ahead per slot):
   wall time per scan, cold (first frames read) and warm (cached), medians of ``--runs``.
2. The writer's commit path with the backlog watch on (a scan every 0.5 s, what workers do)
   and off, alternated A/B/A/B in the same run over the same backlog: appends/s of
   ``--concurrency`` concurrent 50-event requests for ``--seconds`` each, and the p99 of one
   append. The figure that matters is the ratio on/off.

    python bench/bench_backlog.py [--segments 400] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from cxloop.ops.metrics import Registry
from cxloop.wal import (
    REQUEST_SCHEMA,
    SegmentState,
    WalWriter,
    acquire_slot,
    backlog,
    encode_frame,
    encode_header,
    rows_to_batch,
)
from cxloop.wal import segment as segment_module

BODY = b'{"batch":[' + b",".join([b'{"type":"track","event":"x","userId":"u"}'] * 50) + b"]}"


def request_row(received_us: int) -> tuple[object, ...]:
    return ("prj_bench", received_us, "10.0.0.0", None, BODY, 50, 50, 32768)


def make_backlog(wal_dir: Path, segments: int, slots: int, frames: int) -> None:
    header = encode_header(REQUEST_SCHEMA)
    frame = encode_frame(rows_to_batch([request_row(1_795_428_000_000_000)] * 20, REQUEST_SCHEMA))
    stamp = time.time_ns() - 3600 * 10**9
    for index in range(segments):
        slot = wal_dir / f"w{index % slots}"
        slot.mkdir(parents=True, exist_ok=True)
        state = SegmentState.SEALED if index % 3 else SegmentState.COMPACTED
        stamp += 1
        (slot / f"{slot.name}-{stamp:020d}.{state}").write_bytes(header + frame * frames)
    for number in range(slots):
        slot = wal_dir / f"w{number}"
        stamp += 1
        (slot / f"w{number}-{stamp:020d}.{SegmentState.OPEN}").write_bytes(header + frame)
        stamp += 1
        (slot / f"w{number}-{stamp:020d}.{SegmentState.OPEN}").write_bytes(header)


def scan_ms(wal_dir: Path, runs: int) -> tuple[float, float]:
    cold, warm = [], []
    for _ in range(runs):
        segment_module._first_event_ns.clear()
        started = time.perf_counter()
        backlog(wal_dir)
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        backlog(wal_dir)
        warm.append(time.perf_counter() - started)
    return statistics.median(cold) * 1e3, statistics.median(warm) * 1e3


async def append_run(
    wal_dir: Path, scan_s: float, seconds: float, concurrency: int
) -> tuple[float, float]:
    slot, fd = acquire_slot(wal_dir)
    writer = WalWriter(
        slot,
        registry=Registry(),
        fsync=False,
        backlog_scan_s=scan_s,
        segment_max_age_s=0.5,
    )
    await writer.start()
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await writer.append((request_row(time.time_ns() // 1000),), events=50)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    await writer.close()
    os.close(fd)
    for path in slot.glob("*.sealed"):
        path.unlink()
    latencies.sort()
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99)] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=400)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--frames", type=int, default=20, help="frames per backlog segment")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cxloop-bench-backlog-"))
    try:
        wal_dir = root / "wal"
        make_backlog(wal_dir, args.segments, args.slots, args.frames)
        cold, warm = scan_ms(wal_dir, args.runs)
        scan = backlog(wal_dir)
        print(
            f"backlog scan over {args.segments + 2 * args.slots} segments in {args.slots} "
            f"slots ({scan.pending_bytes / 1e6:.1f} MB pending): cold {cold:.2f} ms, "
            f"warm {warm:.2f} ms (median of {args.runs})"
        )
        on: list[tuple[float, float]] = []
        off: list[tuple[float, float]] = []
        for _ in range(args.runs):
            on.append(asyncio.run(append_run(wal_dir, 0.5, args.seconds, args.concurrency)))
            off.append(asyncio.run(append_run(wal_dir, 3600.0, args.seconds, args.concurrency)))
        on_rate = statistics.median(r for r, _ in on)
        off_rate = statistics.median(r for r, _ in off)
        on_p99 = statistics.median(p for _, p in on)
        off_p99 = statistics.median(p for _, p in off)
        print(
            f"appends/s (50-event requests, {args.concurrency} concurrent, no fsync): "
            f"watch on {on_rate:,.0f}, off {off_rate:,.0f}, on/off {on_rate / off_rate:.3f}; "
            f"append p99 on {on_p99:.2f} ms, off {off_p99:.2f} ms (medians of {args.runs})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

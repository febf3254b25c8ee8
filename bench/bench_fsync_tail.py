"""The WAL's ``fdatasync`` tail next to a bulk writer on the same disk, and what moves it.

A loop shaped like the ingest worker's group commits (``--rate`` commits/s of ``--frame-kb``,
each ``write`` + ``fdatasync``) runs for ``--seconds`` per scenario while a second process
writes 48 MB files the way the pipeline writes the lake. Scenarios, all in the same run:

- ``alone``: no writer (the baseline every ratio is against);
- ``bulk``: the writer syncs each file once, at the end (the lake before decision 24);
- ``paced``: the writer goes through ``cxloop.lake.paced.PacedFile`` (``fdatasync`` every 4 MiB);
- ``bulk+prewritten``: the WAL overwrites a pre-written file (no journal commit per sync);
- ``bulk+ionice``: the writer runs under ``ionice -c3``;
- ``bulk+hedged``: every commit goes to two WAL files, done when the first is durable.

Usage: python bench/bench_fsync_tail.py [--seconds 15] [--rate 1000] [--frame-kb 45]
Everything stays under a temporary directory on the data disk (``--dir``); bounded in time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from cxloop.lake.paced import PacedFile

WRITER_FILE_MB = 48
MIB = 1 << 20


def writer(directory: Path, paced: bool) -> None:
    """Write 48 MB files forever, keeping the last three (run as a child process)."""
    block = os.urandom(MIB)
    written: list[Path] = []
    for number in range(1 << 30):
        path = directory / f"lake-{number}.bin"
        if paced:
            with PacedFile(path) as sink:
                for _ in range(WRITER_FILE_MB):
                    sink.write(block)
        else:
            with open(path, "wb") as handle:
                for _ in range(WRITER_FILE_MB):
                    handle.write(block)
                handle.flush()
                os.fsync(handle.fileno())
        written.append(path)
        if len(written) > 3:
            written.pop(0).unlink()
        time.sleep(0.3)


def open_wal(path: Path, prewritten: bool, size: int) -> int:
    if not prewritten:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    zeros = bytes(MIB)
    for _ in range(size // MIB + 1):
        os.write(fd, zeros)
    os.fsync(fd)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def commit_loop(
    directory: Path, seconds: float, rate: float, frame: bytes, prewritten: bool, hedged: bool
) -> list[float]:
    """Latencies (ms) of each commit: write + fdatasync (of the first file done, if hedged)."""
    size = int(seconds * rate * len(frame))
    fds = [open_wal(directory / f"wal-{i}", prewritten, size) for i in range(2 if hedged else 1)]
    pool = ThreadPoolExecutor(len(fds))

    def commit(fd: int) -> None:
        os.write(fd, frame)
        os.fdatasync(fd)

    latencies: list[float] = []
    next_at = time.perf_counter()
    deadline = next_at + seconds
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            futures = [pool.submit(commit, fd) for fd in fds]
            wait(futures, return_when=FIRST_COMPLETED)
            latencies.append((time.perf_counter() - started) * 1000)
            wait(futures)  # the slower copy finishes before the next commit, as a log would
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.perf_counter()))
    finally:
        pool.shutdown()
        for fd in fds:
            os.close(fd)
    return latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_scenario(name: str, base: Path, args: argparse.Namespace, frame: bytes) -> dict[str, float]:
    directory = base / name
    directory.mkdir()
    child = None
    if name != "alone":
        command = [sys.executable, __file__, "--writer", str(directory)]
        if name == "paced":
            command.append("--paced")
        if name == "bulk+ionice":
            command = ["ionice", "-c3", *command]
        child = subprocess.Popen(command)
        time.sleep(1.0)  # the writer is in full swing
    try:
        latencies = commit_loop(
            directory,
            args.seconds,
            args.rate,
            frame,
            prewritten=name == "bulk+prewritten",
            hedged=name == "bulk+hedged",
        )
    finally:
        if child is not None:
            child.kill()
            child.wait()
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "p50": statistics.median(latencies),
        "p99": quantile(latencies, 0.99),
        "p999": quantile(latencies, 0.999),
        "max": max(latencies),
        "over_10": sum(1 for x in latencies if x > 10),
        "over_25": sum(1 for x in latencies if x > 25),
        "commits": len(latencies),
    }


SCENARIOS = ("alone", "bulk", "paced", "bulk+prewritten", "bulk+ionice", "bulk+hedged")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--frame-kb", type=int, default=45)
    parser.add_argument("--dir", type=Path, default=None, help="on the disk under test")
    parser.add_argument("--writer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--paced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer is not None:
        writer(args.writer, args.paced)
        return
    if shutil.which("ionice") is None:
        raise SystemExit("ionice (util-linux) is needed for the bulk+ionice scenario")
    frame = os.urandom(args.frame_kb * 1024)
    with tempfile.TemporaryDirectory(prefix="cxloop-fsync-", dir=args.dir) as tmp:
        results = {name: run_scenario(name, Path(tmp), args, frame) for name in SCENARIOS}
    alone = results["alone"]
    print(f"\n{args.rate:g} commits/s of {args.frame_kb} KB for {args.seconds:g} s per scenario")
    print("| scenario | p50 ms | p99 ms | p99.9 ms | max ms | > 10 ms | > 25 ms | p99 / alone |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['p50']:.2f} | {r['p99']:.2f} | {r['p999']:.2f} | {r['max']:.1f} | "
            f"{r['over_10']} | {r['over_25']} | {r['p99'] / alone['p99']:.1f}× |"
        )


if __name__ == "__main__":
    main()

"""The health refresh's lake work on a local lake against the same lake on S3 (moto on loopback).

Writes ``--days`` days of ``--files`` files of ``--file-events`` events (bench_rollup_incremental's
mix: 20,000 users in 600 accounts) into a local lake and puts the same files into a fresh bucket
of a moto S3 server (tests/helpers/s3.py), then times, alternating which lake goes first, the
three kinds of refresh a project sees, as ``refresh_project`` runs them (listing, rollup, the
score's reads of the rollup stores — everything but PostgreSQL, which does not depend on where
the lake is):

- **cold**: no rollup yet: every lake file read into its detail, day sums, both stores written;
- **incremental**: one new file of ``--new-events`` in the last day: its detail, that day's sum
  and stores;
- **unchanged**: nothing new: the listing and the score's reads.

Prints medians of wall time and of this process's CPU per kind and lake, the ratios S3/local,
and moto's own CPU (the store's, on this machine; not the client's). moto answers from memory
on loopback: a real store adds its network round trips (tens of ms per request).

    python bench/bench_rollup_store.py [--days 10] [--files 4] [--file-events 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "backend"))
sys.path.insert(0, str(HERE.parent))

from bench_rollup_incremental import events  # noqa: E402
from cxloop.health import rollup  # noqa: E402
from cxloop.health.service import _usage  # noqa: E402
from cxloop.lake import LakeLocation, partition_dir  # noqa: E402
from tests.helpers.s3 import s3_server  # noqa: E402

MEMBERS = pa.table({"user_id": pa.array([], pa.string()), "account_id": pa.array([], pa.string())})


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def refresh(lake: LakeLocation, as_of: date, forgotten: bool) -> int:
    """What refresh_project does with the lake (rollup_project's build of the changed days is
    approximated by "every day" when ``forgotten``, else the last day only)."""
    partitions = rollup.lake_partitions(lake, "p1")["p1"]
    rollup.prune_details(lake, "p1")
    changed = partitions if forgotten else partitions[-1:]
    events = 0
    for chunk in rollup.chunks(changed):
        dropped = frozenset(p.day for p in chunk) if forgotten else frozenset()
        done = rollup._build(lake, "p1", chunk, MEMBERS, dropped)
        events += sum(done.values())
    usage, _, _ = _usage(lake, "p1", as_of)
    return len(usage) + events


def unchanged(lake: LakeLocation, as_of: date) -> int:
    rollup.lake_partitions(lake, "p1")
    rollup.prune_details(lake, "p1")
    usage, _, _ = _usage(lake, "p1", as_of)
    return len(usage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--file-events", type=int, default=100_000)
    parser.add_argument("--new-events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cxloop-bench-rollup-store-"))
    rng = np.random.default_rng(19)
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(args.days - 1, -1, -1)]
    try:
        with s3_server() as s3:
            moto = next(p for p in psutil.Process().children() if "moto" in " ".join(p.cmdline()))
            local = LakeLocation.directory(root / "lake")
            remote = LakeLocation.object_store(s3.lake_url(), s3.endpoint_url)
            written = 0

            def add(day: date, n: int) -> None:
                nonlocal written
                directory = partition_dir(root / "lake", "events", "p1", day)
                directory.mkdir(parents=True, exist_ok=True)
                path = directory / f"part-0-{1_000_000_000 + written}.parquet"
                pq.write_table(events(rng, written, n, day), path, compression="zstd")
                written += n
                key = remote.path(str(path.relative_to(root / "lake")))
                with remote.fs.open_output_stream(key) as out:
                    out.write(path.read_bytes())

            started = time.perf_counter()
            for day in days:
                for _ in range(args.files):
                    add(day, args.file_events)
            size = sum(p.stat().st_size for p in (root / "lake").rglob("*.parquet"))
            print(
                f"lake: {written:,} events in {args.days * args.files} files, {size / 1e6:.0f} MB, "
                f"local and S3, in {time.perf_counter() - started:.0f} s"
            )

            def clear(lake: LakeLocation) -> None:
                if lake.local is not None:
                    shutil.rmtree(lake.local / "rollups", ignore_errors=True)
                else:
                    lake.fs.delete_dir_contents(lake.path("rollups"), missing_dir_ok=True)

            lakes = {"local": local, "s3": remote}
            kinds: dict[str, Callable[[LakeLocation], int]] = {
                "cold": lambda lake: (clear(lake), refresh(lake, today, True))[1],
                "incremental": lambda lake: refresh(lake, today, False),
                "unchanged": lambda lake: unchanged(lake, today),
            }
            wall: dict[tuple[str, str], list[float]] = {}
            cpu: dict[tuple[str, str], list[float]] = {}
            moto_cpu: dict[str, list[float]] = {}
            answers: dict[tuple[str, str], int] = {}
            for i in range(args.repeats):
                order = ["local", "s3"] if i % 2 == 0 else ["s3", "local"]
                for kind, run in kinds.items():
                    if kind == "incremental":
                        add(days[-1], args.new_events)  # what arrived since the last refresh
                    for name in order:
                        before = moto.cpu_times()
                        w, c = time.perf_counter(), _cpu()
                        answers[(kind, name)] = run(lakes[name])
                        wall.setdefault((kind, name), []).append(time.perf_counter() - w)
                        cpu.setdefault((kind, name), []).append(_cpu() - c)
                        if name == "s3":
                            after = moto.cpu_times()
                            moto_cpu.setdefault(kind, []).append(
                                after.user + after.system - before.user - before.system
                            )
                    if answers[(kind, "local")] != answers[(kind, "s3")]:
                        raise SystemExit(f"{kind}: the lakes answered differently")
            print(f"medians of {args.repeats} (this process; moto's own CPU apart):")
            for kind in kinds:
                lw, sw = (statistics.median(wall[(kind, n)]) for n in ("local", "s3"))
                lc, sc = (statistics.median(cpu[(kind, n)]) for n in ("local", "s3"))
                print(
                    f"  {kind:<12} local {lw:6.2f} s wall {lc:6.2f} s CPU | S3 {sw:6.2f} s wall "
                    f"{sc:6.2f} s CPU | S3/local wall {sw / lw:5.2f}x CPU {sc / lc:5.2f}x | "
                    f"moto CPU {statistics.median(moto_cpu[kind]):5.2f} s"
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

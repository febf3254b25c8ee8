"""Dedupe index: claim and probe cost per key with a full window, the new run files against
the SQLite index they replace, in the same run.

    python bench/bench_dedupe.py                    # A/B at 5M keys, then the runs alone at 50M
    python bench/bench_dedupe.py --window 2000000 --big 0 --rounds 3

The SQLite baseline is the module as of commit ``BASELINE`` (read with ``git show``), so both
can be imported side by side. Each round claims one segment-sized batch of new keys (with
``--dup`` of them replays of window keys) and asks ``owned`` for the same batch, A then B,
alternating; medians are printed with the ratio. The run-file index is prefilled with
random fingerprints written as one merged run per day (fingerprints are uniform, so this
is what a real window looks like to a probe); the SQLite one by claims of real keys.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(1, str(ROOT / "bench"))

from benchlib import module_at  # noqa: E402
from cxloop.lake import dedupe as runs_module  # noqa: E402
from cxloop.lake.fingerprint import KeyBatch  # noqa: E402

BASELINE = "9511b19"  # the last commit with the SQLite index
TODAY = datetime.now(UTC).date()


def load_baseline() -> ModuleType:
    with tempfile.TemporaryDirectory(prefix="bench_dedupe_baseline_") as directory:
        return module_at(
            BASELINE, "backend/cxloop/lake/dedupe.py", "sqlite_dedupe_baseline", Path(directory)
        )


def message_ids(start: int, count: int) -> pa.Array:
    """UUID-shaped ids, built without a Python string per key."""
    numbers = np.arange(start, start + count, dtype=np.uint64)
    mixed = (numbers * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(0xD1B54A32D192ED03)
    text = np.char.mod("%016x", mixed.astype(np.uint64)).astype("U16")
    prefix = np.char.mod("%08x", (numbers % np.uint64(1 << 32)).astype(np.uint64))
    joined = np.char.add(np.char.add(prefix, "-4a1b-9c2d-"), text)
    return pa.array(joined.tolist(), pa.string())


def key_batch(start: int, count: int, projects: int = 20) -> KeyBatch:
    return KeyBatch(
        pa.array(np.zeros(count, bool)),
        pa.array([f"project-{i % projects}" for i in range(count)], pa.string()),
        message_ids(start, count),
    )


def as_tuples(batch: KeyBatch) -> list[tuple[str, str, str]]:
    projects = batch.project_id.to_pylist()
    messages = batch.message_id.to_pylist()
    return [("e", p, m) for p, m in zip(projects, messages, strict=True)]


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def prefill_runs(directory: Path, keys: int, days: int) -> runs_module.DedupeIndex:
    index = runs_module.DedupeIndex(directory, window_days=max(8, days))
    rng = np.random.default_rng(1)
    per_day = keys // days
    for back in range(1, days + 1):
        day = (TODAY - timedelta(days=back)).toordinal()
        hi = np.sort(rng.integers(0, 2**64, per_day, dtype=np.uint64))
        lo = rng.integers(0, 2**32, per_day, dtype=np.uint32)
        path = index._day_dir(day) / "merged-1.run"
        runs_module._write_run(path, hi, lo)
        index._runs[path] = runs_module._Run(path, day, per_day, "run")
        del hi, lo
    return index


def prefill_sqlite(module: ModuleType, path: Path, keys: int, days: int, batch: int) -> object:
    index = module.DedupeIndex(path, window_days=max(8, days))
    done = 0
    segment = 0
    while done < keys:
        count = min(batch, keys - done)
        day = TODAY - timedelta(days=1 + segment % days)
        index.claim(f"pre-{segment}", as_tuples(key_batch(10**12 + done, count)), received_day=day)
        done += count
        segment += 1
    index.settle()
    return index


CPU: list[float] = []  # CPU seconds of each timed() call, in order


def timed(work: Callable[[], object]) -> float:
    """Wall seconds of ``work``; its CPU seconds go to ``CPU`` (the box is shared: CPU time
    does not count waiting for a core, nor for fsync)."""
    gc.collect()
    cpu = time.process_time()
    started = time.perf_counter()
    work()
    CPU.append(time.process_time() - cpu)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", type=int, default=5_000_000, help="keys in both indexes (A/B)")
    parser.add_argument("--big", type=int, default=50_000_000, help="keys, run index alone")
    parser.add_argument("--batch", type=int, default=200_000, help="keys per segment claim")
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dup", type=float, default=0.01, help="share of replayed keys")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench_dedupe_"))
    baseline = load_baseline()
    print(f"keys per claim {args.batch:,}, {args.days} days, dup share {args.dup}, dir {base}")

    if args.window:
        started = time.perf_counter()
        sqlite_index = prefill_sqlite(
            baseline, base / "ab" / "dedupe.sqlite", args.window, args.days, args.batch
        )
        print(f"sqlite prefill {args.window:,} keys: {time.perf_counter() - started:.0f} s")
        runs_index = prefill_runs(base / "ab" / "runs", args.window, args.days)
        ab = compare(sqlite_index, runs_index, args)
        sqlite_index.settle()  # type: ignore[attr-defined]
        sqlite_bytes = sum(
            f.stat().st_size for f in (base / "ab").glob("dedupe.sqlite*") if f.is_file()
        )
        sqlite_keys = sqlite_index.stats().keys  # type: ignore[attr-defined]
        runs_bytes = dir_bytes(base / "ab" / "runs")
        print(
            f"disk per key: sqlite {sqlite_bytes / sqlite_keys:.1f} B ({sqlite_keys:,} keys), "
            f"runs {runs_bytes / runs_index.stats().keys:.2f} B ({runs_index.stats().keys:,} keys)"
        )
        for name, (claim_s, owned_s) in ab.items():
            print(
                f"{name:7s} wall: claim {claim_s * 1e6 / args.batch:6.2f} us/key  "
                f"owned {owned_s * 1e6 / args.batch:6.2f} us/key (median of {args.rounds})"
            )
        ratio_claim = ab["sqlite"][0] / ab["runs"][0]
        ratio_owned = ab["sqlite"][1] / ab["runs"][1]
        print(f"runs vs sqlite: claim {ratio_claim:.1f}x faster, owned {ratio_owned:.1f}x faster")
        sqlite_index.close()  # type: ignore[attr-defined]
        runs_index.close()

    if args.big:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        big = prefill_runs(base / "big" / "runs", args.big, args.days)
        print(f"runs prefill {args.big:,} keys: {time.perf_counter() - started:.0f} s")
        claims, owneds, claim_cpu, owned_cpu = [], [], [], []
        steps: dict[str, list[float]] = {"fingerprint": [], "first": [], "probe": []}
        for round_number in range(args.rounds):
            batch = key_batch(round_number * args.batch, args.batch)
            segment = f"big-{round_number}"
            claims.append(timed(functools.partial(big.claim, segment, batch, received_day=TODAY)))
            claim_cpu.append(CPU[-1])
            owneds.append(timed(functools.partial(big.owned, segment, batch)))
            owned_cpu.append(CPU[-1])
            # Where a claim's CPU goes (a fresh batch, so that nothing is cached).
            fresh = key_batch(10**13 + round_number * args.batch, args.batch)
            prints = runs_module.Fingerprints(np.empty(0, np.uint64), np.empty(0, np.uint32))

            def fingerprint(keys: KeyBatch = fresh) -> None:
                nonlocal prints
                prints = big.fingerprints(keys)

            timed(fingerprint)
            steps["fingerprint"].append(CPU[-1])
            timed(functools.partial(runs_module._first_occurrences, prints))
            steps["first"].append(CPU[-1])
            _, hi, lo, _ = runs_module._first_occurrences(prints)
            timed(functools.partial(probe_all, list(big._runs.values()), hi, lo))
            steps["probe"].append(CPU[-1])
        claim_s, owned_s = statistics.median(claims), statistics.median(owneds)
        print(
            f"runs at {args.big:,} keys, CPU: claim {statistics.median(claim_cpu) * 1e6 / args.batch:.2f} "
            f"us/key, owned {statistics.median(owned_cpu) * 1e6 / args.batch:.2f} us/key; of a "
            "claim: "
            + ", ".join(
                f"{name} {statistics.median(v) * 1e6 / args.batch:.2f}" for name, v in steps.items()
            )
            + f" us/key ({len(big._runs)} runs probed); filters in memory "
            f"{big.stats().filter_bytes / 2**20:.1f} MiB"
        )
        print(
            f"runs at {args.big:,} keys, wall: claim {claim_s * 1e6 / args.batch:.2f} us/key, "
            f"owned {owned_s * 1e6 / args.batch:.2f} us/key; "
            f"disk {dir_bytes(base / 'big' / 'runs') / big.stats().keys:.2f} B/key; "
            f"rss {_rss_mib():.0f} MiB now (peak {rss_before / 1024:.0f} MiB before the prefill)"
        )
        big.close()


def compare(
    sqlite_index: object, runs_index: runs_module.DedupeIndex, args: argparse.Namespace
) -> dict[str, tuple[float, float]]:
    times: dict[str, tuple[list[float], list[float]]] = {"sqlite": ([], []), "runs": ([], [])}
    cpu: dict[str, tuple[list[float], list[float]]] = {"sqlite": ([], []), "runs": ([], [])}
    replayed = int(args.batch * args.dup)
    for round_number in range(args.rounds):
        fresh = key_batch(round_number * args.batch, args.batch - replayed)
        batch = fresh
        if replayed:  # replays of keys the SQLite index was prefilled with
            old = key_batch(10**12, replayed)
            batch = KeyBatch(
                pa.concat_arrays([fresh.failed, old.failed]),
                pa.concat_arrays([fresh.project_id, old.project_id]),
                pa.concat_arrays([fresh.message_id, old.message_id]),
            )
        segment = f"seg-{round_number}"
        order = ("sqlite", "runs") if round_number % 2 == 0 else ("runs", "sqlite")
        for name in order:
            if name == "sqlite":
                # The SQLite index takes tuples: building them is part of its cost today
                # (segment_keys did it with to_pylist), so it is timed too.
                old: Any = sqlite_index
                claim_s = timed(
                    lambda s=segment, b=batch, i=old: i.claim(s, as_tuples(b), received_day=TODAY)
                )
                owned_s = timed(lambda s=segment, b=batch, i=old: i.owned(s, as_tuples(b)))
            else:
                claim_s = timed(
                    functools.partial(runs_index.claim, segment, batch, received_day=TODAY)
                )
                owned_s = timed(functools.partial(runs_index.owned, segment, batch))
            times[name][0].append(claim_s)
            times[name][1].append(owned_s)
            cpu[name][0].append(CPU[-2])
            cpu[name][1].append(CPU[-1])
    for name, (c, o) in cpu.items():
        print(
            f"{name:7s} CPU: claim {statistics.median(c) * 1e6 / args.batch:6.2f} us/key  "
            f"owned {statistics.median(o) * 1e6 / args.batch:6.2f} us/key"
        )
    return {name: (statistics.median(c), statistics.median(o)) for name, (c, o) in times.items()}


def probe_all(runs: list[runs_module._Run], hi: np.ndarray, lo: np.ndarray) -> None:
    for run in runs:
        runs_module._probe(run, hi, lo)


def _rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()

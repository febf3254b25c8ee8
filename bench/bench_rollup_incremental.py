"""The health rollup of a big, busy day: per-file details (now) against re-reading the day.

Fills one day's partition with ``--events`` events in files of ``--file-events`` (the soak's
mix: 20,000 users in 600 accounts, ~62 % feature use, 25 % pages, the rest identify, group and
survey answers), rolls it up once from nothing, then runs ``--rounds`` rounds. Each round adds
a file of ``--new-events`` (what arrives between two refreshes), every other round first merges
the two newest files (as lake/tidy.py does), and times, alternating which goes first:

- **base**: the rollup of ``--base`` (a git revision; default the last commit of
  health/rollup.py before per-file details), loaded from git — it re-reads the whole day on
  every refresh because the day's file set changed;
- **new**: this checkout's rollup, which reads only files without a detail yet and combines
  the day's details.

Both write the same rollups (checked). Prints each round, the medians and their ratio, and
where the new rollup's time goes (reading new files vs combining the day's details).

    python bench/bench_rollup_incremental.py [--events 20000000] [--rounds 6]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import types
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "backend"))

from cxloop.health import rollup  # noqa: E402
from cxloop.lake import merge_files, merged_name, partition_dir  # noqa: E402
from cxloop.wal import EVENT_LAKE_SCHEMA  # noqa: E402

BASE = "223d36bfcb2074663f45fea2fad97d7c0b4bb99f"
FEATURES = ["reports", "exports", "alerts", "search", "integrations", "dashboards", "billing"]
USERS = 20_000


def events(rng: np.random.Generator, first: int, n: int, day: date) -> pa.Table:
    """``n`` events of the soak's mix on ``day`` (vectorised: a 1M-event file in ~1 s)."""
    user = rng.integers(0, USERS, n)
    roll = rng.random(n)
    kind = np.select(
        [roll < 0.01, roll < 0.05, roll < 0.13, roll < 0.38],
        ["track", "group", "identify", "page"],
        "track",
    )
    event = np.where(roll < 0.01, "Survey Responded", np.where(roll >= 0.38, "Feature Used", None))
    names = pa.array([f"user_{u}" for u in range(USERS)])
    anons = pa.array([f"anon_{u}" for u in range(USERS)])
    groups = pa.array([f"acct_{u % 600}" for u in range(USERS)])
    props = pa.array(
        [f'{{"feature":"{f}","count":{c}}}' for f in FEATURES for c in range(17)] + ["{}"]
    )
    prop_index = np.where(roll >= 0.38, rng.integers(0, len(FEATURES) * 17, n), len(FEATURES) * 17)
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1e6)
    at = pa.array(start + rng.integers(0, 86_400_000_000, n), pa.timestamp("us", tz="UTC"))
    ids = pa.array([f"m{i:012d}" for i in range(first, first + n)])
    columns: dict[str, Any] = {
        "message_id": ids,
        "type": pa.array(kind.tolist(), pa.string()),
        "event": pa.array(event.tolist(), pa.string()),
        "user_id": names.take(pa.array(user)),
        "anonymous_id": anons.take(pa.array(user)),
        "group_id": groups.take(pa.array(user)),
        "timestamp": at,
        "received_at": at,
        "properties": props.take(pa.array(prop_index)),
    }
    return pa.table(
        {f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in EVENT_LAKE_SCHEMA},
        schema=EVENT_LAKE_SCHEMA,
    )


def base_module(revision: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:backend/cxloop/health/rollup.py"],
        check=True,
        capture_output=True,
        text=True,
        cwd=HERE.parent,
    ).stdout
    module = types.ModuleType("rollup_base")
    sys.modules["rollup_base"] = module  # dataclasses look their module up
    exec(compile(source, "rollup_base.py", "exec"), module.__dict__)
    return module


def stores(root: Path) -> dict[str, Any]:
    out = {}
    with duckdb.connect() as db:
        for store in ("usage_feature", "usage_user"):
            source = str(root / "rollups" / store / "**" / "*.parquet").replace("'", "''")
            out[store] = db.execute(
                f"SELECT * FROM read_parquet('{source}', hive_partitioning = true) ORDER BY ALL"
            ).fetchall()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--file-events", type=int, default=1_000_000)
    parser.add_argument("--new-events", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--base", default=BASE)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: tmp)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="cxloop-bench-rollup-"))
    lake, base_lake = root / "lake", root / "base"
    day = datetime.now(UTC).date()
    directory = partition_dir(lake, "events", "p1", day)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(18)
    written = 0
    started = time.perf_counter()
    while written < args.events:
        n = min(args.file_events, args.events - written)
        pq.write_table(
            events(rng, written, n, day),
            directory / f"part-0-{1_000_000_000 + written}.parquet",
            compression="zstd",
            row_group_size=128 * 1024,
        )
        written += n
    size = sum(p.stat().st_size for p in directory.glob("*.parquet"))
    print(
        f"lake: {written:,} events in {len(list(directory.glob('*.parquet')))} files, "
        f"{size / 1e6:.0f} MB, written in {time.perf_counter() - started:.0f} s"
    )
    members = pa.table(
        {"user_id": pa.array([], pa.string()), "account_id": pa.array([], pa.string())}
    )
    base = base_module(args.base)

    def partitions() -> list[Any]:
        return rollup.lake_partitions(lake)["p1"]

    phases: dict[str, list[float]] = {"read": [], "total": []}
    original_read = rollup._read_details

    def timed_read(db: Any, location: Any, missing: list[tuple[Any, str]]) -> list[Any]:
        t0 = time.perf_counter()
        vanished = original_read(db, location, missing)
        phases["read"].append(time.perf_counter() - t0)
        return vanished

    rollup._read_details = timed_read  # type: ignore[assignment]

    def run_new() -> float:
        t0 = time.perf_counter()
        rollup._build(lake, "p1", partitions(), members)
        took = time.perf_counter() - t0
        phases["total"].append(took)
        return took

    def run_base() -> float:
        t0 = time.perf_counter()
        base._build(base_lake, "p1", base.lake_partitions(lake)["p1"], members)
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    rollup._build(lake, "p1", partitions(), members, frozenset({day}))
    cold_new = time.perf_counter() - t0
    phases["read"].clear()
    print(f"new rollup from nothing (every file read): {cold_new:.2f} s")
    times: dict[str, list[float]] = {"base": [], "new": []}
    for i in range(args.rounds):
        if i % 2:  # merge the two newest files the rollup has seen (details summed, not read)
            newest = sorted(directory.glob("part-1-*.parquet"))[-2:]
            merge_files(newest, directory / merged_name(p.name for p in newest))
        path = directory / f"part-1-{2_000_000_000 + written}.parquet"
        pq.write_table(events(rng, written, args.new_events, day), path, compression="zstd")
        written += args.new_events
        order = [("base", run_base), ("new", run_new)]
        if i % 2:
            order.reverse()
        took = {name: run() for name, run in order}
        for name, value in took.items():
            times[name].append(value)
        read = phases["read"][-1] if len(phases["read"]) > i else 0.0
        print(
            f"round {i + 1}: {written:,} events, base {took['base']:.2f} s, new "
            f"{took['new']:.2f} s (reading new files {read:.2f} s)"
        )
        if stores(lake) != stores(base_lake):
            raise SystemExit("the new rollup differs from the base's")
    base_median, new_median = statistics.median(times["base"]), statistics.median(times["new"])
    read_median = statistics.median(phases["read"]) if phases["read"] else 0.0
    print(
        f"median: base {base_median:.2f} s, new {new_median:.2f} s, "
        f"new/base {new_median / base_median:.3f}; the new rollup's median split: reading new "
        f"files {read_median:.2f} s, combining the day's details and writing "
        f"{new_median - read_median:.2f} s; rollups identical in every round"
    )


if __name__ == "__main__":
    main()

"""Why single-event requests are slower than their CPU says: the ack cycle under load.

Single events (``/v1/track``) from ``--connections`` keep-alive clients are latency-bound, not
CPU-bound, once every client waits for a group commit: requests/s <= connections / ack time.
For two or more source trees, alternated round by round (ABBA order) in one run, this prints
requests/s, the worker's CPU per request, and from the worker's own metrics over each run the
mean time from a complete body to the durable ack, the mean write+sync per commit and the mean
requests per commit; "cycle" is the time between commits (run time / commits), and "gap" what
a commit cycle holds beyond its write and sync (GIL hand-offs, the loop reaching the commit's
callback, encoding the next group).

Usage:
  python bench/bench_ack_cycle.py --tree a=/tmp/wt_a --tree b=/work/main [--rounds 4]
      [--seconds 5] [--connections 64]
A tree is a checkout: its ``backend/`` goes first on PYTHONPATH. Loopback only; the WAL
backlog bound is off, as in ``bench_single_event.py``.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib as bl  # noqa: E402

_METRICS = (
    "cxloop_ingest_ack_seconds_sum",
    "cxloop_ingest_ack_seconds_count",
    "cxloop_wal_fsync_seconds_sum",
    "cxloop_wal_fsync_seconds_count",
    "cxloop_wal_commit_events_sum",
)


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    values = {}
    for name in _METRICS:
        match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
        values[name] = float(match.group(1)) if match else 0.0
    return values


def one_run(
    url: str, body_file: Path, auth: str, seconds: int, connections: int, pid: int
) -> dict[str, float]:
    before = scrape(url)
    started = time.monotonic()
    figures = bl.run_wrk(url + "/v1/track", body_file, auth, seconds, connections, pid)
    elapsed = time.monotonic() - started
    after = scrape(url)
    delta = {name: after[name] - before[name] for name in _METRICS}
    acks = max(delta["cxloop_ingest_ack_seconds_count"], 1.0)
    commits = max(delta["cxloop_wal_fsync_seconds_count"], 1.0)
    write_ms = delta["cxloop_wal_fsync_seconds_sum"] / commits * 1e3
    cycle_ms = elapsed / commits * 1e3
    return {
        **figures,
        "ack_ms": delta["cxloop_ingest_ack_seconds_sum"] / acks * 1e3,
        "write_ms": write_ms,
        "per_commit": delta["cxloop_wal_commit_events_sum"] / commits,
        "cycle_ms": cycle_ms,
        "gap_ms": cycle_ms - write_ms,
    }


def main() -> None:
    parser = bl.tree_parser(__doc__, rounds=4, seconds=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    bl.stop_cleanly_on_signals()
    trees = bl.parse_trees(args.tree)

    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        tmp, database_url, load = stack.enter_context(bl.ingest_setup("cxloop-cycle-"))
        servers = stack.enter_context(bl.serving(trees, tmp, database_url, ceiling=False))
        body_file = load.files["single"]
        for round_ in range(args.rounds):
            for name in servers.order(round_):
                url, pid = servers.url(name), servers.pids[name]
                bl.run_wrk(url + "/v1/track", body_file, load.auth, 1, 64, pid)  # warm-up
                row = one_run(url, body_file, load.auth, args.seconds, args.connections, pid)
                rows.append({"round": round_, "tree": name, **row})
                print(
                    f"round {round_} {name:>10}: {row['rps']:8,.0f} req/s "
                    f"{row['cpu_us_per_request']:6.1f} µs CPU/req, ack {row['ack_ms']:.2f} ms, "
                    f"write+sync {row['write_ms']:.2f} ms, cycle {row['cycle_ms']:.2f} ms, "
                    f"{row['per_commit']:.1f} req/commit"
                    + (f", {row['non_2xx']:.0f} non-2xx" if row["non_2xx"] else ""),
                    flush=True,
                )

    keys = ("rps", "cpu_us_per_request", "ack_ms", "write_ms", "cycle_ms", "gap_ms", "per_commit")
    print(
        "\n| tree | req/s | µs CPU/req | ack ms | write+sync ms | cycle ms | gap ms | req/commit |"
        " req/s against the first tree (median, range) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    first = next(iter(trees))
    for name in trees:
        mine = [r for r in rows if r["tree"] == name]
        against = [
            r["rps"]
            / next(o["rps"] for o in rows if o["tree"] == first and o["round"] == r["round"])
            for r in mine
        ]
        cells = " | ".join(
            f"{statistics.median(r[k] for r in mine):,.{0 if k == 'rps' else 2}f}" for k in keys
        )
        print(
            f"| {name} | {cells} | {statistics.median(against):.2f} "
            f"({min(against):.2f}–{max(against):.2f}) |"
        )


if __name__ == "__main__":
    main()

"""Single-event requests (``/v1/track``, one event per request as browser libraries send by
default) and 50-event batches, from two or more source trees and the bare msgspec ASGI ceiling,
alternated round by round in one run (ABBA order): requests/s, the worker's CPU per request,
and each tree's ratio to the ceiling measured in the same round (medians over rounds).

Every server runs for the whole measurement; the WAL backlog bound is off
(``CXLOOP_WAL_BACKLOG_MAX_BYTES=0``, ``CXLOOP_WAL_BACKLOG_MAX_S=0``) so a pipeline that falls
behind on a shared machine cannot turn the ack path's figures into cheap 503s; any non-2xx
answer is counted and printed.

Usage:
  python bench/bench_single_event.py --tree before=/tmp/wt_a --tree after=/work/main \\
      [--rounds 5] [--seconds 6] [--connections 64]
A tree is a checkout: its ``backend/`` goes first on PYTHONPATH. Loopback only.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib as bl  # noqa: E402


def main() -> None:
    parser = bl.tree_parser(__doc__, rounds=5, seconds=6)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with bl.tree_session(args, "cxloop-single-") as (load, servers, _):
        everyone, first = servers.names, servers.names[0]
        for round_ in range(args.rounds):
            for name in servers.order(round_):
                turn = bl.wrk_turn(
                    servers.url(name), load, args.seconds, args.connections, servers.pids[name]
                )
                for kind, figures in turn.items():
                    rows.append({"round": round_, "tree": name, "kind": kind, **figures})
                    print(
                        f"round {round_} {name:>10} {kind:>7}: {figures['rps']:9,.0f} req/s "
                        f"{figures['cpu_us_per_request']:6.1f} µs CPU/req"
                        + (f", {figures['non_2xx']:.0f} non-2xx" if figures["non_2xx"] else ""),
                        flush=True,
                    )

    def pick(name: str, kind: str, round_: int) -> dict[str, Any]:
        return next(
            r for r in rows if r["tree"] == name and r["kind"] == kind and r["round"] == round_
        )

    print(
        "\n| tree | kind | req/s (median) | µs CPU/req (median) | ratio to the ceiling "
        "(median, range) | CPU/req against the first tree (median, range) |"
    )
    print("|---|---|---:|---:|---|---|")
    for kind in bl.ROUTES:
        for name in everyone:
            mine = [pick(name, kind, r) for r in range(args.rounds)]
            ratios = [m["rps"] / pick("ceiling", kind, m["round"])["rps"] for m in mine]
            against = [
                m["cpu_us_per_request"] / pick(first, kind, m["round"])["cpu_us_per_request"]
                for m in mine
            ]
            print(
                f"| {name} | {kind} | {statistics.median(m['rps'] for m in mine):,.0f} "
                f"| {statistics.median(m['cpu_us_per_request'] for m in mine):.1f} "
                f"| {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) "
                f"| {statistics.median(against):.2f} ({min(against):.2f}–{max(against):.2f}) |"
            )


if __name__ == "__main__":
    main()

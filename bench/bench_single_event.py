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

import argparse
import base64
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_ingest as bi  # noqa: E402

NO_BACKLOG_BOUND = {"CXLOOP_WAL_BACKLOG_MAX_BYTES": "0", "CXLOOP_WAL_BACKLOG_MAX_S": "0"}


def start_tree(tree: Path, data_dir: Path, database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env |= {
        "PYTHONPATH": f"{tree / 'backend'}:{tree}",
        "CXLOOP_DATA_DIR": str(data_dir),
        "CXLOOP_PORT": str(port),
        "DATABASE_URL": database_url,
        "CXLOOP_LOG_LEVEL": "WARNING",
        **NO_BACKLOG_BOUND,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "serve", "--workers", "1"],
        env=env,
        cwd=tree,
        start_new_session=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=6, help="per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    trees = {name: Path(path).resolve() for name, path in (t.split("=", 1) for t in args.tree)}

    from cxloop.db import database_url_for

    kinds = {"single": "/v1/track", "batch50": "/v1/batch"}
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cxloop-single-")))
        database_url = stack.enter_context(
            database_url_for(os.environ.get("DATABASE_URL"), tmp / "pg")
        )
        write_key = bi.create_project(database_url)
        auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        files = {"single": tmp / "single.jsonl", "batch50": tmp / "batch.jsonl"}
        files["single"].write_bytes(b"\n".join(bi.build_bodies(5000, 1, single=True)) + b"\n")
        files["batch50"].write_bytes(b"\n".join(bi.build_bodies(1000, 50, single=False)) + b"\n")
        everyone = [*trees, "ceiling"]
        processes: dict[str, subprocess.Popen[bytes]] = {}
        ports: dict[str, int] = {}
        pids: dict[str, int] = {}
        try:
            for name in everyone:
                ports[name] = bi.free_port()
                if name == "ceiling":
                    processes[name] = bi.start_ceiling(ports[name])
                    bi.wait_http(f"http://127.0.0.1:{ports[name]}/")
                    pids[name] = processes[name].pid
                else:
                    processes[name] = start_tree(
                        trees[name], tmp / f"data-{name}", database_url, ports[name]
                    )
                    bi.wait_http(f"http://127.0.0.1:{ports[name]}/readyz")
                    pids[name] = bi.ingest_worker_pid(processes[name].pid)
            for round_ in range(args.rounds):
                order = everyone if round_ % 2 == 0 else everyone[::-1]
                for name in order:
                    url = f"http://127.0.0.1:{ports[name]}"
                    # A short warm-up: imports, key lookups, segment creation.
                    bi.run_wrk(url + "/v1/track", files["single"], auth, 1, 64, pids[name])
                    for kind, route in kinds.items():
                        figures = bi.run_wrk(
                            url + route,
                            files[kind],
                            auth,
                            args.seconds,
                            args.connections,
                            pids[name],
                        )
                        rows.append({"round": round_, "tree": name, "kind": kind, **figures})
                        print(
                            f"round {round_} {name:>10} {kind:>7}: {figures['rps']:9,.0f} req/s "
                            f"{figures['cpu_us_per_request']:6.1f} µs CPU/req"
                            + (f", {figures['non_2xx']:.0f} non-2xx" if figures["non_2xx"] else ""),
                            flush=True,
                        )
        finally:
            for process in processes.values():
                bi.stop(process)

    def pick(name: str, kind: str, round_: int) -> dict[str, Any]:
        return next(
            r for r in rows if r["tree"] == name and r["kind"] == kind and r["round"] == round_
        )

    print(
        "\n| tree | kind | req/s (median) | µs CPU/req (median) | ratio to the ceiling "
        "(median, range) | CPU/req against the first tree (median, range) |"
    )
    print("|---|---|---:|---:|---|---|")
    first = next(iter(trees))
    for kind in kinds:
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

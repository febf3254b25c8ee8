"""Two (or more) source trees' ingest, alternated in one run: which change moved the ack path.

``cxloop serve --workers 1`` from every tree runs for the whole measurement, all on one
embedded PostgreSQL; each round gives every tree a turn (the order reversed every other
round: ABBA) and measures with wrk (closed loop, 64 connections) single-event requests to ``/v1/track`` and 50-event batches to
``/v1/batch``: requests/s and the **CPU time of the worker process per request** (what other
load on a shared machine moves least). ``--latency-seconds`` adds an open-loop window at a
fixed batch rate (``--half-rate``, batches/s) per tree and round: client p99.
A bare msgspec ASGI app on the same uvicorn (``bench/ceiling_app.py``) runs in every round
too, so each tree's figures are also ratios against a ceiling measured seconds apart.

Usage:
  python bench/bench_ingest_trees.py --tree before=/tmp/wt_a --tree after=/work/main \\
      [--rounds 4] [--seconds 8] [--latency-seconds 10 --half-rate 1800]
A tree is a checkout: its ``backend/`` goes first on PYTHONPATH. Loopback only.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib as bl  # noqa: E402
from loadgen import open_loop  # noqa: E402
from loadgen import run as run_load  # noqa: E402


def drained(wal_dir: Path, name: str) -> None:
    """Wait until a tree's pipeline has worked off its WAL (nothing to wait for: the ceiling)."""
    if name != "ceiling":
        bl.wait_drained(wal_dir, timeout=600)
    time.sleep(1)


def fixed_rate(
    port: int, route: str, bodies: list[bytes], rate: float, seconds: int, auth: str, pid: int
) -> dict[str, Any]:
    """An open-loop window at ``rate`` requests/s: the worker's CPU per request at the same
    load for every tree (closed-loop figures mix in how well each run batched its commits)."""
    before = bl.process_cpu_seconds(pid)
    result = run_load(
        open_loop(
            "127.0.0.1",
            port,
            route,
            bodies,
            rate=rate,
            seconds=seconds,
            connections=64,
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )
    )
    cpu = bl.process_cpu_seconds(pid) - before
    summary: dict[str, Any] = result.summary()
    return summary | {"cpu_us_per_request": cpu / max(result.completed, 1) * 1e6}


def main() -> None:
    parser = bl.tree_parser(__doc__, rounds=4, seconds=8)
    parser.add_argument("--latency-seconds", type=int, default=0)
    parser.add_argument("--half-rate", type=float, default=0.0, help="batches/s, open loop")
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument(
        "--fixed-single",
        type=float,
        default=0.0,
        help="single events/s, open loop: CPU per request and p99 at one rate for every tree",
    )
    parser.add_argument("--fixed-batch", type=float, default=0.0, help="batches/s, likewise")
    parser.add_argument("--no-wrk", action="store_true", help="only the fixed-rate windows")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    # Every server runs for the whole measurement, idle but for its turn: turns of a few
    # seconds, alternated, see the same machine (other load moves on a scale of minutes).
    with bl.tree_session(args, "cxloop-trees-", ceiling=not args.no_ceiling) as (
        load,
        servers,
        tmp,
    ):
        trees = servers.trees
        auth = load.auth
        batch_bodies, single_bodies = load.bodies["batch50"], load.bodies["single"]
        names = list(trees)
        for round_ in range(args.rounds):
            for name in servers.order(round_):
                port = servers.ports[name]
                figures: dict[str, Any] = (
                    {}
                    if args.no_wrk
                    else bl.wrk_turn(servers.url(name), load, args.seconds, 64, servers.pids[name])
                )
                for kind, route, rate, bodies in (
                    ("fixed_single", "/v1/track", args.fixed_single, single_bodies),
                    ("fixed_batch", "/v1/batch", args.fixed_batch, batch_bodies),
                ):
                    if rate:
                        # Each window starts with the pipeline idle: a tree that acked
                        # more in the last window must not pay for it in this one.
                        drained(tmp / f"data-{name}" / "wal", name)
                        figures[kind] = fixed_rate(
                            port, route, bodies, rate, args.seconds, auth, servers.pids[name]
                        )
                if args.latency_seconds and args.half_rate and name != "ceiling":
                    drained(tmp / f"data-{name}" / "wal", name)
                    latency = run_load(
                        open_loop(
                            "127.0.0.1",
                            port,
                            "/v1/batch",
                            batch_bodies,
                            rate=args.half_rate,
                            seconds=args.latency_seconds,
                            connections=64,
                            headers={"Authorization": auth, "Content-Type": "application/json"},
                        )
                    )
                    figures["half_load"] = latency.summary()
                rows.append({"round": round_, "tree": name, **figures})
                line = f"round {round_} {name:>10}: " + ", ".join(
                    f"{kind} {figures[kind].get('rps', figures[kind].get('achieved_rps')):,.0f}"
                    f" req/s {figures[kind]['cpu_us_per_request']:.1f} µs CPU"
                    + (
                        f" ({figures[kind]['non_2xx']:,.0f} non-2xx!)"
                        if figures[kind].get("non_2xx")
                        else ""
                    )
                    + (f" p99 {figures[kind]['p99_ms']} ms" if "p99_ms" in figures[kind] else "")
                    for kind in ("single", "batch50", "fixed_single", "fixed_batch")
                    if kind in figures
                )
                if "half_load" in figures:
                    line += f", half-load p99 {figures['half_load']['p99_ms']} ms"
                print(line, flush=True)

    summary: dict[str, Any] = {}
    if not args.no_wrk:
        print(
            "\n| tree | single req/s | single µs CPU/req | batch50 events/s | batch50 µs CPU/req "
            "| single ratio (rps) | batch ratio (rps) | half-load p99 ms |"
        )
        print("|---|---|---|---|---|---|---|---|")
        by_round_ceiling = {r["round"]: r for r in rows if r["tree"] == "ceiling"}
        for name in [*names, *([] if args.no_ceiling else ["ceiling"])]:
            mine = [r for r in rows if r["tree"] == name]

            def med(kind: str, key: str, rs: list[dict[str, Any]] = mine) -> float:
                return statistics.median(r[kind][key] for r in rs)

            ratios: dict[str, str] = {}
            for kind in ("single", "batch50"):
                if by_round_ceiling:
                    per_round = [
                        r[kind]["rps"] / by_round_ceiling[r["round"]][kind]["rps"] for r in mine
                    ]
                    ratios[kind] = (
                        f"{statistics.median(per_round):.2f} "
                        f"({min(per_round):.2f}–{max(per_round):.2f})"
                    )
                else:
                    ratios[kind] = "–"
            p99 = [r["half_load"]["p99_ms"] for r in mine if "half_load" in r]
            summary[name] = {
                "single_rps": med("single", "rps"),
                "single_cpu_us": med("single", "cpu_us_per_request"),
                "batch_events_per_s": med("batch50", "rps") * 50,
                "batch_cpu_us": med("batch50", "cpu_us_per_request"),
                "ratios": ratios,
                "half_load_p99_ms": p99,
            }
            print(
                f"| {name} | {med('single', 'rps'):,.0f} | {med('single', 'cpu_us_per_request'):.1f} "
                f"| {med('batch50', 'rps') * 50:,.0f} | {med('batch50', 'cpu_us_per_request'):.1f} "
                f"| {ratios['single']} | {ratios['batch50']} "
                f"| {statistics.median(p99) if p99 else '–'} {p99 if p99 else ''} |"
            )
    for kind in ("fixed_single", "fixed_batch"):
        for name in names + ([] if args.no_ceiling else ["ceiling"]):
            mine = [r[kind] for r in rows if r["tree"] == name and kind in r]
            if mine:
                cpu = [m["cpu_us_per_request"] for m in mine]
                p99 = [m["p99_ms"] for m in mine]
                print(
                    f"{kind} {name}: CPU per request median {statistics.median(cpu):.1f} µs "
                    f"({min(cpu):.1f}–{max(cpu):.1f}), p99 median {statistics.median(p99)} ms "
                    f"({min(p99)}–{max(p99)}), {len(mine)} windows"
                )
        if len(names) >= 2:
            a, b = names[0], names[1]
            pairs = [
                (ra[kind]["cpu_us_per_request"], rb[kind]["cpu_us_per_request"])
                for ra in rows
                for rb in rows
                if ra["tree"] == a
                and rb["tree"] == b
                and ra["round"] == rb["round"]
                and kind in ra
                and kind in rb
            ]
            if pairs:
                ratios = [y / x for x, y in pairs]
                print(
                    f"{kind} {b}/{a} CPU per request, per round: median "
                    f"{statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f})"
                )
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"ingest-trees-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps(
            {"trees": {k: str(v) for k, v in trees.items()}, "rows": rows, "summary": summary},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

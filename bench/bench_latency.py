"""Ack latency of one cxloop worker at fixed open-loop rates, with the server's own view.

Starts ``cxloop serve --workers 1`` (embedded PostgreSQL unless DATABASE_URL is set), sends
50-event batches at each ``--rate`` for ``--seconds`` (open loop, latency from the scheduled
send time), and prints the client's p50/p99 next to the server's ack and fsync histograms.
``--pause-pipeline`` suspends the pipeline process during the load, to see what the lake
writes cost the acks.

``--pipeline-priority idle --pipeline-priority nice --repeat 5`` alternates the pipeline's
two CPU policies window by window and prints the median client p99 of each.

Usage: python bench/bench_latency.py --rate 600 --rate 1600 [--seconds 15] [--pause-pipeline]
       [--pipeline-priority idle|nice ...] [--repeat N]
Loopback only; every load is bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_ingest as ingest  # noqa: E402
from loadgen import open_loop, run  # noqa: E402

ACK_BOUNDS = ("0.001", "0.002", "0.005", "0.01", "0.025", "0.1")
FSYNC_BOUNDS = ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.1")
LAG_BOUNDS = ("0.001", "0.005", "0.01", "0.025")


def within(hist: dict[str, float], bounds: tuple[str, ...]) -> str:
    """Cumulative share of a histogram's observations within each bound."""
    total = max(hist.get("+Inf", 0), 1)
    return ", ".join(f"{float(b) * 1000:g} ms {hist.get(b, 0) / total:.2%}" for b in bounds)


def measure(
    tmp: Path,
    database_url: str,
    auth: str,
    bodies: list[bytes],
    rate: float,
    *,
    seconds: int,
    pause_pipeline: bool,
    priority: str | None,
    run_index: int,
) -> float:
    """One server, one load window at ``rate``; prints both views, returns the client's p99."""
    port = ingest.free_port()
    server = ingest.start_cxloop(
        tmp / f"data-{rate:g}-{priority}-{run_index}",
        database_url,
        port,
        {"CXLOOP_PIPELINE_PRIORITY": priority} if priority else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        ingest.wait_http(f"{url}/readyz")
        paused = []
        if pause_pipeline:
            for child in psutil.Process(server.pid).children(recursive=True):
                if ingest.is_pipeline(child):
                    child.suspend()
                    paused.append(child)
        result = run(
            open_loop(
                "127.0.0.1",
                port,
                "/v1/batch",
                bodies,
                rate=rate,
                seconds=seconds,
                connections=64,
                headers={"Authorization": auth, "Content-Type": "application/json"},
            )
        )
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        for child in paused:
            child.resume()
    finally:
        ingest.stop(server)
    summary = result.summary()
    acks = ingest.histogram(metrics, "cxloop_ingest_ack_seconds")
    fsyncs = ingest.histogram(metrics, "cxloop_wal_fsync_seconds")
    total, commits = acks.get("+Inf", 0), fsyncs.get("+Inf", 0)
    gc_full = ingest.histogram(metrics, "cxloop_gc_gen2_pause_seconds")
    gc_young = ingest.histogram(metrics, "cxloop_gc_gen1_pause_seconds")
    lag = ingest.histogram(metrics, "cxloop_event_loop_lag_seconds")
    print(
        f"  acks within: {within(acks, ACK_BOUNDS)} (server p99 <= "
        f"{ingest.quantile_bound(acks, 0.99) * 1000:g} ms)\n"
        f"  fsyncs within: {within(fsyncs, FSYNC_BOUNDS)}\n"
        f"  event-loop lag within: {within(lag, LAG_BOUNDS)}; longest lag "
        f"<= {ingest.quantile_bound(lag, 1.0) * 1000:g} ms, longest full GC "
        + (
            f"<= {ingest.quantile_bound(gc_full, 1.0) * 1000:g} ms"
            if gc_full.get("+Inf", 0)
            else "none"
        ),
        flush=True,
    )
    state = "paused" if pause_pipeline else "running"
    print(
        f"rate {rate:g} batches/s ({rate * 50:,.0f} events/s), pipeline {state}"
        f"{f' ({priority})' if priority else ''}: client p50 "
        f"{summary['p50_ms']} ms, p99 {summary['p99_ms']} ms (load tool's own send lag "
        f"p99 {summary['send_lag_p99_ms']} ms), statuses "
        f"{summary['statuses']}; server: {acks.get('0.025', 0) / max(total, 1):.2%} "
        f"of acks within 25 ms, {commits - fsyncs.get('0.025', 0):.0f} of "
        f"{commits:.0f} fsyncs over 25 ms; full GCs {gc_full.get('+Inf', 0):.0f} "
        f"({gc_full.get('+Inf', 0) - gc_full.get('0.01', 0):.0f} over 10 ms), "
        f"gen-1 GCs over 10 ms {gc_young.get('+Inf', 0) - gc_young.get('0.01', 0):.0f}",
        flush=True,
    )
    return float(summary["p99_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, action="append", required=True)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--pause-pipeline", action="store_true")
    parser.add_argument(
        "--pipeline-priority",
        action="append",
        choices=("idle", "nice"),
        help="CXLOOP_PIPELINE_PRIORITY for the server; repeat to compare, runs alternate "
        "(default: the server's own default)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="windows per rate and priority")
    args = parser.parse_args()
    from cxloop.db import database_url_for

    priorities: list[str | None] = list(args.pipeline_priority or [None])
    p99s: dict[tuple[float, str | None], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="cxloop-latency-") as tmp_name:
        tmp = Path(tmp_name)
        with database_url_for(None, tmp / "pg") as database_url:
            key = ingest.create_project(database_url)
            auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
            bodies = ingest.build_bodies(1000, 50, single=False)
            for run_index in range(args.repeat):
                for rate in args.rate:
                    for priority in priorities:
                        p99 = measure(
                            tmp,
                            database_url,
                            auth,
                            bodies,
                            rate,
                            seconds=args.seconds,
                            pause_pipeline=args.pause_pipeline,
                            priority=priority,
                            run_index=run_index,
                        )
                        p99s.setdefault((rate, priority), []).append(p99)
    if args.repeat > 1:
        for (rate, priority), values in p99s.items():
            print(
                f"rate {rate:g}{f' ({priority})' if priority else ''}: client p99 median "
                f"{statistics.median(values):g} ms over {len(values)} windows "
                f"({', '.join(f'{v:g}' for v in values)})"
            )


if __name__ == "__main__":
    main()

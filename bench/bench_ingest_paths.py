"""In-process cost of the ingest paths, per 50-event request, on the ingest bench's payloads.

Before the ack: the fast verdict (``check_request``) against the reference path that also
builds the enriched rows and their Arrow batch (what ingest did before the request log).
After the ack: the pipeline's expansion of logged requests, columnar path against the
reference path. Medians of ``--runs``; the ratios are what to read on a noisy machine.

Usage: python bench/bench_ingest_paths.py [--requests 200] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_ingest import build_bodies  # noqa: E402
from cxloop.ingest import Limits, parse_batch, process_events  # noqa: E402
from cxloop.ingest.check import check_request  # noqa: E402
from cxloop.ingest.expand import expand_requests  # noqa: E402
from cxloop.wal import REQUEST_SCHEMA, rows_to_batch  # noqa: E402


def median_us(action: Callable[[], object], per: int, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) / per * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bodies = build_bodies(args.requests, 50, single=False)
    limits = Limits()
    events = 50 * len(bodies)

    def fast() -> None:
        for body in bodies:
            check_request(body, None, limits).verdict("prj", limits)

    def reference() -> None:
        for body in bodies:
            rows_to_batch(
                process_events(
                    parse_batch(body, limits),
                    project_id="prj",
                    received_at_us=1,
                    client_ip="203.0.113.0",
                    limits=limits,
                ).rows
            )

    def logged(accepted: int) -> pa.Table:
        records = [("prj", 1, "203.0.113.0", None, b, 50, accepted, 32768) for b in bodies]
        return pa.Table.from_batches([rows_to_batch(records, REQUEST_SCHEMA)])

    # accepted != events sends every request down the reference path (it logs a warning).
    columnar, by_reference = logged(50), logged(49)
    import logging

    logging.getLogger("cxloop.ingest").setLevel(logging.ERROR)
    before_fast = median_us(fast, len(bodies), args.runs)
    before_reference = median_us(reference, len(bodies), args.runs)
    after_columnar = median_us(lambda: expand_requests(columnar), events, args.runs)
    after_reference = median_us(lambda: expand_requests(by_reference), events, args.runs)
    print(
        f"before the ack, per 50-event request: verdict {before_fast:.0f} µs, reference "
        f"(verdict + enriched rows + Arrow) {before_reference:.0f} µs -> "
        f"{before_reference / before_fast:.1f}x less work\n"
        f"after the ack, per event: columnar expansion {after_columnar:.2f} µs, reference "
        f"{after_reference:.2f} µs -> {after_reference / after_columnar:.2f}x"
    )


if __name__ == "__main__":
    main()

"""In-process cost of the ingest paths, per 50-event request, on the ingest bench's payloads.

Before the ack: the fast verdict (``check_request``) against the reference path that also
builds the enriched rows and their Arrow batch (what ingest did before the request log).
After the ack: the pipeline's expansion of logged requests, columnar path against the
reference path. Medians of ``--runs``; the ratios are what to read on a noisy machine.

``--baseline /tmp/wt/backend`` also times another checkout's expansion against this one's, in
this process, alternating call by call, on bench_pipeline's backlog (``--pipeline-events``
events of its browser-SDK mix, 50 per request, in 40-request frames): CPU µs per event and
the median of the per-pair ratios. Both must give the same table, which is checked first.

Usage: python bench/bench_ingest_paths.py [--requests 200] [--runs 7]
       [--baseline /tmp/wt/backend --pipeline-events 50000]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _baseline_expansion(backend: Path) -> Callable[[pa.Table], pa.Table]:
    """``expand_requests`` of another checkout, loaded beside this one's (it imports the rest
    of cxloop from this checkout: only the expansion module differs)."""
    path = backend / "cxloop" / "ingest" / "expand.py"
    spec = importlib.util.spec_from_file_location("baseline_expand", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_expand"] = module
    spec.loader.exec_module(module)
    function: Callable[[pa.Table], pa.Table] = module.expand_requests
    return function


def compare_with_baseline(backend: Path, events: int, runs: int) -> None:
    from bench_pipeline import REQUESTS_PER_FRAME, make_requests

    rows: list[Any] = make_requests(events, 18)
    table = pa.Table.from_batches(
        [
            rows_to_batch(rows[i : i + REQUESTS_PER_FRAME], REQUEST_SCHEMA)
            for i in range(0, len(rows), REQUESTS_PER_FRAME)
        ]
    )
    logged = sum(row[5] for row in rows)
    baseline = _baseline_expansion(backend)
    if not baseline(table).equals(expand_requests(table)):
        raise SystemExit("the baseline and this checkout expand the backlog differently")
    times: dict[str, list[float]] = {"baseline": [], "this": []}
    for _ in range(runs):
        for name, expand in (("baseline", baseline), ("this", expand_requests)):
            started = time.process_time()
            expand(table)
            times[name].append(time.process_time() - started)
    before, after = (statistics.median(times[k]) / logged * 1e6 for k in ("baseline", "this"))
    ratio = statistics.median(b / a for b, a in zip(times["baseline"], times["this"], strict=True))
    print(
        f"bench_pipeline's backlog ({logged} events, {len(rows)} requests), CPU µs per event: "
        f"baseline {before:.2f}, this checkout {after:.2f}; median ratio {ratio:.2f}x "
        f"({runs} alternating pairs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another checkout's backend/ (A/B)")
    parser.add_argument("--pipeline-events", type=int, default=50_000)
    args = parser.parse_args()
    if args.baseline is not None:
        compare_with_baseline(args.baseline, args.pipeline_events, args.runs)
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

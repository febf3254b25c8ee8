"""In-process cost of ``IngestService.handle`` per 50-event request, without HTTP or a WAL.

The ingest bench (``bench_ingest.py``) measures the whole worker; this isolates the service
layer (decompress, check, write-key lookup, suppression check, verdict, answer) on the same
payloads, with a WAL writer that does nothing, so two trees can be compared in-process:

    PYTHONPATH=<tree>/backend python <tree>/bench/bench_ingest_service.py

Medians of ``--runs`` (CPU time); the baseline in the same run is ``check_request`` alone, the
part of the service every request pays.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import build_bodies  # noqa: E402
from cxloop.ingest import Limits  # noqa: E402
from cxloop.ingest.check import check_request  # noqa: E402
from cxloop.ingest.service import IngestService, RateLimiter  # noqa: E402
from cxloop.ops.metrics import Registry  # noqa: E402


class _NullWriter:
    async def append(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Keys:
    def resolve(self, write_key: str) -> str | None:
        return "prj_bench"

    async def resolve_miss(self, write_key: str) -> str | None:
        return "prj_bench"


async def _service_us(service: IngestService, bodies: list[bytes]) -> float:
    started = time.process_time()
    for body in bodies:
        answer = await service.handle(
            "batch", body, project_id="prj_bench", content_encoding="", client_ip="127.0.0.1"
        )
        assert answer.status == 200
    return (time.process_time() - started) / len(bodies) * 1e6


def _check_us(bodies: list[bytes], limits: Limits) -> float:
    started = time.process_time()
    for body in bodies:
        check_request(body, None, limits)  # None: a /v1/batch body
    return (time.process_time() - started) / len(bodies) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bodies = build_bodies(args.requests, 50, False)
    limits = Limits(max_event_bytes=32_768, max_batch_events=2_500)
    service = IngestService(
        writer=_NullWriter(),  # type: ignore[arg-type]
        keys=_Keys(),
        registry=Registry(),
        limits=limits,
        max_request_bytes=500_000,
        rate_limiter=RateLimiter(0),
        max_inflight_requests=1_000,
        max_requests_per_client=1_000,
        body_timeout_s=10,
    )
    service_runs = [asyncio.run(_service_us(service, bodies)) for _ in range(args.runs)]
    check_runs = [_check_us(bodies, limits) for _ in range(args.runs)]
    service_us, check_us = statistics.median(service_runs), statistics.median(check_runs)
    print(f"IngestService.handle per 50-event request: {service_us:.1f} µs (median of {args.runs})")
    print(
        f"check_request alone, same run:             {check_us:.1f} µs → ratio {check_us / service_us:.2f}"
    )


if __name__ == "__main__":
    main()

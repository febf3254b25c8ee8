"""How long ``POST /v1/health/refresh`` takes while ingest runs at a rate the pipeline follows,
and what ``/readyz`` says about the pipeline meanwhile.

Starts a real ``cxloop serve`` (default settings but the test harness's fast segment rotation,
tests/helpers/server.py) over an embedded PostgreSQL, sends 50-event batches at ``--rate``
events/s from one client, and after ``--warmup`` seconds calls the refresh ``--refreshes``
times in a row; prints each duration, their median and maximum, the pipeline lag ``/readyz``
reported (sampled every second), and the ingest answers by status.

``--prefill N`` first writes N events of the soak's mix (bench_rollup_incremental.py) into
today's lake partition of the project, in files of ``--prefill-file-events``, as a long busy
day leaves it: the first refresh rolls all of it up, the later ones only what changed. Each
refresh prints its time, the server's own ``seconds`` (roll-up and scoring, without waiting
for the pipeline) and the days and events its rollup recomputed.

    python bench/bench_refresh_under_load.py [--rate 2000] [--refreshes 5] [--prefill 20000000]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pyarrow.parquet as pq

from bench_rollup_incremental import events as soak_events
from cxloop.db import embedded_postgres
from cxloop.lake import partition_dir
from tests.helpers.server import create_project, running_server


def batch(events: int = 50) -> bytes:
    body = {
        "batch": [
            {
                "type": "track",
                "event": "Report Exported",
                "userId": f"u{i % 7}",
                "messageId": str(uuid.uuid4()),
                "properties": {"format": "csv", "rows": i},
            }
            for i in range(events)
        ]
    }
    return msgspec.json.encode(body)


def prefill(lake_dir: Path, project_id: str, events: int, per_file: int) -> None:
    directory = partition_dir(lake_dir, "events", project_id, datetime.now(UTC).date())
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(18)
    started = time.perf_counter()
    written = 0
    while written < events:
        n = min(per_file, events - written)
        table = soak_events(rng, written, n, datetime.now(UTC).date())
        pq.write_table(table, directory / f"part-0-{1_000_000_000 + written}.parquet")
        written += n
    print(f"prefilled {written:,} events in {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000, help="events/s")
    parser.add_argument("--refreshes", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--prefill", type=int, default=0, help="events already in today's lake")
    parser.add_argument("--prefill-file-events", type=int, default=1_000_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cxloop-bench-refresh-"))
    with embedded_postgres(root / "pg") as database_url:
        project = create_project(database_url)
        if args.prefill:
            prefill(root / "data" / "lake", project.id, args.prefill, args.prefill_file_events)
        with running_server(root / "data", database_url) as server:
            stop = threading.Event()
            statuses: collections.Counter[int] = collections.Counter()
            interval = 50 / args.rate

            async def steady() -> None:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                    while not stop.is_set():
                        started = time.monotonic()
                        answer = await client.post(
                            "/v1/batch", content=batch(), headers=project.basic_auth
                        )
                        statuses[answer.status_code] += 1
                        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

            lags: list[float] = []

            def sample() -> None:
                with server.client() as client:
                    while not stop.is_set():
                        pipeline = client.get("/readyz").json().get("pipeline") or {}
                        lags.append(float(pipeline.get("lag_seconds", 0.0)))
                        time.sleep(1.0)

            threads = [
                threading.Thread(target=lambda: asyncio.run(steady())),
                threading.Thread(target=sample),
            ]
            for thread in threads:
                thread.start()
            took: list[float] = []
            codes: list[int] = []
            answers: list[dict[str, object]] = []
            try:
                time.sleep(args.warmup)
                with server.client(timeout=180) as client:
                    for _ in range(args.refreshes):
                        started = time.monotonic()
                        answer = client.post("/v1/health/refresh", headers=project.bearer)
                        took.append(time.monotonic() - started)
                        codes.append(answer.status_code)
                        answers.append(answer.json())
                        print(f"refresh {len(took)}: {took[-1]:.2f} s, {answers[-1]}", flush=True)
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
    seconds = ", ".join(f"{t:.2f}" for t in took)
    print(f"refresh at {args.rate:,.0f} events/s offered: {seconds} s (statuses {codes})")
    print(f"median {statistics.median(took):.2f} s, max {max(took):.2f} s")
    print(
        f"/readyz pipeline lag over the run: median {statistics.median(lags):.2f} s, "
        f"max {max(lags):.2f} s ({len(lags)} samples); ingest answers {dict(statuses)}"
    )


if __name__ == "__main__":
    main()

"""The WAL writer alone, in process: ``--concurrency`` requests, each appending one
request record (a ~450-byte single event, as ``/v1/track`` logs it) and appending again as
soon as it is acked, for ``--seconds`` on uvloop with real fdatasyncs in a temporary directory.

Prints appends/s, events per commit, and CPU per append of the whole process and of the event
loop's thread (the figure that bounds a worker: its Python work holds the GIL). Run it from
each tree alternately to compare writers, e.g.
``for i in 1 2 3; do for t in /tmp/wt_old /work/main; do PYTHONPATH=$t/backend
python bench/bench_wal_append.py --label $t; done; done``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import build_bodies  # noqa: E402
from cxloop.ops.metrics import Registry  # noqa: E402
from cxloop.wal import REQUEST_SCHEMA, WalWriter, acquire_slot  # noqa: E402


async def run(wal_dir: Path, seconds: float, concurrency: int) -> dict[str, float]:
    slot, lock_fd = acquire_slot(wal_dir)
    writer = WalWriter(slot, schema=REQUEST_SCHEMA, registry=Registry())
    await writer.start()
    bodies = build_bodies(500, 1, single=True)
    appended = 0
    stop = time.monotonic() + seconds

    async def request(index: int) -> None:
        nonlocal appended
        while time.monotonic() < stop:
            body = bodies[(index + appended) % len(bodies)]
            now_us = time.time_ns() // 1000
            await writer.append([("prj_bench", now_us, "10.0.0.0", "track", body, 1, 1, 32768)])
            appended += 1

    # Warm-up: the first commits open segments and import lazily.
    await asyncio.gather(*(writer.append([("p", 1, None, None, b"{}", 1, 1, 1)]) for _ in range(8)))
    commits_before = sum(writer.commit_events.counts)
    process_before, thread_before = time.process_time(), time.thread_time()
    started = time.monotonic()
    await asyncio.gather(*(request(i) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    process_cpu, thread_cpu = (
        time.process_time() - process_before,
        time.thread_time() - thread_before,
    )
    commits = sum(writer.commit_events.counts) - commits_before
    await writer.close()
    os.close(lock_fd)
    return {
        "appends_per_s": appended / elapsed,
        "events_per_commit": appended / max(commits, 1),
        "process_cpu_us_per_append": process_cpu / appended * 1e6,
        "loop_thread_cpu_us_per_append": thread_cpu / appended * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(
        prefix="cxloop-wal-append-", dir=os.environ.get("TMPDIR")
    ) as tmp:
        result = uvloop.run(run(Path(tmp), args.seconds, args.concurrency))
    print(json.dumps({"label": args.label, **{k: round(v, 2) for k, v in result.items()}}))


if __name__ == "__main__":
    main()

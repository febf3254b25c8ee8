"""Pipeline CPU benchmark: a WAL backlog of logged requests → lake + PostgreSQL, per CPU-second.

Builds ``--events`` events as the ingest workers log them (one ``REQUEST_SCHEMA`` row per
50-event ``/v1/batch`` request, the verdict from the same fast check the ack uses), in sealed
segments of ``--segment-events`` events. The mix is a browser SDK's: page and track calls,
identify (with traits), group (with traits), Survey Shown / Dismissed / Responded (with
comments, some partial then completed), ~2% of requests re-sent whole (an SDK retry: every
messageId a duplicate) and ~3% late events (event times days back, so they land in older
date partitions). Then it runs the pipeline's own steps on it, in this process
(``Pipeline.compact_pending`` then ``Pipeline.project_pending``, the loop's order) against a
real PostgreSQL (the embedded one unless ``--database-url``), and reports:

  * events per CPU-second of the pipeline process (``time.process_time``: user + system of
    every thread of this process), and PostgreSQL's CPU-seconds over the same run (its
    processes' ``/proc/<pid>/stat``), so the figures hold on a shared, noisy machine;
  * the split of the pipeline's CPU by step: expansion (request records → event rows),
    dedupe claims, lake write (the rest of compaction: partitioning, Parquet, fsync),
    projection preparation (Arrow/Python, no database), projection SQL (the client's side of
    the statements: encoding, waiting is not CPU).

``BENCH_BACKEND=/tmp/wt/backend`` runs another checkout's code on the same backlog (A/B).
``--repeat`` runs the whole thing on fresh directories and databases; medians are printed.
``--json`` writes every run's figures. ``--loops`` drains with ``Pipeline.run`` (the
loops as the process runs them, decision 61) and reports the wall time of the catch-up.
To profile, run with ``--pause`` and attach
``py-spy record --pid <printed pid> --format speedscope -o pipeline.json`` when asked.

Usage: python bench/bench_pipeline.py [--events 200000] [--segment-events 50000]
       [--repeat 3] [--database-url URL] [--dir /tmp] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

HERE = Path(__file__).resolve().parent
# BENCH_BACKEND: another checkout's backend/ (A/B: ``git worktree add --detach /tmp/wt <rev>``).
sys.path.insert(0, os.environ.get("BENCH_BACKEND") or str(HERE.parent / "backend"))
sys.path.insert(1, str(HERE))

import benchlib  # noqa: E402
import cxloop.pipeline.process as pipeline_process  # noqa: E402
import cxloop.projection.projector as projector  # noqa: E402
from benchlib import drop_database as _drop_database  # noqa: E402
from benchlib import postgres_cpu  # noqa: E402
from cxloop.db import ResilientPool  # noqa: E402
from cxloop.ingest.check import check_request  # noqa: E402
from cxloop.ingest.parse import Limits  # noqa: E402
from cxloop.lake import DedupeIndex  # noqa: E402
from cxloop.ops import Registry  # noqa: E402
from cxloop.settings import Settings  # noqa: E402
from cxloop.wal import REQUEST_SCHEMA, encode_frame, encode_header, rows_to_batch  # noqa: E402

PROJECT = "prj_0f3a9c1e5b7d4a2c"
EVENTS_PER_REQUEST = 50
REQUESTS_PER_FRAME = 40  # ~one group commit of a busy worker
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FEATURES = ["reports", "exports", "alerts", "search", "dashboards", "billing"]
PATHS = ["/app/reports", "/app/exports", "/app/settings", "/app/home", "/app/billing"]
PLANS = ["free", "team", "business", "enterprise"]
COMMENTS = [
    "Exports are slow when the report is big",
    "导出报表太慢了，希望能改进",
    "Love the new dashboards",
    "Search does not find archived items",
    "",
]
LIMITS = Limits()


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _context(rng: random.Random, account: int, path: str) -> dict[str, Any]:
    return {
        "library": {"name": "cxloop-js", "version": "0.1.0"},
        "page": {"path": path, "url": f"https://app.example.com{path}", "title": "App"},
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0",
        "locale": rng.choice(["en-US", "zh-CN", "zh-TW"]),
        "timezone": "Asia/Shanghai",
        "groupId": f"acct_{account}",
    }


def make_event(rng: random.Random, at: datetime, responses: list[str]) -> dict[str, Any]:
    """One event of the mix, about what a browser SDK sends (~450 bytes of JSON)."""
    account = rng.randrange(300)
    user = f"user_{account}_{rng.randrange(20)}"
    path = rng.choice(PATHS)
    if rng.random() < 0.03:  # late: an offline client flushing days later
        at -= timedelta(days=rng.randint(1, 5), seconds=rng.randrange(86_400))
    event: dict[str, Any] = {
        "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
        "userId": user,
        "anonymousId": f"anon_{rng.randrange(10_000)}",
        "timestamp": _iso(at),
        "context": _context(rng, account, path),
    }
    roll = rng.random()
    if roll < 0.35:
        event.update(type="page", name=path.rsplit("/", 1)[-1], properties={"path": path})
    elif roll < 0.75:
        event.update(
            type="track",
            event="Feature Used",
            properties={"feature": rng.choice(FEATURES), "count": rng.randrange(17)},
        )
    elif roll < 0.83:
        event.update(
            type="identify",
            traits={
                "email": f"{user}@example.com",
                "role": rng.choice(["admin", "member", "viewer"]),
                "logins": rng.randrange(500),
            },
        )
    elif roll < 0.88:
        event.update(
            type="group",
            groupId=f"acct_{account}",
            traits={"name": f"Account {account}", "plan": rng.choice(PLANS)},
        )
    elif roll < 0.93:
        event.update(
            type="track",
            event=rng.choice(["Survey Shown", "Survey Shown", "Survey Dismissed"]),
            properties={
                "survey_id": "nps-q4",
                "kind": "nps",
                "feature": rng.choice(FEATURES),
                "placement": "modal",
                "reason": "closed",
            },
        )
    else:
        # A response: half complete in one event, half a partial score then the completion.
        if responses and rng.random() < 0.5:
            response_id, partial = responses.pop(), False
        else:
            response_id = str(uuid.UUID(int=rng.getrandbits(128)))
            partial = rng.random() < 0.5
            if partial:
                responses.append(response_id)
        event.update(
            type="track",
            event="Survey Responded",
            properties={
                "response_id": response_id,
                "survey_id": "nps-q4",
                "kind": "nps",
                "score": rng.randrange(11),
                "comment": None if partial else rng.choice(COMMENTS),
                "feature": rng.choice(FEATURES),
                "partial": partial,
            },
        )
    return event


def make_requests(events: int, seed: int) -> list[tuple[Any, ...]]:
    """``REQUEST_SCHEMA`` rows for ``events`` events (plus ~2% re-sent requests)."""
    rng = random.Random(seed)
    responses: list[str] = []
    rows: list[tuple[Any, ...]] = []
    bodies: list[bytes] = []
    received = START
    made = 0
    while made < events:
        received += timedelta(milliseconds=rng.randrange(1, 4))
        if bodies and rng.random() < 0.02:
            body = rng.choice(bodies[-200:])  # an SDK retry: the same batch again
        else:
            batch = [make_event(rng, received, responses) for _ in range(EVENTS_PER_REQUEST)]
            body = msgspec.json.encode({"batch": batch, "sentAt": _iso(received)})
            bodies.append(body)
            made += EVENTS_PER_REQUEST
        checked = check_request(body, None, LIMITS)
        accepted, _ = checked.verdict(PROJECT, LIMITS)
        received_us = int(received.timestamp() * 1_000_000)
        ip = f"203.0.113.{rng.randrange(256) & 0xF0}"
        rows.append(
            (PROJECT, received_us, ip, None, body, checked.events, accepted, LIMITS.max_event_bytes)
        )
    return rows


def write_segments(wal_dir: Path, rows: list[tuple[Any, ...]], segment_events: int) -> int:
    slot = wal_dir / "w0"
    slot.mkdir(parents=True, exist_ok=True)
    per_segment = max(1, segment_events // EVENTS_PER_REQUEST)
    count = 0
    for start in range(0, len(rows), per_segment):
        chunk = rows[start : start + per_segment]
        frames = b"".join(
            encode_frame(rows_to_batch(chunk[i : i + REQUESTS_PER_FRAME], REQUEST_SCHEMA))
            for i in range(0, len(chunk), REQUESTS_PER_FRAME)
        )
        ns = int(START.timestamp() * 1e9) + count
        path = slot / f"w0-{ns:020d}.sealed"
        path.write_bytes(encode_header(REQUEST_SCHEMA) + frames)
        count += 1
    return count


# -- CPU accounting ---------------------------------------------------------------------


class Steps:
    """CPU-seconds of this process by step (process_time: every thread of the process)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.process_time()
        try:
            yield
        finally:
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - started

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.step(name):
                return function(*args, **kwargs)

        return timed

    def wrap_async(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            with self.step(name):
                return await function(*args, **kwargs)

        return timed


async def _fresh_database(server_url: str) -> str:
    """A new migrated database with the project, so detractor ratings open alerts as they
    would in production."""
    return await benchlib.fresh_database(server_url, "cxloop_bench_", PROJECT)


async def _drain_with_loops(pipeline: Any, settings: Settings) -> None:
    """``--loops``: the pipeline's own ``run`` (its loops as the process runs them) until no
    sealed or compacted segment is left; the wall time is the catch-up time of the backlog."""
    stop = asyncio.Event()
    running = asyncio.create_task(pipeline.run(stop))
    try:
        while not running.done() and any(  # noqa: ASYNC110 - polls the disk, not an event
            any(settings.wal_dir.glob(f"*/*.{state}")) for state in ("sealed", "compacted")
        ):
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running


async def run_once(
    server_url: str, work_dir: Path, rows: list[tuple[Any, ...]], args: argparse.Namespace
) -> dict[str, Any]:
    database_url = await _fresh_database(server_url)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-pipeline-", dir=work_dir))
    settings = Settings(data_dir=data_dir, database_url=database_url)
    segments = write_segments(settings.wal_dir, rows, args.segment_events)
    steps = Steps()
    pipeline = pipeline_process.Pipeline(settings, Registry())
    # Every step the pipeline takes, timed where it is called from.
    pipeline.expand = steps.wrap("expand", pipeline.expand)
    index: DedupeIndex = pipeline._open_index()
    index.claim_many = steps.wrap("claim", index.claim_many)  # type: ignore[method-assign]
    original_prepare = projector.prepare_batch
    projector.prepare_batch = steps.wrap("projection_prepare", original_prepare)  # type: ignore[assignment]
    original_project = pipeline_process.project_events
    pipeline_process.project_events = steps.wrap_async("projection", original_project)  # type: ignore[assignment]
    database = ResilientPool(database_url, max_size=2)
    await database.start(wait_s=5)
    if args.pause:
        print(f"pipeline pid {os.getpid()}: attach py-spy now; starting in 10 s", flush=True)
        await asyncio.sleep(10)
    pg_before = postgres_cpu(args.postmaster)
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    loop = asyncio.get_running_loop()
    try:
        if args.loops:
            await _drain_with_loops(pipeline, settings)
        while not args.loops:
            with steps.step("compaction"):
                compacted = await loop.run_in_executor(
                    pipeline._index_thread, pipeline.compact_pending
                )
            projected = await pipeline.project_pending(database)
            if not compacted and not projected:
                break
    finally:
        projector.prepare_batch = original_prepare
        pipeline_process.project_events = original_project
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    pg = postgres_cpu(args.postmaster) - pg_before
    events = int(pipeline.projected.values[()])
    lake_events = int(pipeline.lake_events.values[()])
    async with database.pool.acquire() as conn:  # type: ignore[union-attr]
        counts = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("users", "accounts", "memberships", "survey_responses",
                          "survey_impressions", "alerts", "projection_quarantine")
        }  # fmt: skip
    await database.close()
    pipeline._index_thread.shutdown(wait=True)
    await _drop_database(server_url, database_url)
    shutil.rmtree(data_dir, ignore_errors=True)
    total_events = sum(row[5] for row in rows)
    split = dict(steps.cpu)
    split["lake_write"] = (
        split.pop("compaction", 0.0) - split.get("expand", 0.0) - split.get("claim", 0.0)
    )
    split["projection_sql"] = split.pop("projection", 0.0) - split.get("projection_prepare", 0.0)
    split["other"] = cpu - sum(split.values())
    return {
        "segments": segments,
        "events_logged": total_events,
        "events_projected": events,
        "lake_events": lake_events,
        "pipeline_cpu_s": cpu,
        "postgres_cpu_s": pg,
        "wall_s": wall,
        "events_per_cpu_s": total_events / cpu,
        "events_per_cpu_s_with_postgres": total_events / (cpu + pg),
        "us_per_event": {name: 1e6 * value / total_events for name, value in split.items()},
        "rows": counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--segment-events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--database-url", help="a PostgreSQL server (maintenance database)")
    parser.add_argument("--postmaster", type=int, help="its postmaster pid (for its CPU)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--pause", action="store_true", help="wait 10 s for py-spy first")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument(
        "--loops",
        action="store_true",
        help="drain with Pipeline.run (the process's loops) instead of the steps in turn; "
        "the step split is then partial, the wall time is the catch-up time",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    rows = make_requests(args.events, args.seed)
    print(
        f"{len(rows)} logged requests, {sum(r[5] for r in rows)} events "
        f"({sum(len(r[4]) for r in rows) / 1e6:.1f} MB of bodies), "
        f"made in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        server_url, args.postmaster = benchlib.bench_postgres(
            stack, args.database_url, args.postmaster, args.dir, "bench-pipeline-pg-"
        )
        runs = []
        for attempt in range(args.repeat):
            result = asyncio.run(run_once(server_url, args.dir, rows, args))
            runs.append(result)
            steps = ", ".join(f"{k} {v:.1f}" for k, v in result["us_per_event"].items())
            print(
                f"run {attempt + 1}: {result['events_per_cpu_s']:,.0f} events per pipeline "
                f"CPU-s ({result['pipeline_cpu_s']:.2f} CPU-s), PostgreSQL "
                f"{result['postgres_cpu_s']:.2f} CPU-s, both: "
                f"{result['events_per_cpu_s_with_postgres']:,.0f} events/CPU-s; "
                f"wall {result['wall_s']:.1f} s; µs/event: {steps}",
                flush=True,
            )
    median = {
        key: statistics.median(run[key] for run in runs)
        for key in ("events_per_cpu_s", "events_per_cpu_s_with_postgres", "pipeline_cpu_s",
                    "postgres_cpu_s")
    }  # fmt: skip
    split = {
        name: statistics.median(run["us_per_event"][name] for run in runs)
        for name in runs[0]["us_per_event"]
    }
    print(
        f"median of {len(runs)}: {median['events_per_cpu_s']:,.0f} events per pipeline CPU-s, "
        f"{median['events_per_cpu_s_with_postgres']:,.0f} counting PostgreSQL's CPU too "
        f"(pipeline {median['pipeline_cpu_s']:.2f} CPU-s, PostgreSQL "
        f"{median['postgres_cpu_s']:.2f} CPU-s)"
    )
    print("µs of pipeline CPU per event: " + ", ".join(f"{k} {v:.1f}" for k, v in split.items()))
    print("rows: " + json.dumps(runs[-1]["rows"]))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"dir": str(args.dir),
                                         "json": str(args.json)}, "runs": runs}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()

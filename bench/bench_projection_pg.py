"""PostgreSQL projection cost: µs per event of the projector's statements, old SQL against new.

Builds ``--batches`` batches of ``--batch-events`` events of bench_pipeline.py's realistic mix
(expanded as the pipeline expands them, duplicates dropped as its dedupe drops them), and
projects them with ``project_events`` into a fresh database (a survey definition, an
insights configuration and health snapshots present, as in production). The first batch
(every user, account and membership new) warms up and is not counted: later batches are the
steady state, mostly updates of rows that exist.

A/B: ``--baseline REV`` runs a git revision's backend (a detached worktree) on the same
batches, against the working tree's (or ``--candidate REV``'s). Each round projects every batch once with each side, alternating which goes first, in
worker processes of their own (one checkout each), against databases of their own on one
PostgreSQL server. Per batch it measures the wall time of ``project_events`` minus its Python
preparation, and the CPU its PostgreSQL backend spent (``/proc/<backend pid>/stat``: the
server must run on this machine), and prints medians per event and new/old ratios.

``--profile`` prints, for the last but one batch (this checkout), the time of each statement
the projector sent (wall, as the client saw it), and with ``--explain`` EXPLAIN (ANALYZE,
BUFFERS) of each upsert on the last batch, staged as the projector stages it (rolled back).

Usage: python bench/bench_projection_pg.py [--batches 5] [--batch-events 20000]
       [--rounds 3] [--baseline REV] [--profile [--explain]] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# BENCH_BACKEND: another checkout's backend/ (the worker of --baseline).
sys.path.insert(0, os.environ.get("BENCH_BACKEND") or str(ROOT / "backend"))
sys.path.insert(1, str(HERE))

import asyncpg  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

import benchlib  # noqa: E402
import cxloop.projection.projector as projector  # noqa: E402
from cxloop.db import embedded_postgres  # noqa: E402
from cxloop.ingest.expand import expand_requests  # noqa: E402
from cxloop.projection import prepare_batch, project_events  # noqa: E402
from cxloop.wal import REQUEST_SCHEMA, rows_to_batch  # noqa: E402

PROJECT = "prj_0f3a9c1e5b7d4a2c"


def make_batches(batches: int, batch_events: int, seed: int) -> list[pa.Table]:
    """bench_pipeline's mix, expanded, each message id once (the dedupe's work)."""
    from bench_pipeline import make_requests

    rows = make_requests(batches * batch_events, seed)
    events = expand_requests(pa.Table.from_batches([rows_to_batch(rows, REQUEST_SCHEMA)]))
    events = events.filter(pc.is_null(events.column("failure_reason")))
    _, first = np.unique(events.column("message_id").to_numpy(zero_copy_only=False), True)
    events = events.take(pa.array(np.sort(first)))
    size = -(-events.num_rows // batches)
    return [events.slice(start, size) for start in range(0, events.num_rows, size)]


async def configured(conn: asyncpg.Connection) -> None:
    """What a configured project has: the survey (its feature), key user traits, health."""
    await conn.execute(
        "INSERT INTO surveys (project_id, id, name, kind, status, definition)"
        " VALUES ($1, 'nps-q4', 'NPS', 'nps', 'active', '{\"feature\": \"reports\"}')",
        PROJECT,
    )
    await conn.execute(
        "INSERT INTO insights_config (project_id, config) VALUES ($1, $2)",
        PROJECT,
        '{"user_traits": ["role"]}',
    )
    await conn.execute(
        "INSERT INTO health_snapshots (project_id, account_id, day, score, band, confidence,"
        " components, drivers)"
        " SELECT $1, 'acct_' || a, date '2026-11-01' + d, 50, 'yellow', 'normal', '{}', '[]'"
        " FROM generate_series(0, 299) AS a, generate_series(0, 21) AS d",
        PROJECT,
    )


async def fresh_database(server_url: str) -> str:
    return await benchlib.fresh_database(server_url, "cxloop_benchpg_", PROJECT, configured)


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one PostgreSQL backend process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TimedConnection:
    """Delegates to an asyncpg connection, adding up the wall time of each statement."""

    def __init__(self, conn: asyncpg.Connection, times: dict[str, float]) -> None:
        self._conn, self._times = conn, times

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._conn, name)
        if name not in {"execute", "fetch", "fetchval", "fetchrow", "copy_to_table"}:
            return attribute

        async def timed(*args: Any, **kwargs: Any) -> Any:
            label = f"{name} {args[0] if args else ''}"
            label = " ".join(label.split())[:90]
            start = time.perf_counter()
            try:
                return await attribute(*args, **kwargs)
            finally:
                self._times[label] += time.perf_counter() - start

        return timed


async def project_all(url: str, batches: list[pa.Table]) -> list[dict[str, float]]:
    """Project every batch in order; per batch: events, wall and backend CPU seconds of the
    database side (project_events minus prepare_batch)."""
    conn = await asyncpg.connect(url)
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        results = []
        for batch in batches:
            started = time.perf_counter()
            prepare_batch(batch)
            preparing = time.perf_counter() - started
            cpu, wall = backend_cpu(pid), time.perf_counter()
            async with conn.transaction():
                await project_events(conn, batch)
            results.append(
                {
                    "events": batch.num_rows,
                    "wall": time.perf_counter() - wall - preparing,
                    "pg_cpu": backend_cpu(pid) - cpu,
                }
            )
        return results
    finally:
        await conn.close()


def worker(args: argparse.Namespace) -> None:
    """One side of one round: project the batches into a fresh database, print JSON."""
    batches = make_batches(args.batches, args.batch_events, args.seed)

    async def run() -> list[dict[str, float]]:
        url = await fresh_database(args.database_url)
        try:
            return await project_all(url, batches)
        finally:
            await benchlib.drop_database(args.database_url, url)

    print(json.dumps(asyncio.run(run())))


async def profile(args: argparse.Namespace) -> None:
    """Per-statement times of one steady-state batch (this checkout), and EXPLAIN ANALYZE."""
    batches = make_batches(args.batches, args.batch_events, args.seed)
    url = await fresh_database(args.database_url)
    try:
        conn = await asyncpg.connect(url)
        times: dict[str, float] = defaultdict(float)
        for batch in batches[:-2]:
            async with conn.transaction():
                await project_events(conn, batch)
        last = batches[-2]
        async with conn.transaction():
            await project_events(TimedConnection(conn, times), last)  # type: ignore[arg-type]
        total = sum(times.values())
        print(f"one batch of {last.num_rows} events, {total * 1e3:.0f} ms in statements:")
        for label, seconds in sorted(times.items(), key=lambda item: -item[1]):
            print(f"  {seconds * 1e3:8.1f} ms {seconds / last.num_rows * 1e6:6.2f} µs/ev  {label}")
        if args.explain:  # a batch not projected yet
            await explain(conn, batches[-1])
        await conn.close()
    finally:
        await benchlib.drop_database(args.database_url, url)


async def explain(conn: asyncpg.Connection, batch: pa.Table) -> None:
    """Stage ``batch`` as the projector does, then EXPLAIN ANALYZE each upsert (rolled back)."""
    prepared = prepare_batch(batch)
    statements = {
        name: getattr(projector, name)
        for name in ("UPSERT_USERS", "UPSERT_ACCOUNTS", "UPSERT_MEMBERSHIPS", "UPSERT_RESPONSES",
                     "INSERT_IMPRESSIONS")
        if hasattr(projector, name)
    }  # fmt: skip
    tr = conn.transaction()
    await tr.start()
    try:
        await conn.execute(projector.STAGE)
        stage = projector._copy
        await stage(conn, projector.STAGE_USERS, prepared.users.csv())
        await stage(conn, projector.STAGE_USER_TRAITS, prepared.user_traits.csv())
        await stage(conn, projector.STAGE_ACCOUNTS, prepared.accounts.csv())
        await stage(conn, projector.STAGE_ACCOUNT_TRAITS, prepared.account_traits.csv())
        await stage(conn, projector.STAGE_MEMBERSHIPS, prepared.memberships.csv())
        await stage(conn, projector.STAGE_RESPONSES, prepared.response_csv())
        await stage(conn, projector.STAGE_IMPRESSIONS, prepared.impression_csv())
        for name, sql in statements.items():
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            print(f"\n== {name}")
            for row in plan:
                print("  " + row[0])
    finally:
        await tr.rollback()


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cxloop-bench-base-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                       check=False, capture_output=True)  # fmt: skip


def run_worker(args: argparse.Namespace, backend: Path | None) -> list[dict[str, float]]:
    env = dict(os.environ)
    env.pop("BENCH_BACKEND", None)
    if backend is not None:
        env["BENCH_BACKEND"] = str(backend)
    command = [sys.executable, __file__, "--worker", "--database-url", args.database_url,
               "--batches", str(args.batches), "--batch-events", str(args.batch_events),
               "--seed", str(args.seed)]  # fmt: skip
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def per_event(runs: list[list[dict[str, float]]], key: str) -> list[float]:
    """µs per event of each steady-state batch (the first batch of a run is the warm-up)."""
    return [batch[key] / batch["events"] * 1e6 for run in runs for batch in run[1:]]


def compare(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(worktree(args.baseline)) / "backend" if args.baseline else None
        new = stack.enter_context(worktree(args.candidate)) / "backend" if args.candidate else None
        sides: dict[str, list[list[dict[str, float]]]] = {"new": [], "old": []}
        for round_ in range(args.rounds):
            order = ["old", "new"] if round_ % 2 == 0 else ["new", "old"]
            for side in order:
                if side == "old" and base is None:
                    continue
                sides[side].append(run_worker(args, base if side == "old" else new))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        events = sides["new"][0][1]["events"] if len(sides["new"][0]) > 1 else 0
        print(f"{args.batches} batches of ~{events} events, {args.rounds} rounds, "
              f"first batch of each run not counted; medians per event:")  # fmt: skip
        for key, label in (("wall", "database wall"), ("pg_cpu", "PostgreSQL CPU")):
            new = statistics.median(per_event(sides["new"], key))
            line = f"  {label:14s} new {new:7.2f} µs"
            if sides["old"]:
                old = statistics.median(per_event(sides["old"], key))
                line += f"   old ({args.baseline}) {old:7.2f} µs   new/old {new / old:.2f}"
                # The same ratio batch by batch (same batch, same round): noise cancels more.
                pairs = [
                    n / o
                    for n, o in zip(
                        per_event(sides["new"], key), per_event(sides["old"], key), strict=True
                    )
                ]
                line += f"   median of paired ratios {statistics.median(pairs):.2f}"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--baseline", help="a git revision to compare against")
    parser.add_argument("--candidate", help="a git revision instead of the working tree")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--database-url", help="a PostgreSQL server on this machine")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with contextlib.ExitStack() as stack:
        if args.database_url is None:
            pgdata = Path(tempfile.mkdtemp(prefix="cxloop-benchpg-")) / "pgdata"
            args.database_url = stack.enter_context(embedded_postgres(pgdata))
        if args.profile:
            asyncio.run(profile(args))
        else:
            compare(args)


if __name__ == "__main__":
    main()

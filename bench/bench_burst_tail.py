"""The ack tail under a burst: what a worker does when N x its steady load arrives at once.

When back-pressure lifts, every refused client's retry (``Retry-After`` spread over
[estimate, 2 x estimate]) arrives on top of the steady load. This bench reproduces that on a
real ``cxloop serve`` (one worker, back-pressure off, an embedded PostgreSQL): an open-loop
load of 50-event batches at ``--rate`` requests/s for ``--seconds``, and from ``--burst-at``
for ``--burst-s`` seconds ``--burst`` x that rate. A refused request (503/429) is sent again
as analytics.js does (after ``max(Retry-After, 0.5 s x 2^n x (1 + U[0, 1)))``, at most 10
sends), until ``--grace-s`` after the load.

Per ``--window-s`` window: client latency (request written -> answer read) p50/p99 of the
200s, the mean number of requests in flight (Little: the sum of their latencies / the
window), acks and refusals; per phase the server's own figures from ``/metrics``: the ack
histogram (complete body -> durable ack), WAL commits, their events and write+fsync time.

Variants run in turn (A/B, alternated ``--runs`` times, medians), each a fresh server with its
own settings (``--variant name:KEY=VALUE,KEY=VALUE``; the keys are ``CXLOOP_*`` settings
without the prefix, lower case; ``env.NAME`` sets an environment variable for the server;
``noise.disk_mb_s`` runs another writer on the WAL's file system meanwhile, as the pipeline
is while it catches up). Default: ``quiet`` against ``disk`` (another writer at 400 MB/s).

    python bench/bench_burst_tail.py [--rate 300] [--burst 5] [--storm] [--runs 3]
        [--variant NAME:KEY=VALUE,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from array import array
from pathlib import Path
from typing import Any, cast

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from benchlib import environ  # noqa: E402
from cxloop.db import embedded_postgres  # noqa: E402
from tests.helpers.server import Project, create_project, running_server  # noqa: E402


def bodies(count: int) -> list[bytes]:
    out = []
    for n in range(count):
        events = [
            {
                "type": "track",
                "event": "Report Exported",
                "userId": f"u{(n * 50 + i) % 997}",
                "messageId": str(uuid.uuid4()),
                "properties": {"format": "csv", "rows": i, "page": "/app/reports"},
                "context": {"library": {"name": "analytics.js", "version": "5.2.0"}},
            }
            for i in range(50)
        ]
        out.append(msgspec.json.encode({"batch": events}))
    return out


def requests(host: str, port: int, auth: str, count: int) -> list[bytes]:
    head = (
        f"POST /v1/batch HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
        "Content-Type: application/json\r\n"
    )
    return [
        (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body for body in bodies(count)
    ]


def refused(host: str, port: int, auth: str) -> bytes:
    """A request answered without a WAL commit on a kept connection (400: the body is not
    JSON), about as cheap for the worker as a back-pressure refusal: what a refusal storm is
    made of beside the acks."""
    return (
        f"POST /v1/batch HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1\r\n\r\nx"
    ).encode()


# -- the load (its own process) -----------------------------------------------------------


class _Conn(asyncio.Protocol):
    def __init__(self, load: _Load) -> None:
        self.load = load
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.job = -1
        self.written = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.load.free.append(self)
        self.load.dispatch()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.job >= 0:
            self.load.done(self, 0, None)

    def data_received(self, data: bytes) -> None:
        data = self.buffer + data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.buffer = data
            return
        head = data[:end].lower()
        status = int(data[9:12])
        found = re.search(rb"\r\ncontent-length: *(\d+)", head)
        length = int(found.group(1)) if found else 0
        if len(data) < end + 4 + length:
            self.buffer = data
            return
        self.buffer = data[end + 4 + length :]
        retry = re.search(rb"\r\nretry-after: *(\d+)", head)
        self.load.done(self, status, float(retry.group(1)) if retry else None)


class _Load:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.reqs: list[bytes] = plan["requests"]
        self.refused_req: bytes = plan["refused_request"]
        self.storm: set[int] = set()  # jobs that are refused requests
        self.free: list[_Conn] = []
        self.waiting: list[tuple[float, int]] = []  # (scheduled, job) in order
        self.retries: list[tuple[float, int]] = []
        # Per answer: when written, latency, status, job's first schedule.
        self.t_written = array("d")
        self.latency = array("d")
        self.status = array("i")
        self.send_lag = array("d")
        self.failures: dict[int, int] = {}
        self.acked_jobs: set[int] = set()
        self.start = 0.0

    def dispatch(self) -> None:
        while self.waiting and self.free:
            conn = self.free.pop()
            if conn.transport is None:
                continue
            scheduled, job = self.waiting.pop(0)
            now = time.perf_counter()
            self.send_lag.append(now - scheduled)
            conn.job, conn.written = job, now
            conn.transport.write(
                self.refused_req if job in self.storm else self.reqs[job % len(self.reqs)]
            )

    def done(self, conn: _Conn, status: int, retry_after: float | None) -> None:
        now = time.perf_counter()
        job, conn.job = conn.job, -1
        self.t_written.append(conn.written - self.start)
        self.latency.append(now - conn.written)
        self.status.append(status)
        if status == 200:
            self.acked_jobs.add(job)
        elif job in self.storm:
            pass  # a refusal storm's request is not sent again
        elif status in (429, 503) or status == 0:
            # analytics.js: max(Retry-After, 0.5 s x 2^n x (1 + U[0, 1))), 10 sends at most.
            failures = self.failures[job] = self.failures.get(job, 0) + 1
            if failures < 10:
                backoff = 0.5 * 2.0**failures * (1.0 + random.random())
                self.retries.append((now + min(60.0, max(retry_after or 0.0, backoff)), job))
        if conn.transport is not None:
            self.free.append(conn)
        self.dispatch()

    async def run(self) -> dict[str, Any]:
        plan = self.plan
        loop = asyncio.get_running_loop()
        for _ in range(plan["connections"]):
            await loop.create_connection(lambda: _Conn(self), plan["host"], plan["port"])
        self.start = start = time.perf_counter()
        rate, burst = plan["rate"], plan["burst"]
        b0, b1 = plan["burst_at"], plan["burst_at"] + plan["burst_s"]
        # Open loop: the schedule of new jobs, fixed in advance.
        schedule: list[float] = []
        t = 0.0
        steady_next = 0.0
        while t < plan["seconds"]:
            if plan["storm"] and b0 <= t < b1:
                # Steady acks on their own schedule; the burst's extra requests are refusals.
                if t >= steady_next:
                    steady_next += 1.0 / rate
                else:
                    self.storm.add(len(schedule))
            schedule.append(t)
            t += 1.0 / (rate * burst if b0 <= t < b1 else rate)
        end = plan["seconds"] + plan["grace_s"]
        job = 0
        while True:
            now = time.perf_counter()
            elapsed = now - start
            while job < len(schedule) and schedule[job] <= elapsed:
                self.waiting.append((start + schedule[job], job))
                job += 1
            if self.retries:
                self.retries.sort()
                while self.retries and self.retries[0][0] <= now:
                    due, again = self.retries.pop(0)
                    if elapsed < end:
                        self.waiting.append((due, again))
            self.dispatch()
            if elapsed >= end or (
                job >= len(schedule)
                and not self.retries
                and not self.waiting
                and len(self.free) == plan["connections"]
            ):
                break
            await asyncio.sleep(0.0005)
        return {
            "jobs": len(schedule) - len(self.storm),
            "acked_jobs": len(self.acked_jobs),
            "t_written": list(self.t_written),
            "latency": list(self.latency),
            "status": list(self.status),
            "send_lag_p99_ms": _pct(list(self.send_lag), 99) * 1000,
        }


def _load_main(plan: dict[str, Any], out: Any) -> None:
    import uvloop

    out.put(uvloop.run(_Load(plan).run()))


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def disk_noise(path: Path, mb_s: float) -> None:
    """Another writer on the WAL's file system, as the pipeline is while it catches up (lake
    files, merges, PostgreSQL): ``mb_s`` MB/s in 1 MB writes, a 64 MB file at a time, each
    fsynced when full (until terminated)."""
    chunk = random.randbytes(1 << 20)
    start = time.perf_counter()
    written = 0
    while True:
        with open(path, "wb") as handle:
            for _ in range(64):
                handle.write(chunk)
                written += 1
                ahead = written / mb_s - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
            handle.flush()
            os.fsync(handle.fileno())


# -- the server's figures --------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$")


def scrape(url: str) -> dict[str, float]:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if found and found.group(1).startswith(("cxloop_ingest_ack", "cxloop_wal_")):
            out[found.group(1) + (found.group(2) or "")] = float(found.group(3))
    return out


def hist_quantile(before: dict[str, float], after: dict[str, float], name: str, q: float) -> float:
    """The bucket bound holding quantile ``q`` of what ``name`` observed between the scrapes."""
    buckets = []
    for key, value in after.items():
        found = re.fullmatch(rf'{name}_bucket\{{.*le="([^"]+)".*\}}', key)
        if found:
            bound = float("inf") if found.group(1) == "+Inf" else float(found.group(1))
            buckets.append((bound, value - before.get(key, 0.0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= q * total:
            return bound
    return float("nan")


def delta(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


# -- one run -----------------------------------------------------------------------------------


def run_variant(
    name: str,
    settings: dict[str, str],
    args: argparse.Namespace,
    database_url: str,
    project: Project,
    root: Path,
) -> dict[str, Any]:
    data = root / f"{name}-{time.time_ns()}"
    base = {"wal_backlog_max_bytes": 0, "wal_backlog_max_s": 0, "workers": 1}
    env = {k[4:]: v for k, v in settings.items() if k.startswith("env.")}
    noise_mb_s = float(settings.get("noise.disk_mb_s", 0))
    settings = {k: v for k, v in settings.items() if not k.startswith(("env.", "noise."))}
    with environ(env), running_server(data, database_url, **{**base, **settings}) as server:
        noise = None
        if noise_mb_s:
            ctx = multiprocessing.get_context("spawn")
            noise = ctx.Process(target=disk_noise, args=(data / "noise", noise_mb_s))
            noise.start()
        try:
            result, before, after = drive(server, args, project)
        finally:
            if noise is not None:
                noise.terminate()
                noise.join()
    return summarise(name, args, result, before, after)


def drive(
    server: Any, args: argparse.Namespace, project: Project
) -> tuple[dict[str, Any], dict[str, float], dict[str, float]]:
    host, port = server.url.split("//")[1].split(":")
    plan = {
        "host": host,
        "port": int(port),
        "requests": requests(host, int(port), project.basic_auth["Authorization"], 400),
        "connections": args.connections,
        "rate": args.rate,
        "burst": args.burst,
        "burst_at": args.burst_at,
        "burst_s": args.burst_s,
        "seconds": args.seconds,
        "grace_s": args.grace_s,
        "refused_request": refused(host, int(port), project.basic_auth["Authorization"]),
        "storm": args.storm,
    }
    time.sleep(1.0)
    before = scrape(server.url)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_load_main, args=(plan, out))
    proc.start()
    result = out.get()
    proc.join()
    after = scrape(server.url)
    return result, before, after


def summarise(
    name: str,
    args: argparse.Namespace,
    result: dict[str, Any],
    before: dict[str, float],
    after: dict[str, float],
) -> dict[str, Any]:
    windows = []
    w = args.window_s
    for index in range(int((args.seconds + args.grace_s) / w)):
        lo, hi = index * w, (index + 1) * w
        picked = [
            (lat, st)
            for t, lat, st in zip(
                result["t_written"], result["latency"], result["status"], strict=True
            )
            if lo <= t < hi
        ]
        acks = [lat for lat, st in picked if st == 200]
        if not picked:
            continue
        windows.append(
            {
                "t0": lo,
                "acks": len(acks),
                "refused": sum(1 for _, st in picked if st != 200),
                "p50_ms": _pct(acks, 50) * 1000,
                "p99_ms": _pct(acks, 99) * 1000,
                "in_flight": sum(lat for lat, _ in picked) / w,
            }
        )
    load = [
        lat
        for t, lat, st in zip(result["t_written"], result["latency"], result["status"], strict=True)
        if st == 200 and t < args.seconds
    ]
    commits = delta(before, after, "cxloop_wal_fsync_seconds_count")
    return {
        "variant": name,
        "jobs": result["jobs"],
        "acked": result["acked_jobs"],
        "refusals": sum(1 for st in result["status"] if st != 200),
        "p50_ms": _pct(load, 50) * 1000,
        "p99_ms": _pct(load, 99) * 1000,
        "worst_window_p99_ms": max((x["p99_ms"] for x in windows if x["acks"]), default=0),
        "server_ack_p99_ms": 1000 * hist_quantile(before, after, "cxloop_ingest_ack_seconds", 0.99),
        "commits": commits,
        "events_per_commit": delta(before, after, "cxloop_wal_commit_events_sum") / max(commits, 1),
        "fsync_p99_ms": 1000 * hist_quantile(before, after, "cxloop_wal_fsync_seconds", 0.99),
        "fsync_ms_mean": 1000
        * delta(before, after, "cxloop_wal_fsync_seconds_sum")
        / max(commits, 1),
        "send_lag_p99_ms": result["send_lag_p99_ms"],
        "windows": windows,
    }


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition(":")
    settings = dict(pair.split("=", 1) for pair in rest.split(",") if pair)
    return name, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300, help="steady requests/s")
    parser.add_argument("--burst", type=float, default=5, help="burst rate / steady rate")
    parser.add_argument("--burst-at", type=float, default=8)
    parser.add_argument("--burst-s", type=float, default=3)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--grace-s", type=float, default=10)
    parser.add_argument("--window-s", type=float, default=2)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument(
        "--storm",
        action="store_true",
        help="the burst's extra requests are answered 400 without a WAL commit, not acked: a "
        "refusal storm beside the steady acks",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variant", action="append", type=parse_variant)
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    args = parser.parse_args()
    variants = args.variant or [("quiet", {}), ("disk", {"noise.disk_mb_s": "400"})]
    root = Path(tempfile.mkdtemp(prefix="cxloop-bench-burst-"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    with embedded_postgres(root / "pg") as database_url:
        project = create_project(database_url)
        for round_ in range(args.runs):
            for name, settings in variants:
                r = run_variant(name, settings, args, database_url, project, root)
                runs[name].append(r)
                print(
                    f"run {round_ + 1} {name:9s}: acked {r['acked']}/{r['jobs']} jobs, "
                    f"{r['refusals']} refusals; client ack p50 {r['p50_ms']:.1f} p99 "
                    f"{r['p99_ms']:.1f} ms, worst {args.window_s:g}-s window p99 "
                    f"{r['worst_window_p99_ms']:.1f} ms; server ack p99 <= "
                    f"{r['server_ack_p99_ms']:.0f} ms; {r['events_per_commit']:.0f} events/commit, "
                    f"write+fsync {r['fsync_ms_mean']:.2f} ms (p99 <= "
                    f"{r['fsync_p99_ms']:.0f} ms); send lag p99 "
                    f"{r['send_lag_p99_ms']:.1f} ms",
                    flush=True,
                )
                for x in r["windows"]:
                    print(
                        f"    t={x['t0']:5.1f}s acks {x['acks']:5d} refused {x['refused']:5d} "
                        f"p50 {x['p50_ms']:7.1f} p99 {x['p99_ms']:7.1f} ms, "
                        f"in flight {x['in_flight']:6.1f}",
                        flush=True,
                    )
    print("medians over runs:")
    base = statistics.median(r["acked"] for r in runs[variants[0][0]])
    for name, _ in variants:
        rs = runs[name]

        def med(key: str, rs: list[dict[str, Any]] = rs) -> float:
            return float(statistics.median(r[key] for r in rs))

        print(
            f"  {name:9s}: acked {med('acked'):.0f} ({med('acked') / base:.3f} of "
            f"{variants[0][0]}), refusals {med('refusals'):.0f}; client p99 {med('p99_ms'):.1f} "
            f"ms, worst window p99 {med('worst_window_p99_ms'):.1f} ms, server ack p99 <= "
            f"{med('server_ack_p99_ms'):.0f} ms"
        )
    if args.json:
        args.json.write_text(json.dumps(runs))


if __name__ == "__main__":
    main()

"""An open-loop HTTP/1.1 load generator: requests leave on a fixed schedule, and latency is
measured from the *scheduled* send time, so a stalled server cannot hide its queueing
(no coordinated omission). wrk measures the closed-loop maximum; this measures latency at a
chosen rate and behaviour under overload."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    offered_rps: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: int = 0
    errors: int = 0

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict[str, object]:
        return {
            "offered_rps": round(self.offered_rps, 1),
            "achieved_rps": round(self.completed / self.seconds, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else None,
            "statuses": dict(self.statuses),
            "with_retry_after": self.retry_after,
            "errors": self.errors,
        }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    retry_after = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"retry-after":
            retry_after = True
    if length:
        await reader.readexactly(length)
    return status, retry_after


async def open_loop(
    host: str,
    port: int,
    path: str,
    bodies: list[bytes],
    *,
    rate: float,
    seconds: float,
    connections: int,
    headers: dict[str, str],
) -> LoadResult:
    result = LoadResult(offered_rps=rate, seconds=seconds)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {len(b)}\r\n\r\n"
        ).encode()
        + b
        for b in bodies
    ]
    queue: asyncio.Queue[float | None] = asyncio.Queue()

    async def connection_worker(index: int) -> None:
        reader = writer = None
        sent = index
        while True:
            scheduled = await queue.get()
            if scheduled is None:
                break
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(requests[sent % len(requests)])
                sent += connections
                status, retry_after = await _read_response(reader)
                result.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
                result.statuses[status] += 1
                result.retry_after += retry_after
            except (OSError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(connection_worker(i)) for i in range(connections)]
    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(scheduled)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    result.seconds = time.perf_counter() - start
    return result

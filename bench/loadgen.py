"""An open-loop HTTP/1.1 load generator: requests leave on a fixed schedule, and latency is
measured from the *scheduled* send time, so a stalled server cannot hide its queueing
(no coordinated omission). wrk measures the closed-loop maximum; this measures latency at a
chosen rate and behaviour under overload."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

import httptools
import uvloop


@dataclass
class LoadResult:
    offered_rps: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    # How late each request left against its schedule: the load tool's own share of latency
    # (all connections busy, or this process not getting a CPU on a shared machine).
    send_lag_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: int = 0
    errors: int = 0

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, p: float, values: list[float] | None = None) -> float:
        values = self.latencies_ms if values is None else values
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict[str, object]:
        return {
            "offered_rps": round(self.offered_rps, 1),
            "achieved_rps": round(self.completed / self.seconds, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "send_lag_p99_ms": round(self.percentile(99, self.send_lag_ms), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else None,
            "statuses": dict(self.statuses),
            "with_retry_after": self.retry_after,
            "errors": self.errors,
        }


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight; the response is parsed
    by httptools (C), so the load tool spends its CPU on sending, not on parsing."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.scheduled = 0.0
        self.retry_after = False
        self.parser = httptools.HttpResponseParser(self)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.scheduled:  # the request in flight got no answer
            self.pool.result.errors += 1
            self.scheduled = 0.0
        self.transport = None
        self.pool.replace(self)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self.retry_after = True

    def on_message_complete(self) -> None:
        result = self.pool.result
        result.latencies_ms.append((time.perf_counter() - self.scheduled) * 1000)
        result.statuses[self.parser.get_status_code()] += 1
        result.retry_after += self.retry_after
        self.scheduled, self.retry_after = 0.0, False
        self.pool.release(self)

    def send(self, request: bytes, scheduled: float) -> None:
        assert self.transport is not None
        self.scheduled = scheduled
        self.pool.result.send_lag_ms.append((time.perf_counter() - scheduled) * 1000)
        self.transport.write(request)

    def _fail(self) -> None:
        """An unparseable response: drop the connection (connection_lost counts the error)."""
        if self.transport is not None:
            self.transport.close()


class _Pool:
    """Free connections and the requests waiting for one (oldest first)."""

    def __init__(self, host: str, port: int, requests: list[bytes], result: LoadResult) -> None:
        self.host, self.port = host, port
        self.requests = requests
        self.result = result
        self.sent = 0
        self.free: deque[_Connection] = deque()
        self.waiting: deque[float] = deque()
        self.all: list[_Connection] = []
        self.opening = 0
        self.closing = False
        self.all_sent = False
        self.drained = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.opening += 1
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self), self.host, self.port
            )
        except OSError:
            self.result.errors += 1
            return
        finally:
            self.opening -= 1
        if connection.transport is None:  # closed as soon as it opened; replaced already
            return
        self.all.append(connection)
        self.release(connection)

    def submit(self, scheduled: float) -> None:
        self.waiting.append(scheduled)
        self._dispatch()

    def release(self, connection: _Connection) -> None:
        self.free.append(connection)
        self._dispatch()
        self.check_drained()

    def check_drained(self) -> None:
        if self.all_sent and not self.busy:
            self.drained.set()

    def replace(self, connection: _Connection) -> None:
        """A lost connection leaves the pool; a new one takes its place while the load runs."""
        with contextlib.suppress(ValueError):
            self.free.remove(connection)
        with contextlib.suppress(ValueError):
            self.all.remove(connection)
        if not self.closing:
            self.tasks.add(task := asyncio.get_running_loop().create_task(self.open()))
            task.add_done_callback(self.tasks.discard)
        self.check_drained()

    def _dispatch(self) -> None:
        while self.waiting and self.free:
            connection = self.free.popleft()
            connection.send(self.requests[self.sent % len(self.requests)], self.waiting.popleft())
            self.sent += 1

    @property
    def busy(self) -> bool:
        return bool(self.waiting) or self.opening > 0 or len(self.free) < len(self.all)


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
    """Send ``rate`` requests/s for ``seconds`` over ``connections`` keep-alive connections;
    a request whose turn comes while every connection is busy waits for one, and its wait
    counts in its latency."""
    result = LoadResult(offered_rps=rate, seconds=seconds)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {len(b)}\r\n\r\n"
        ).encode()
        + b
        for b in bodies
    ]
    pool = _Pool(host, port, requests, result)
    await asyncio.gather(*(pool.open() for _ in range(connections)))
    start = time.perf_counter()
    total = int(rate * seconds)
    sent = 0
    while sent < total:
        # Everything due by now leaves now, then sleep until the next one is due.
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            pool.submit(start + sent / rate)
            sent += 1
        # uvloop's timers tick in whole milliseconds: a shorter sleep would spin. A request
        # sent up to 1 ms late still counts that delay in its latency.
        await asyncio.sleep(max(0.001, start + sent / rate - time.perf_counter()))
    pool.all_sent = True
    pool.check_drained()
    with contextlib.suppress(TimeoutError):  # what never answers within a minute is lost
        await asyncio.wait_for(pool.drained.wait(), 60)
    result.seconds = time.perf_counter() - start
    pool.closing = True
    # Requests never sent or never answered in time are errors, not silently missing.
    result.errors += len(pool.waiting) + sum(1 for c in pool.all if c.scheduled)
    for connection in list(pool.all):
        if connection.transport is not None:
            connection.transport.close()
    return result


def run(coroutine: Coroutine[Any, Any, LoadResult]) -> LoadResult:
    """Run a load on uvloop: the same event loop the server uses, and a lighter load tool."""
    return uvloop.run(coroutine)

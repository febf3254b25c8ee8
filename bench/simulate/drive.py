"""Send events through the real ingest API: ``POST /v1/batch``, write key as HTTP Basic.

Batches of at most 500 events (and well under the 500 KB request limit), a few requests in
flight, 429/503 retried after their ``Retry-After``; every batch must come back 200 with every
event accepted, or the run stops with the server's answer. Loopback only.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

__all__ = ["BatchRefused", "DriveReport", "batches", "drive", "require_loopback"]

MAX_EVENTS = 500
MAX_BYTES = 400_000  # the server refuses requests over 500 KB (after decompression too)

_encode = msgspec.json.Encoder().encode


class BatchRefused(RuntimeError):
    """A batch the server did not take whole: the run cannot be scored."""


@dataclass
class DriveReport:
    events: int = 0
    batches: int = 0
    body_bytes: int = 0  # as sent (gzip-ed when asked)
    retries: int = 0
    seconds: float = 0.0
    message_ids: list[str] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def require_loopback(url: str) -> None:
    """The simulator drives a local server only."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing to send simulated events to {url}: use a loopback address")


def batches(
    events: Iterable[dict[str, Any]], max_events: int = MAX_EVENTS, max_bytes: int = MAX_BYTES
) -> Iterator[tuple[bytes, list[str]]]:
    """``{"batch": [...]}`` bodies and their messageIds, within both limits."""
    parts: list[bytes] = []
    ids: list[str] = []
    size = 0
    for event in events:
        encoded = _encode(event)
        if parts and (len(parts) == max_events or size + len(encoded) + 1 > max_bytes):
            yield b'{"batch":[' + b",".join(parts) + b"]}", ids
            parts, ids, size = [], [], 0
        parts.append(encoded)
        ids.append(event["messageId"])
        size += len(encoded) + 1
    if parts:
        yield b'{"batch":[' + b",".join(parts) + b"]}", ids


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        seconds = float(str(response.headers.get("Retry-After", "")))
        return max(0.05, seconds)
    except ValueError:
        return min(5.0, 0.2 * 2.0**attempt)


async def _send(
    client: httpx.AsyncClient,
    body: bytes,
    ids: list[str],
    use_gzip: bool,
    report: DriveReport,
    max_attempts: int,
) -> None:
    headers = {"Content-Type": "application/json"}
    payload = body
    if use_gzip:
        payload = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    last = "no attempt made"
    for attempt in range(max_attempts):
        try:
            response = await client.post("/v1/batch", content=payload, headers=headers)
        except httpx.TransportError as exc:
            # Replaying a batch is safe: the lake keeps each messageId once.
            report.retries += 1
            await asyncio.sleep(min(5.0, 0.2 * 2.0**attempt))
            last = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code in (429, 503):
            report.retries += 1
            await asyncio.sleep(_retry_after(response, attempt))
            last = f"{response.status_code} {response.text[:300]}"
            continue
        if response.status_code != 200:
            raise BatchRefused(
                f"POST /v1/batch answered {response.status_code}: {response.text[:500]}"
            )
        answer = response.json()
        if answer.get("accepted") != len(ids) or answer.get("rejected"):
            raise BatchRefused(
                f"only {answer.get('accepted')} of {len(ids)} events accepted; rejected: "
                f"{answer.get('rejected', [])[:3]}"
            )
        report.events += len(ids)
        report.batches += 1
        report.body_bytes += len(payload)
        report.message_ids.extend(ids)
        return
    raise BatchRefused(f"a batch was still refused after {max_attempts} attempts: {last}")


async def drive(
    url: str,
    write_key: str,
    events: Iterable[dict[str, Any]],
    *,
    concurrency: int = 4,
    use_gzip: bool = False,
    max_attempts: int = 30,
    max_events: int = MAX_EVENTS,
    transport: httpx.AsyncBaseTransport | None = None,  # tests only
) -> DriveReport:
    """Send ``events`` in order-preserving batches with at most ``concurrency`` in flight."""
    require_loopback(url)
    report = DriveReport()
    started = time.perf_counter()
    queue: asyncio.Queue[tuple[bytes, list[str]] | None] = asyncio.Queue(concurrency * 2)
    failures: list[BaseException] = []

    async def sender(client: httpx.AsyncClient) -> None:
        while (item := await queue.get()) is not None:
            if failures:
                continue  # drain: the run has already failed
            try:
                await _send(client, *item, use_gzip, report, max_attempts)
            except BaseException as exc:  # re-raised once the senders stop
                failures.append(exc)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, auth=(write_key, ""), timeout=60, limits=limits, transport=transport
    ) as client:
        workers = [asyncio.create_task(sender(client)) for _ in range(concurrency)]
        for item in batches(events, max_events=max_events):
            if failures:
                break
            await queue.put(item)  # the generator runs here, between sends
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    report.seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    return report

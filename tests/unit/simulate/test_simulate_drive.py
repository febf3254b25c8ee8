"""Sending simulated events: batch limits, retries on 429/503, whole batches or a clear stop."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from typing import Any

import httpx
import pytest

from bench.simulate.drive import BatchRefused, batches, drive, require_loopback


def events(n: int, padding: int = 0) -> list[dict[str, Any]]:
    return [
        {"type": "track", "event": "E", "userId": "u", "messageId": f"m{i}", "pad": "x" * padding}
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("count", "padding", "max_events", "max_bytes", "sizes"),
    [
        (1200, 0, 500, 400_000, [500, 500, 200]),
        (10, 0, 500, 400_000, [10]),
        (10, 1000, 500, 3500, [3, 3, 3, 1]),
        (0, 0, 500, 400_000, []),
    ],
)
def test_batches_keep_order_and_limits(
    count: int, padding: int, max_events: int, max_bytes: int, sizes: list[int]
) -> None:
    produced = list(batches(events(count, padding), max_events, max_bytes))
    assert [len(ids) for _, ids in produced] == sizes
    flat = [e["messageId"] for body, _ in produced for e in json.loads(body)["batch"]]
    assert flat == [f"m{i}" for i in range(count)]
    assert all(len(body) <= max_bytes + 20 for body, _ in produced)
    assert [i for _, ids in produced for i in ids] == flat


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:80"])
def test_loopback_is_allowed(url: str) -> None:
    require_loopback(url)


@pytest.mark.parametrize("url", ["https://api.example.com", "http://10.0.0.1:8000", "http://"])
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(SystemExit, match="loopback"):
        require_loopback(url)


class FakeIngest:
    """Answers like POST /v1/batch; the first ``busy`` calls get 503 with Retry-After."""

    def __init__(self, busy: int = 0, accept_short: bool = False) -> None:
        self.busy = busy
        self.accept_short = accept_short
        self.received: list[str] = []
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        assert request.url.path == "/v1/batch"
        token = base64.b64encode(b"wk_test:").decode()
        assert request.headers["Authorization"] == f"Basic {token}"
        if self.calls <= self.busy:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"code": "overloaded"})
        body = request.content
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        batch = json.loads(body)["batch"]
        if self.accept_short:
            rejected = [{"index": 0, "messageId": batch[0]["messageId"], "reason": "x"}]
            return httpx.Response(200, json={"accepted": len(batch) - 1, "rejected": rejected})
        self.received += [e["messageId"] for e in batch]
        return httpx.Response(200, json={"accepted": len(batch), "rejected": []})


@pytest.mark.parametrize("use_gzip", [False, True])
def test_drive_sends_everything_once_and_retries_when_busy(use_gzip: bool) -> None:
    fake = FakeIngest(busy=3)
    report = asyncio.run(
        drive(
            "http://127.0.0.1:9",
            "wk_test",
            events(1234),
            concurrency=3,
            use_gzip=use_gzip,
            transport=httpx.MockTransport(fake),
        )
    )
    assert sorted(fake.received) == sorted(f"m{i}" for i in range(1234))
    assert report.events == 1234 and report.batches == 3 and report.retries == 3
    assert sorted(report.message_ids) == sorted(fake.received)


def test_a_partly_rejected_batch_stops_the_run() -> None:
    with pytest.raises(BatchRefused, match="only 499 of 500"):
        asyncio.run(
            drive(
                "http://127.0.0.1:9",
                "wk_test",
                events(2000),
                transport=httpx.MockTransport(FakeIngest(accept_short=True)),
            )
        )


def test_a_server_that_stays_busy_stops_the_run() -> None:
    with pytest.raises(BatchRefused, match="still refused after 4 attempts"):
        asyncio.run(
            drive(
                "http://127.0.0.1:9",
                "wk_test",
                events(10),
                max_attempts=4,
                transport=httpx.MockTransport(FakeIngest(busy=100)),
            )
        )

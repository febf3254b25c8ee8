"""The guarded protocol's deadlines cost no timer per request on a busy connection, and a
request right after a fast one still meets its own deadline (not a later one)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.helpers.ingest_app import ingest_app
from tests.unit.server.test_guarded_protocol import (
    HEADER_TIMEOUT,
    batch_body,
    closed_after,
    open_raw,
    parse,
    post_head,
    serving,
)


async def answered(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(int(parse(head)[1]["content-length"]))
    return head


async def test_kept_alive_requests_arm_no_timer_each(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    timers: list[Any] = []
    call_later = loop.call_later

    def counting(delay: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(callback, "__name__", "") == "_expired":
            timers.append(delay)
        return call_later(delay, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_later", counting)
    async with serving(ingest_app().app) as port:
        reader, writer = await open_raw(port)
        body = batch_body()
        for _ in range(50):
            writer.write(post_head(len(body)) + body)
            assert (await answered(reader)).startswith(b"HTTP/1.1 200")
        writer.close()
    # One timer for the connection (50 requests in well under a deadline), where arming and
    # clearing a timer per deadline made 100.
    assert 1 <= len(timers) <= 2, timers


async def test_a_request_right_after_a_fast_one_meets_its_own_header_deadline() -> None:
    async with serving(ingest_app().app) as port:
        reader, writer = await open_raw(port)
        body = batch_body()
        writer.write(post_head(len(body)) + body)
        assert (await answered(reader)).startswith(b"HTTP/1.1 200")
        # The body deadline of the request just served was longer than this header deadline.
        started = time.monotonic()
        writer.write(b"POST /v1/batch HTTP/1.1\r\nHost: ingest.test\r\n")
        seconds, _ = await closed_after(reader, 5)
        writer.close()
    elapsed = time.monotonic() - started
    assert HEADER_TIMEOUT * 0.9 <= elapsed <= HEADER_TIMEOUT + 0.4, (elapsed, seconds)

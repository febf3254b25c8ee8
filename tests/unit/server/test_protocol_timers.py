"""The guarded protocol's deadlines cost no timer per request on a busy connection, and a
request right after a fast one still meets its own deadline (not a later one)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.helpers.ingest_app import ingest_app
from tests.unit.server.test_guarded_protocol import (
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


# Deadlines no request here comes near, so the connection's timer cannot fire while the 50
# requests are served, however slowly a loaded machine serves them: every timer counted was
# armed by a request or the connection, none by a deadline being checked.
LONG_DEADLINE_S = 30.0


async def test_kept_alive_requests_arm_no_timer_each(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    timers: list[Any] = []
    call_later = loop.call_later

    def counting(delay: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(callback, "__name__", "") == "_expired":
            timers.append(delay)
        return call_later(delay, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_later", counting)
    app = ingest_app().app
    async with serving(app, header_timeout=LONG_DEADLINE_S, body_timeout=LONG_DEADLINE_S) as port:
        started = time.monotonic()
        reader, writer = await open_raw(port)
        body = batch_body()
        for _ in range(50):
            writer.write(post_head(len(body)) + body)
            assert (await answered(reader)).startswith(b"HTTP/1.1 200")
        writer.close()
        took = time.monotonic() - started
    assert took < LONG_DEADLINE_S, f"50 requests took {took:.1f} s: the timer may have fired"
    # One timer for the connection, armed when it opened, where arming and clearing a timer
    # per deadline made 100.
    assert timers == [LONG_DEADLINE_S], timers


async def test_a_request_right_after_a_fast_one_meets_its_own_header_deadline() -> None:
    # The connection's timer was armed when it opened, for one check period (the header
    # deadline here; the body deadline is far longer). The second request's header deadline
    # falls after that timer fires, so the timer must re-arm for what is left of it: the
    # connection closes one header deadline after the second request began. A timer re-armed
    # for a whole period closes it two periods after the connection opened, or later (never
    # earlier: timers do not fire early). The upper bound tells the two apart as long as the
    # first request's answer and the close's notice take less than a period together (2 s;
    # the old bound allowed 0.4 s of a loaded machine's delay).
    header_s = 2.0
    app = ingest_app().app
    async with serving(app, header_timeout=header_s, body_timeout=LONG_DEADLINE_S) as port:
        opened = time.monotonic()
        reader, writer = await open_raw(port)
        body = batch_body()
        writer.write(post_head(len(body)) + body)
        assert (await answered(reader)).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        writer.write(b"POST /v1/batch HTTP/1.1\r\nHost: ingest.test\r\n")
        seconds, _ = await closed_after(reader, 4 * header_s)
        writer.close()
    closed = started + seconds
    assert closed - started >= header_s * 0.9, (closed - started, "closed before its deadline")
    assert closed - opened < 2 * header_s, (
        f"closed {closed - opened:.2f} s after the connection opened: the deadline was "
        f"checked a whole period late (its own ended {started - opened + header_s:.2f} s in)"
    )

"""Slow clients meet deadlines at the HTTP layer, and cannot starve the ingest routes.

A real uvicorn protocol on a loopback socket, in this process, in front of the ingest routes
over in-memory fakes (no database).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.server import ServerState

from cxloop.server.protocol import BODY_BACKSTOP_GRACE_S, MAX_HEADER_BYTES, protocol_options
from tests.helpers.ingest_app import WRITE_KEY, basic, ingest_app

HEADER_TIMEOUT = 0.6
BODY_TIMEOUT = 0.6


@asynccontextmanager
async def serving(
    app: Any,
    keep_alive: float = 30,
    max_opening: int = 64,
    header_timeout: float = HEADER_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
) -> AsyncIterator[int]:
    options = protocol_options(
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
        max_opening_per_client=max_opening,
    )
    protocol = options["http"]
    # As the worker runs it (cxloop.server.worker).
    config = Config(app, lifespan="off", timeout_keep_alive=keep_alive, **options)
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: protocol(config=config, server_state=state, app_state={}), "127.0.0.1", 0
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for connection in list(state.connections):
            connection.shutdown()
        await server.wait_closed()


async def open_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed_after(reader: asyncio.StreamReader, bound: float) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and what it sent before."""
    started = time.monotonic()
    received = b""
    try:
        async with asyncio.timeout(bound):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:
        pass
    return time.monotonic() - started, received


async def closed_while_trickling(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, byte: bytes, bound: float
) -> tuple[float, bytes]:
    """A body byte every 0.1 s until the server closes the connection (``closed_after``)."""

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.1)
            writer.write(byte)

    trickling = asyncio.create_task(trickle())
    closed = await closed_after(reader, bound)
    trickling.cancel()
    writer.close()
    return closed


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def batch_body(count: int = 1) -> bytes:
    events = [
        {"type": "track", "userId": "u1", "event": "Clicked", "messageId": f"m{i}"}
        for i in range(count)
    ]
    return msgspec.json.encode({"batch": events, "writeKey": WRITE_KEY})


def post_head(length: int, *extra: str) -> bytes:
    lines = ["POST /v1/batch HTTP/1.1", "Host: ingest.test", f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def request(port: int, body: bytes, *extra: str) -> tuple[int, dict[str, str], Any]:
    reader, writer = await open_raw(port)
    writer.write(post_head(len(body), "Connection: close", *extra) + body)
    _, raw = await closed_after(reader, 5)
    writer.close()
    return parse(raw)


async def stalled_bodies(
    port: int, count: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """``count`` connections whose bodies began and then stalled, 0.2 s after they began."""
    stalled = [await open_raw(port) for _ in range(count)]
    for _, writer in stalled:
        writer.write(post_head(10_000) + b"{")
    await asyncio.sleep(0.2)
    return stalled


async def test_partial_headers_are_closed_at_the_header_deadline() -> None:
    async with serving(ingest_app().app) as port:
        reader, writer = await open_raw(port)
        writer.write(b"POST /v1/batch HTTP/1.1\r\nHost: ingest.test\r\n")
        elapsed, received = await closed_after(reader, 5)
        writer.close()
    assert HEADER_TIMEOUT * 0.9 <= elapsed < HEADER_TIMEOUT + 1
    assert received == b""


async def test_headers_sent_a_line_at_a_time_still_meet_the_deadline() -> None:
    async with serving(ingest_app().app) as port:
        reader, writer = await open_raw(port)
        started = time.monotonic()
        writer.write(b"POST /v1/batch HTTP/1.1\r\n")
        with pytest.raises((ConnectionError, TimeoutError)):
            async with asyncio.timeout(5):
                for n in range(100):
                    await asyncio.sleep(0.1)
                    writer.write(f"X-Slow-{n}: y\r\n".encode())
                    await writer.drain()
                    if reader.at_eof():
                        raise ConnectionResetError
        writer.close()
    assert time.monotonic() - started < HEADER_TIMEOUT + 1


async def test_an_idle_new_connection_is_closed() -> None:
    async with serving(ingest_app().app) as port:
        reader, writer = await open_raw(port)
        elapsed, _ = await closed_after(reader, 5)
        writer.close()
    assert elapsed < HEADER_TIMEOUT + 1


async def test_crlf_trickled_on_a_kept_alive_connection_meets_the_header_deadline() -> None:
    async with serving(ingest_app().app, keep_alive=30) as port:
        reader, writer = await open_raw(port)
        body = batch_body()
        writer.write(post_head(len(body)) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(parse(head)[1]["content-length"])
        await reader.readexactly(length)
        started = time.monotonic()
        with pytest.raises((ConnectionError, TimeoutError)):
            async with asyncio.timeout(5):
                while True:
                    writer.write(b"\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.1)
                    if reader.at_eof() or await _closed(reader):
                        raise ConnectionResetError
        writer.close()
    assert time.monotonic() - started < HEADER_TIMEOUT + 1


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        async with asyncio.timeout(0.01):
            return await reader.read(1) == b""
    except TimeoutError:
        return False


async def test_keep_alive_requests_within_the_deadlines_are_served() -> None:
    async with serving(ingest_app().app) as port:
        reader, writer = await open_raw(port)
        for _ in range(3):
            body = batch_body()
            writer.write(post_head(len(body)))
            await asyncio.sleep(BODY_TIMEOUT / 3)  # slow, but within the deadline
            writer.write(body)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            await reader.readexactly(int(parse(head)[1]["content-length"]))
            await asyncio.sleep(HEADER_TIMEOUT * 1.5)  # idle between requests: keep-alive's
        writer.close()


async def test_a_slow_ingest_body_gets_408_with_cors_and_is_closed() -> None:
    app = ingest_app(body_timeout_s=BODY_TIMEOUT)
    async with serving(app.app) as port:
        reader, writer = await open_raw(port)
        writer.write(post_head(10_000) + b"{")
        started = time.monotonic()
        _, raw = await closed_while_trickling(reader, writer, b" ", 5)
    status, headers, answer = parse(raw)
    assert status == 408 and answer["code"] == "body_timeout" and answer["message"]
    assert headers["access-control-allow-origin"] == "*"
    assert headers["connection"] == "close"
    assert time.monotonic() - started < BODY_TIMEOUT + 1
    assert app.count(408) == 1
    assert app.service.receiving == {}


async def test_a_slow_body_on_any_other_route_is_closed_by_the_backstop() -> None:
    async def reads_the_body(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with serving(reads_the_body) as port:
        reader, writer = await open_raw(port)
        writer.write(post_head(10_000) + b"x")
        elapsed, raw = await closed_while_trickling(reader, writer, b"x", 10)
    assert raw == b""
    # Not earlier either: the backstop, not a shorter deadline (headers, the body alone).
    assert elapsed >= (BODY_TIMEOUT + BODY_BACKSTOP_GRACE_S) * 0.9
    assert elapsed < BODY_TIMEOUT + BODY_BACKSTOP_GRACE_S + 1


async def test_slow_bodies_do_not_take_in_flight_slots() -> None:
    app = ingest_app(max_inflight_requests=2, body_timeout_s=30)
    async with serving(app.app) as port:
        slow = await stalled_bodies(port, 6)
        assert sum(app.service.receiving.values()) == 6
        status, _, answer = await request(port, batch_body())
        for _, writer in slow:
            writer.close()
    assert status == 200, answer
    assert answer == {"accepted": 1, "rejected": []}


async def test_requests_receiving_per_address_are_capped() -> None:
    app = ingest_app(max_requests_per_client=3, body_timeout_s=30)
    async with serving(app.app) as port:
        slow = await stalled_bodies(port, 3)
        status, headers, answer = await request(port, batch_body())
        assert status == 429 and answer["code"] == "too_many_connections"
        assert headers["retry-after"] and headers["access-control-allow-origin"] == "*"
        for _, writer in slow:
            writer.close()
        await asyncio.sleep(0.2)
        assert app.service.receiving == {}
        status, _, answer = await request(port, batch_body())
    assert status == 200, answer


async def test_an_unknown_basic_key_is_refused_before_the_body() -> None:
    app = ingest_app()
    async with serving(app.app) as port:
        reader, writer = await open_raw(port)
        writer.write(post_head(100_000, *(f"{k}: {v}" for k, v in basic("wk_nope").items())))
        elapsed, raw = await closed_after(reader, 5)
        writer.close()
    status, headers, answer = parse(raw)
    assert status == 401 and answer["code"] == "invalid_write_key"
    assert headers["connection"] == "close" and headers["access-control-allow-origin"] == "*"
    assert elapsed < 1
    assert app.writer.records == []


async def test_oversized_headers_get_431_with_cors() -> None:
    async with serving(ingest_app().app) as port:
        reader, writer = await open_raw(port)
        filler = "X-Filler: " + "y" * 8000
        writer.write(post_head(2, *[filler] * (MAX_HEADER_BYTES // 8000 + 1)) + b"{}")
        _, raw = await closed_after(reader, 5)
        writer.close()
    status, headers, answer = parse(raw)
    assert status == 431 and answer["code"] == "headers_too_large"
    assert headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /v1/batch HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /v1/batch HTTP/1.1\r\nContent-Length: -1\r\n\r\n{}",
        b"POST /v1/batch HTTP/1.1\r\nContent-Length: 1x\r\n\r\n{}",
        b"POST /v1/batch HTTP/1.1\r\nBad Header\r\n\r\n",
        b"\x00\x01\x02 garbage\r\n\r\n",
    ],
    ids=["duplicate length", "negative length", "non-numeric length", "bad header", "garbage"],
)
async def test_malformed_http_gets_a_json_400_with_cors(raw: bytes) -> None:
    async with serving(ingest_app().app) as port:
        reader, writer = await open_raw(port)
        writer.write(raw)
        _, received = await closed_after(reader, 5)
        writer.close()
    status, headers, answer = parse(received)
    assert status == 400 and answer["code"] == "invalid_http" and answer["message"]
    assert headers["access-control-allow-origin"] == "*"


header_lines = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from(
                [
                    b"Content-Length",
                    b"Transfer-Encoding",
                    b"Authorization",
                    b"Content-Encoding",
                    b"Expect",
                    b"Connection",
                    b"Upgrade",
                    b"X-Forwarded-For",
                    b"Host",
                    b"Origin",
                ]
            ),
            st.binary(min_size=1, max_size=12),
        ),
        st.one_of(
            st.sampled_from(
                [
                    b"chunked",
                    b"gzip",
                    b"-1",
                    b"100-continue",
                    b"upgrade",
                    b"websocket",
                    b"close",
                    b"Basic \x00\xff",
                    b"1, 2",
                    b"\xb2",
                ]
            ),
            st.binary(max_size=24),
        ),
    ),
    max_size=5,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=header_lines)
async def test_any_header_lines_get_an_answer_with_cors_and_never_500(
    lines: list[tuple[bytes, bytes]],
) -> None:
    body = batch_body()
    head = b"POST /v1/batch HTTP/1.1\r\nHost: ingest.test\r\nConnection: close\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in lines)
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    async with serving(ingest_app(body_timeout_s=BODY_TIMEOUT).app) as port:
        reader, writer = await open_raw(port)
        writer.write(head + body)
        _, received = await closed_after(reader, BODY_TIMEOUT + BODY_BACKSTOP_GRACE_S + 2)
        writer.close()
    # An interim "100 Continue" may come first; the final answer is the last one.
    final = received[received.rfind(b"HTTP/1.1 ") :]
    status, headers, _ = parse(final)
    assert status != 500 and status >= 200, received
    assert headers["access-control-allow-origin"] == "*", received


async def test_a_websocket_upgrade_is_an_ordinary_request() -> None:
    """The app has no WebSocket routes; uvicorn's upgrade would hand ingest a scope it
    cannot answer (a bare 500)."""
    async with serving(ingest_app().app) as port:
        reader, writer = await open_raw(port)
        writer.write(
            b"GET /v1/batch HTTP/1.1\r\nHost: ingest.test\r\nConnection: Upgrade\r\n"
            b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        _, received = await closed_after(reader, 5)
        writer.close()
    status, headers, answer = parse(received)
    assert status == 405 and answer["code"] == "method_not_allowed"
    assert headers["access-control-allow-origin"] == "*"


async def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() -> None:
    async with serving(ingest_app().app, keep_alive=HEADER_TIMEOUT * 2) as port:
        reader, writer = await open_raw(port)
        body = batch_body()
        writer.write(post_head(len(body)) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(int(parse(head)[1]["content-length"]))
        elapsed, _ = await closed_after(reader, 5)
        writer.close()
    assert HEADER_TIMEOUT * 2 * 0.9 <= elapsed < HEADER_TIMEOUT * 2 + 1


async def test_connections_opening_from_one_address_are_capped() -> None:
    async with serving(ingest_app().app, max_opening=3) as port:
        idle = [await open_raw(port) for _ in range(3)]
        reader, writer = await open_raw(port)
        elapsed, _ = await closed_after(reader, 5)
        writer.close()
        assert elapsed < HEADER_TIMEOUT / 2  # refused at once, not at the deadline
        # A connection that has sent its headers no longer counts as opening.
        body = batch_body()
        idle[0][1].write(post_head(len(body)) + body)
        assert (await idle[0][0].readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        status, _, answer = await request(port, batch_body())
        assert status == 200, answer
        for _, idle_writer in idle:
            idle_writer.close()

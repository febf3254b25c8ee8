"""Hundreds of slow clients cannot starve ingest: a real server, real sockets.

The attackers connect from 127.0.0.2 and up, send their headers and then a body byte every
second or so, without a valid key; the legitimate client on 127.0.0.1 keeps getting 200s.
"""

from __future__ import annotations

import asyncio
import resource
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest

from tests.helpers.server import Project, RunningServer

BODY_TIMEOUT_S = 5.0
HEADER_TIMEOUT_S = 2.0
PER_CLIENT = 64
# Low enough that the attackers would fill it if a slow body held an in-flight slot.
MAX_INFLIGHT = 64
# Seven addresses under the per-address cap, one over it.
ATTACKERS = [(f"127.0.0.{n}", 50) for n in range(2, 9)] + [("127.0.0.9", PER_CLIENT + 16)]
TRICKLE_EVERY_S = 1.0
MAX_OPENING = 100


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    return {
        "body_timeout_s": BODY_TIMEOUT_S,
        "header_timeout_s": HEADER_TIMEOUT_S,
        "max_requests_per_client": PER_CLIENT,
        "max_inflight_requests": MAX_INFLIGHT,
        "max_opening_connections_per_client": MAX_OPENING,
    }


def address(server: RunningServer) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


@dataclass
class Outcome:
    status: int | None
    seconds_open: float


def status_of(received: bytes) -> int | None:
    return int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else None


async def slow_client(host: str, port: int, source: str, stop_by: float) -> Outcome:
    """Headers, then one body byte every second; how long the server put up with it."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    head = (
        "POST /v1/batch HTTP/1.1\r\nHost: cxloop\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    )
    writer.write(head.encode())
    opened = time.monotonic()

    async def trickle() -> None:
        while time.monotonic() < stop_by:
            await asyncio.sleep(TRICKLE_EVERY_S)
            writer.write(b" ")

    trickling = asyncio.create_task(trickle())
    received = b""
    try:
        async with asyncio.timeout(stop_by - time.monotonic()):
            while chunk := await reader.read(65536):
                received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        trickling.cancel()
        writer.close()
    return Outcome(status_of(received), time.monotonic() - opened)


async def test_a_legitimate_client_is_served_during_a_slow_body_attack(
    server: RunningServer, project: Project
) -> None:
    total = sum(count for _, count in ATTACKERS)
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 4 * total
    host, port = address(server)
    stop_by = time.monotonic() + BODY_TIMEOUT_S + 20  # every attacker gives up by then
    attackers = [
        asyncio.create_task(slow_client(host, port, source, stop_by))
        for source, count in ATTACKERS
        for _ in range(count)
    ]
    await asyncio.sleep(0.5)  # all connected and sending

    latencies: list[float] = []
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        while time.monotonic() < stop_by - 20 - 1:  # while the attackers are still there
            events = [
                {"type": "track", "event": "x", "userId": "u", "messageId": str(uuid.uuid4())}
            ]
            started = time.monotonic()
            response = await client.post(
                "/v1/batch",
                content=msgspec.json.encode({"batch": events}),
                headers=project.basic_auth,
            )
            latencies.append(time.monotonic() - started)
            statuses.append(response.status_code)
            await asyncio.sleep(0.05)
    outcomes = await asyncio.gather(*attackers)

    assert len(statuses) >= 20
    assert set(statuses) == {200}, statuses
    assert max(latencies) < 2.0, sorted(latencies)[-5:]
    by_status: dict[int | None, list[float]] = {}
    for outcome in outcomes:
        by_status.setdefault(outcome.status, []).append(outcome.seconds_open)
    # Every attacker was answered and closed: over the cap at once, the others at the deadline.
    assert set(by_status) == {408, 429}, {k: len(v) for k, v in by_status.items()}
    assert len(by_status[429]) == 16
    assert max(by_status[429]) < 2.0
    assert len(by_status[408]) == total - 16
    assert min(by_status[408]) > BODY_TIMEOUT_S - 1
    assert max(by_status[408]) < BODY_TIMEOUT_S + 3


async def test_partial_headers_are_closed_at_the_header_deadline(
    server: RunningServer,
) -> None:
    host, port = address(server)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /v1/batch HTTP/1.1\r\nHost: cxloop\r\nContent-Ty")
    started = time.monotonic()
    async with asyncio.timeout(HEADER_TIMEOUT_S + 5):
        received = await reader.read()
    writer.close()
    assert received == b""
    assert HEADER_TIMEOUT_S - 0.5 < time.monotonic() - started < HEADER_TIMEOUT_S + 2


async def test_an_unknown_basic_key_is_refused_before_the_body(
    server: RunningServer,
) -> None:
    host, port = address(server)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /v1/batch HTTP/1.1\r\nHost: cxloop\r\nAuthorization: Basic d2tfbm9wZTo=\r\n"
        b"Origin: https://app.example.com\r\nContent-Length: 100000\r\n\r\n"
    )
    started = time.monotonic()
    async with asyncio.timeout(5):
        received = await reader.read()  # answered, then closed: no body was sent
    writer.close()
    assert time.monotonic() - started < 2
    head, _, body = received.partition(b"\r\n\r\n")
    assert status_of(received) == 401, received
    assert msgspec.json.decode(body)["code"] == "invalid_write_key"
    assert b"access-control-allow-origin: *" in head.lower()


def test_the_slow_clients_are_counted(server: RunningServer) -> None:
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.url}/metrics", timeout=5).text
        if 'status="408"' in text and 'status="429"' in text:
            return
        time.sleep(0.5)
    raise AssertionError(f"no 408/429 in /metrics:\n{text[:2000]}")


async def idle_client(host: str, port: int, source: str) -> float:
    """Connects and sends nothing: seconds until the server closes the connection."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    opened = time.monotonic()
    try:
        async with asyncio.timeout(HEADER_TIMEOUT_S + 10):
            await reader.read()
    except ConnectionResetError:
        pass
    finally:
        writer.close()
    return time.monotonic() - opened


async def test_idle_connections_from_one_address_are_capped(
    server: RunningServer, project: Project
) -> None:
    host, port = address(server)
    idle = [
        asyncio.create_task(idle_client(host, port, "127.0.0.10")) for _ in range(MAX_OPENING + 20)
    ]
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.post(
            "/v1/batch",
            content=msgspec.json.encode(
                {"batch": [{"type": "track", "event": "x", "userId": "u"}]}
            ),
            headers=project.basic_auth,
        )
    assert response.status_code == 200, response.text
    open_for = sorted(await asyncio.gather(*idle))
    # The ones past the cap are refused at once; the others meet the header deadline.
    assert max(open_for[:20]) < 1.0, open_for[:25]
    assert min(open_for[20:]) > HEADER_TIMEOUT_S - 0.5 and max(open_for) < HEADER_TIMEOUT_S + 2

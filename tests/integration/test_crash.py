"""kill -9 the whole server during sustained load: every acked event is in the lake exactly once."""

from __future__ import annotations

import asyncio
import collections
import re
import signal
import time
import uuid
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.helpers.server import Project, create_project, running_server, server_env, start_server

pytestmark = pytest.mark.slow


async def sustained_load(
    url: str, project: Project, seconds: float, acked: list[str], sent_bodies: list[bytes]
) -> int:
    """Send 20-event batches from 16 concurrent clients until time is up or the server dies."""
    deadline = time.monotonic() + seconds
    failures = 0

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            events = [{"type": "track", "event": "Load", "userId": f"u{i}", "messageId": str(uuid.uuid4())}
                      for i in range(20)]  # fmt: skip
            body = msgspec.json.encode({"batch": events})
            try:
                response = await client.post("/v1/batch", content=body, headers=project.basic_auth)
            except httpx.HTTPError:
                failures += 1
                await asyncio.sleep(0.01)
                continue
            if response.status_code == 200:
                acked.extend(e["messageId"] for e in events)
                sent_bodies.append(body)

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(16)))
    return failures


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_during_load_loses_and_duplicates_nothing(
    database_url: str, tmp_path: Path, workers: int
) -> None:
    project = create_project(database_url)
    env = server_env(tmp_path, database_url, workers=workers)
    server = start_server(env, tmp_path)
    acked: list[str] = []
    sent: list[bytes] = []

    async def load_then_kill() -> None:
        load = asyncio.create_task(sustained_load(server.url, project, 6.0, acked, sent))
        await asyncio.sleep(3.0)
        server.stop(signal.SIGKILL)  # every process of the group, mid-write
        await load

    asyncio.run(load_then_kill())
    assert len(acked) > 1000, "the load should have been sustained before the kill"

    with running_server(tmp_path, database_url, "--workers", str(workers)) as restarted:
        # Clients retry what they sent before the crash: still exactly once.
        with restarted.client() as client:
            for body in sent[-20:]:
                assert (
                    client.post("/v1/batch", content=body, headers=project.basic_auth).status_code
                    == 200
                )
        restarted.wait_for_lake(set(acked), project.id, timeout=120)
        time.sleep(1.0)
        lake_ids = restarted.lake_ids(project.id)
    counts = collections.Counter(lake_ids)
    duplicated = [i for i, c in counts.items() if c > 1]
    assert duplicated == []
    assert set(acked) <= set(lake_ids)
    # Under load the killed workers had open segments: the restart recovered them.
    assert re.search(r"WAL w\d+: recovered \d+ segment", restarted.log())

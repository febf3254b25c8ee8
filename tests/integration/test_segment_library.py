"""An unmodified Segment-format client library, pointed at cxloop with its host option."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest
from segment.analytics import Client

from cxloop.db import register_json_codecs
from tests.helpers.server import Project, RunningServer


def fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        await register_json_codecs(conn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.mark.parametrize("gzip", [False, True])
def test_segment_python_library_lands_correctly(
    server: RunningServer, project: Project, module_database_url: str, gzip: bool
) -> None:
    errors: list[Any] = []
    client = Client(
        project.write_key,
        host=server.url,
        gzip=gzip,
        sync_mode=True,
        on_error=lambda error, batch: errors.append(error),
    )
    suffix = "gz" if gzip else "plain"
    user, account = f"user_{suffix}", f"acct_{suffix}"
    sent = [
        client.identify(user, {"email": f"{user}@example.com", "name": "Ada"}),
        client.group(user, account, {"name": "Acme 中国", "plan": "enterprise", "seats": 25}),
        client.track(user, "Feature Used", {"feature": "dashboards"}, context={"groupId": account}),
        client.page(user, "Docs", "Getting started", {"path": "/docs"}),
    ]
    client.flush()
    assert errors == []
    message_ids = {message["messageId"] for _, message in sent}
    server.wait_for_lake(message_ids, project.id)
    rows = {
        r["message_id"]: r for r in server.lake_rows(project.id) if r["message_id"] in message_ids
    }
    by_type = {r["type"]: r for r in rows.values()}
    assert set(by_type) == {"identify", "group", "track", "page"}
    assert by_type["track"]["event"] == "Feature Used"
    assert by_type["track"]["group_id"] == account
    assert by_type["group"]["group_id"] == account
    assert by_type["page"]["name"] == "Getting started"
    for row in rows.values():
        assert row["user_id"] == user
        assert row["sent_at"] is not None  # the library's sentAt was used for skew correction
        assert "analytics-python" in row["context"]

    deadline = time.monotonic() + 30
    accounts: list[asyncpg.Record] = []
    while time.monotonic() < deadline and not accounts:
        accounts = fetch(
            module_database_url,
            "SELECT a.traits, m.user_id FROM accounts a JOIN memberships m "
            "ON m.project_id = a.project_id AND m.account_id = a.account_id "
            "WHERE a.project_id = $1 AND a.account_id = $2",
            project.id,
            account,
        )
        time.sleep(0.2)
    assert accounts, server.log()[-2000:]
    assert accounts[0]["user_id"] == user
    traits = accounts[0]["traits"]
    assert traits["name"] == "Acme 中国" and traits["seats"] == 25
    users = fetch(
        module_database_url,
        "SELECT traits FROM users WHERE project_id = $1 AND user_id = $2",
        project.id,
        user,
    )
    assert users and users[0]["traits"]["email"] == f"{user}@example.com"

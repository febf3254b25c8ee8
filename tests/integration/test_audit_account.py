"""``GET /v1/audit?account_id=X``: the account's trail — entries about its alerts and about
the account itself — and nothing about other accounts; the other filters still apply."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.helpers.server import Project, RunningServer


@pytest.fixture(scope="module")
def alerts(server: RunningServer, project: Project, module_database_url: str) -> dict[str, int]:
    async def work() -> dict[str, int]:
        conn = await asyncpg.connect(module_database_url)
        try:
            out = {}
            for response, account in (("r1", "acme"), ("r2", "acme"), ("r3", "globex"),
                                       ("r4", None)):  # fmt: skip
                out[response] = await conn.fetchval(
                    "INSERT INTO alerts (project_id, response_id, kind, score, account_id, "
                    "responded_at) VALUES ($1, $2, 'nps', 1, $3, $4) RETURNING id",
                    project.id, response, account, datetime.now(UTC),
                )  # fmt: skip
            # An entry about the account itself (as a CLI or a later feature would write).
            await conn.execute(
                "INSERT INTO audit_log (project_id, actor_kind, actor_label, action, "
                "object_type, object_id) VALUES ($1, 'cli', 'cli (test)', 'account.noted', "
                "'account', 'acme'), ($1, 'cli', 'cli (test)', 'account.noted', 'account', "
                "'acme2')",
                project.id,
            )
            return out
        finally:
            await conn.close()

    return asyncio.run(work())


def test_account_trail(alerts: dict[str, int], project: Project, server: RunningServer) -> None:
    with server.client(headers=project.bearer) as client:
        for response in ("r1", "r2", "r3", "r4"):
            answer = client.patch(f"/v1/alerts/{alerts[response]}", json={"assignee": "ana"})
            assert answer.status_code == 200
        note = client.post(f"/v1/alerts/{alerts['r2']}/notes", json={"text": "called them"})
        assert note.status_code == 201
        trail = client.get("/v1/audit", params={"account_id": "acme"}).json()["entries"]
        assert [(e["action"], e["object_type"], e["object_id"]) for e in trail] == [
            ("alert.note_added", "alert", str(alerts["r2"])),
            ("alert.updated", "alert", str(alerts["r2"])),
            ("alert.updated", "alert", str(alerts["r1"])),
            ("account.noted", "account", "acme"),
        ]
        globex = client.get("/v1/audit", params={"account_id": "globex"}).json()["entries"]
        assert [e["object_id"] for e in globex] == [str(alerts["r3"])]
        assert client.get("/v1/audit", params={"account_id": "nobody"}).json()["entries"] == []
        # Combined with the other filters, and paged.
        notes = client.get(
            "/v1/audit", params={"account_id": "acme", "action": "alert.note_added"}
        ).json()["entries"]
        assert [e["object_id"] for e in notes] == [str(alerts["r2"])]
        first = client.get("/v1/audit", params={"account_id": "acme", "limit": 3}).json()
        assert len(first["entries"]) == 3 and first["next_cursor"]
        rest = client.get(
            "/v1/audit",
            params={"account_id": "acme", "limit": 3, "cursor": first["next_cursor"]},
        ).json()
        assert [e["object_id"] for e in rest["entries"]] == ["acme"]
        assert rest["next_cursor"] is None
        everything = client.get("/v1/audit").json()["entries"]
        assert len(everything) == 7  # four updates, the note, the two account entries

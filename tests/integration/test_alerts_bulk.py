"""``POST /v1/alerts/bulk``: one change to many alerts in one transaction — all or none, one
audit entry per alert that changed (the single PATCH's action), 404 naming foreign ids."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.helpers.people import add_person, fetch, make_session, session_headers
from tests.helpers.server import Project, RunningServer


def _insert_alerts(url: str, project_id: str, n: int, prefix: str) -> list[int]:
    async def work() -> list[int]:
        conn = await asyncpg.connect(url)
        try:
            now = datetime.now(UTC)
            rows = await conn.fetch(
                """INSERT INTO alerts (project_id, response_id, kind, score, account_id,
                                       responded_at, opened_at)
                   SELECT $1, $2 || i, 'nps', 2, 'acct-' || (i % 3), $3, $3
                   FROM generate_series(1, $4) AS i RETURNING id""",
                project_id, prefix, now - timedelta(hours=1), n,
            )  # fmt: skip
            return sorted(r["id"] for r in rows)
        finally:
            await conn.close()

    return asyncio.run(work())


@pytest.fixture(scope="module")
def alert_ids(server: RunningServer, project: Project, module_database_url: str) -> list[int]:
    return _insert_alerts(module_database_url, project.id, 12, "bulk-")


def _state(url: str, ids: list[int]) -> dict[int, tuple[str, str | None]]:
    rows = fetch(url, "SELECT id, status, assignee FROM alerts WHERE id = any($1)", ids)
    return {r["id"]: (r["status"], r["assignee"]) for r in rows}


def _audit(url: str, project_id: str, after: int) -> list[dict[str, Any]]:
    return fetch(
        url,
        "SELECT id, action, object_id, details::text AS details FROM audit_log "
        "WHERE project_id = $1 AND id > $2 ORDER BY id",
        project_id,
        after,
    )


def _last_audit(url: str, project_id: str) -> int:
    rows = fetch(url, "SELECT coalesce(max(id), 0) AS id FROM audit_log WHERE project_id = $1",
                 project_id)  # fmt: skip
    return int(rows[0]["id"])


def test_bulk_assign_and_resolve(
    alert_ids: list[int], project: Project, server: RunningServer, module_database_url: str
) -> None:
    chosen = alert_ids[:5]
    before = _last_audit(module_database_url, project.id)
    with server.client(headers=project.bearer) as client:
        answer = client.post(
            "/v1/alerts/bulk", json={"ids": [*reversed(chosen), chosen[0]], "assignee": "ana"}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["updated"] == 5
        assert [a["id"] for a in body["alerts"]] == list(reversed(chosen))  # given order, once
        assert all(a["assignee"] == "ana" and a["status"] == "open" for a in body["alerts"])
        entries = _audit(module_database_url, project.id, before)
        assert sorted(int(e["object_id"]) for e in entries) == chosen
        assert {e["action"] for e in entries} == {"alert.updated"}
        assert json.loads(entries[0]["details"]) == {"assignee": {"from": None, "to": "ana"}}
        # Again: nothing changes for those already so; only the new one counts and is logged.
        before = _last_audit(module_database_url, project.id)
        again = client.post(
            "/v1/alerts/bulk", json={"ids": [chosen[0], alert_ids[5]], "assignee": "ana"}
        ).json()
        assert again["updated"] == 1
        assert [e["object_id"] for e in _audit(module_database_url, project.id, before)] == [
            str(alert_ids[5])
        ]
        resolved = client.post(
            "/v1/alerts/bulk",
            json={"ids": chosen, "status": "resolved", "assignee": None},
        ).json()
        assert resolved["updated"] == 5
        assert all(a["resolved_at"] and a["assignee"] is None for a in resolved["alerts"])
    assert set(_state(module_database_url, chosen).values()) == {("resolved", None)}


def test_any_foreign_id_changes_nothing(
    alert_ids: list[int],
    project: Project,
    other_project: Project,
    server: RunningServer,
    module_database_url: str,
) -> None:
    foreign = _insert_alerts(module_database_url, other_project.id, 2, "other-")
    mine = alert_ids[6:9]
    state = _state(module_database_url, mine)
    before = _last_audit(module_database_url, project.id)
    with server.client(headers=project.bearer) as client:
        for ids in ([*mine, foreign[0]], [*mine, 2**62], [*mine, -1]):
            answer = client.post("/v1/alerts/bulk", json={"ids": ids, "status": "acknowledged"})
            assert answer.status_code == 404, answer.text
            assert answer.json()["code"] == "alert_not_found"
            assert str(ids[-1]) in answer.json()["message"]
            assert "nothing was changed" in answer.json()["message"]
    assert _state(module_database_url, mine) == state
    assert _audit(module_database_url, project.id, before) == []


def test_bad_requests(
    alert_ids: list[int], project: Project, server: RunningServer, module_database_url: str
) -> None:
    with server.client(headers=project.bearer) as client:
        bodies: list[dict[str, Any]] = [
            {"ids": []},
            {"ids": [alert_ids[0]]},  # nothing to change
            {"ids": list(range(1, 502)), "status": "open"},
            {"ids": [alert_ids[0]], "status": "closed"},
            {"ids": [alert_ids[0]], "assignee": "  "},
            {"ids": [alert_ids[0]], "status": "open", "note": "x"},
        ]
        for body in bodies:
            answer = client.post("/v1/alerts/bulk", json=body)
            assert answer.status_code == 400, (body, answer.text)
    # 500 ids at once is allowed: the unknown ones are named in the 404.
    with server.client(headers=project.bearer) as client:
        answer = client.post(
            "/v1/alerts/bulk", json={"ids": [*alert_ids, *range(10**9, 10**9 + 488)],
                                     "status": "open"},
        )  # fmt: skip
        assert answer.status_code == 404
        assert "488 of the ids" in answer.json()["message"]
    viewer = add_person(module_database_url, project.id, "viewer-bulk@example.com", "viewer")
    cookie = make_session(module_database_url, viewer)
    with server.client(headers=session_headers(cookie, project.id)) as client:
        refused = client.post("/v1/alerts/bulk", json={"ids": alert_ids[:1], "status": "open"})
        assert refused.status_code == 403
        assert "alerts:write" in refused.json()["message"]


def test_five_hundred_at_once(
    project: Project, server: RunningServer, module_database_url: str
) -> None:
    ids = _insert_alerts(module_database_url, project.id, 500, "many-")
    before = _last_audit(module_database_url, project.id)
    with server.client(headers=project.bearer, timeout=60) as client:
        answer = client.post(
            "/v1/alerts/bulk", json={"ids": ids, "status": "acknowledged", "assignee": "bo"}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["updated"] == 500
    assert set(_state(module_database_url, ids).values()) == {("acknowledged", "bo")}
    entries = _audit(module_database_url, project.id, before)
    assert sorted(int(e["object_id"]) for e in entries) == ids

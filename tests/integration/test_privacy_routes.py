"""``/v1/privacy``: deletion requests (202, list, get, refusals, tenants), export, retention."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pyarrow.parquet as pq
import pytest

from cxloop.projects import subject_digest
from tests.helpers.server import Project, RunningServer

T = TypeVar("T")


def _fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def _wait_for(check: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the condition never held")


def test_a_deletion_request_is_queued_and_suppressed_at_once(
    server: RunningServer, project: Project, module_database_url: str
) -> None:
    with server.client(headers=project.bearer) as api:
        answer = api.post(
            "/v1/privacy/deletions", json={"userId": "route-user", "accountId": "acct-route"}
        )
    assert answer.status_code == 202, answer.text
    request = answer.json()
    assert request["id"].startswith("del_") and len(request["id"]) == 20
    assert answer.headers["location"] == f"/v1/privacy/deletions/{request['id']}"
    assert request["status"] in ("queued", "running", "done")  # the pipeline may be quick
    assert request["kind"] == "deletion"
    assert request["requested_by"].startswith("secret key")
    rows = _fetch(
        module_database_url,
        "SELECT kind, digest, request FROM privacy_suppressions WHERE project_id = $1 AND request = $2",
        project.id,
        request["id"],
    )
    assert {(r["kind"], r["digest"]) for r in rows} == {
        ("user", subject_digest(project.id, "user", "route-user")),
        ("account", subject_digest(project.id, "account", "acct-route")),
    }
    (audit,) = _fetch(
        module_database_url,
        "SELECT actor_kind, details::text AS details FROM audit_log "
        "WHERE project_id = $1 AND action = 'privacy.deletion_requested' AND object_id = $2",
        project.id,
        request["id"],
    )
    assert audit["actor_kind"] == "secret_key"
    assert subject_digest(project.id, "user", "route-user") in audit["details"]
    assert "route-user" not in audit["details"] and "acct-route" not in audit["details"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "subject_required"),
        ({"userId": None}, "subject_required"),
        ({"userId": "   "}, "invalid_subject"),
        ({"userId": "x" * 1001}, None),
        ({"anonymousId": "a\u0000b"}, "invalid_subject"),
        ({"email": "someone@example.com"}, None),
        ({"userId": 12}, None),
    ],
)
def test_bad_deletion_requests_are_400(
    server: RunningServer, project: Project, body: dict[str, Any], code: str | None
) -> None:
    with server.client(headers=project.bearer) as api:
        answer = api.post("/v1/privacy/deletions", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["message"]
    if code is not None:
        assert error["code"] == code


def test_requests_are_listed_newest_first_and_kept_per_project(
    server: RunningServer, project: Project, other_project: Project
) -> None:
    with server.client(headers=project.bearer) as api:
        ids = [
            api.post("/v1/privacy/deletions", json={"anonymousId": f"list-{n}"}).json()["id"]
            for n in range(3)
        ]
        first = api.get("/v1/privacy/deletions", params={"limit": 2}).json()
        assert [r["id"] for r in first["deletions"]] == ids[::-1][:2]
        rest = api.get(
            "/v1/privacy/deletions", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        assert rest["deletions"][0]["id"] == ids[0]
        one = api.get(f"/v1/privacy/deletions/{ids[1]}")
        assert one.status_code == 200 and one.json()["id"] == ids[1]
        assert api.get("/v1/privacy/deletions/del_0000000000000000").status_code == 404
    with server.client(headers=other_project.bearer) as other:
        assert other.get(f"/v1/privacy/deletions/{ids[1]}").status_code == 404
        listed = other.get("/v1/privacy/deletions").json()["deletions"]
        assert not {r["id"] for r in listed} & set(ids)
    with server.client() as anonymous:
        assert anonymous.get("/v1/privacy/deletions").status_code == 401


def test_retention_is_read_set_and_audited(
    server: RunningServer, other_project: Project, module_database_url: str
) -> None:
    with server.client(headers=other_project.bearer) as api:
        assert api.get("/v1/privacy/retention").json()["retention_days"] is None
        assert api.get("/v1/privacy/retention").json()["keep_rollups"] is True
        answer = api.put(
            "/v1/privacy/retention", json={"retention_days": 400, "keep_rollups": False}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["retention_days"] == 400
        assert api.get("/v1/privacy/retention").json()["keep_rollups"] is False
        assert api.put("/v1/privacy/retention", json={"retention_days": 0}).status_code == 400
        forever = api.put("/v1/privacy/retention", json={"retention_days": None})
        assert forever.json() == {**forever.json(), "retention_days": None, "keep_rollups": True}
    actions = _fetch(
        module_database_url,
        "SELECT details::text AS details FROM audit_log WHERE project_id = $1 AND action = "
        "'privacy.retention_changed' ORDER BY id",
        other_project.id,
    )
    changes = [json.loads(a["details"]) for a in actions]
    assert changes[0]["retention_days"] == [None, 400]
    assert changes[0]["keep_rollups"] == [True, False]


def _ingest_subjects(server: RunningServer, project: Project) -> dict[str, list[str]]:
    subject = {"userId": "export-user", "anonymousId": "export-anon"}
    batch = [
        {"type": "identify", "messageId": "ex-1", "traits": {"email": "e@example.com"}, **subject},
        {"type": "track", "messageId": "ex-2", "event": "Opened", "userId": "export-user"},
        {"type": "page", "messageId": "ex-3", "anonymousId": "export-anon"},
        {"type": "track", "messageId": "ex-bad", "userId": "export-user"},  # no event: failed
        {"type": "track", "messageId": "ex-other", "event": "Opened", "userId": "someone-else"},
        {"type": "track", "messageId": "ex-bad-other", "userId": "someone-else"},
    ]
    with server.client() as client:
        ack = client.post("/v1/batch", json={"batch": batch}, headers=project.basic_auth).json()
    assert ack["accepted"] == 4
    server.wait_for_lake({"ex-1", "ex-2", "ex-3", "ex-other"}, project.id)
    server.wait_for_lake({"ex-bad", "ex-bad-other"}, project.id, store="failed")
    return {"events": ["ex-1", "ex-2", "ex-3"], "failed": ["ex-bad"]}


def test_export_holds_the_subjects_data_only(
    server: RunningServer, project: Project, module_database_url: str
) -> None:
    expected = _ingest_subjects(server, project)
    _wait_for(
        lambda: _fetch(
            module_database_url,
            "SELECT 1 FROM users WHERE project_id = $1 AND user_id = 'export-user'",
            project.id,
        )
    )
    params = {"anonymous_id": "export-anon"}
    with server.client(headers=project.bearer) as api:
        answer = api.get("/v1/privacy/exports/export-user", params=params)
        assert answer.status_code == 200, answer.text
        assert "attachment" in answer.headers["content-disposition"]
        document = answer.json()
        assert document["subject"] == {"userId": "export-user", "anonymousId": "export-anon"}
        assert document["user"]["traits"] == {"email": "e@example.com"}
        assert sorted(e["message_id"] for e in document["events"]) == expected["events"]
        assert [e["message_id"] for e in document["failed_events"]] == expected["failed"]
        identify = next(e for e in document["events"] if e["message_id"] == "ex-1")
        assert identify["traits"] == {"email": "e@example.com"}  # an object, not JSON text
        zipped = api.get("/v1/privacy/exports/export-user", params={**params, "format": "zip"})
        assert zipped.status_code == 200
        assert zipped.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            assert sorted(archive.namelist()) == [
                "events.parquet", "failed_events.parquet", "profile.json",
            ]  # fmt: skip
            events = pq.read_table(io.BytesIO(archive.read("events.parquet")))
            failed = pq.read_table(io.BytesIO(archive.read("failed_events.parquet")))
            profile = json.loads(archive.read("profile.json"))
        assert sorted(events.column("message_id").to_pylist()) == expected["events"]
        assert failed.column("message_id").to_pylist() == expected["failed"]
        assert profile["user"]["user_id"] == "export-user"
        nobody = api.get("/v1/privacy/exports/nobody-at-all").json()
        assert nobody["user"] is None and nobody["events"] == [] and nobody["failed_events"] == []
    with server.client(headers={"Authorization": "Bearer sk_wrong"}) as stranger:
        assert stranger.get("/v1/privacy/exports/export-user").status_code == 401
    audits = _fetch(
        module_database_url,
        "SELECT details::text AS details FROM audit_log WHERE project_id = $1 "
        "AND action = 'privacy.exported'",
        project.id,
    )
    assert len(audits) >= 3
    assert all("export-user" not in a["details"] for a in audits)


def test_another_projects_key_exports_nothing_of_this_project(
    server: RunningServer, project: Project, other_project: Project
) -> None:
    server.wait_for_lake({"ex-1"}, project.id)
    with server.client(headers=other_project.bearer) as api:
        document = api.get(
            "/v1/privacy/exports/export-user", params={"anonymous_id": "export-anon"}
        ).json()
    assert document["user"] is None and document["events"] == [] and document["failed_events"] == []


def _cli(server: RunningServer, database_url: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env.update(DATABASE_URL=database_url, CXLOOP_DATA_DIR=str(server.data_dir))
    done = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "privacy", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_cli_exports_lists_and_sets_retention(
    server: RunningServer, project: Project, module_database_url: str, tmp_path: Path
) -> None:
    server.wait_for_lake({"ex-1", "ex-2", "ex-3"}, project.id)
    output = tmp_path / "export.json"
    _cli(server, module_database_url, "export", "--project", project.id,
         "--user-id", "export-user", "--output", str(output))  # fmt: skip
    document = json.loads(output.read_bytes())
    assert sorted(e["message_id"] for e in document["events"]) == ["ex-1", "ex-2"]
    archive_path = tmp_path / "export.zip"
    _cli(server, module_database_url, "export", "--project", project.id, "--user-id",
         "export-user", "--anonymous-id", "export-anon", "--format", "zip",
         "--output", str(archive_path))  # fmt: skip
    with zipfile.ZipFile(archive_path) as archive:
        events = pq.read_table(io.BytesIO(archive.read("events.parquet")))
    assert sorted(events.column("message_id").to_pylist()) == ["ex-1", "ex-2", "ex-3"]

    listed = _cli(server, module_database_url, "requests", "--project", project.id)
    assert "del_" in listed and "secret key" in listed
    shown = json.loads(
        _cli(
            server,
            module_database_url,
            "retention",
            "--project",
            project.id,
            "--days",
            "90",
            "--drop-rollups",
        )
    )
    assert shown["retention_days"] == 90 and shown["keep_rollups"] is False
    forever = json.loads(
        _cli(server, module_database_url, "retention", "--project", project.id, "--forever")
    )
    assert forever["retention_days"] is None and forever["keep_rollups"] is False
    actors = _fetch(
        module_database_url,
        "SELECT actor_kind, actor_label FROM audit_log WHERE project_id = $1 "
        "AND action IN ('privacy.exported', 'privacy.retention_changed') AND actor_kind = 'cli'",
        project.id,
    )
    assert len(actors) == 4 and all(a["actor_label"].startswith("cli (") for a in actors)

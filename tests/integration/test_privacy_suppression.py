"""Suppression over HTTP: after a deletion request the subject's events are refused at ingest
(never in the WAL nor the lake) and dropped by the pipeline if a worker logged them first."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from cxloop.projects import subject_digest
from tests.helpers.server import Project, RunningServer

T = TypeVar("T")


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    # Segments stay open a while, so the test can read what the WAL holds right after the ack;
    # workers and the pipeline learn of suppressions from PostgreSQL every second.
    return {"wal_segment_max_age_s": 2, "key_refresh_s": 1}


def _wait_for(check: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the condition never held")


def _wal_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (data_dir / "wal").glob("*/*") if p.is_file())


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_the_subjects_events_are_refused_after_a_deletion_request(
    server: RunningServer, project: Project
) -> None:
    marker = uuid.uuid4().hex
    with server.client(headers=project.bearer) as api:
        answer = api.post("/v1/privacy/deletions", json={"userId": "forgotten"})
        assert answer.status_code == 202
        before = _metric(api.get("/metrics").text, "cxloop_ingest_suppressed_events_total")
    batch = [
        {"type": "track", "event": "Kept", "messageId": f"keep-{marker}", "userId": "still-here",
         "properties": {"note": f"positive-{marker}"}},
        {"type": "track", "event": "Gone", "messageId": f"gone-{marker}", "userId": "forgotten",
         "properties": {"note": f"negative-{marker}"}},
        {"type": "identify", "messageId": f"gone2-{marker}", "userId": "forgotten",
         "traits": {"email": f"negative-{marker}@example.com"}},
    ]  # fmt: skip
    with server.client() as client:
        ack = client.post("/v1/batch", json={"batch": batch}, headers=project.basic_auth).json()
        single = client.post(
            "/v1/track",
            json={"event": "Gone", "userId": "forgotten", "messageId": f"gone3-{marker}"},
            headers=project.basic_auth,
        ).json()
    assert ack["accepted"] == 1
    assert [(r["index"], r["reason"]) for r in ack["rejected"]] == [
        (1, "subject_deleted"),
        (2, "subject_deleted"),
    ]
    assert single["accepted"] == 0 and single["rejected"][0]["reason"] == "subject_deleted"
    # Read before the segment is sealed (2 s): the kept event is there, the others never were.
    wal = _wal_bytes(server.data_dir)
    assert f"positive-{marker}".encode() in wal
    assert f"negative-{marker}".encode() not in wal and f"gone3-{marker}".encode() not in wal
    server.wait_for_lake({f"keep-{marker}"}, project.id)
    everything = server.lake_ids(project.id) + server.lake_ids(project.id, "failed")
    assert not [i for i in everything if i.startswith(("gone-", "gone2-", "gone3-"))]
    with server.client() as client:
        after = _metric(client.get("/metrics").text, "cxloop_ingest_suppressed_events_total")
    assert after - before == 3


def _suppress_directly(database_url: str, project_id: str, user_id: str) -> None:
    """As another worker's deletion request would: in PostgreSQL only, not in this worker."""

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "INSERT INTO privacy_suppressions (project_id, kind, digest) VALUES ($1, 'user', $2)",
                project_id,
                subject_digest(project_id, "user", user_id),
            )
        finally:
            await conn.close()

    asyncio.run(run())


def test_the_pipeline_drops_what_a_worker_logged_before_it_knew(
    server: RunningServer, project: Project, module_database_url: str
) -> None:
    # The worker refreshes every second: if it learnt first (its ack says so), try again.
    for attempt in range(5):
        subject = f"late-{attempt}-{uuid.uuid4().hex[:8]}"
        _suppress_directly(module_database_url, project.id, subject)
        events = [
            {"type": "track", "event": "Late", "messageId": f"{subject}-e", "userId": subject},
            {"type": "track", "messageId": f"{subject}-f", "userId": subject},  # failed
            {"type": "track", "event": "Late", "messageId": f"{subject}-k", "userId": "k"},
        ]
        with server.client() as client:
            ack = client.post("/v1/batch", json={"batch": events}, headers=project.basic_auth)
        if not any(r["reason"] == "subject_deleted" for r in ack.json()["rejected"]):
            break
    else:
        pytest.fail("the worker always knew of the suppression before the events came")
    server.wait_for_lake({f"{subject}-k"}, project.id)
    assert f"{subject}-e" not in server.lake_ids(project.id)
    assert f"{subject}-f" not in server.lake_ids(project.id, "failed")

    def counted() -> float:
        with server.client() as client:
            text = client.get("/metrics").text
        return _metric(text, "cxloop_pipeline_suppressed_events_total")

    assert _wait_for(lambda: counted() >= 2)

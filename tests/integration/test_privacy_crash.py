"""kill -9 the whole server while a deletion rewrites lake files: after a restart every file
opens, no other event is lost or duplicated, and the deletion finishes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pyarrow.parquet as pq
import pytest

from tests.helpers.server import Project, create_project, running_server, server_env, start_server

pytestmark = pytest.mark.slow

SUBJECT = "crash-subject-91d2"
DAYS = 30
BATCHES = 24


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def batch(now: datetime) -> list[dict[str, Any]]:
    """The subject and another user on each of ``DAYS`` days: one file per day per segment."""
    return [
        {
            "type": "track",
            "event": "Report Viewed",
            "userId": user,
            "messageId": str(uuid.uuid4()),
            "timestamp": iso(now - timedelta(days=day, minutes=5)),
            "sentAt": iso(now),
        }
        for day in range(DAYS)
        for user in (SUBJECT, f"other-{day % 3}")
    ]


def request_state(url: str, request_id: str) -> tuple[str, dict[str, Any]]:
    async def fetch() -> tuple[str, dict[str, Any]]:
        conn = await asyncpg.connect(url)
        try:
            row = await conn.fetchrow(
                "SELECT status, receipt::text AS receipt FROM privacy_requests WHERE id = $1",
                request_id,
            )
        finally:
            await conn.close()
        assert row is not None
        return row["status"], json.loads(row["receipt"])

    return asyncio.run(fetch())


def test_kill_9_during_the_lake_rewrite_then_restart_finishes_it(
    database_url: str, tmp_path: Path
) -> None:
    project: Project = create_project(database_url, "crash")
    # Hundreds of small files, for the job to be killed mid-rewrite: merging them is off.
    env = server_env(tmp_path, database_url, key_refresh_s=0.5, lake_merge_min_files=0)
    server = start_server(env, tmp_path)
    acked: list[str] = []
    subject_ids: set[str] = set()
    try:
        with server.client() as client:
            for _ in range(BATCHES):
                events = batch(datetime.now(UTC))
                answer = client.post(
                    "/v1/batch", json={"batch": events}, headers=project.basic_auth
                ).json()
                assert answer["accepted"] == len(events)
                acked += [e["messageId"] for e in events if e["userId"] != SUBJECT]
                subject_ids |= {e["messageId"] for e in events if e["userId"] == SUBJECT}
                time.sleep(0.3)  # a new WAL segment: new files in every day's partition
        server.wait_for_lake(set(acked) | subject_ids, project.id, timeout=120)
        files = len(list((tmp_path / "lake" / "events").rglob("*.parquet")))
        assert files >= DAYS * 10, files

        out = subprocess.run(
            [sys.executable, "-m", "cxloop.cli", "privacy", "delete", "--project", project.id,
             "--user-id", SUBJECT, "--json"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        request_id = json.loads(out.stdout)["id"]

        # Kill once the rewrite is under way (its progress is committed every ~2 s).
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status, receipt = request_state(database_url, request_id)
            lake = receipt.get("lake", {})
            found = lake.get("files_rewritten", 0) + lake.get("files_removed", 0)
            # Some files rewritten (committed), others still to do.
            if receipt.get("phase") == "lake" and 0 < len(lake.get("pending", [])) < found:
                break
            assert status != "done", "the deletion finished before it could be interrupted"
            time.sleep(0.02)
        else:
            raise AssertionError("the rewrite never started")
    finally:
        server.stop(signal.SIGKILL)  # every process of the group, mid-rewrite
    interrupted_at = found

    # Whatever the kill left is readable: every file opens (temps are hidden, not read).
    for path in (tmp_path / "lake").rglob("*.parquet"):
        pq.read_table(path)

    with running_server(
        tmp_path, database_url, key_refresh_s=0.5, lake_merge_min_files=0
    ) as restarted:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, receipt = request_state(database_url, request_id)
            if status in ("done", "failed"):
                break
            time.sleep(0.2)
        assert status == "done", receipt
        with httpx.Client(base_url=restarted.url, timeout=10) as client:
            assert client.get("/readyz").status_code == 200
        lake_ids = Counter(restarted.lake_ids(project.id))

    # Counted when found and committed before the rewrite: exact across the crash.
    assert receipt["lake"]["events"] == len(subject_ids)
    assert receipt["lake"]["files_rewritten"] + receipt["lake"]["files_removed"] >= interrupted_at
    assert not [i for i in acked if lake_ids[i] != 1], "an event was lost or duplicated"
    assert not subject_ids & set(lake_ids)
    for path in (tmp_path / "lake").rglob("*.parquet"):
        pq.read_table(path)
    assert not list((tmp_path / "lake").rglob(".*.tmp"))


def pipeline_process(server_pid: int) -> psutil.Process:
    """The serve's pipeline: the child that runs SCHED_IDLE (or nice 10)."""
    for child in psutil.Process(server_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error, OSError):
            if child.nice() > 0 or os.sched_getscheduler(child.pid) == os.SCHED_IDLE:
                return child
    raise AssertionError("no pipeline process found")


def test_the_subjects_events_still_in_the_wal_are_dropped_and_counted(
    database_url: str, tmp_path: Path
) -> None:
    """Acked before the request but not in the lake yet (the pipeline stopped): the pipeline
    drops them when it goes on, and every one is accounted for in the receipt."""
    project = create_project(database_url, "wal")
    with running_server(tmp_path, database_url, key_refresh_s=0.5) as server:
        now = datetime.now(UTC)
        with server.client() as client:
            others = [e for e in batch(now) if e["userId"] != SUBJECT][:10]
            client.post("/v1/batch", json={"batch": others}, headers=project.basic_auth)
            server.wait_for_lake({e["messageId"] for e in others}, project.id)
            pipeline = pipeline_process(server.process.pid)
            pipeline.suspend()
            try:
                mine = [e for e in batch(now) if e["userId"] == SUBJECT][:10]
                answer = client.post(
                    "/v1/batch", json={"batch": mine}, headers=project.basic_auth
                ).json()
                assert answer["accepted"] == len(mine)
                out = subprocess.run(
                    [sys.executable, "-m", "cxloop.cli", "privacy", "delete", "--project",
                     project.id, "--user-id", SUBJECT, "--json"],
                    env=server.env, capture_output=True, text=True, timeout=60, check=True,
                )  # fmt: skip
                request_id = json.loads(out.stdout)["id"]
            finally:
                pipeline.resume()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status, receipt = request_state(database_url, request_id)
            if status in ("done", "failed"):
                break
            time.sleep(0.2)
        assert status == "done", receipt
        lake_ids = set(server.lake_ids(project.id))
    # Dropped by the pipeline's filter, or (had it compacted them before it refreshed its
    # list) removed from the lake: each of the subject's events exactly once, none left.
    assert receipt["wal"]["events_dropped"] + receipt["lake"]["events"] == len(mine), receipt
    assert not {e["messageId"] for e in mine} & lake_ids
    assert {e["messageId"] for e in others} <= lake_ids

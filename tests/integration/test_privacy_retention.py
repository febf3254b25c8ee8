"""Retention: the pipeline removes day partitions older than a project's retention_days, keeps
recent ones, and keeps or drops the rollups of those days as the project says."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cxloop.lake import partition_dir
from tests.helpers.server import Project, RunningServer

T = TypeVar("T")


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    return {"retention_interval_s": 0.5}


def _wait_for(check: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the condition never held")


def _ingest(server: RunningServer, project: Project, now: datetime) -> dict[str, str]:
    stamps = {"old": now - timedelta(days=100), "recent": now - timedelta(days=2)}
    batch = [
        {"type": "track", "event": "Used", "userId": "u", "messageId": f"{project.id}-{age}",
         "timestamp": stamp.isoformat()}
        for age, stamp in stamps.items()
    ]  # fmt: skip
    batch.append({"type": "track", "userId": "u", "messageId": f"{project.id}-failed"})
    with server.client() as client:
        answer = client.post(
            "/v1/batch",
            json={"batch": batch, "sentAt": now.isoformat()},
            headers=project.basic_auth,
        )
    assert answer.json()["accepted"] == 2
    server.wait_for_lake({f"{project.id}-old", f"{project.id}-recent"}, project.id)
    server.wait_for_lake({f"{project.id}-failed"}, project.id, store="failed")
    return {age: stamp.date().isoformat() for age, stamp in stamps.items()}


def _plant(source_dir: Path, target: Path) -> None:
    """A copy of a real partition under another date (failed events are dated by receipt,
    rollups are made hourly: neither can be made old through the API)."""
    target.mkdir(parents=True, exist_ok=True)
    for file in source_dir.glob("*.parquet"):
        shutil.copy(file, target / file.name)


def test_old_partitions_leave_the_lake_and_recent_ones_stay(
    server: RunningServer, project: Project, other_project: Project
) -> None:
    lake = server.data_dir / "lake"
    now = datetime.now(UTC)
    today = now.date()
    old_day, recent_day = today - timedelta(days=100), today - timedelta(days=2)
    planted: dict[str, dict[str, Path]] = {}
    for owner in (project, other_project):
        _ingest(server, owner, now)
        failed_today = partition_dir(lake, "failed", owner.id, today)
        events_recent = partition_dir(lake, "events", owner.id, recent_day)
        paths = {
            "failed_old": partition_dir(lake, "failed", owner.id, old_day),
            "rollup_old": partition_dir(lake / "rollups", "usage_user", owner.id, old_day),
            "rollup_recent": partition_dir(lake / "rollups", "usage_user", owner.id, recent_day),
        }
        _plant(failed_today, paths["failed_old"])
        _plant(events_recent, paths["rollup_old"])
        _plant(events_recent, paths["rollup_recent"])
        planted[owner.id] = {
            **paths,
            "events_old": partition_dir(lake, "events", owner.id, old_day),
            "events_recent": events_recent,
            "failed_today": failed_today,
        }
        assert planted[owner.id]["events_old"].is_dir()

    for owner, keep in ((project, True), (other_project, False)):
        with server.client(headers=owner.bearer) as api:
            answer = api.put(
                "/v1/privacy/retention", json={"retention_days": 30, "keep_rollups": keep}
            )
            assert answer.status_code == 200, answer.text

    for owner in (project, other_project):
        _wait_for(lambda owner=owner: not planted[owner.id]["events_old"].exists())
        _wait_for(lambda owner=owner: not planted[owner.id]["failed_old"].exists())
        for kept in ("events_recent", "failed_today", "rollup_recent"):
            assert planted[owner.id][kept].is_dir(), kept
    _wait_for(lambda: not planted[other_project.id]["rollup_old"].exists())
    assert planted[project.id]["rollup_old"].is_dir()  # keep_rollups
    assert not list((lake / ".trash").iterdir())
    ids = server.lake_ids(project.id)
    assert f"{project.id}-recent" in ids and f"{project.id}-old" not in ids
    assert server.lake_ids(project.id, "failed") == [f"{project.id}-failed"]

    def removed() -> dict[str, float]:
        with server.client() as client:
            metrics = client.get("/metrics").text
        found = re.findall(
            r'^cxloop_retention_partitions_removed_total\{store="(\w+)"\} ([0-9.e+]+)$',
            metrics,
            re.MULTILINE,
        )
        return {store: float(value) for store, value in found}

    expected = {"events": 2.0, "failed": 2.0, "rollups": 1.0}
    # The pipeline publishes its metrics at the end of each round.
    assert _wait_for(lambda: removed() == expected, timeout=10)

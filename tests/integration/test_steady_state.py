"""The steady-state mechanisms of issue 18 on a real ``cxloop serve``, asserting mechanisms,
not timings (``bench/soak.py`` measures those):

* with the pipeline stopped (SIGSTOP) and a small ``wal_backlog_max_bytes``, ingest refuses
  with ``503`` + ``Retry-After`` + ``pipeline_behind`` before the WAL's backlog passes its
  bound (give or take what one backlog scan interval lets through), the lag gauge is above 0
  and ``/readyz`` says why; resumed, the backlog drains and ingest acks again;
* many small late batches, each its own segment and so its own file in one partition-day,
  are merged: files per partition-day stay at most ``lake_merge_min_files``;
* exactly once by ids throughout: every acked event is in the lake once, nothing refused is.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pyarrow as pa
import pytest

from cxloop.wal import backlog
from tests.helpers.server import Project, RunningServer

BACKLOG_BOUND = 1_000_000  # bytes of acked WAL not yet in the lake
MERGE_MIN_FILES = 3
EVENTS_PER_BATCH = 20
# The worker scans the backlog every 0.5 s and acks in between: sending at most
# SEND_PER_S batches of ~10 KB a second lets at most ~100 KB past the bound before a scan.
SEND_PER_S = 20
SCAN_SLACK = BACKLOG_BOUND // 4


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    return {
        "wal_backlog_max_bytes": BACKLOG_BOUND,
        "wal_backlog_max_s": 0,  # the bytes bound alone decides here
        "lake_merge_min_files": MERGE_MIN_FILES,
    }


def _event(message_id: str, at: datetime, i: int) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Feature Used",
        "messageId": message_id,
        "userId": f"user_{i % 50}",
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "properties": {"feature": "reports", "count": i, "padding": "x" * 300},
        "context": {"groupId": f"acct_{i % 7}", "page": {"path": "/app/reports"}},
    }


def _batch(ids: list[str], at: datetime) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"batch": [_event(m, at, i) for i, m in enumerate(ids)], "sentAt": now}


def _pipeline(server: RunningServer) -> psutil.Process:
    """The pipeline process: the one child that gives way to the workers (SCHED_IDLE or
    nice 10, ARCHITECTURE.md decision 26)."""
    found = []
    for child in psutil.Process(server.process.pid).children(recursive=True):
        try:
            if child.nice() > 0 or os.sched_getscheduler(child.pid) == os.SCHED_IDLE:
                found.append(child)
        except (psutil.Error, OSError):
            continue
    assert len(found) == 1, f"expected one pipeline process, found {found}"
    return found[0]


@contextmanager
def _paused(process: psutil.Process) -> Iterator[None]:
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def _gauge(client: httpx.Client, name: str) -> float | None:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _wait_gauge(client: httpx.Client, name: str, ok: Any, timeout: float = 10) -> float | None:
    """The gauge once ``ok(value)`` holds (metrics of other processes arrive by snapshot
    files, a moment late), or its last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = _gauge(client, name)
    while not (value is not None and ok(value)) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = _gauge(client, name)
    return value


def _lake_counts(server: RunningServer, project: Project) -> Counter[str]:
    """Message ids in the lake; a read that races a merge replacing files is read again."""
    for _ in range(20):
        try:
            return Counter(server.lake_ids(project.id))
        except (OSError, pa.ArrowException):
            time.sleep(0.1)
    return Counter(server.lake_ids(project.id))


def _wait_for_lake(
    server: RunningServer, project: Project, ids: set[str], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ids <= set(_lake_counts(server, project)):
            return
        time.sleep(0.2)
    missing = ids - set(_lake_counts(server, project))
    raise AssertionError(f"{len(missing)} ids never reached the lake, e.g. {sorted(missing)[:3]}")


def _partition_files(server: RunningServer, project: Project, day: str) -> list[Path]:
    root = server.data_dir / "lake" / "events" / f"project_id={project.id}" / f"date={day}"
    return sorted(p for p in root.glob("*.parquet") if not p.name.startswith((".", "_")))


class Ledger:
    """What the test sent, by outcome: acked ids must be in the lake once, refused ids not."""

    def __init__(self) -> None:
        self.acked: list[str] = []
        self.refused: list[str] = []

    def send(self, client: httpx.Client, project: Project, ids: list[str], at: datetime) -> Any:
        answer = client.post("/v1/batch", json=_batch(ids, at), headers=project.basic_auth)
        if answer.status_code == 200:
            assert answer.json()["rejected"] == [], answer.text
            self.acked += ids
        else:
            self.refused += ids
        return answer

    def assert_exactly_once(self, server: RunningServer, project: Project) -> None:
        counts = _lake_counts(server, project)
        missing = [i for i in self.acked if counts[i] == 0]
        twice = [i for i in self.acked if counts[i] > 1]
        stored_refused = [i for i in self.refused if counts[i]]
        assert not missing, f"{len(missing)} acked ids not in the lake, e.g. {missing[:3]}"
        assert not twice, f"{len(twice)} acked ids more than once, e.g. {twice[:3]}"
        assert not stored_refused, f"refused ids in the lake, e.g. {stored_refused[:3]}"


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger()


def test_backpressure_engages_before_the_bound_and_the_backlog_drains(
    server: RunningServer, project: Project, ledger: Ledger
) -> None:
    wal_dir = server.data_dir / "wal"
    now = datetime.now(UTC)
    with server.client() as client, _paused(_pipeline(server)):
        refusal: httpx.Response | None = None
        pending_at_refusal = 0
        for n in range(400):  # ~4 MB offered against a 1 MB bound
            answer = ledger.send(
                client, project, [f"bp-{n}-{j}" for j in range(EVENTS_PER_BATCH)], now
            )
            if answer.status_code != 200:
                refusal, pending_at_refusal = answer, backlog(wal_dir).pending_bytes
                break
            time.sleep(1 / SEND_PER_S)
        assert refusal is not None, "ingest never refused although the pipeline was stopped"
        assert refusal.status_code == 503, refusal.text
        assert refusal.json()["code"] == "pipeline_behind", refusal.text
        assert int(refusal.headers["Retry-After"]) >= 1
        assert len(ledger.acked) >= EVENTS_PER_BATCH, "refused before anything was acked"
        assert pending_at_refusal <= BACKLOG_BOUND + SCAN_SLACK, pending_at_refusal

        # Still refusing while behind, and the backlog does not grow past the bound.
        for n in range(20):
            answer = ledger.send(client, project, [f"bp-more-{n}-{j}" for j in range(5)], now)
            assert answer.status_code == 503, answer.text
            time.sleep(1 / SEND_PER_S)
        pending = backlog(wal_dir).pending_bytes
        assert pending <= BACKLOG_BOUND + SCAN_SLACK, pending
        assert pending >= 0.8 * BACKLOG_BOUND, pending

        lag = _wait_gauge(client, "cxloop_pipeline_lag_seconds", lambda v: v > 0)
        assert lag is not None and lag > 0, lag
        pending_gauge = _wait_gauge(
            client, "cxloop_wal_backlog_bytes", lambda v: v >= 0.8 * BACKLOG_BOUND
        )
        assert pending_gauge is not None and pending_gauge >= 0.8 * BACKLOG_BOUND, pending_gauge
        refused_total = _wait_gauge(client, "cxloop_ingest_backpressure_total", lambda v: v >= 21)
        assert refused_total is not None and refused_total >= 21, refused_total
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["pipeline"]["behind"] is True, ready.text

    # Resumed: the backlog drains, the lag returns to 0 and ingest acks again.
    with server.client() as client:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and backlog(wal_dir).pending_bytes:
            time.sleep(0.2)
        assert backlog(wal_dir).pending_bytes == 0, "the backlog never drained"
        answer = None
        while time.monotonic() < deadline:
            answer = ledger.send(client, project, [f"bp-after-{time.time_ns()}"], now)
            if answer.status_code == 200:
                break
            time.sleep(min(float(answer.headers.get("Retry-After", 1)), 2.0))
        assert answer is not None and answer.status_code == 200, answer and answer.text
        lag = _wait_gauge(client, "cxloop_pipeline_lag_seconds", lambda v: v == 0, timeout=30)
        assert lag == 0, lag
    _wait_for_lake(server, project, set(ledger.acked))
    ledger.assert_exactly_once(server, project)


def test_small_late_files_are_merged(
    server: RunningServer, project: Project, ledger: Ledger
) -> None:
    late = datetime.now(UTC) - timedelta(days=3)
    day = late.date().isoformat()
    batches = 4 * MERGE_MIN_FILES
    with server.client() as client:
        for n in range(batches):
            ids = [f"late-{n}-{j}" for j in range(3)]
            answer = ledger.send(client, project, ids, late)
            assert answer.status_code == 200, answer.text
            # Each batch in a segment of its own, compacted before the next: one small file
            # per batch in the same partition-day, unless they are merged.
            _wait_for_lake(server, project, set(ids), timeout=30)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            files = _partition_files(server, project, day)
            if len(files) <= MERGE_MIN_FILES:
                break
            time.sleep(0.5)
        assert files, f"nothing in the partition-day {day}"
        assert len(files) <= MERGE_MIN_FILES, [f.name for f in files]
        merges = _wait_gauge(client, "cxloop_lake_merges_total", lambda v: v >= 1)
        merged = _wait_gauge(
            client, "cxloop_lake_files_merged_total", lambda v: v >= MERGE_MIN_FILES
        )
        assert merges is not None and merges >= 1, merges
        assert merged is not None and merged >= MERGE_MIN_FILES, merged
    ledger.assert_exactly_once(server, project)
    late_ids = {i for i in ledger.acked if i.startswith("late-")}
    assert len(late_ids) == 3 * batches

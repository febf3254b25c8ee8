"""/readyz says when the pipeline is behind (503 while ingest refuses), /metrics shows the
backlog as the latest WAL scan measured it, not a stopped pipeline's last word."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from litestar import Litestar
from litestar.testing import TestClient

from cxloop.db import ResilientPool
from cxloop.ops import OpsController, Registry, Runtime
from cxloop.ops.controller import pipeline_state
from cxloop.wal import Backlog, BacklogGate, BacklogView

NS = 1_000_000_000
NOW_NS = 1_795_428_000 * NS


class FakeDatabase:
    async def probe(self, timeout_s: float) -> str | None:
        return None


@dataclass
class FakeWriter:
    not_ready_reason: str | None = None
    gate: BacklogGate = field(default_factory=lambda: BacklogGate(max_bytes=1000, max_s=0))

    @property
    def backlog_view(self) -> BacklogView | None:
        return self.gate.view


def observe(writer: FakeWriter, pending: int, lag_s: float) -> None:
    writer.gate.observe(
        Backlog(
            scanned_ns=NOW_NS,
            pending_bytes=pending,
            unprojected_bytes=pending + 50,
            oldest_unlaked_ns=NOW_NS - int(lag_s * NS),
            oldest_unprojected_ns=NOW_NS - int((lag_s + 1) * NS),
            pending={"w0-1": pending},
        ),
        time.monotonic(),
    )


def client(writer: FakeWriter, metrics_dir: Path) -> TestClient[Litestar]:
    app = Litestar(route_handlers=[OpsController], logging_config=None)
    app.state.runtime = Runtime(
        registry=Registry(),
        writer=writer,
        database=cast(ResilientPool, FakeDatabase()),
        metrics_dir=metrics_dir,
        process_name="w0",
    )
    return TestClient(app)


def test_ready_with_the_pipeline_keeping_up(tmp_path: Path) -> None:
    writer = FakeWriter()
    observe(writer, pending=400, lag_s=2.5)
    with client(writer, tmp_path) as http:
        answer = http.get("/readyz")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    assert body["status"] == "ready"
    assert body["pipeline"] == {
        "behind": False,
        "lag_seconds": 2.5,
        "projection_lag_seconds": 3.5,
        "backlog_bytes": 400,
        "unprojected_bytes": 450,
    }


def test_not_ready_while_back_pressure_refuses_ingest(tmp_path: Path) -> None:
    writer = FakeWriter()
    observe(writer, pending=5000, lag_s=40)
    with client(writer, tmp_path) as http:
        answer = http.get("/readyz")
    assert answer.status_code == 503
    body: dict[str, Any] = answer.json()
    assert body["status"] == "not_ready" and body["wal"] == "ok"
    pipeline = body["pipeline"]
    assert pipeline["behind"] is True and pipeline["lag_seconds"] == 40.0
    assert "wal_backlog_max_bytes" in pipeline["reason"]
    assert pipeline["retry_after_seconds"] == BacklogGate.UNKNOWN_RATE_RETRY_S


def test_metrics_show_the_scanned_backlog_over_a_stale_pipeline_snapshot(tmp_path: Path) -> None:
    # The pipeline's last snapshot, written before it stopped: it said it was caught up.
    stale = Registry()
    stale.gauge("cxloop_pipeline_lag_seconds", "lag").set(0.0)
    stale.gauge("cxloop_wal_backlog_bytes", "bytes").set(0.0)
    stale.write_snapshot(tmp_path / "pipeline.json")
    writer = FakeWriter()
    observe(writer, pending=5000, lag_s=40)
    with client(writer, tmp_path) as http:
        text = http.get("/metrics").text
    assert "cxloop_pipeline_lag_seconds 40\n" in text
    assert "cxloop_wal_backlog_bytes 5000\n" in text
    assert "cxloop_wal_unprojected_bytes 5050\n" in text
    assert "cxloop_projection_lag_seconds 41\n" in text


def test_no_state_without_a_fresh_scan() -> None:
    writer = FakeWriter()
    assert pipeline_state(writer) is None  # never scanned
    observe(writer, pending=10, lag_s=1)
    assert pipeline_state(writer) is not None
    assert pipeline_state(writer, now=time.monotonic() + 60) is None  # scans stopped
    assert pipeline_state(object()) is None  # a writer that does not scan


@dataclass
class FixedView:
    view: BacklogView

    @property
    def backlog_view(self) -> BacklogView | None:
        return self.view


def test_the_projected_wait_and_the_capacity_are_shown_once_measured() -> None:
    view = BacklogView(
        scanned_at=time.monotonic(),
        lag_s=3.0,
        projection_lag_s=4.0,
        pending_bytes=2_000_000,
        unprojected_bytes=2_500_000,
        drain_bytes_per_s=150_000.04,
        behind=None,
        capacity_bytes_per_s=200_000.04,
        projected_lag_s=13.0004,
    )
    state = pipeline_state(FixedView(view))
    assert state is not None
    assert state.capacity_bytes_per_s == 200_000.0
    assert state.projected_lag_seconds == 13.0
    unmeasured = pipeline_state(FixedView(without_capacity(view)))
    assert unmeasured is not None and unmeasured.projected_lag_seconds is None


def without_capacity(view: BacklogView) -> BacklogView:
    """The same scan before any busy stretch: no capacity, no projection."""
    return dataclasses.replace(view, capacity_bytes_per_s=None, projected_lag_s=None)

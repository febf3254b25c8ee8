"""Back-pressure on the WAL backlog: when ingest is refused, when it resumes, what Retry-After
says, and the answer ingest gives meanwhile."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from cxloop.ingest import Limits
from cxloop.ingest.service import IngestService, RateLimiter, behind_answer, spread_retry_after
from cxloop.ops.metrics import Registry
from cxloop.wal import (
    WAL_SCHEMA,
    Backlog,
    BacklogGate,
    PipelineBehind,
    WalWriter,
    acquire_slot,
)
from tests.helpers.rows import wal_row

NS = 1_000_000_000
NOW_NS = 1_795_428_000 * NS


def scan(pending: dict[str, int], lag_s: float = 0.0) -> Backlog:
    total = sum(pending.values())
    return Backlog(
        scanned_ns=NOW_NS,
        pending_bytes=total,
        unprojected_bytes=total,
        oldest_unlaked_ns=NOW_NS - int(lag_s * NS) if pending else None,
        oldest_unprojected_ns=NOW_NS - int(lag_s * NS) if pending else None,
        pending=pending,
        in_flight=frozenset(pending),
    )


def test_no_bound_never_refuses() -> None:
    gate = BacklogGate(max_bytes=0, max_s=0)
    assert not gate.bounded
    assert gate.observe(scan({"w0-1": 10**12}, lag_s=10**6), now=0.0) is None


def test_bounds_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        BacklogGate(max_bytes=-1, max_s=0)


def test_bytes_bound_engages_and_releases_only_under_80_percent() -> None:
    gate = BacklogGate(max_bytes=1000, max_s=0)
    assert gate.observe(scan({"a": 1000}), now=0.0) is None, "at the bound is not over it"
    behind = gate.observe(scan({"a": 1000, "b": 1}), now=1.0)
    assert behind is not None and "wal_backlog_max_bytes" in behind.reason
    # Back under the bound but over 80 % of it: still refusing (no flapping at the edge).
    assert gate.observe(scan({"b": 900}), now=2.0) is not None
    assert gate.observe(scan({"b": 801}), now=3.0) is not None
    assert gate.observe(scan({"b": 800}), now=4.0) is None
    # Re-engages only past the bound again, not past 80 %.
    assert gate.observe(scan({"b": 800, "c": 150}), now=5.0) is None
    assert gate.view is not None and gate.view.behind is None


def test_age_bound_engages_on_the_oldest_unlaked_event() -> None:
    gate = BacklogGate(max_bytes=0, max_s=20)
    assert gate.observe(scan({"a": 10}, lag_s=19.9), now=0.0) is None
    behind = gate.observe(scan({"a": 10}, lag_s=20.5), now=1.0)
    assert behind is not None and "wal_backlog_max_s" in behind.reason
    assert gate.observe(scan({"a": 10}, lag_s=16.5), now=2.0) is not None
    assert gate.observe(scan({"a": 10}, lag_s=15.9), now=3.0) is None
    assert gate.observe(scan({}), now=4.0) is None


def test_retry_after_is_the_excess_over_the_resume_line_at_the_drain_rate() -> None:
    gate = BacklogGate(max_bytes=1000, max_s=0)
    # No drain observed yet: the answer for an unknown rate.
    first = gate.observe(scan({"a": 600, "b": 600}), now=0.0)
    assert first is not None and first.retry_after_s == BacklogGate.UNKNOWN_RATE_RETRY_S
    # Segment "a" (600 bytes) went into the lake within 2 s: 300 bytes/s drained; "c" arrived.
    behind = gate.observe(scan({"b": 600, "c": 1000}), now=2.0)
    assert gate.drain_bytes_per_s == pytest.approx(300.0)
    # 1600 pending, resume at 800: 800 bytes to drain at 300 bytes/s -> ceil(2.67) = 3 s.
    assert behind is not None and behind.retry_after_s == 3
    assert gate.view is not None and gate.view.drain_bytes_per_s == pytest.approx(300.0)


def test_retry_after_for_the_age_bound_assumes_events_spread_over_the_lag() -> None:
    gate = BacklogGate(max_bytes=0, max_s=20)
    gate.observe(scan({"a": 1000, "b": 4000}, lag_s=40), now=0.0)
    behind = gate.observe(scan({"b": 4000}, lag_s=40), now=1.0)  # 1000 bytes/s drained
    # Resume at 16 s of lag: (40 - 16) / 40 of the 4000 pending bytes = 2400 bytes -> 3 s.
    assert behind is not None and behind.retry_after_s == 3


def test_retry_after_is_clamped_and_a_pipeline_that_drains_nothing_gets_the_most() -> None:
    gate = BacklogGate(max_bytes=1000, max_s=0)
    gate.observe(scan({"a": 5000}), now=0.0)
    stuck = gate.observe(scan({"a": 5000}), now=1.0)
    assert stuck is not None and stuck.retry_after_s == BacklogGate.MAX_RETRY_S == 60
    fast = BacklogGate(max_bytes=1000, max_s=0)
    fast.observe(scan({"a": 10**9, "b": 1001}), now=0.0)
    quick = fast.observe(scan({"b": 1001}), now=1.0)
    assert quick is not None and quick.retry_after_s == BacklogGate.MIN_RETRY_S == 1


def test_drain_rate_spans_the_steps_in_which_the_pipeline_compacts() -> None:
    gate = BacklogGate(max_bytes=1000, max_s=0)
    gate.observe(scan({"a": 3000, "b": 3000}), now=0.0)
    gate.observe(scan({"b": 3000}), now=1.0)  # "a" compacted: 3000 bytes in one step
    for second in range(2, 30):  # nothing more for a while: "b" is being compacted
        behind = gate.observe(scan({"b": 3000}), now=float(second))
    # 3000 bytes over the 29 s seen so far, not 0 between two steps.
    assert gate.drain_bytes_per_s == pytest.approx(3000 / 29)
    assert behind is not None and behind.retry_after_s == 22  # (3000 - 800) / 103.4
    # A whole window without any drain: the pipeline is stuck, come back in a minute.
    stuck = gate.observe(scan({"b": 3000}), now=62.0)
    assert gate.drain_bytes_per_s == 0.0
    assert stuck is not None and stuck.retry_after_s == 60


async def test_the_writer_scans_its_wal_and_ingest_answers_503_pipeline_behind(
    tmp_path: Path,
) -> None:
    wal_dir = tmp_path / "wal"
    slot, _fd = acquire_slot(wal_dir)
    registry = Registry()
    writer = WalWriter(
        slot,
        schema=WAL_SCHEMA,
        registry=registry,
        segment_max_age_s=0.05,
        backlog_max_bytes=2000,
        backlog_scan_s=0.05,
    )
    await writer.start()
    service = IngestService(
        writer=writer,
        keys=None,  # type: ignore[arg-type]  # refused before any key is looked up
        registry=registry,
        limits=Limits(),
        max_request_bytes=1 << 20,
        rate_limiter=RateLimiter(0),
    )
    try:
        assert writer.pipeline_behind is None
        # No pipeline runs: sealed segments pile up until the scan sees the bound passed.
        for i in range(20):
            await writer.append([wal_row(f"m{i}-{j}") for j in range(20)])
        for _ in range(100):
            if writer.pipeline_behind is not None:
                break
            await writer.scan_backlog()
        behind = writer.pipeline_behind
        assert behind is not None
        view = writer.backlog_view
        assert view is not None and view.pending_bytes > 2000 and view.lag_s > 0

        answer = await service.handle(
            "batch", b"{}", project_id="prj", content_encoding="", client_ip=None
        )
        assert answer.status == 503 and answer.retry_after
        assert 1 <= answer.retry_after_s <= 60
        body = msgspec.json.decode(answer.body)
        assert body["code"] == "pipeline_behind"
        assert "wal_backlog_max_bytes" in body["message"] and "Retry-After" in body["message"]
        assert service.backpressure.values[()] == 1
        assert service.requests.values[("batch", "503")] == 1
    finally:
        await writer.close()


def test_retry_after_is_spread_between_the_estimate_and_twice_it() -> None:
    """Refused clients must not all come back in the same second: the answer's Retry-After
    lies in [estimate, min(2 x estimate, 60)], and covers that range."""
    rng = random.Random(7)
    for estimate in (1, 3, 22, 30, 45, 60):
        seen = {spread_retry_after(estimate, rng) for _ in range(400)}
        upper = max(estimate, min(2 * estimate, 60))
        assert min(seen) >= estimate and max(seen) <= upper
        assert len(seen) == upper - estimate + 1  # every second of the range is used
    behind = PipelineBehind("the oldest acked event has waited 30.0 s", 10)
    answers = {behind_answer(behind).retry_after_s for _ in range(200)}
    assert min(answers) >= 10 and max(answers) <= 20 and len(answers) > 5
    answer = behind_answer(behind)
    assert f"retry after {answer.retry_after_s} s" in msgspec.json.decode(answer.body)["message"]

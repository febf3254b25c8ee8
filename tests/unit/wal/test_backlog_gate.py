"""Back-pressure on the WAL backlog: when ingest is refused, when it resumes, what Retry-After
says, and the answer ingest gives meanwhile."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cxloop.ingest import Limits
from cxloop.ingest.asgi import IngestFront
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
from tests.helpers.ingest_app import WRITE_KEY, IngestApp, basic, ingest_app
from tests.helpers.rows import wal_row

NS = 1_000_000_000
NOW_NS = 1_795_428_000 * NS


def scan(pending: dict[str, int], lag_s: float = 0.0, sealed: Iterable[str] = ()) -> Backlog:
    total = sum(pending.values())
    return Backlog(
        scanned_ns=NOW_NS,
        pending_bytes=total,
        unprojected_bytes=total,
        oldest_unlaked_ns=NOW_NS - int(lag_s * NS) if pending else None,
        oldest_unprojected_ns=NOW_NS - int(lag_s * NS) if pending else None,
        pending=pending,
        in_flight=frozenset(pending),
        sealed=frozenset(sealed),
    )


SCAN_S = 0.5
_ids = itertools.count()


def busy(
    gate: BacklogGate,
    start: float,
    seconds: float,
    *,
    drain_every_s: float = 2.0,
    size: int = 1000,
    waiting: int = 5,
    lag_s: float = 1.0,
) -> tuple[float, list[str]]:
    """Scans every 0.5 s of a pipeline that always has ``waiting`` sealed segments of ``size``
    bytes waiting and takes the oldest off every ``drain_every_s`` (one more is sealed behind
    it): it drains ``size / drain_every_s`` bytes/s. Returns the time of the last scan and
    the segments waiting then."""
    queue = [f"s{next(_ids)}" for _ in range(waiting)]
    scans = round(seconds / SCAN_S)
    per_drain = round(drain_every_s / SCAN_S)
    now = start
    for i in range(1, scans + 1):
        now = start + i * SCAN_S
        if i % per_drain == 0:
            queue = [*queue[1:], f"s{next(_ids)}"]
        gate.observe(scan(dict.fromkeys(queue, size), lag_s, sealed=queue), now)
    return now, queue


def idle(gate: BacklogGate, start: float, seconds: float) -> float:
    """Scans every 0.5 s of a WAL holding nothing for the lake."""
    now = start
    for i in range(1, round(seconds / SCAN_S) + 1):
        now = start + i * SCAN_S
        gate.observe(scan({}), now)
    return now


def keeping_up(gate: BacklogGate, start: float, seconds: float, size: int = 1000) -> float:
    """Scans every 0.5 s of a pipeline that keeps up: each scan sees one newly sealed segment,
    and the one the scan before saw is already in the lake."""
    now = start
    for i in range(1, round(seconds / SCAN_S) + 1):
        now = start + i * SCAN_S
        sid = f"k{next(_ids)}"
        gate.observe(scan({sid: size}, lag_s=0.5, sealed=[sid]), now)
    return now


def hold(
    gate: BacklogGate, now: float, queue: list[str], total: int, lag_s: float
) -> PipelineBehind | None:
    """A scan 0.5 s later of the same waiting segments, ``total`` bytes pending in all."""
    return gate.observe(scan(dict.fromkeys(queue, total // len(queue)), lag_s, queue), now)


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


def test_capacity_is_measured_only_while_the_pipeline_has_work_waiting() -> None:
    gate = BacklogGate(max_bytes=0, max_s=20)
    # Keeping up at 2,000 bytes/s: every segment is gone by the next scan, never busy.
    now = keeping_up(gate, 0.0, 30.0)
    assert gate.drain_bytes_per_s == pytest.approx(2000, rel=0.05)
    assert gate.capacity_bytes_per_s is None
    assert gate.view is not None and gate.view.projected_lag_s is None
    # Busy for 10 s, taking 1000 bytes off every 2 s: the capacity is 500 bytes/s, whatever
    # the quiet time before drained.
    busy(gate, now, 10.0)
    assert gate.capacity_bytes_per_s == pytest.approx(500, rel=0.1)
    assert gate.view is not None and gate.view.capacity_bytes_per_s == gate.capacity_bytes_per_s


def test_the_interval_a_busy_stretch_ends_in_counts_with_its_drain() -> None:
    gate = BacklogGate(max_bytes=0, max_s=20)
    now, _ = busy(gate, 0.0, 10.0)  # five 1000-byte segments waiting, one drained every 2 s
    # 19 busy intervals after the first scan: 5 x 1000 bytes in 9.5 s.
    assert gate.capacity_bytes_per_s == pytest.approx(5000 / 9.5)
    # The pipeline takes all five within the next half second: that drain is its capacity too.
    gate.observe(scan({}), now + 0.5)
    assert gate.capacity_bytes_per_s == pytest.approx((5000 + 5000) / 10.0)


def test_short_busy_stretches_and_busy_time_without_a_drain_are_no_capacity() -> None:
    gate = BacklogGate(max_bytes=0, max_s=20)
    now = 0.0
    for _ in range(10):  # rounds of other work that hold a segment 2.5 s, between quiet ones
        now, _ = busy(gate, now, 2.5, drain_every_s=1.0)
        now = idle(gate, now, 1.0)
    assert gate.capacity_bytes_per_s is None
    # Ten seconds with work waiting and nothing drained yet (a first long batch): unknown,
    # not 0, which would refuse everything.
    busy(gate, now, 10.0, drain_every_s=100.0)
    assert gate.capacity_bytes_per_s is None


def test_projected_lag_engages_before_the_observed_age_and_releases_under_80_percent() -> None:
    gate = BacklogGate(max_bytes=0, max_s=20)
    now, queue = busy(gate, 0.0, 20.0, drain_every_s=1.0)  # 1000 bytes/s
    capacity = gate.capacity_bytes_per_s
    assert capacity == pytest.approx(1000, rel=0.1)
    # 5 s old, 10,000 bytes ahead: an event acked now waits ~15 s: accepted.
    assert hold(gate, now + 0.5, queue, 10_000, lag_s=5.0) is None
    # 18,000 bytes ahead: ~23 s, over the bound, though the oldest has waited only 5 s.
    behind = hold(gate, now + 1.0, queue, 18_000, lag_s=5.0)
    assert behind is not None and "wal_backlog_max_s" in behind.reason
    assert "would wait" in behind.reason
    view, capacity = gate.view, gate.capacity_bytes_per_s
    assert view is not None and view.projected_lag_s is not None and capacity is not None
    assert view.projected_lag_s == pytest.approx(5.0 + 18_000 / capacity)
    # Retry-After: the time to bring the projection back to 80 % of the bound.
    assert behind.retry_after_s == math.ceil(view.projected_lag_s - 16.0)
    # ~18 s: under the bound, over 80 % of it: still refusing.
    assert hold(gate, now + 1.5, queue, 13_000, lag_s=5.0) is not None
    # ~15 s: under 16 s, released.
    assert hold(gate, now + 2.0, queue, 10_000, lag_s=5.0) is None
    # The observed age alone still engages, however fast the pipeline drains.
    assert hold(gate, now + 2.5, queue, 5, lag_s=20.5) is not None


def test_a_burst_after_a_quiet_minute_is_judged_by_the_observed_lag() -> None:
    gate = BacklogGate(max_bytes=0, max_s=20)
    now, _ = busy(gate, 0.0, 10.0)  # 500 bytes/s
    assert gate.capacity_bytes_per_s is not None
    now = idle(gate, now, 61.0)
    assert gate.capacity_bytes_per_s is None, "a capacity is forgotten after a quiet minute"
    # A megabyte arrives at once: at the old 500 bytes/s that would project 2,000 s, but the
    # capacity is not known any more and the oldest event is 1 s old: accepted.
    burst = {f"b{i}": 100_000 for i in range(10)}
    assert gate.observe(scan(burst, lag_s=1.0, sealed=burst), now + 0.5) is None
    behind = gate.observe(scan(burst, lag_s=20.5, sealed=burst), now + 1.0)
    assert behind is not None and "oldest acked event has waited" in behind.reason


def _front_request(
    fakes: IngestApp, headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[bytes, bytes], dict[str, Any], int]:
    """One POST /v1/batch through ``IngestFront``: (status, headers, answer, body reads)."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": BATCH, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def not_ingest(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("an ingest path went past IngestFront")

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/batch",
        "root_path": "",
        "headers": headers,
        "client": ("198.51.100.4", 40000),
    }
    asyncio.run(IngestFront(not_ingest, fakes.app)(scope, receive, send))
    start, body = sent
    return start["status"], dict(start["headers"]), msgspec.json.decode(body["body"]), reads


BATCH = msgspec.json.encode(
    {"batch": [{"type": "track", "userId": "u1", "event": "Clicked"}], "writeKey": WRITE_KEY}
)


def test_ingest_refuses_while_behind_without_reading_the_body_or_checking_the_key() -> None:
    fakes = ingest_app()
    gate = BacklogGate(max_bytes=1000, max_s=0)
    gate.observe(scan({"a": 600}), now=0.0)
    gate.observe(scan({"a": 600, "b": 600}), now=1.0)
    assert gate.behind is not None
    fakes.service.backlog_gate = gate
    authorization = basic("wk_unknown")["Authorization"]
    headers = [(b"authorization", authorization.encode())]
    status, answer_headers, answer, reads = _front_request(fakes, headers)
    assert status == 503 and answer["code"] == "pipeline_behind"
    assert reads == 0, "the body was read for a refusal"
    assert fakes.keys.misses == [], "the key was looked up for a refusal"
    assert 1 <= int(answer_headers[b"retry-after"]) <= 60
    # Kept open: the protocol skips the unread body, and the client retries on it.
    assert b"connection" not in answer_headers
    assert answer_headers[b"access-control-allow-origin"] == b"*"
    assert fakes.service.backpressure.values[()] == 1 and fakes.count(503) == 1
    assert fakes.writer.records == []
    # Once the gate releases, the same request is read and acked.
    gate.observe(scan({"b": 100}), now=2.0)
    status, _, answer, reads = _front_request(fakes, [])
    assert (status, reads, answer["accepted"]) == (200, 1, 1)


def test_a_full_in_flight_budget_is_refused_before_the_body_is_read() -> None:
    fakes = ingest_app(max_inflight_requests=2)
    fakes.service.inflight = 2
    status, answer_headers, answer, reads = _front_request(fakes, [])
    assert (status, answer["code"], reads) == (503, "overloaded", 0)
    assert answer_headers[b"retry-after"] == b"1"
    assert fakes.service.backpressure.values.get((), 0) == 0 and fakes.count(503) == 1
    fakes.service.inflight = 1
    status, _, answer, reads = _front_request(fakes, [])
    assert (status, reads) == (200, 1)

"""The ingest service's per-request shortcuts keep every answer: a parsed ``Authorization``
header is remembered but its key is resolved on every request, the shared 200 answer is the
one the response model encodes, and the back-pressure gate comes from the log or is given."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from cxloop.ingest import Limits
from cxloop.ingest.parse import IngestError
from cxloop.ingest.service import (
    GatedLog,
    IngestResponse,
    IngestService,
    RateLimiter,
    write_key_from_authorization,
)
from cxloop.ops.metrics import Registry
from cxloop.wal import Backlog, BacklogGate, RequestRow
from tests.helpers.ingest_app import PROJECT_ID, WRITE_KEY, FakeKeys, FakeWriter

TRACK = msgspec.json.encode({"type": "track", "userId": "u1", "event": "Clicked"})


def header(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


class GatedWriter(FakeWriter):
    """An in-memory log that keeps a back-pressure gate, as ``WalWriter`` does."""

    def __init__(self, gate: BacklogGate) -> None:
        super().__init__()
        self._gate = gate

    @property
    def backlog_gate(self) -> BacklogGate:
        return self._gate


def service(writer: Any = None, **options: Any) -> IngestService:
    return IngestService(
        writer=writer if writer is not None else FakeWriter(),
        keys=FakeKeys(),
        registry=Registry(),
        limits=Limits(max_event_bytes=32 * 1024, max_batch_events=2500),
        max_request_bytes=500 * 1024,
        rate_limiter=RateLimiter(0),
        **options,
    )


def scan(pending: dict[str, int]) -> Backlog:
    now_ns = 1_795_428_000 * 1_000_000_000
    total = sum(pending.values())
    return Backlog(
        scanned_ns=now_ns,
        pending_bytes=total,
        unprojected_bytes=total,
        oldest_unlaked_ns=now_ns,
        oldest_unprojected_ns=now_ns,
        pending=pending,
        in_flight=frozenset(pending),
        sealed=frozenset(),
    )


def behind_gate() -> BacklogGate:
    """A gate the backlog has passed (1,200 bytes pending, bound 1,000)."""
    gate = BacklogGate(max_bytes=1000, max_s=0)
    gate.observe(scan({"a": 600}), now=0.0)
    gate.observe(scan({"a": 600, "b": 600}), now=1.0)
    assert gate.behind is not None
    return gate


async def test_a_remembered_header_still_resolves_its_key_every_time() -> None:
    ingest = service()
    keys = ingest.keys
    assert isinstance(keys, FakeKeys)
    assert await ingest.authorize(header(WRITE_KEY)) == PROJECT_ID
    assert await ingest.authorize(header(WRITE_KEY)) == PROJECT_ID
    # The key is revoked: the same header, parsed once already, is refused now.
    del keys.known[WRITE_KEY]
    with pytest.raises(IngestError) as refused:
        await ingest.authorize(header(WRITE_KEY))
    assert refused.value.status == 401 and refused.value.code == "invalid_write_key"
    assert keys.misses == [WRITE_KEY]
    # Rotated in again (a key file reload): accepted again.
    keys.known[WRITE_KEY] = PROJECT_ID
    assert await ingest.authorize(header(WRITE_KEY)) == PROJECT_ID


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer abc",
        "Basic !!!",
        "Basic " + base64.b64encode(b":nouser").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:").decode(),
        "basic " + base64.b64encode(b"wk_test:").decode(),
    ],
)
async def test_a_remembered_header_answers_what_parsing_it_answers(value: str) -> None:
    ingest = service()
    expected = write_key_from_authorization(value)
    for _ in range(2):  # parsed, then from the cache
        if expected is None:
            assert await ingest.authorize(value) is None
        elif expected == WRITE_KEY:
            assert await ingest.authorize(value) == PROJECT_ID


async def test_the_header_cache_stays_bounded() -> None:
    from cxloop.ingest import service as module

    ingest = service()
    for i in range(module._MAX_CACHED_HEADERS + 10):
        with pytest.raises(IngestError):
            await ingest.authorize(header(f"wk_unknown{i}"))
    assert module._remembered_key.cache_info().currsize <= module._MAX_CACHED_HEADERS
    # A header longer than any real key's is parsed each time, never kept.
    before = module._remembered_key.cache_info()
    long_header = header("wk_" + "x" * 4000)
    for _ in range(2):
        with pytest.raises(IngestError):
            await ingest.authorize(long_header)
    after = module._remembered_key.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


async def test_the_shared_accepted_answer_is_the_encoded_response() -> None:
    writer = FakeWriter()
    ingest = service(writer)
    first = await ingest.handle(
        "track", TRACK, project_id=PROJECT_ID, content_encoding="", client_ip="203.0.113.9"
    )
    second = await ingest.handle(
        "track", TRACK, project_id=PROJECT_ID, content_encoding="", client_ip="203.0.113.9"
    )
    assert first.status == second.status == 200
    assert first.body == msgspec.json.encode(IngestResponse(accepted=1, rejected=[]))
    assert second is first  # built once
    batch = msgspec.json.encode(
        {"batch": [{"type": "track", "userId": "u1", "event": "A"}, {"type": "track"}]}
    )
    mixed = await ingest.handle(
        "batch", batch, project_id=PROJECT_ID, content_encoding="", client_ip=None
    )
    decoded = msgspec.json.decode(mixed.body)
    assert decoded["accepted"] == 1 and len(decoded["rejected"]) == 1
    assert mixed is not first
    # Every accepted request reached the log, the shared answer or not.
    logged: Sequence[RequestRow] = writer.records
    assert [row.accepted for row in logged] == [1, 1, 1]
    assert logged[0].client_ip == "203.0.113.0"


def test_the_gate_comes_from_a_gated_log_or_is_given() -> None:
    gate = behind_gate()
    assert isinstance(GatedWriter(gate), GatedLog)
    assert not isinstance(FakeWriter(), GatedLog)
    assert service(GatedWriter(gate)).backlog_gate is gate
    assert service(FakeWriter()).backlog_gate is None
    given = BacklogGate(max_bytes=10, max_s=0)
    assert service(FakeWriter(), backlog_gate=given).backlog_gate is given
    assert service(GatedWriter(gate), backlog_gate=given).backlog_gate is given


async def test_a_gated_log_refuses_while_behind() -> None:
    ingest = service(GatedWriter(behind_gate()))
    answer = await ingest.handle(
        "track", TRACK, project_id=PROJECT_ID, content_encoding="", client_ip=None
    )
    assert answer.status == 503 and answer.retry_after
    assert msgspec.json.decode(answer.body)["code"] == "pipeline_behind"
    assert ingest.backpressure.values[()] == 1

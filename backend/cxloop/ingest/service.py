"""The ingest service: from a received body to a durable ack (or a clear refusal)."""

from __future__ import annotations

import base64
import binascii
import functools
import random
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import msgspec

from cxloop.access import anonymize_ip
from cxloop.ingest.check import anonymise_body, check_request
from cxloop.ingest.parse import IngestError, Limits
from cxloop.ingest.suppress import SUBJECT_DELETED, suppress_subjects
from cxloop.ingest.validate import Rejection
from cxloop.ops import ACK_LATENCY_BUCKETS, Registry
from cxloop.projects import (
    KeyResolver,
    LookupUnavailable,
    SuppressionList,
    project_for_write_key,
)
from cxloop.wal import (
    BacklogGate,
    PipelineBehind,
    RequestRow,
    WalOverloaded,
    WalUnavailable,
)

__all__ = [
    "Answer",
    "GatedLog",
    "IngestLog",
    "IngestResponse",
    "IngestService",
    "KeyResolver",
    "LookupUnavailable",
    "RateLimiter",
    "behind_answer",
    "decompress",
    "write_key_from_authorization",
]

# The route's short and long names, and the event type each single-event route implies.
ROUTE_TYPES: dict[str, str | None] = {
    "batch": None,
    "track": "track",
    "identify": "identify",
    "group": "group",
    "page": "page",
    "screen": "screen",
    "alias": "alias",
}
SHORT_ROUTES = {"b": "batch", "t": "track", "i": "identify", "g": "group", "p": "page",
                "s": "screen", "a": "alias"}  # fmt: skip

RETRY_AFTER_S = "1"
_GZIP_MAGIC = b"\x1f\x8b"
# Each gzip member costs a fresh inflater (~8 µs): 25,000 empty members fit in 500 KB.
MAX_GZIP_MEMBERS = 256


class IngestResponse(msgspec.Struct):
    accepted: int
    rejected: list[Rejection]


class ErrorBody(msgspec.Struct):
    code: str
    message: str


_encoder = msgspec.json.Encoder()


class IngestLog(Protocol):
    """What ingest needs of the write-ahead log (``cxloop.wal.WalWriter``; tests pass fakes):
    return once ``rows`` are durable, or raise ``WalUnavailable``/``WalOverloaded``."""

    async def append(self, rows: Sequence[RequestRow], events: int | None = None) -> None: ...


@runtime_checkable
class GatedLog(IngestLog, Protocol):
    """A log that also keeps the back-pressure on its backlog (``WalWriter`` does)."""

    @property
    def backlog_gate(self) -> BacklogGate: ...


# The parsed credential of recent ``Authorization`` headers (a pure function of the header,
# ~1.3 µs to redo per request: base64 and UTF-8). Which project a key belongs to is not kept
# here: the key resolver answers that every time, so a revoked key stops working as before.
_MAX_CACHED_HEADERS = 4096
# A Basic header for the longest plausible key (128 characters) is ~180: longer ones are
# parsed every time, so the cache holds at most ~1 MB whatever clients send.
_MAX_CACHED_HEADER_CHARS = 256


class RateLimiter:
    """Token bucket per project: sustained ``rate`` events/s, bursts up to ``2 * rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, project_id: str, events: int) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        capacity = 2 * self.rate
        tokens, last = self._buckets.get(project_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * self.rate)
        if tokens < events:
            self._buckets[project_id] = (tokens, now)
            return False
        self._buckets[project_id] = (tokens - events, now)
        return True


def decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding: gzip``/``deflate``, refusing output over ``max_bytes`` early.

    A gzip body may be several members one after the other (RFC 1952, what ``cat a.gz b.gz``
    or a streaming compressor that flushes members makes); ``max_bytes`` caps their total.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise IngestError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; send gzip or an uncompressed body",
        )
    parts: list[bytes] = []
    size = 0
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            # max_length bounds the work and memory: a gzip bomb stops after max_bytes + 1.
            out = inflater.decompress(rest, max_bytes - size + 1)
        except zlib.error as exc:
            raise IngestError(
                400, "invalid_gzip", f"the body is not valid {encoding}: {exc}"
            ) from exc
        size += len(out)
        if size > max_bytes or inflater.unconsumed_tail:
            raise IngestError(
                413,
                "request_too_large",
                f"the decompressed body exceeds {max_bytes} bytes; send smaller batches",
            )
        if not inflater.eof:
            raise IngestError(400, "invalid_gzip", f"the {encoding} body is truncated")
        parts.append(out)
        rest = inflater.unused_data
        # Zero padding after the last member is ignored, as gzip(1) does.
        if not rest.strip(b"\0"):
            return parts[0] if len(parts) == 1 else b"".join(parts)
        if wbits == zlib.MAX_WBITS or not rest.startswith(_GZIP_MAGIC):
            raise IngestError(
                400,
                "invalid_gzip",
                f"the {encoding} body has {len(rest)} bytes of trailing data after its end",
            )
        if len(parts) == MAX_GZIP_MEMBERS:
            raise IngestError(
                400,
                "invalid_gzip",
                f"the gzip body has more than {MAX_GZIP_MEMBERS} members; compress the body "
                "as one member",
            )


def write_key_from_authorization(header: str | None) -> str | None:
    """``Basic base64(writeKey:)`` as Segment's libraries send it."""
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, ValueError):  # ValueError: not ASCII; UnicodeDecodeError: not UTF-8
        return None
    return decoded.partition(":")[0] or None


_remembered_key = functools.lru_cache(maxsize=_MAX_CACHED_HEADERS)(write_key_from_authorization)


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes
    retry_after: bool = False
    retry_after_s: int = int(RETRY_AFTER_S)  # the Retry-After value when ``retry_after``


def error_answer(error: IngestError) -> Answer:
    body = _encoder.encode(ErrorBody(code=error.code, message=error.message))
    return Answer(error.status, body, retry_after=error.status in (429, 503))


# Retry-After is spread over [estimate, min(2 x estimate, 60)] seconds: every client refused
# during one stretch would otherwise come back in the same second and be refused again (a
# soak at 3x what the pipeline follows queued 500k batches that retried in lockstep).
_RETRY_SPREAD_MAX_S = 60


def spread_retry_after(estimate_s: int, rng: random.Random | None = None) -> int:
    """A Retry-After between the drain estimate and twice it (at most 60 s)."""
    upper = max(estimate_s, min(2 * estimate_s, _RETRY_SPREAD_MAX_S))
    return (rng or random).randint(estimate_s, upper)


def behind_answer(behind: PipelineBehind) -> Answer:
    """503 ``pipeline_behind``: the WAL holds more than its bound of events the lake does not
    have yet (back-pressure, ``cxloop.wal.BacklogGate``); Retry-After says when to come back,
    spread so that refused clients do not all return at once."""
    retry_after_s = spread_retry_after(behind.retry_after_s)
    message = (
        f"the pipeline is behind: {behind.reason}; nothing of this request was stored, "
        f"retry after {retry_after_s} s (Retry-After). Ingest resumes once the backlog "
        "is under 80 % of its bound; if this lasts, check the pipeline process (/readyz shows "
        "its lag and backlog)"
    )
    body = _encoder.encode(ErrorBody(code="pipeline_behind", message=message))
    return Answer(503, body, retry_after=True, retry_after_s=retry_after_s)


class IngestService:
    def __init__(
        self,
        *,
        writer: IngestLog,
        keys: KeyResolver,
        registry: Registry,
        limits: Limits,
        max_request_bytes: int,
        rate_limiter: RateLimiter,
        max_inflight_requests: int = 512,
        max_requests_per_client: int = 64,
        body_timeout_s: float = 10.0,
        trust_forwarded_for: bool = False,
        clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
        suppressions: SuppressionList | None = None,
        backlog_gate: BacklogGate | None = None,
    ) -> None:
        self.writer = writer
        # Back-pressure on the pipeline's backlog: the one given, else the log's own (a
        # test's in-memory log has none).
        if backlog_gate is None and isinstance(writer, GatedLog):
            backlog_gate = writer.backlog_gate
        self.backlog_gate: BacklogGate | None = backlog_gate
        self.keys = keys
        # Deleted subjects (docs/privacy.md): their events are taken out before the log.
        self.suppressions = suppressions if suppressions is not None else SuppressionList()
        self.limits = limits
        self.max_request_bytes = max_request_bytes
        self.rate_limiter = rate_limiter
        self.max_inflight_requests = max_inflight_requests
        self.inflight = 0  # requests being handled now (counted by the ASGI route)
        # Requests still receiving their body, per client address (0: no cap).
        self.max_requests_per_client = max_requests_per_client
        self.receiving: dict[str, int] = {}
        self.body_timeout_s = body_timeout_s
        self.trust_forwarded_for = trust_forwarded_for
        self.clock_us = clock_us
        self.requests = registry.counter(
            "cxloop_ingest_requests_total",
            "Ingest requests by route and status.",
            ["route", "status"],
        )
        self.accepted = registry.counter("cxloop_events_accepted_total", "Valid events acked.")
        self.rejected = registry.counter(
            "cxloop_events_rejected_total",
            "Invalid events kept in the failed-events store, by reason.",
            ["reason"],
        )
        self.suppressed = registry.counter(
            "cxloop_ingest_suppressed_events_total",
            "Events of deleted subjects refused at ingest (subject_deleted), never stored.",
        )
        self.ack_seconds = registry.histogram(
            "cxloop_ingest_ack_seconds",
            "Time from a complete body to the durable ack.",
            buckets=ACK_LATENCY_BUCKETS,
        )
        self.overloaded = error_answer(
            IngestError(503, "overloaded", "too many requests in flight; retry")
        )
        # The 200 answers without rejections, by events accepted (at most one per batch size).
        self._accepted_answers: dict[int, Answer] = {}
        self.backpressure = registry.counter(
            "cxloop_ingest_backpressure_total",
            "Ingest requests refused (503 pipeline_behind) because the WAL backlog passed its "
            "bound.",
        )

    def refusal(self, route: str) -> Answer | None:
        """The 503 to answer before the body is read or the key checked, counted; None to go on.

        While back-pressure is engaged (``pipeline_behind``), or every in-flight slot is taken
        (``overloaded``), nothing the body holds could change the answer, and refusals are
        what the worker spends its CPU on then: the pipeline, which runs on what CPU the
        workers leave, is what must catch up. The body is left unread; the HTTP protocol
        skips its bytes (uvicorn drops a body that arrives after the answer), so the
        connection stays usable for the client's retry after Retry-After.
        """
        refused = self._behind(route)
        if refused is not None:
            return refused
        if self.inflight >= self.max_inflight_requests:
            self.requests.inc(1, route, "503")
            return self.overloaded
        return None

    def _behind(self, route: str) -> Answer | None:
        """The counted ``pipeline_behind`` answer while back-pressure is engaged, else None."""
        behind = self.backlog_gate.behind if self.backlog_gate is not None else None
        if behind is None:
            return None
        self.backpressure.inc()
        self.requests.inc(1, route, "503")
        return behind_answer(behind)

    async def handle(
        self,
        route: str,
        body: bytes,
        *,
        project_id: str | None,
        content_encoding: str,
        client_ip: str | None,
    ) -> Answer:
        """``project_id``: what ``authorize`` made of the Basic header before the body was read
        (None: the write key must be in the body)."""
        started = time.perf_counter()
        # Again, before any work on the body: the gate may have engaged while it arrived.
        refused = self._behind(route)
        if refused is not None:
            return refused
        try:
            answer = await self._handle(route, body, project_id, content_encoding, client_ip)
        except IngestError as error:
            answer = error_answer(error)
        self.requests.inc(1, route, str(answer.status))
        if answer.status == 200:
            self.ack_seconds.observe(time.perf_counter() - started)
        return answer

    async def _handle(
        self,
        route: str,
        body: bytes,
        project_id: str | None,
        content_encoding: str,
        client_ip: str | None,
    ) -> Answer:
        if content_encoding:
            body = decompress(body, content_encoding, self.max_request_bytes)
        route_type = ROUTE_TYPES[route]
        checked = check_request(body, route_type, self.limits)
        if project_id is None:
            if not checked.write_key:
                raise IngestError(
                    401,
                    "missing_write_key",
                    "no write key: send it as the HTTP Basic username (writeKey:) "
                    "or as 'writeKey' in the JSON body",
                )
            project_id = await self._project(checked.write_key)
        if not self.rate_limiter.allow(project_id, checked.events):
            raise IngestError(
                429, "rate_limited", "this project is sending faster than its limit; retry later"
            )
        if checked.has_ip:
            checked = anonymise_body(checked, self.limits)
        suppressed = None
        if self.suppressions.active(project_id):  # one dict lookup for every other project
            suppressed = suppress_subjects(checked, project_id, self.suppressions, self.limits)
        if suppressed is not None:
            self.suppressed.inc(len(suppressed.rejections))
            accepted, rejected = suppressed.verdict(project_id, self.limits)
            if suppressed.checked is None:  # nothing left to log
                return self._accepted_answer(accepted, rejected)
            checked = suppressed.checked
        else:
            accepted, rejected = checked.verdict(project_id, self.limits)
        # The request as received (addresses anonymised) is what the log keeps; the pipeline
        # turns it into event rows after the ack (cxloop.ingest.expand).
        record = RequestRow(
            project_id,
            self.clock_us(),
            anonymize_ip(client_ip) if client_ip else None,
            route_type,
            checked.body,
            checked.events,
            accepted,
            self.limits.max_event_bytes,
        )
        try:
            await self.writer.append((record,), events=checked.events)
        except WalOverloaded as exc:
            raise IngestError(
                503, "overloaded", f"the server is busy ({exc}); retry later"
            ) from exc
        except WalUnavailable as exc:
            raise IngestError(
                503, "unavailable", f"events cannot be stored right now ({exc}); retry later"
            ) from exc
        for rejection in rejected:
            if rejection.reason != SUBJECT_DELETED:  # not kept anywhere: counted above
                self.rejected.inc(1, rejection.reason)
        self.accepted.inc(accepted)
        return self._accepted_answer(accepted, rejected)

    def _accepted_answer(self, accepted: int, rejected: list[Rejection]) -> Answer:
        """The 200 answer; the one without rejections is built once per ``accepted`` count
        (bounded by the batch limit) and shared: answers are never changed once made."""
        if rejected:
            return Answer(200, _encoder.encode(IngestResponse(accepted, rejected)))
        answer = self._accepted_answers.get(accepted)
        if answer is None:
            answer = Answer(200, _encoder.encode(IngestResponse(accepted, [])))
            self._accepted_answers[accepted] = answer
        return answer

    async def authorize(self, authorization: str | None) -> str | None:
        """The project of an ``Authorization: Basic`` write key, None when there is none.

        Raises 401 for an unknown key and 503 when it cannot be checked, so a request can be
        refused before its body is read.
        """
        if not authorization:
            return None
        if len(authorization) <= _MAX_CACHED_HEADER_CHARS:
            header_key = _remembered_key(authorization)
        else:
            header_key = write_key_from_authorization(authorization)
        return await self._project(header_key) if header_key else None

    async def _project(self, write_key: str) -> str:
        try:
            project_id = await project_for_write_key(self.keys, write_key)
        except LookupUnavailable as exc:
            raise IngestError(
                503,
                "key_check_unavailable",
                "this write key is not known yet and the database cannot be reached to check "
                "it; retry later",
            ) from exc
        if project_id is None:
            raise IngestError(
                401,
                "invalid_write_key",
                "unknown write key: check the key in your snippet or library configuration "
                "(cxloop projects list shows the projects); a rotated key stops working when "
                "its grace period ends, so use the project's new write key",
            )
        return project_id

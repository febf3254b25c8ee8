"""The soak's traffic: realistic 50-event batches with unique message ids, sent open loop.

Every event's ``messageId`` is ``<prefix><n:012d>`` where ``n`` counts events, and batch ``b``
holds events ``b * E .. b * E + E - 1``: what was acked is one byte per batch (its outcome),
never a list of ids.

Cheap per request, because the load tool shares the box with the server it measures. When
``10^k`` is a multiple of ``E`` (50: ``k = 2``), every id of batch ``b`` shares its first
``12 - k`` digits (``b * E // 10^k``) and its last ``k`` digits are fixed by the event slot
and ``b mod 10^k / E``; so each (template, project, ``b mod 10^k / E``) is pre-encoded once as
the whole request (headers, constant ``Content-Length``) cut at the shared digits, and a
request is one ``bytes.join`` (``Request`` below). Answers are parsed by hand from the
bytes (status line, ``Content-Length``, ``Retry-After`` only on a refusal), one request in
flight per keep-alive connection, one ``write`` per request.

Open loop: new batches leave on a fixed schedule. Three latencies are kept per window:
the server's (request written → answer read; 200s and refusals apart), the delivery delay
(the batch's scheduled send → its first 200: what a user of the data sees, retries
included) and the load tool's own send lag (scheduled → written). Refused or lost requests
are retried as analytics.js does (``plugins/segmentio`` + ``priority-queue``): at most
``max_attempts`` sends (its default 10), after failure ``n`` waiting
``max(Retry-After, 0.5 s × 2^n × (1 + U[0, 1)))`` (capped at ``max_backoff_s``), then the
batch is given up. 1 % of batches is sent twice (a retry whose first answer was lost), so
the server's dedupe has work.

Run by ``bench/soak.py`` in a process of its own (``run_load``); window summaries and the
final outcome go back over a ``multiprocessing`` queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import random
import time
from array import array
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
import uvloop

__all__ = [
    "ACKED",
    "REFUSED",
    "UNKNOWN",
    "UNSENT",
    "LoadPlan",
    "Request",
    "Template",
    "build_templates",
    "message_id",
    "run_load",
]

# A batch's outcome, by precedence (a later, better answer overrides): never sent; answered
# with a refusal only (4xx, or 503/429 not followed by an ack), so never logged; no answer
# or a 5xx without Retry-After (it may or may not have been logged); acked (200).
UNSENT, REFUSED, UNKNOWN, ACKED = 0, 1, 2, 3

ID_SLOT = "@@MID@@"
FEATURES = ["reports", "exports", "alerts", "search", "integrations", "dashboards", "billing"]
PLANS = ["starter", "growth", "enterprise"]
PAGES = ["/app", "/app/reports", "/app/alerts", "/app/settings", "/app/integrations"]
COMMENTS = [
    "The export is slow when the report is large.",
    "Love the new dashboards, very clear.",
    "报表导出太慢了，希望能改进。",
    "Search works well, alerts are noisy.",
]


@dataclass(frozen=True)
class Template:
    """One batch body cut at its id slots: ``parts[0] id parts[1] id ... parts[-1]``;
    ``slots[k]`` is the event index whose id fills cut ``k`` (a survey answer's
    ``response_id`` is its messageId too)."""

    parts: tuple[bytes, ...]
    slots: tuple[int, ...]
    survey_slots: tuple[int, ...]
    late_slots: tuple[int, ...]


def message_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}"


def _event(rng: random.Random, late: bool, now: datetime) -> dict[str, Any]:
    user = rng.randrange(20_000)
    account = user % 600
    at = now - timedelta(days=rng.randint(1, 7), seconds=rng.randrange(86_400)) if late else now
    context: dict[str, Any] = {
        "library": {"name": "cxloop-js", "version": "0.1.0"},
        "page": {
            "path": (path := rng.choice(PAGES)),
            "url": f"https://app.example.com{path}",
            "title": path.rsplit("/", 1)[-1].title() or "Home",
        },
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0",
        "locale": rng.choice(["en-US", "zh-CN", "zh-TW"]),
        "timezone": "Asia/Shanghai",
        "groupId": f"acct_{account}",
    }
    event: dict[str, Any] = {
        "messageId": ID_SLOT,
        "userId": f"user_{user}",
        "anonymousId": f"anon_{user}",
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "context": context,
    }
    roll = rng.random()
    if roll < 0.01:
        properties: dict[str, Any] = {
            "survey_id": "srv_nps",
            "response_id": ID_SLOT,
            "kind": "nps",
            "score": rng.randint(0, 10),
            "partial": False,
        }
        if rng.random() < 0.2:
            properties["comment"] = rng.choice(COMMENTS)
        event |= {"type": "track", "event": "Survey Responded", "properties": properties}
    elif roll < 0.05:
        event |= {
            "type": "group",
            "groupId": f"acct_{account}",
            "traits": {"name": f"Account {account}", "plan": PLANS[account % 3], "seats": 25},
        }
    elif roll < 0.13:
        event |= {
            "type": "identify",
            "traits": {"email": f"user_{user}@example.com", "plan": PLANS[account % 3]},
        }
    elif roll < 0.38:
        event |= {"type": "page", "name": context["page"]["title"], "properties": {}}
    else:
        event |= {
            "type": "track",
            "event": "Feature Used",
            "properties": {"feature": rng.choice(FEATURES), "count": rng.randrange(17)},
        }
    return event


def build_templates(
    count: int, events_per_batch: int, late_fraction: float, seed: int = 18
) -> list[Template]:
    """``count`` batch templates of a realistic mix: ~62 % Feature Used, 25 % page, 8 %
    identify, 4 % group, 1 % Survey Responded (a fifth with a comment); ``late_fraction``
    of the events are timestamped 1–7 days back (late-event partitions)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    templates = []
    for _ in range(count):
        lates = [rng.random() < late_fraction for _ in range(events_per_batch)]
        events = [_event(rng, late, now) for late in lates]
        body = msgspec.json.encode(
            {"batch": events, "sentAt": now.isoformat(timespec="milliseconds")}
        )
        parts = body.split(ID_SLOT.encode())
        slots = []
        for index, event in enumerate(events):
            slots.append(index)
            if event.get("event") == "Survey Responded":
                slots.append(index)  # its response_id, encoded right after the messageId
        assert len(slots) == len(parts) - 1, "an id slot encoded out of order"
        templates.append(
            Template(
                parts=tuple(parts),
                slots=tuple(slots),
                survey_slots=tuple(
                    i for i, e in enumerate(events) if e.get("event") == "Survey Responded"
                ),
                late_slots=tuple(i for i, late in enumerate(lates) if late),
            )
        )
    return templates


@dataclass
class LoadPlan:
    host: str
    port: int
    auth_headers: list[str]  # one ``Authorization`` value per project
    templates: list[Template]
    id_prefix: str
    events_per_batch: int
    rate_rps: float  # new batches per second
    seconds: float
    connections: int = 64
    replay_fraction: float = 0.01
    replay_delay_s: float = 1.0
    window_s: float = 30.0
    retry_grace_s: float = 120.0  # after the load, how long failed batches keep retrying
    # analytics.js: ``createDefaultQueue(retryQueue = true)`` allows 10 attempts (the batching
    # dispatcher's ``maxRetries`` is 10 too); its backoff has no ceiling, a soak's minutes
    # want one (with 60 s, a batch's 10 attempts span at most ~5 minutes).
    max_attempts: int = 10
    max_backoff_s: float = 60.0


def backoff_s(failures: int, retry_after: float, ceiling: float) -> float:
    """analytics.js's wait after its ``failures``-th failed send (``priority-queue/backoff``:
    ``(1 + U[0, 1)) × 500 ms × 2^n``), never shorter than the server's ``Retry-After``."""
    return min(ceiling, max(retry_after, 0.5 * 2.0**failures * (1.0 + random.random())))


# Pre-encoded variants beyond this many bytes (tiny batches of an awkward size) fall back to
# encoding each id per request.
MAX_VARIANT_BYTES = 64 << 20
ID_DIGITS = 12


class Request:
    """Every request of a plan, pre-encoded: ``build(batch)`` is the bytes to write."""

    def __init__(self, plan: LoadPlan) -> None:
        self.events = events = plan.events_per_batch
        self.projects = len(plan.auth_headers)
        self.templates = plan.templates
        self.prefix = plan.id_prefix.encode()
        self.heads = [
            (
                f"POST /v1/batch HTTP/1.1\r\nHost: {plan.host}:{plan.port}\r\n"
                f"Authorization: {auth}\r\nContent-Type: application/json\r\n"
            ).encode()
            for auth in plan.auth_headers
        ]
        self.variants: list[list[bytes]] = []
        low = next((k for k in range(ID_DIGITS + 1) if 10**k % events == 0), None)
        if low is not None:
            self.modulus, self.per = 10**low, 10**low // events
            size = self.per * self.projects * sum(self._length(t) for t in self.templates)
            if size <= MAX_VARIANT_BYTES:
                self.width = ID_DIGITS - low
                self.variants = [
                    self._cut(template, head, v, low)
                    for template in self.templates
                    for head in self.heads
                    for v in range(self.per)
                ]
        self.mode = "pre-encoded join" if self.variants else "per-id format"
        for batch in range(min(1000, 4 * len(self.variants) + 16)):
            if self.build(batch) != self.slow(batch):
                raise AssertionError(f"pre-encoded request {batch} differs from its encoding")

    def _length(self, template: Template) -> int:
        ids = len(template.slots) * (len(self.prefix) + ID_DIGITS)
        return sum(map(len, template.parts)) + ids

    def _cut(self, template: Template, head: bytes, variant: int, low: int) -> list[bytes]:
        """The request cut where the ids' shared high digits go: ``hi.join(pieces)``."""
        first = b"%sContent-Length: %d\r\n\r\n%s%s" % (
            head,
            self._length(template),
            template.parts[0],
            self.prefix,
        )
        pieces = [first]
        last = len(template.slots) - 1
        for k, slot in enumerate(template.slots):
            digits = b"%0*d" % (low, self.events * variant + slot) if low else b""
            pieces.append(digits + template.parts[k + 1] + (self.prefix if k < last else b""))
        return pieces

    def build(self, batch: int) -> bytes:
        if not self.variants:
            return self.slow(batch)
        project = batch % self.projects
        template = (batch // self.projects) % len(self.templates)
        high = b"%0*d" % (self.width, batch * self.events // self.modulus)
        return high.join(
            self.variants[(template * self.projects + project) * self.per + batch % self.per]
        )

    def slow(self, batch: int) -> bytes:
        template = self.templates[(batch // self.projects) % len(self.templates)]
        base = batch * self.events
        pieces = [template.parts[0]]
        for k, slot in enumerate(template.slots):
            pieces += [b"%s%012d" % (self.prefix, base + slot), template.parts[k + 1]]
        body = b"".join(pieces)
        head = self.heads[batch % self.projects]
        return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _pct(values: array[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


class _Window:
    """One window's answers. Latencies in ms: ``ack`` and ``refusal`` are the server's
    (request written → answer read) for 200s and for 429/503s; ``delivery`` is scheduled →
    first 200 of a batch (retries included); ``send_lag`` is the load tool's own delay."""

    def __init__(self, index: int, now: float) -> None:
        self.index = index
        self.opened = now
        self.cpu_at_open = _cpu_s()
        self.ack_ms: array[float] = array("d")
        self.refusal_ms: array[float] = array("d")
        self.delivery_ms: array[float] = array("d")
        self.send_lag_ms: array[float] = array("d")
        self.statuses: Counter[int] = Counter()
        self.with_retry_after = 0
        self.errors = 0
        self.new_batches = 0
        self.sent = 0
        self.given_up = 0
        self.retry_queue = 0  # batches waiting to be sent again when the window closed

    def summary(self, window_s: float, now: float) -> dict[str, Any]:
        wall = max(now - self.opened, 1e-9)
        return {
            "window": self.index,
            "t0_s": self.index * window_s,
            "acks": self.statuses.get(200, 0),
            "new_batches": self.new_batches,
            "sent": self.sent,
            "server_ack_p50_ms": _pct(self.ack_ms, 50),
            "server_ack_p99_ms": _pct(self.ack_ms, 99),
            "server_ack_max_ms": round(max(self.ack_ms), 2) if self.ack_ms else None,
            "server_refusal_p50_ms": _pct(self.refusal_ms, 50),
            "server_refusal_p99_ms": _pct(self.refusal_ms, 99),
            "delivery_p50_ms": _pct(self.delivery_ms, 50),
            "delivery_p99_ms": _pct(self.delivery_ms, 99),
            "delivery_max_ms": round(max(self.delivery_ms), 2) if self.delivery_ms else None,
            "send_lag_p50_ms": _pct(self.send_lag_ms, 50),
            "send_lag_p99_ms": _pct(self.send_lag_ms, 99),
            "load_cpu_cores": round((_cpu_s() - self.cpu_at_open) / wall, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "with_retry_after": self.with_retry_after,
            "errors": self.errors,
            "given_up": self.given_up,
            "retry_queue": self.retry_queue,
        }


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request in flight; the answer is parsed from its
    bytes (the server always sends ``Content-Length``; an answer without one, or that does
    not parse, closes the connection, which counts as no answer)."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.batch = -1
        self.replay = False
        self.written = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.batch >= 0:
            batch, self.batch = self.batch, -1
            self.client.lost(batch, self.replay)
        self.client.replace(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data, self.buffer = self.buffer + data, b""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.buffer = data
            if len(data) > 65536:
                self.close()
            return
        head = data[:end].lower()
        try:
            status = int(data[9:12])
            at = head.index(b"\r\ncontent-length:") + 17
            stop = head.find(b"\r\n", at)
            length = int(head[at : stop if stop >= 0 else len(head)])
        except ValueError:
            self.close()
            return
        total = end + 4 + length
        if len(data) < total:
            self.buffer = data
            return
        retry_after = None
        if status == 503 or status == 429:
            at = head.find(b"\r\nretry-after:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 14)
                try:
                    retry_after = float(head[at + 14 : stop if stop >= 0 else len(head)])
                except ValueError:
                    retry_after = 1.0
        self.buffer = data[total:]
        if self.batch >= 0:
            self.client.answered(self, status, retry_after, data[end + 4 : total])


class _Client:
    def __init__(self, plan: LoadPlan, report: Any) -> None:
        self.plan = plan
        self.report = report
        self.requests = Request(plan)
        self.outcome = bytearray()
        self.refused = bytearray()  # 1: the batch had a 429/503 answer
        self.given_up = bytearray()  # 1: max_attempts sends failed
        self.free: deque[_Connection] = deque()
        self.all: list[_Connection] = []
        # (scheduled, batch); a replay's batch is encoded as -(batch + 1).
        self.waiting: deque[tuple[float, int]] = deque()
        self.later: list[tuple[float, int]] = []  # heap of (due, batch): retries, replays
        self.opening = 0
        self.closing = False
        self.start = time.perf_counter()
        self.window = _Window(0, self.start)
        self.totals: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.partially_rejected: list[int] = []
        self.failures: dict[int, int] = {}  # failed sends of batches not yet acked
        self.retry_after_values: Counter[int] = Counter()  # seconds asked for -> answers

    def submit(self, code: int, scheduled: float) -> None:
        self.waiting.append((scheduled, code))
        self.dispatch()

    def dispatch(self) -> None:
        build = self.requests.build
        while self.waiting and self.free:
            connection = self.free.popleft()
            if connection.transport is None:
                continue
            scheduled, code = self.waiting.popleft()
            batch = code if code >= 0 else -code - 1
            request = build(batch)
            now = time.perf_counter()
            window = self.window
            window.send_lag_ms.append((now - scheduled) * 1000)
            window.sent += 1
            connection.batch, connection.replay, connection.written = batch, code < 0, now
            connection.transport.write(request)

    def retry(self, batch: int, now: float, retry_after: float) -> None:
        """Send ``batch`` again as analytics.js would, or give it up after its last attempt."""
        if self.closing:
            return
        failures = self.failures[batch] = self.failures.get(batch, 0) + 1
        if failures >= self.plan.max_attempts:
            del self.failures[batch]
            self.given_up[batch] = 1
            self.window.given_up += 1
            return
        wait = backoff_s(failures, retry_after, self.plan.max_backoff_s)
        heapq.heappush(self.later, (now + wait, batch))
        self.totals["retries"] += 1

    # Answers.
    def mark(self, batch: int, outcome: int) -> None:
        if self.outcome[batch] < outcome:
            self.outcome[batch] = outcome

    def answered(
        self, connection: _Connection, status: int, retry_after: float | None, body: bytes
    ) -> None:
        batch, replay = connection.batch, connection.replay
        connection.batch = -1
        now = time.perf_counter()
        self.roll_window(now)
        window = self.window
        window.statuses[status] += 1
        self.statuses[status] += 1
        server_ms = (now - connection.written) * 1000
        if status == 200:
            window.ack_ms.append(server_ms)
            if self.outcome[batch] != ACKED:
                self.outcome[batch] = ACKED
                scheduled = self.start + batch / self.plan.rate_rps
                window.delivery_ms.append((now - scheduled) * 1000)
                self.failures.pop(batch, None)
            if b'"rejected":[]' not in body and len(self.partially_rejected) < 100:
                self.partially_rejected.append(batch)
        elif status >= 500 or status == 429:
            if status in (429, 503):
                window.refusal_ms.append(server_ms)
                self.refused[batch] = 1
                self.mark(batch, REFUSED)
                if retry_after is not None:
                    window.with_retry_after += 1
                    self.retry_after_values[round(retry_after)] += 1
            else:  # a 5xx of another kind: it may or may not have been logged
                self.mark(batch, UNKNOWN)
            # A replay is the copy of a batch whose own sends go on: it is not retried.
            if not replay and self.outcome[batch] != ACKED:
                self.retry(batch, now, retry_after or 0.0)
        else:
            self.mark(batch, REFUSED)
        self.free.append(connection)
        self.dispatch()

    def lost(self, batch: int, replay: bool) -> None:
        """No answer: the request may or may not have been logged; a client retries."""
        self.window.errors += 1
        self.totals["errors"] += 1
        self.mark(batch, UNKNOWN)
        if not replay and self.outcome[batch] != ACKED:
            self.retry(batch, time.perf_counter(), 0.0)

    # Connections.
    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.opening += 1
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self), self.plan.host, self.plan.port
            )
        except OSError:
            self.totals["connect_errors"] += 1
            await asyncio.sleep(0.5)  # the server is down or full: do not spin
            return
        finally:
            self.opening -= 1
        if connection.transport is None:
            return
        self.all.append(connection)
        self.free.append(connection)
        self.dispatch()

    def replace(self, connection: _Connection) -> None:
        with contextlib.suppress(ValueError):
            self.free.remove(connection)
        with contextlib.suppress(ValueError):
            self.all.remove(connection)
        if not self.closing:
            asyncio.get_running_loop().create_task(self.open())

    # Windows.
    def roll_window(self, now: float) -> None:
        index = int((now - self.start) / self.plan.window_s)
        if index != self.window.index:
            self.window.retry_queue = len(self.later)
            self.report.put(("window", self.window.summary(self.plan.window_s, now)))
            self.window = _Window(index, now)

    @property
    def in_flight(self) -> int:
        return sum(1 for c in self.all if c.batch >= 0)


async def _load(plan: LoadPlan, report: Any) -> dict[str, Any]:
    client = _Client(plan, report)
    await asyncio.gather(*(client.open() for _ in range(plan.connections)))
    cpu_started = _cpu_s()
    client.start = start = time.perf_counter()
    client.window = _Window(0, start)
    total = int(plan.rate_rps * plan.seconds)
    client.outcome = bytearray(total)
    client.refused = bytearray(total)
    client.given_up = bytearray(total)
    replay_every = round(1 / plan.replay_fraction) if plan.replay_fraction > 0 else 0
    sent = 0
    while True:
        now = time.perf_counter()
        client.roll_window(now)
        due = min(total, int((now - start) * plan.rate_rps) + 1)
        while sent < due:
            scheduled = start + sent / plan.rate_rps
            client.submit(sent, scheduled)
            client.window.new_batches += 1
            if replay_every and sent % replay_every == replay_every // 2:
                heapq.heappush(client.later, (scheduled + plan.replay_delay_s, -sent - 1))
                client.totals["replays"] += 1
            sent += 1
        while client.later and client.later[0][0] <= now:
            due_at, code = heapq.heappop(client.later)
            client.submit(code, due_at)
        if sent >= total:
            elapsed = now - start
            if not client.later and not client.waiting and not client.in_flight:
                break
            if elapsed > plan.seconds + plan.retry_grace_s:
                break
        if len(client.all) + client.opening < plan.connections // 2:
            # Connections lost and not yet back (the server restarting): keep trying.
            asyncio.get_running_loop().create_task(client.open())
        next_new = start + sent / plan.rate_rps if sent < total else now + 0.05
        next_later = client.later[0][0] if client.later else next_new
        await asyncio.sleep(max(0.001, min(next_new, next_later) - time.perf_counter()))
    load_seconds = time.perf_counter() - start
    # What still waits for a retry is abandoned; what is in flight gets a minute to answer.
    client.closing = True
    abandoned = sum(1 for _, code in [*client.later, *client.waiting] if code >= 0)
    client.later.clear()
    client.waiting.clear()
    deadline = time.perf_counter() + 60
    while client.in_flight and time.perf_counter() < deadline:  # noqa: ASYNC110 - callbacks drain it
        await asyncio.sleep(0.05)
    unanswered = client.in_flight
    for connection in list(client.all):
        if connection.batch >= 0:
            client.mark(connection.batch, UNKNOWN)
        connection.close()
    client.roll_window(time.perf_counter() + plan.window_s)  # flush the last window
    cpu_s = _cpu_s() - cpu_started
    outcome = client.outcome
    acked = outcome.count(ACKED)
    # Given up and not acked by a replay of it since.
    given_up = bytes(g & (o != ACKED) for g, o in zip(client.given_up, outcome, strict=True))
    sent_requests = sum(client.statuses.values()) + client.totals["errors"] + unanswered
    return {
        "batches": total,
        "load_seconds": round(load_seconds, 2),
        "request_builder": client.requests.mode,
        "sent_requests": sent_requests,
        "replays": client.totals["replays"],
        "retries": client.totals["retries"],
        "errors": client.totals["errors"],
        "connect_errors": client.totals["connect_errors"],
        "max_attempts": plan.max_attempts,
        "acked_batches": acked,
        "refused_then_acked": sum(
            1 for r, o in zip(client.refused, outcome, strict=True) if r and o == ACKED
        ),
        "given_up": given_up.count(1),
        "abandoned_retries": abandoned,
        "unanswered": unanswered,
        "statuses": {str(k): v for k, v in sorted(client.statuses.items())},
        "partially_rejected_batches": client.partially_rejected,
        "retry_after_s": {str(k): v for k, v in sorted(client.retry_after_values.items())},
        "cpu_s": round(cpu_s, 2),
        "cpu_cores": round(cpu_s / max(load_seconds, 1e-9), 3),
        "cpu_us_per_request": round(cpu_s * 1e6 / max(sent_requests, 1), 1),
        "outcome": bytes(outcome),
        "given_up_batches": given_up,
    }


def run_load(plan: LoadPlan, report: Any) -> None:
    """Process entry point: the load on uvloop; ``("done", result)`` on ``report`` at the end
    (``("failed", text)`` if it broke)."""
    try:
        result = uvloop.run(_load(plan, report))
    except BaseException as exc:
        report.put(("failed", repr(exc)))
        raise
    report.put(("done", result))

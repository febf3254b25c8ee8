"""The soak's traffic: realistic 50-event batches with unique message ids, sent open loop.

Every event's ``messageId`` is ``<prefix><n:012d>`` where ``n`` counts events, and batch ``b``
holds events ``b * E .. b * E + E - 1``: what was acked is one byte per batch (its outcome),
never a list of ids. A batch is sent from a pre-encoded template whose id slots are filled in
per request, so the load tool spends microseconds per request, not a JSON encoder's time.

Open loop like ``loadgen.py``: new batches leave on a fixed schedule over keep-alive
connections, and latency counts from the *scheduled* send time. Unlike it, the answer
matters: a ``503``/``429`` with ``Retry-After`` is retried after that many seconds (as the
SDK does), a lost connection is retried after a second, and a fraction of batches is sent
twice (a retry whose first answer was lost), so the server's dedupe has work.

Run by ``bench/soak.py`` in a process of its own (``run_load``); window summaries and the
final outcome go back over a ``multiprocessing`` queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httptools
import msgspec
import uvloop

__all__ = [
    "ACKED",
    "REFUSED",
    "UNKNOWN",
    "UNSENT",
    "LoadPlan",
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
    retry_grace_s: float = 120.0  # after the load, how long refused batches keep retrying
    # The SDK's backoff (sdk-js/src/transport.js): attempt n waits max(Retry-After, a random
    # 0.5–1 × min(cap, 2^(n-1)) s); the SDK's cap is 300 s, a soak's minutes want less.
    max_backoff_s: float = 60.0


@dataclass
class _Window:
    index: int
    latencies_ms: list[float] = field(default_factory=list)  # of acks (200)
    send_lag_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    with_retry_after: int = 0
    errors: int = 0
    new_batches: int = 0
    retry_queue: int = 0  # batches waiting to be sent again when the window closed

    def summary(self, window_s: float) -> dict[str, Any]:
        def pct(values: list[float], p: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)

        acks = self.statuses.get(200, 0)
        return {
            "window": self.index,
            "t0_s": self.index * window_s,
            "acks": acks,
            "new_batches": self.new_batches,
            "ack_p50_ms": pct(self.latencies_ms, 50),
            "ack_p99_ms": pct(self.latencies_ms, 99),
            "ack_max_ms": round(max(self.latencies_ms), 2) if self.latencies_ms else None,
            "send_lag_p99_ms": pct(self.send_lag_ms, 99),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "with_retry_after": self.with_retry_after,
            "errors": self.errors,
            "retry_queue": self.retry_queue,
        }


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request in flight, the answer parsed by httptools."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.batch = -1
        self.scheduled = 0.0
        self.retry_after: float | None = None
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.batch >= 0:
            batch, self.batch = self.batch, -1
            self.client.lost(batch)
        self.client.replace(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            try:
                self.retry_after = float(value)
            except ValueError:
                self.retry_after = 1.0

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        batch, self.batch = self.batch, -1
        status = self.parser.get_status_code()
        self.client.answered(
            batch, status, self.scheduled, self.retry_after, bytes(self.body), self
        )
        self.retry_after = None
        self.body.clear()

    def send(self, request: bytes, batch: int, scheduled: float) -> None:
        assert self.transport is not None
        self.batch, self.scheduled = batch, scheduled
        self.transport.write(request)


class _Client:
    def __init__(self, plan: LoadPlan, report: Any) -> None:
        self.plan = plan
        self.report = report
        self.outcome = bytearray()
        self.free: deque[_Connection] = deque()
        self.all: list[_Connection] = []
        self.waiting: deque[tuple[float, int]] = deque()  # (scheduled, batch)
        self.later: list[tuple[float, int]] = []  # heap of (due, batch): retries, replays
        self.opening = 0
        self.closing = False
        self.start = time.perf_counter()
        self.window = _Window(0)
        self.totals: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.partially_rejected: list[int] = []
        self.attempts: dict[int, int] = {}  # failed attempts of batches not yet acked
        self.retry_after_values: Counter[int] = Counter()  # seconds asked for -> answers
        self.prefix = plan.id_prefix.encode()
        self.requests_prefix = [
            (
                f"POST /v1/batch HTTP/1.1\r\nHost: {plan.host}:{plan.port}\r\n"
                f"Authorization: {auth}\r\nContent-Type: application/json\r\n"
            ).encode()
            for auth in plan.auth_headers
        ]

    # Requests.
    def request(self, batch: int) -> bytes:
        plan = self.plan
        projects = len(self.requests_prefix)
        template = plan.templates[(batch // projects) % len(plan.templates)]
        base = batch * plan.events_per_batch
        prefix = self.prefix
        ids = [b"%s%012d" % (prefix, base + j) for j in range(plan.events_per_batch)]
        parts = template.parts
        pieces = [parts[0]]
        for k, slot in enumerate(template.slots):
            pieces.append(ids[slot])
            pieces.append(parts[k + 1])
        body = b"".join(pieces)
        return b"%sContent-Length: %d\r\n\r\n%s" % (
            self.requests_prefix[batch % projects],
            len(body),
            body,
        )

    def submit(self, batch: int, scheduled: float) -> None:
        self.waiting.append((scheduled, batch))
        self.dispatch()

    def dispatch(self) -> None:
        while self.waiting and self.free:
            connection = self.free.popleft()
            if connection.transport is None:
                continue
            scheduled, batch = self.waiting.popleft()
            self.window.send_lag_ms.append((time.perf_counter() - scheduled) * 1000)
            self.totals["sent"] += 1
            connection.send(self.request(batch), batch, scheduled)

    def later_at(self, due: float, batch: int) -> None:
        heapq.heappush(self.later, (due, batch))

    def retry(self, batch: int, now: float, retry_after: float) -> None:
        """Send ``batch`` again as the SDK would: after Retry-After, or the attempt's backoff
        if that is longer."""
        if self.closing:
            return
        attempt = self.attempts[batch] = self.attempts.get(batch, 0) + 1
        ceiling = min(self.plan.max_backoff_s, 2.0 ** (attempt - 1))
        wait = max(retry_after, ceiling * random.uniform(0.5, 1.0))
        self.later_at(now + min(wait, self.plan.max_backoff_s), batch)
        self.totals["retries"] += 1

    # Answers.
    def mark(self, batch: int, outcome: int) -> None:
        if self.outcome[batch] < outcome:
            self.outcome[batch] = outcome

    def answered(
        self,
        batch: int,
        status: int,
        scheduled: float,
        retry_after: float | None,
        body: bytes,
        connection: _Connection,
    ) -> None:
        now = time.perf_counter()
        self.roll_window(now)
        window = self.window
        window.statuses[status] += 1
        self.statuses[status] += 1
        if status == 200:
            window.latencies_ms.append((now - scheduled) * 1000)
            self.mark(batch, ACKED)
            self.attempts.pop(batch, None)
            if b'"rejected":[]' not in body and len(self.partially_rejected) < 100:
                self.partially_rejected.append(batch)
        elif retry_after is not None and status in (429, 503):
            window.with_retry_after += 1
            self.retry_after_values[round(retry_after)] += 1
            self.mark(batch, REFUSED)
            if self.outcome[batch] != ACKED:  # a replay refused after its twin's ack is done
                self.retry(batch, now, retry_after)
        elif status >= 500:
            self.mark(batch, UNKNOWN)
        else:
            self.mark(batch, REFUSED)
        self.free.append(connection)
        self.dispatch()

    def lost(self, batch: int) -> None:
        """No answer: the request may or may not have been logged; a client retries."""
        self.window.errors += 1
        self.totals["errors"] += 1
        self.mark(batch, UNKNOWN)
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
            self.report.put(("window", self.window.summary(self.plan.window_s)))
            self.window = _Window(index)

    @property
    def in_flight(self) -> int:
        return sum(1 for c in self.all if c.batch >= 0)


async def _load(plan: LoadPlan, report: Any) -> dict[str, Any]:
    client = _Client(plan, report)
    await asyncio.gather(*(client.open() for _ in range(plan.connections)))
    client.start = start = time.perf_counter()
    total = int(plan.rate_rps * plan.seconds)
    client.outcome = bytearray(total)
    replay_every = round(1 / plan.replay_fraction) if plan.replay_fraction > 0 else 0
    sent = 0
    while True:
        now = time.perf_counter()
        client.roll_window(now)
        due = min(total, int((now - start) * plan.rate_rps) + 1)
        while sent < due:
            client.submit(sent, start + sent / plan.rate_rps)
            client.window.new_batches += 1
            if replay_every and sent % replay_every == replay_every // 2:
                client.later_at(start + sent / plan.rate_rps + plan.replay_delay_s, sent)
                client.totals["replays"] += 1
            sent += 1
        while client.later and client.later[0][0] <= now:
            due_at, batch = heapq.heappop(client.later)
            client.submit(batch, due_at)
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
    abandoned = len(client.later) + len(client.waiting)
    client.later.clear()
    client.waiting.clear()
    deadline = time.perf_counter() + 60
    while client.in_flight and time.perf_counter() < deadline:  # noqa: ASYNC110 - callbacks drain it
        await asyncio.sleep(0.05)
    unanswered = client.in_flight
    for connection in list(client.all):
        if connection.batch >= 0:
            client.mark(connection.batch, UNKNOWN)
        if connection.transport is not None:
            connection.transport.close()
    client.roll_window(time.perf_counter() + plan.window_s)  # flush the last window
    return {
        "batches": total,
        "load_seconds": round(load_seconds, 2),
        "sent_requests": client.totals["sent"],
        "replays": client.totals["replays"],
        "retries": client.totals["retries"],
        "errors": client.totals["errors"],
        "connect_errors": client.totals["connect_errors"],
        "abandoned_retries": abandoned,
        "unanswered": unanswered,
        "statuses": {str(k): v for k, v in sorted(client.statuses.items())},
        "partially_rejected_batches": client.partially_rejected,
        "retry_after_s": {str(k): v for k, v in sorted(client.retry_after_values.items())},
        "outcome": bytes(client.outcome),
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

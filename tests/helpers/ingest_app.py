"""The ingest routes in a Litestar app over in-memory fakes: no database, no files."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar import Litestar

from cxloop.ingest import Limits
from cxloop.ingest.asgi import INGEST_STATE_KEY, ingest_handlers
from cxloop.ingest.service import IngestService, LookupUnavailable, RateLimiter
from cxloop.ops.metrics import Registry

WRITE_KEY = "wk_test"
PROJECT_ID = "prj_test"


def basic(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


@dataclass
class FakeKeys:
    known: dict[str, str] = field(default_factory=lambda: {WRITE_KEY: PROJECT_ID})
    database_down: bool = False
    misses: list[str] = field(default_factory=list)

    def resolve(self, write_key: str) -> str | None:
        return self.known.get(write_key)

    async def resolve_miss(self, write_key: str) -> str | None:
        self.misses.append(write_key)
        if self.database_down:
            raise LookupUnavailable
        return None


@dataclass
class FakeWriter:
    """Appends in memory; ``fail_with`` makes every append raise it."""

    records: list[Any] = field(default_factory=list)
    fail_with: BaseException | None = None

    async def append(self, rows: Sequence[Any], events: int | None = None) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.records.extend(rows)


@dataclass
class IngestApp:
    app: Litestar
    service: IngestService
    keys: FakeKeys
    writer: FakeWriter
    registry: Registry

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("203.0.113.7", 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://ingest.test")

    def count(self, status: int, route: str = "batch") -> float:
        return self.service.requests.values.get((route, str(status)), 0)


def ingest_app(**service_options: Any) -> IngestApp:
    registry = Registry()
    keys = FakeKeys()
    writer = FakeWriter()
    service = IngestService(
        writer=writer,
        keys=keys,
        registry=registry,
        limits=Limits(max_event_bytes=32 * 1024, max_batch_events=2500),
        max_request_bytes=service_options.pop("max_request_bytes", 500 * 1024),
        rate_limiter=RateLimiter(0),
        **service_options,
    )
    # No logging config: Litestar's default would replace the handlers pytest captures with.
    app = Litestar(route_handlers=ingest_handlers(), logging_config=None)
    app.state[INGEST_STATE_KEY] = service
    return IngestApp(app, service, keys, writer, registry)


async def asgi_request(
    app: Any, path: str, method: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One HTTP request straight through an ASGI ``app``: (status, headers, body)."""
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("198.51.100.4", 40000),
        "server": ("ingest.test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    start, body_message = sent
    return start["status"], list(start["headers"]), body_message.get("body", b"")

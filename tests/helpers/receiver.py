"""A real local HTTP endpoint for webhook tests: scripted answers, signatures checked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cxloop.webhooks import InvalidSignature, verify_signature


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    signature_ok: bool
    signature_error: str | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Endpoint:
    secret: str | None = None
    # Status codes to answer with, in order; 200 once they run out.
    script: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    location: str | None = None


class Receiver:
    """``url(name)`` is an endpoint; ``expect(name, secret, ...)`` scripts it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._endpoints: dict[str, _Endpoint] = {}
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # The default backlog (5) drops concurrent connects, which then retry after 1 s.
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    def expect(
        self,
        name: str,
        secret: str | None = None,
        *,
        script: list[int] | None = None,
        delay_s: float = 0.0,
        location: str | None = None,
    ) -> None:
        with self._lock:
            self._endpoints[name] = _Endpoint(secret, list(script or []), delay_s, location)

    def requests(self, name: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == f"/hooks/{name}"]

    def wait_for(
        self, name: str, count: int, timeout: float = 30, predicate: Any = None
    ) -> list[Received]:
        """At least ``count`` requests to ``name`` (matching ``predicate``), or fail."""
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.requests(name) if predicate is None or predicate(r)]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: {len(got)} of {count} requests arrived: {got}")
            time.sleep(0.05)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("content-length", "0")))
        name = handler.path.removeprefix("/hooks/")
        with self._lock:
            endpoint = self._endpoints.get(name, _Endpoint())
            status = endpoint.script.pop(0) if endpoint.script else 200
        ok, error = False, None
        if endpoint.secret is not None:
            try:
                verify_signature(endpoint.secret, handler.headers.get("cxloop-signature"), body)
                ok = True
            except InvalidSignature as exc:
                error = str(exc)
        with self._lock:
            self.received.append(
                Received(
                    path=handler.path,
                    headers={k.lower(): v for k, v in handler.headers.items()},
                    body=body,
                    answered=status,
                    signature_ok=ok,
                    signature_error=error,
                )
            )
        if endpoint.delay_s:
            time.sleep(endpoint.delay_s)
        try:
            handler.send_response(status)
            if endpoint.location:
                handler.send_header("Location", endpoint.location)
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
        except OSError:
            pass  # the sender gave up (timeout test)

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()

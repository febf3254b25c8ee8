"""One ingest worker process: the Litestar app on uvicorn, on a socket the supervisor bound.

The supervisor binds the socket but calls ``listen()`` only once every worker has finished
its lifespan start-up, so a client that comes too early is refused at once instead of waiting
in the accept queue (and its events getting skew-corrected timestamps seconds late). A worker
reports "ready" when its app has started and holds uvicorn's own start of serving until the
socket listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from multiprocessing.connection import Connection
from typing import Any

from cxloop.ops import configure_logging, stop_with_parent
from cxloop.settings import Settings

__all__ = ["run_worker"]

# Plain ASGI (Litestar's own aliases leave out the lifespan scope this wrapper is about).
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


def _listening(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


class ListenWhenReady:
    """ASGI wrapper holding the lifespan's "startup complete" until the supervisor listens.

    uvicorn starts serving (and would call ``listen()`` itself) right after that message, so
    holding it keeps the socket closed to clients until every worker can answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket,
        report_ready: Callable[[], None],
        stopping: Callable[[], bool],
    ) -> None:
        self.app = app
        self.sock = sock
        self.report_ready = report_ready
        self.stopping = stopping

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_when_listening(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.report_ready()
                # A stop requested meanwhile lets uvicorn finish starting, then shut down
                # (sealing the WAL) as usual.
                # Polled: a socket option and another process's flag have no event to await.
                while not _listening(self.sock) and not self.stopping():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await send(message)

        await self.app(scope, receive, send_when_listening)


def run_worker(
    settings: Settings, sock: socket.socket, index: int, ready: Connection, parent_pid: int
) -> None:
    import uvicorn

    from cxloop.app import create_app
    from cxloop.ingest import IngestFront
    from cxloop.server.protocol import protocol_options

    stop_with_parent(parent_pid)
    configure_logging(settings.log_level, f"worker-{index}")
    server: uvicorn.Server | None = None

    def report_ready() -> None:
        # A broken pipe means the supervisor is gone: its death signal stops this worker.
        with contextlib.suppress(OSError):
            ready.send(index)
        ready.close()

    def stopping() -> bool:
        return server is not None and bool(server.should_exit)

    app = create_app(settings)
    config = uvicorn.Config(
        # The ingest routes are served before Litestar's layers (cxloop.ingest.asgi).
        IngestFront(ListenWhenReady(app, sock, report_ready, stopping), app),
        lifespan="on",
        loop="uvloop",
        # Deadlines for slow clients (headers, bodies) that uvicorn does not have; no WebSocket.
        **protocol_options(
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
            max_opening_per_client=settings.max_opening_connections_per_client,
        ),
        access_log=False,
        # The client address is ours to decide (CXLOOP_TRUST_FORWARDED_FOR): uvicorn's own
        # proxy-header handling would rewrite it for any client on loopback.
        proxy_headers=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=15,
        # Keep-alive long enough for load balancers and SDK batching intervals.
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])

"""One ingest worker process: the Litestar app on uvicorn, on a socket the supervisor bound."""

from __future__ import annotations

import logging
import socket

from cxloop.settings import Settings

__all__ = ["run_worker"]


def configure_logging(level: str, process_name: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s [{process_name}] %(name)s: %(message)s",
    )


def run_worker(settings: Settings, sock: socket.socket, index: int) -> None:
    import uvicorn

    from cxloop.app import create_app
    from cxloop.server.protocol import guarded_http_protocol

    configure_logging(settings.log_level, f"worker-{index}")
    config = uvicorn.Config(
        create_app(settings),
        lifespan="on",
        loop="uvloop",
        # Deadlines for slow clients (headers, bodies) that uvicorn does not have.
        http=guarded_http_protocol(
            header_timeout_s=settings.header_timeout_s, body_timeout_s=settings.body_timeout_s
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
    uvicorn.Server(config).run(sockets=[sock])

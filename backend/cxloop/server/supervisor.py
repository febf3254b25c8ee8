"""``cxloop serve``: embedded PostgreSQL, migrations, N ingest workers and the pipeline process.

The supervisor binds the listening socket once and hands it to every worker (they accept
from the same queue), starts the pipeline process that compacts the WAL into the lake and
projects it into PostgreSQL, restarts any child that dies, and on SIGTERM/SIGINT stops the
children gracefully (each worker seals its WAL segment) before stopping the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import msgspec

from cxloop.db import database_url_for
from cxloop.settings import Settings

__all__ = ["serve"]

log = logging.getLogger("cxloop.serve")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def _migrate(url: str) -> list[str]:
    import asyncpg

    from cxloop.db.migrate import apply_migrations

    conn = await asyncpg.connect(url)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


@dataclass
class _Child:
    name: str
    target: Callable[..., None]
    args: tuple[Any, ...]
    process: BaseProcess | None = None
    restarts: list[float] = field(default_factory=list)


def serve(settings: Settings, *, echo: Callable[[str], None] = print) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    from cxloop.pipeline.process import run_pipeline
    from cxloop.server.worker import configure_logging, run_worker

    configure_logging(settings.log_level, "serve")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = msgspec.structs.replace(settings, data_dir=settings.data_dir.resolve())
    with database_url_for(settings.database_url, settings.postgres_dir) as url:
        embedded = not settings.database_url
        settings = msgspec.structs.replace(settings, database_url=url)
        applied = asyncio.run(_migrate(url))
        for name in applied:
            log.info("applied migration %s", name)
        if not applied:
            log.info("database schema is up to date")

        sock = _bind(settings.host, settings.port)
        host, port = sock.getsockname()[:2]
        base_url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        context = multiprocessing.get_context("spawn")
        children = [
            _Child(f"worker-{i}", run_worker, (settings, sock, i)) for i in range(settings.workers)
        ]
        children.append(_Child("pipeline", run_pipeline, (settings,)))

        stopping = False

        def request_stop(signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

        for child in children:
            _start(context, child)
        state_file = settings.state_dir / "serve.json"
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        # Written whole and renamed: a reader never sees half a file.
        partial = state_file.with_suffix(".json.tmp")
        partial.write_text(
            json.dumps({"url": base_url, "pid": os.getpid(), "workers": settings.workers})
        )
        partial.replace(state_file)
        echo(
            f"cxloop {base_url} ready: {settings.workers} worker(s), data in {settings.data_dir}, "
            f"database {'embedded in ' + str(settings.postgres_dir) if embedded else 'DATABASE_URL'}"
        )
        try:
            while not stopping:
                sentinels = [c.process.sentinel for c in children if c.process is not None]
                multiprocessing.connection.wait(sentinels, timeout=0.5)
                for child in children:
                    if stopping or child.process is None or child.process.is_alive():
                        continue
                    log.error(
                        "%s exited with code %s; restarting it",
                        child.name,
                        child.process.exitcode,
                    )
                    _restart_with_backoff(context, child)
        finally:
            echo("cxloop stopping: sealing the write-ahead log and stopping children")
            for child in children:
                if child.process is not None and child.process.is_alive():
                    os.kill(child.process.pid or 0, signal.SIGTERM)
            deadline = time.monotonic() + 30
            for child in children:
                if child.process is None:
                    continue
                child.process.join(max(0.1, deadline - time.monotonic()))
                if child.process.is_alive():
                    log.error("%s did not stop in time; killing it", child.name)
                    child.process.kill()
                    child.process.join(5)
            sock.close()
            state_file.unlink(missing_ok=True)
    return 0


def _start(context: Any, child: _Child) -> None:
    child.process = context.Process(target=child.target, args=child.args, name=child.name)
    child.process.start()


def _restart_with_backoff(context: Any, child: _Child) -> None:
    now = time.monotonic()
    child.restarts = [t for t in child.restarts if now - t < 60] + [now]
    # A child that keeps dying is restarted more slowly, never given up on.
    time.sleep(min(10.0, 0.2 * 2 ** (len(child.restarts) - 1)))
    _start(context, child)

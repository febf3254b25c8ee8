"""``cxloop serve``: embedded PostgreSQL, migrations, N ingest workers and the pipeline process.

The supervisor binds the listening socket once and hands it to every worker (they accept
from the same queue), starts the pipeline process that compacts the WAL into the lake and
projects it into PostgreSQL, restarts any child that dies, and on SIGTERM/SIGINT stops the
children gracefully (each worker seals its WAL segment) before stopping the database.

Lifecycle: the socket listens only once every worker has started (a client that comes
earlier is refused at once rather than left waiting); children get SIGTERM from the kernel
if the supervisor dies (kill -9 included), the embedded PostgreSQL is stopped by its guardian
(``cxloop.db.guardian``), and a restart first waits for whatever a crashed run left behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import msgspec

from cxloop.db import database_url_for
from cxloop.ops import configure_logging
from cxloop.settings import Settings

__all__ = ["ServeError", "serve"]

log = logging.getLogger("cxloop.serve")

# How long a start waits for processes a crashed run left behind (children of a supervisor
# killed with -9 are stopping gracefully, SIGTERM, by then), and then for the port they held.
LEFTOVER_WAIT_S = 20.0
PORT_WAIT_S = 2.0
CHILD_STOP_S = 30.0
MALLOC_ARENA_MAX = 2


class ServeError(RuntimeError):
    """``cxloop serve`` cannot start; the message says what to do."""


def _bind(host: str, port: int, wait_s: float) -> socket.socket:
    """Bound, not listening: connections are refused until the workers can answer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _retry_while_in_use(lambda: sock.bind((host, port)), sock, host, port, wait_s)
    sock.set_inheritable(True)
    return sock


def _retry_while_in_use(
    action: Callable[[], None], sock: socket.socket, host: str, port: int, wait_s: float
) -> None:
    # The workers of a crashed run may have only just closed the port: wait a little.
    deadline = time.monotonic() + wait_s
    while True:
        try:
            action()
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                sock.close()
                raise ServeError(
                    f"cannot listen on {host}:{port}: {exc.strerror}. Another program (or "
                    "another cxloop) uses the port: stop it, or choose one with --port / "
                    "CXLOOP_PORT (0 picks a free one)."
                ) from exc
            time.sleep(0.1)


async def _apply_migrations(url: str) -> list[str]:
    import asyncpg

    from cxloop.db import apply_migrations

    conn = await asyncpg.connect(url)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


def _migrate_main(url: str, answer: Connection) -> None:
    """In a short-lived child: apply the pending migrations, send back their names (or why
    they could not be applied)."""
    import asyncio

    try:
        reply: tuple[str, Any] = ("applied", asyncio.run(_apply_migrations(url)))
    except Exception as exc:  # any: reported to the supervisor, which stops with it
        reply = ("failed", f"{type(exc).__name__}: {exc}")
    answer.send(reply)
    answer.close()


def _migrate(url: str) -> list[str]:
    """Apply pending migrations in a child process: asyncpg and the event loop load there and
    go with it, and the supervisor, which only spawns and watches, stays small."""
    context = multiprocessing.get_context("spawn")
    answer, child_end = context.Pipe(duplex=False)
    child = context.Process(target=_migrate_main, args=(url, child_end), name="migrate")
    child.start()
    child_end.close()
    try:
        status, value = answer.recv()
    except EOFError:
        status, value = "failed", f"the migration process exited with code {child.exitcode}"
    finally:
        answer.close()
        child.join()
    if status != "applied":
        raise ServeError(f"cannot apply the database migrations: {value}")
    return list(value)


# The children's entry points, by reference: a spawned child imports what its own role needs
# (the app for a worker, the lake and projections for the pipeline) and the supervisor
# imports neither (it only waits on them; ARCHITECTURE.md, lean processes).
def _worker_main(*args: Any) -> None:
    from cxloop.server.worker import run_worker

    run_worker(*args)


def _pipeline_main(*args: Any) -> None:
    from cxloop.pipeline import run_pipeline

    run_pipeline(*args)


@dataclass
class _Child:
    name: str
    target: Callable[..., None]
    worker_index: int | None = None
    process: BaseProcess | None = None
    ready: Connection | None = None  # a worker's "ready" report, until it arrives
    restarts: list[float] = field(default_factory=list)


def _started_at(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a pid from its reuse)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return None if fields[0] == "Z" else int(fields[19])


@contextlib.contextmanager
def _only_serve(state_dir: Path, *, then: str = "or use another --data-dir") -> Iterator[None]:
    """One ``cxloop serve`` per data directory (two would share the WAL and the database);
    ``cxloop drain`` holds the same lock. ``then`` ends the refusal's advice."""
    fd = os.open(state_dir / "serve.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            running = ""
            with contextlib.suppress(OSError, ValueError, KeyError):
                state = json.loads((state_dir / "serve.json").read_text())
                running = f" (pid {state['pid']}, {state['url']})"
            raise ServeError(
                f"cxloop serve is already running on the data directory {state_dir.parent}"
                f"{running}; stop it first, {then}"
            ) from None
        yield
    finally:
        os.close(fd)


class _Leftovers:
    """The children of this run, on disk: a run killed with -9 cannot stop them itself, so
    the next start waits for them (they were sent SIGTERM when it died) and kills stragglers."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def wait_for_previous(self, timeout: float) -> None:
        try:
            recorded = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        remaining = [pid for pid, started in recorded if _started_at(pid) == started]
        if remaining:
            log.warning(
                "waiting for %d process(es) of a cxloop serve that did not stop: %s",
                len(remaining),
                remaining,
            )
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            time.sleep(0.05)
            remaining = [pid for pid, started in recorded if _started_at(pid) == started]
        for pid in remaining:
            log.error("process %d of the previous run did not stop; killing it", pid)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.path.unlink(missing_ok=True)

    def record(self, children: list[_Child]) -> None:
        pids = [c.process.pid for c in children if c.process is not None and c.process.pid]
        entries = [(pid, started) for pid in pids if (started := _started_at(pid)) is not None]
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(entries))
        partial.replace(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def serve(settings: Settings, *, echo: Callable[[str], None] = print) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code. Raises ``ServeError`` when it cannot
    start (the port is taken, another serve runs on the data directory)."""

    configure_logging(settings.log_level, "serve")
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    # First thing: a stop asked for during start-up (the database, migrations) is a clean stop.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = msgspec.structs.replace(settings, data_dir=settings.data_dir.resolve())
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with _only_serve(settings.state_dir):
        leftovers = _Leftovers(settings.state_dir / "serve.children.json")
        leftovers.wait_for_previous(LEFTOVER_WAIT_S)
        with database_url_for(settings.database_url, settings.postgres_dir) as url:
            embedded = not settings.database_url
            settings = msgspec.structs.replace(settings, database_url=url)
            applied = _migrate(url)
            for name in applied:
                log.info("applied migration %s", name)
            if not applied:
                log.info("database schema is up to date")
            if stopping:
                return 0
            return _run(settings, embedded, leftovers, echo, lambda: stopping)


def _run(
    settings: Settings,
    embedded: bool,
    leftovers: _Leftovers,
    echo: Callable[[str], None],
    stopping: Callable[[], bool],
) -> int:
    sock = _bind(settings.host, settings.port, PORT_WAIT_S)
    host, port = sock.getsockname()[:2]
    base_url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    context = multiprocessing.get_context("spawn")
    # Two malloc arenas per child instead of glibc's 8 per core: the threads of a child (the
    # WAL's fsyncs, DuckDB's, the pipeline's executor) otherwise each grow an arena of their
    # own that keeps its freed memory. Read by glibc when a spawned child starts.
    os.environ.setdefault("MALLOC_ARENA_MAX", str(MALLOC_ARENA_MAX))
    # Arrow's jemalloc pool instead of mimalloc: it hands freed pages back by itself (decay),
    # where mimalloc kept them (bench_memory.py, 3 pairs: pipeline peak PSS 379 -> 293 MB).
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    children = [
        _Child(f"worker-{i}", _worker_main, worker_index=i) for i in range(settings.workers)
    ]
    children.append(_Child("pipeline", _pipeline_main))

    def start(child: _Child) -> None:
        ready_writer: Connection | None = None
        if child.worker_index is None:
            args: tuple[Any, ...] = (settings, os.getpid())
        else:
            child.ready, ready_writer = context.Pipe(duplex=False)
            args = (settings, sock, child.worker_index, ready_writer, os.getpid())
        child.process = context.Process(target=child.target, args=args, name=child.name)
        child.process.start()
        if ready_writer is not None:
            ready_writer.close()  # the worker has its copy: EOF now means it died
        leftovers.record(children)

    state_file = settings.state_dir / "serve.json"
    started_workers: set[str] = set()
    listening = False
    try:
        for child in children:
            start(child)
        while not stopping():
            waitables: list[Any] = [c.process.sentinel for c in children if c.process]
            waitables += [c.ready for c in children if c.ready is not None]
            multiprocessing.connection.wait(waitables, timeout=0.5)
            for child in children:
                if child.ready is not None and child.ready.poll():
                    with contextlib.suppress(EOFError, OSError):
                        child.ready.recv()
                        started_workers.add(child.name)
                    child.ready.close()
                    child.ready = None
            if not listening and len(started_workers) == settings.workers and not stopping():
                _retry_while_in_use(lambda: sock.listen(2048), sock, host, port, PORT_WAIT_S)
                listening = True
                # Written whole and renamed: a reader never sees half a file.
                partial = state_file.with_suffix(".json.tmp")
                partial.write_text(
                    json.dumps({"url": base_url, "pid": os.getpid(), "workers": settings.workers})
                )
                partial.replace(state_file)
                echo(
                    f"cxloop {base_url} ready: {settings.workers} worker(s), data in "
                    f"{settings.data_dir}, database "
                    f"{'embedded in ' + str(settings.postgres_dir) if embedded else 'DATABASE_URL'}"
                )
            for child in children:
                if stopping() or child.process is None or child.process.is_alive():
                    continue
                log.error(
                    "%s exited with code %s; restarting it", child.name, child.process.exitcode
                )
                _backoff(child, stopping)
                if not stopping():
                    start(child)
    finally:
        echo("cxloop stopping: sealing the write-ahead log and stopping children")
        for child in children:
            if child.process is not None and child.process.is_alive():
                os.kill(child.process.pid or 0, signal.SIGTERM)
        deadline = time.monotonic() + CHILD_STOP_S
        for child in children:
            if child.ready is not None:
                child.ready.close()
            if child.process is None:
                continue
            child.process.join(max(0.1, deadline - time.monotonic()))
            if child.process.is_alive():
                log.error("%s did not stop in time; killing it", child.name)
                child.process.kill()
                child.process.join(5)
        sock.close()
        state_file.unlink(missing_ok=True)
        leftovers.clear()
    return 0


def _backoff(child: _Child, stopping: Callable[[], bool]) -> None:
    now = time.monotonic()
    child.restarts = [t for t in child.restarts if now - t < 60] + [now]
    # A child that keeps dying is restarted more slowly, never given up on; a stop cuts it short.
    until = now + min(10.0, 0.2 * 2 ** (len(child.restarts) - 1))
    while time.monotonic() < until and not stopping():
        time.sleep(0.05)

"""What the benches share, in one place: the payloads, the servers they start (``cxloop
serve`` from this or another checkout, the bare msgspec ceiling) and the wrk runs against
them, the PostgreSQL databases they make, and a file as of a git revision (a baseline).

Not a bench itself. ``bench_ingest`` re-exports the server and payload helpers under their old
names, so ``import bench_ingest as bi`` goes on working.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# The ack path alone: a pipeline behind on a shared machine must not turn the load into cheap
# pipeline_behind refusals.
NO_BACKLOG_BOUND = {"CXLOOP_WAL_BACKLOG_MAX_BYTES": "0", "CXLOOP_WAL_BACKLOG_MAX_S": "0"}
ROUTES = {"single": "/v1/track", "batch50": "/v1/batch"}


# Payloads


@contextlib.contextmanager
def environ(overrides: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``overrides`` set, as it was again afterwards."""
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def realistic_event(i: int) -> dict[str, Any]:
    """About what a browser SDK sends: ~450 bytes of JSON."""
    return {
        "type": "track",
        "event": "Feature Used",
        "messageId": str(uuid.uuid4()),
        "userId": f"user_{i % 5000}",
        "anonymousId": f"anon_{i % 7000}",
        "timestamp": "2026-11-23T10:00:00.123Z",
        "properties": {
            "feature": ["reports", "exports", "alerts", "search"][i % 4],
            "count": i % 17,
        },
        "context": {
            "library": {"name": "cxloop-js", "version": "0.1.0"},
            "page": {
                "path": "/app/reports",
                "url": "https://app.example.com/app/reports",
                "title": "Reports",
            },
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0",
            "locale": "zh-CN",
            "timezone": "Asia/Shanghai",
            "groupId": f"acct_{i % 300}",
        },
    }


def build_bodies(count: int, events_per_body: int, single: bool) -> list[bytes]:
    bodies = []
    n = 0
    for _ in range(count):
        if single:
            event = realistic_event(n)
            event.pop("type")
            bodies.append(msgspec.json.encode(event))
            n += 1
        else:
            batch = [realistic_event(n + j) for j in range(events_per_body)]
            n += events_per_body
            bodies.append(msgspec.json.encode({"batch": batch, "sentAt": "2026-11-23T10:00:01Z"}))
    return bodies


@dataclass
class IngestLoad:
    """A project's write key and the bodies wrk sends: 5,000 single events and 1,000
    50-event batches, each also as a file of one body a line (``bench/wrk_post.lua``)."""

    auth: str
    bodies: dict[str, list[bytes]]
    files: dict[str, Path] = field(default_factory=dict)


def ingest_load(tmp: Path, database_url: str) -> IngestLoad:
    import base64

    write_key = create_project(database_url)
    load = IngestLoad(
        auth="Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
        bodies={
            "batch50": build_bodies(1000, 50, single=False),
            "single": build_bodies(5000, 1, single=True),
        },
    )
    for kind, name in (("batch50", "batch.jsonl"), ("single", "single.jsonl")):
        load.files[kind] = tmp / name
        load.files[kind].write_bytes(b"\n".join(load.bodies[kind]) + b"\n")
    return load


@contextlib.contextmanager
def ingest_setup(prefix: str) -> Iterator[tuple[Path, str, IngestLoad]]:
    """A temporary directory, PostgreSQL (``DATABASE_URL``'s server, else an embedded one in
    it) and an ``IngestLoad`` on a new project; all removed on the way out."""
    from cxloop.db import database_url_for

    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        tmp = Path(name)
        with database_url_for(os.environ.get("DATABASE_URL"), tmp / "pg") as database_url:
            yield tmp, database_url, ingest_load(tmp, database_url)


# Processes


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wait_drained(wal_dir: Path, timeout: float) -> float:
    """Wait until the pipeline has worked off every sealed segment; returns the seconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not any(wal_dir.glob("*/*.sealed")) and not any(wal_dir.glob("*/*.compacted")):
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"the pipeline did not catch up within {timeout} s")


def process_cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def is_pipeline(process: psutil.Process) -> bool:
    """cxloop's pipeline process: the one child that gives way to the workers (SCHED_IDLE,
    or nice 10 with CXLOOP_PIPELINE_PRIORITY=nice)."""
    try:
        return process.nice() > 0 or os.sched_getscheduler(process.pid) == os.SCHED_IDLE
    except (psutil.Error, OSError):
        return False


def ingest_worker_pid(server_pid: int) -> int:
    """The serving process: uvicorn itself for the ceiling, the worker for cxloop."""
    root = psutil.Process(server_pid)
    workers = [
        p
        for p in root.children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline()) and not is_pipeline(p)
    ]
    return workers[0].pid if workers else server_pid


def start_ceiling(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "ceiling_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=HERE,
        start_new_session=True,
    )


def start_cxloop(
    data_dir: Path,
    database_url: str,
    port: int,
    settings: dict[str, str] | None = None,
    tree: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``cxloop serve --workers 1`` on its defaults, plus any ``CXLOOP_*`` ``settings`` given;
    from the checkout ``tree`` (its ``backend/`` first on PYTHONPATH) when one is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    if tree is not None:
        env["PYTHONPATH"] = f"{tree / 'backend'}:{tree}"
    env |= {
        "CXLOOP_DATA_DIR": str(data_dir),
        "CXLOOP_PORT": str(port),
        "DATABASE_URL": database_url,
        "CXLOOP_LOG_LEVEL": "WARNING",
        **(settings or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "serve", "--workers", "1"],
        env=env,
        cwd=tree,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def create_project(database_url: str) -> str:
    """A new project's write key."""
    write_key: str = project_keys(database_url)["write_key"]
    return write_key


def project_keys(database_url: str) -> dict[str, str]:
    """A new project, through the CLI: ``{id, name, write_key, secret_key}``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env["DATABASE_URL"] = database_url
    out = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "projects", "create", "bench", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    keys: dict[str, str] = json.loads(out.stdout)
    return keys


@dataclass
class Servers:
    """Every server of a tree comparison, running for the whole measurement: its port, and
    the pid whose CPU a request costs (the ingest worker; uvicorn itself for the ceiling)."""

    names: list[str]
    trees: dict[str, Path] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def order(self, round_: int) -> list[str]:
        """Every server once, the order reversed every other round (ABBA)."""
        return self.names if round_ % 2 == 0 else self.names[::-1]


@contextlib.contextmanager
def serving(
    trees: dict[str, Path], tmp: Path, database_url: str, ceiling: bool = True
) -> Iterator[Servers]:
    """``cxloop serve`` from every checkout in ``trees`` (data in ``tmp/data-<name>``, the
    backlog bound off) and, with ``ceiling``, the bare ASGI ceiling as ``"ceiling"``; all
    stopped on the way out."""
    servers = Servers([*trees, *(["ceiling"] if ceiling else [])], dict(trees))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in servers.names:
            servers.ports[name] = port = free_port()
            if name == "ceiling":
                processes[name] = start_ceiling(port)
                wait_http(f"{servers.url(name)}/")
                servers.pids[name] = processes[name].pid
            else:
                processes[name] = start_cxloop(
                    tmp / f"data-{name}", database_url, port, NO_BACKLOG_BOUND, tree=trees[name]
                )
                wait_http(f"{servers.url(name)}/readyz")
                servers.pids[name] = ingest_worker_pid(processes[name].pid)
        yield servers
    finally:
        for process in processes.values():
            stop(process)


def tree_parser(doc: str | None, rounds: int, seconds: int) -> argparse.ArgumentParser:
    """The arguments every tree comparison takes: ``--tree NAME=PATH`` (repeated),
    ``--rounds``, ``--seconds`` (per wrk run)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--seconds", type=int, default=seconds, help="per wrk run")
    return parser


def parse_trees(specs: list[str]) -> dict[str, Path]:
    """``NAME=PATH`` arguments: each a checkout."""
    return {name: Path(path).resolve() for name, path in (t.split("=", 1) for t in specs)}


@contextlib.contextmanager
def tree_session(
    args: argparse.Namespace, prefix: str, ceiling: bool = True
) -> Iterator[tuple[IngestLoad, Servers, Path]]:
    """A tree comparison's set-up from ``tree_parser``'s arguments: signals that unwind, the
    database and the load (``ingest_setup``), every server up (``serving``); all stopped and
    removed on the way out."""
    stop_cleanly_on_signals()
    trees = parse_trees(args.tree)
    with (
        ingest_setup(prefix) as (tmp, database_url, load),
        serving(trees, tmp, database_url, ceiling) as servers,
    ):
        yield load, servers, tmp


def stop_cleanly_on_signals() -> None:
    """Stopped from a shell that ignores SIGINT (a background job), or with SIGTERM: still
    unwind, so the servers and the database stop on the way out."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def run_wrk(
    url: str, body_file: Path, auth: str, seconds: int, connections: int, worker_pid: int
) -> dict[str, float]:
    cpu_before = process_cpu_seconds(worker_pid)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: {auth}",
            "-H",
            "Content-Type: application/json",
            "-s",
            str(HERE / "wrk_post.lua"),
            url,
            "--",
            str(body_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = process_cpu_seconds(worker_pid) - cpu_before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        # CPU time of the serving process per request: robust to other load on the machine.
        "cpu_us_per_request": cpu / max(requests, 1) * 1e6,
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def wrk_turn(
    url: str, load: IngestLoad, seconds: int, connections: int, pid: int
) -> dict[str, dict[str, float]]:
    """One server's turn: a 1-s warm-up (first requests pay imports, key lookups and segment
    creation), then single events and 50-event batches, closed loop: ``{kind: figures}``."""
    run_wrk(url + ROUTES["single"], load.files["single"], load.auth, 1, 64, pid)
    return {
        kind: run_wrk(url + route, load.files[kind], load.auth, seconds, connections, pid)
        for kind, route in ROUTES.items()
    }


# PostgreSQL


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


async def fresh_database(
    server_url: str,
    prefix: str,
    project: str,
    setup: Callable[[Any], Awaitable[None]] | None = None,
) -> str:
    """A new database on ``server_url`` named ``prefix`` + random hex, migrated, with the
    project ``project`` (so what needs one, e.g. detractor alerts, behaves as in production),
    then ``setup(connection)`` if given; its URL."""
    import asyncpg

    from cxloop.db import apply_migrations  # the checkout the caller put first on sys.path

    name = prefix + secrets.token_hex(4)
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(server_url, name)
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
        await conn.execute(
            "INSERT INTO projects (id, name, write_key, secret_key_hash, secret_key_prefix)"
            " VALUES ($1, 'bench', $2, $3, 'sk_bench')",
            project,
            "wk_" + secrets.token_hex(8),
            secrets.token_hex(32),
        )
        if setup is not None:
            await setup(conn)
    finally:
        await conn.close()
    return url


async def drop_database(server_url: str, url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(server_url)
    try:
        name = urlsplit(url).path.lstrip("/")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def tree_cpu(pid: int) -> float:
    """CPU-seconds of a process and its children alive now."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for member in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = member.cpu_times()
                total += times.user + times.system
    return total


def postgres_cpu(postmaster: int | None) -> float:
    """CPU-seconds so far of the PostgreSQL server (its postmaster and every backend; the
    backends of a run are alive until it ends, so their time is counted)."""
    return 0.0 if postmaster is None else tree_cpu(postmaster)


def find_postmaster(server_url: str, pgdata: Path | None) -> int | None:
    """The postmaster's pid: from ``pgdata/postmaster.pid``, else the one listening on the
    URL's port (only a server on this machine can be measured)."""
    if pgdata is not None:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    port = urlsplit(server_url).port or 5432
    for process in psutil.process_iter(["name", "ppid"]):
        if process.info["name"] == "postgres" and process.info["ppid"] != 0:
            with contextlib.suppress(psutil.Error):
                if any(c.laddr.port == port for c in process.net_connections("tcp")):
                    return process.pid
    return None


def bench_postgres(
    stack: contextlib.ExitStack,
    database_url: str | None,
    postmaster: int | None,
    directory: Path,
    prefix: str,
) -> tuple[str, int | None]:
    """The PostgreSQL server a bench measures against, and its postmaster pid (for its CPU):
    ``database_url`` if given, else an embedded one in a new directory under ``directory``
    that ``stack`` stops and removes."""
    import shutil

    from cxloop.db import embedded_postgres

    pgdata = None
    if database_url is None:
        root = Path(tempfile.mkdtemp(prefix=prefix, dir=directory))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        pgdata = root / "pgdata"
        database_url = stack.enter_context(embedded_postgres(pgdata))
    if postmaster is None:
        postmaster = find_postmaster(database_url, pgdata)
    return database_url, postmaster


# Baselines


def module_at(revision: str, path: str, name: str, directory: Path | None = None) -> ModuleType:
    """The file ``path`` (from the repository root) as of git ``revision``, imported as the
    module ``name``: written to ``directory`` (a new temporary one if none), which goes first
    on ``sys.path`` so spawned children, which inherit it, can import it too."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    directory = directory or Path(tempfile.mkdtemp(prefix="cxloop-bench-baseline-"))
    (directory / f"{name}.py").write_text(source)
    sys.path.insert(0, str(directory))
    return importlib.import_module(name)

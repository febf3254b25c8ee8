"""Process lifecycle on the embedded defaults: every stop, crash and restart ends with exactly
the processes the user expects, and the server is reachable only once it can answer.

Signals go to the supervisor's pid alone, as ``kill <pid>`` does (tests/helpers/server.py
stops whole process groups, which would hide a child left behind).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest

from tests.helpers.processes import (
    assert_all_gone,
    assert_nobody_listens,
    embedded_env,
    postgres_tree,
    run_cli,
    scratch_dir,
)
from tests.helpers.server import (
    Project,
    RunningServer,
    create_project,
    server_env,
    start_server,
)

GONE_WITHIN_S = 30.0


def _everything(server: RunningServer) -> list[psutil.Process]:
    """Every process the server consists of: supervisor, workers, pipeline, guardian,
    multiprocessing's helper, and the embedded PostgreSQL."""
    supervisor = psutil.Process(server.process.pid)
    return [
        supervisor,
        *supervisor.children(recursive=True),
        *postgres_tree(server.data_dir / "postgres"),
    ]


def _assert_nothing_left(server: RunningServer, known: list[psutil.Process]) -> None:
    """Nothing of this data directory runs, and nobody listens on the port."""
    assert_all_gone(known, GONE_WITHIN_S)
    assert not postgres_tree(server.data_dir / "postgres")
    assert not (server.data_dir / "postgres" / "postmaster.pid").exists()
    assert_nobody_listens(int(server.url.rsplit(":", 1)[1]))


def _terminate(server: RunningServer, sig: int = signal.SIGTERM) -> None:
    server.process.send_signal(sig)
    assert server.process.wait(60) == 0, server.log()[-3000:]


def _embedded_project(server: RunningServer) -> Project:
    """A project made by the CLI, which joins the running embedded PostgreSQL."""
    env = embedded_env(server.data_dir)
    out = run_cli(env, "projects", "create", "lifecycle", "--json", check=True)
    data = json.loads(out.stdout)
    return Project(id=data["id"], write_key=data["write_key"], secret_key=data["secret_key"])


def _ingest_ok(server: RunningServer, project: Project) -> None:
    event = {"type": "track", "userId": "u1", "event": "Lifecycle Checked"}
    answer = httpx.post(
        f"{server.url}/v1/batch", json={"batch": [event]}, headers=project.basic_auth, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """One data directory for the module (one initdb); each test leaves nothing running."""
    with scratch_dir("cxloop-lifecycle-") as path:
        yield path


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return server_env(data_dir, None, workers=2)


def test_sigterm_stops_every_process(data_dir: Path, env: dict[str, str]) -> None:
    server = start_server(env, data_dir)
    processes = _everything(server)
    assert postgres_tree(data_dir / "postgres"), "the embedded PostgreSQL should be running"
    assert len(processes) >= 6  # supervisor, 2 workers, pipeline, guardian, postmaster, ...
    # A second serve on the same data directory says so instead of sharing the WAL.
    second = run_cli(env, "serve")
    assert second.returncode == 1
    assert "already running on the data directory" in second.stderr, second.stderr
    _terminate(server)
    _assert_nothing_left(server, processes)


def test_kill_9_stops_every_process_and_a_restart_works(
    data_dir: Path, env: dict[str, str]
) -> None:
    server = start_server(env, data_dir)
    processes = _everything(server)
    server.process.kill()  # the supervisor alone, as the OOM killer would
    server.process.wait(10)
    # Workers and pipeline get SIGTERM from the kernel; the guardian stops PostgreSQL.
    assert_all_gone(processes, GONE_WITHIN_S)
    assert not postgres_tree(data_dir / "postgres")

    again = start_server(env, data_dir)
    _ingest_ok(again, _embedded_project(again))
    later = _everything(again)
    _terminate(again)
    _assert_nothing_left(again, later)


@pytest.mark.parametrize("guardian_too", [False, True], ids=["supervisor", "with-guardian"])
def test_restart_right_after_kill_9(
    data_dir: Path, env: dict[str, str], guardian_too: bool
) -> None:
    server = start_server(env, data_dir)
    processes = _everything(server)
    project = _embedded_project(server)
    if guardian_too:
        # Nothing is left to stop PostgreSQL: the restart adopts it, and its clean stop must
        # still stop it (the dead holder is forgotten).
        guardians = [p for p in processes if "guardian.py" in " ".join(p.cmdline())]
        assert len(guardians) == 1
        guardians[0].kill()
    server.process.kill()
    server.process.wait(10)

    # Straight away: the old children are still stopping, the postmaster may be shutting down.
    again = start_server(env, data_dir)
    _ingest_ok(again, project)
    postgres_now = {p.pid for p in postgres_tree(data_dir / "postgres")}
    # Of the crashed run, only a PostgreSQL the new one adopted may remain.
    assert_all_gone([p for p in processes if p.pid not in postgres_now], GONE_WITHIN_S)
    later = _everything(again)
    _terminate(again, signal.SIGINT)
    _assert_nothing_left(again, processes + later)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_connections_are_refused_until_the_server_can_answer(
    tmp_path: Path, module_database_url: str
) -> None:
    project = create_project(module_database_url, "early-bird")
    port = _free_port()
    env = server_env(tmp_path, module_database_url, port=port, workers=2)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # From the moment the process starts: every attempt before it can answer is refused.
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the server never accepted a connection"
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except ConnectionRefusedError:
                time.sleep(0.005)
        with connection:
            sent = datetime.now(UTC)
            event = {
                "type": "track",
                "userId": "u1",
                "event": "Early Request",
                "messageId": str(uuid.uuid4()),
                "timestamp": sent.isoformat(),
            }
            body = json.dumps({"batch": [event], "sentAt": sent.isoformat()}).encode()
            auth = project.basic_auth["Authorization"]
            connection.sendall(
                b"POST /v1/batch HTTP/1.1\r\nHost: cxloop\r\nContent-Type: application/json\r\n"
                + f"Authorization: {auth}\r\nContent-Length: {len(body)}\r\n".encode()
                + b"Connection: close\r\n\r\n"
                + body
            )
            started = time.monotonic()
            connection.settimeout(30)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
            took = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 200"), answer[:500]
        # The first connection that gets in is answered at once, not after the start-up.
        assert took < 1.0, f"the first accepted request took {took:.2f} s"

        url = f"http://127.0.0.1:{port}"
        running = RunningServer(
            url=url, data_dir=tmp_path, process=process, log_path=tmp_path / "serve.log"
        )
        rows = running.lake_rows(project.id)
        deadline = time.monotonic() + 60
        while not rows and time.monotonic() < deadline:
            time.sleep(0.2)
            rows = running.lake_rows(project.id)
        assert rows, "the event never reached the lake"
        skew = abs((rows[0]["timestamp"] - sent).total_seconds())
        # The skew-corrected timestamp is the send time, not the end of the start-up.
        assert skew < 0.5, f"timestamp {rows[0]['timestamp']} is {skew:.2f} s from {sent}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        log.close()


def test_a_port_in_use_is_a_clear_error(tmp_path: Path, module_database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = server_env(tmp_path, module_database_url, port=port)
        done = run_cli(env, "serve")
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_postmaster_in_shutdown_is_waited_for_not_joined() -> None:
    """The window right after a crash: the guardian's `pg_ctl stop` is under way when the next
    start looks. Joining that postmaster would hand out a URL about to refuse connections."""
    import asyncio

    import asyncpg

    from cxloop.db import embedded_postgres

    with scratch_dir("cxloop-dying-pg-") as root:
        pgdata = root / "postgres"
        with embedded_postgres(pgdata):
            pass  # initdb, start, stop
        # A postmaster.pid whose (live) process says it is shutting down, for one more second.
        dying = subprocess.Popen(["sleep", "1.5"])
        threading.Thread(target=dying.wait, daemon=True).start()  # reaped at once, as init does
        lines = [str(dying.pid), str(pgdata), str(int(time.time())), "5432", str(pgdata), "",
                 "0 0", "stopping"]  # fmt: skip
        (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
        started = time.monotonic()
        with embedded_postgres(pgdata) as url:
            waited = time.monotonic() - started

            async def answer() -> int:
                conn = await asyncpg.connect(url)
                try:
                    value: int = await conn.fetchval("SELECT 1")
                    return value
                finally:
                    await conn.close()

            assert asyncio.run(answer()) == 1
        assert waited >= 1.0, f"joined the dying postmaster after {waited:.2f} s"
        assert not postgres_tree(pgdata)

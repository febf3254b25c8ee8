"""The README's first command: `cxloop demo` on embedded defaults shows the loop working."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest


def test_demo_on_embedded_defaults(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env.pop("DATABASE_URL", None)  # the embedded PostgreSQL, as on a fresh machine
    env["CXLOOP_DATA_DIR"] = str(tmp_path / "data")
    env["CXLOOP_PORT"] = "0"
    done = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "demo", "--exit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-> 200" in out
    assert "'accepted': 19" in out and "'reason': 'missing_event'" in out
    # Every event type it sent is in the lake, counted by DuckDB.
    for line in ("identify   3", "group      3", "page       3", "track      10"):
        assert line in out, out
    assert "acct_acme" in out and "acct_globex" in out  # projected accounts
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
    assert list((tmp_path / "data" / "lake" / "events").glob("project_id=*/date=*/*.parquet"))
    # The demo app's snippet gets the demo project's key; its surveys are active.
    demo_state = json.loads((tmp_path / "data" / "state" / "demo.json").read_text())
    assert demo_state["write_key"] in out
    assert "/demo/" in out
    # The server and its embedded database were stopped again.
    assert not (tmp_path / "data" / "state" / "serve.json").exists()


@pytest.fixture(scope="module")
def demo_data_dir() -> Iterator[Path]:
    """One data directory for the stop tests (one initdb); each leaves nothing running. Not
    under pytest's basetemp, which every pytest session resets to 0700: as root, the embedded
    PostgreSQL runs as its own user and must reach the directory."""
    path = Path(tempfile.mkdtemp(prefix="cxloop-demo-stop-"))
    yield path
    for process in _postgres_tree(path / "postgres"):  # only if a test failed
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    shutil.rmtree(path, ignore_errors=True)


def _postgres_tree(pgdata: Path) -> list[psutil.Process]:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and Path(cmdline[0]).name == "postgres" and str(pgdata) in cmdline:
            with contextlib.suppress(psutil.NoSuchProcess):
                return [process, *process.children(recursive=True)]
    return []


def _running(processes: list[psutil.Process]) -> list[str]:
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
    return running


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"]
)
def test_stopping_the_demo_stops_its_server_and_database(
    demo_data_dir: Path, stop_signal: int
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env.pop("DATABASE_URL", None)
    env["CXLOOP_DATA_DIR"] = str(demo_data_dir)
    env["CXLOOP_PORT"] = "0"
    demo = subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the signal reaches the demo alone, not a process group
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(line.decode(errors="replace") for line in demo.stdout or []),
        daemon=True,
    )
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any("press Ctrl-C to stop" in line for line in lines):
            assert demo.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        state = json.loads((demo_data_dir / "state" / "serve.json").read_text())
        processes = [
            *psutil.Process(demo.pid).children(recursive=True),
            *_postgres_tree(demo_data_dir / "postgres"),
        ]
        assert any(p.pid == state["pid"] for p in processes)  # the demo's `cxloop serve`

        demo.send_signal(stop_signal)
        demo.wait(90)
        if stop_signal != signal.SIGKILL:
            assert demo.returncode == 0, "".join(lines)
        deadline = time.monotonic() + 60
        while _running(processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(processes), _running(processes)
        assert not _postgres_tree(demo_data_dir / "postgres")
        port = int(state["url"].rsplit(":", 1)[1])
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", port), 2),
        ):
            pass
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()

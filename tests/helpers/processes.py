"""The CLI in a child process, and the processes a test must see stop: the embedded
PostgreSQL above all, which is found by its data directory rather than by process group."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest


def embedded_env(data_dir: Path, **settings: Any) -> dict[str, str]:
    """The environment of a CLI on the embedded defaults, as on a fresh machine: none of the
    caller's ``CXLOOP_*`` nor its ``DATABASE_URL``; ``settings`` become ``CXLOOP_<NAME>``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env.pop("DATABASE_URL", None)
    env["CXLOOP_DATA_DIR"] = str(data_dir)
    for key, value in settings.items():
        env[f"CXLOOP_{key.upper()}"] = str(value)
    return env


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``cxloop <args>`` run to its end, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "cxloop.cli", *args],
        env=env,
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A directory for an embedded PostgreSQL (``<dir>/postgres``), removed afterwards with
    whatever of that PostgreSQL a failed test left running.

    Not under pytest's basetemp: every pytest session resets that to mode 0700, and the
    embedded PostgreSQL runs as its own user when the tests run as root.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        for process in postgres_tree(path / "postgres"):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        shutil.rmtree(path, ignore_errors=True)


def postgres_tree(pgdata: Path) -> list[psutil.Process]:
    """The postmaster of ``pgdata`` (its command line names the directory) and its children."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and Path(cmdline[0]).name == "postgres" and str(pgdata) in cmdline:
            with contextlib.suppress(psutil.NoSuchProcess):
                return [process, *process.children(recursive=True)]
    return []


def still_running(processes: list[psutil.Process]) -> list[str]:
    """``<pid> <command line>`` of each of ``processes`` still running (a zombie is not)."""
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
    return running


def assert_all_gone(processes: list[psutil.Process], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while still_running(processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not still_running(processes), (
        f"still running after {within_s} s: {still_running(processes)}"
    )


def assert_nobody_listens(port: int) -> None:
    """A connection to ``port`` on 127.0.0.1 is refused."""
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass

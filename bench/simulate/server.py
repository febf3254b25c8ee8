"""A throw-away ``cxloop serve`` on an embedded PostgreSQL, and projects made by the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["LocalServer", "ProjectKeys", "create_project", "local_server"]


@dataclass(frozen=True)
class ProjectKeys:
    id: str
    write_key: str
    secret_key: str


@dataclass(frozen=True)
class LocalServer:
    url: str
    data_dir: Path
    database_url: str
    log_path: Path


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env["DATABASE_URL"] = database_url
    return env


def create_project(database_url: str, name: str) -> ProjectKeys:
    """``cxloop projects create NAME --json``, as a vendor would."""
    out = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "projects", "create", name, "--json"],
        env=_env(database_url),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"cxloop projects create failed:\n{out.stderr or out.stdout}")
    data = json.loads(out.stdout)
    return ProjectKeys(data["id"], data["write_key"], data["secret_key"])


@contextmanager
def local_server(database_url: str | None = None, timeout: float = 120) -> Iterator[LocalServer]:
    """A fresh server in a temporary data directory; stopped (SIGTERM) and removed on exit."""
    from cxloop.db import database_url_for

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cxloop-sim-")))
        url_of_database = stack.enter_context(database_url_for(database_url, tmp / "pg"))
        data_dir = tmp / "data"
        log_path = tmp / "serve.log"
        env = _env(url_of_database) | {
            "CXLOOP_DATA_DIR": str(data_dir),
            "CXLOOP_PORT": "0",
            "CXLOOP_LOG_LEVEL": "WARNING",
        }
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "cxloop.cli", "serve", "--workers", "1"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        try:
            url = _wait_ready(process, data_dir / "state" / "serve.json", log_path, timeout)
            yield LocalServer(url, data_dir, url_of_database, log_path)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _wait_ready(
    process: subprocess.Popen[bytes], state: Path, log_path: Path, timeout: float
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"cxloop serve exited early:\n{log_path.read_text(errors='replace')}")
        if state.exists():
            url: str = json.loads(state.read_text())["url"]
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    raise SystemExit(f"cxloop serve was not ready in {timeout:.0f} s; see {log_path}")

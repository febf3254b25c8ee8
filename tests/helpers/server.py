"""Run a real ``cxloop serve`` for integration tests and look at what it wrote."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.dataset as ds

from cxloop.lake import read_consistently


@dataclass
class Project:
    id: str
    write_key: str
    secret_key: str

    @property
    def basic_auth(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.write_key}:".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    @property
    def bearer(self) -> dict[str, str]:
        """The private API's credential."""
        return {"Authorization": f"Bearer {self.secret_key}"}


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 30, **kwargs})

    def lake_table(
        self,
        project_id: str | None = None,
        store: str = "events",
        columns: list[str] | None = None,
    ) -> pa.Table:
        """The lake's rows (of one project, a partition filter), only ``columns`` if given."""
        root = self.data_dir / "lake" / store
        nothing = pa.table({name: pa.array([], pa.string()) for name in columns or []})
        if not root.exists():
            return nothing

        def read() -> pa.Table:
            dataset = ds.dataset(
                root, format="parquet", partitioning="hive", exclude_invalid_files=True
            )
            if not dataset.schema.names:  # no file yet
                return nothing
            where = None if project_id is None else ds.field("project_id") == project_id
            return dataset.to_table(columns=columns, filter=where)

        # The pipeline merges small files as it goes: read again if a swap ran meanwhile.
        return read_consistently(
            self.data_dir / "lake", read, retry_on=(FileNotFoundError, pa.ArrowInvalid)
        )

    def lake_rows(
        self, project_id: str | None = None, store: str = "events"
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.lake_table(project_id, store).to_pylist()
        return rows

    def lake_ids(self, project_id: str | None = None, store: str = "events") -> list[str]:
        """Only the ids column: a whole-row read of a lake of 100k events took seconds."""
        table = self.lake_table(project_id, store, columns=["message_id"])
        ids: list[str] = table.column("message_id").to_pylist()
        return ids

    def wait_for_lake(
        self,
        expected: set[str],
        project_id: str | None = None,
        store: str = "events",
        timeout: float = 60,
    ) -> list[str]:
        deadline = time.monotonic() + timeout
        ids: list[str] = []
        while time.monotonic() < deadline:
            ids = self.lake_ids(project_id, store)
            if expected <= set(ids):
                return ids
            time.sleep(0.2)
        missing = expected - set(ids)
        raise AssertionError(
            f"{len(missing)} ids never reached the lake, e.g. {sorted(missing)[:5]}"
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout)
        return self.process.returncode


def server_env(data_dir: Path, database_url: str | None, **settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env.pop("DATABASE_URL", None)
    env["CXLOOP_DATA_DIR"] = str(data_dir)
    env["CXLOOP_PORT"] = "0"
    env["CXLOOP_LOG_LEVEL"] = "INFO"
    # Fast segment rotation so tests see the lake quickly.
    env["CXLOOP_WAL_SEGMENT_MAX_AGE_S"] = "0.2"
    env["CXLOOP_PIPELINE_POLL_S"] = "0.05"
    env["CXLOOP_MIN_FREE_BYTES"] = "0"
    if database_url:
        env["DATABASE_URL"] = database_url
    for key, value in settings.items():
        env[f"CXLOOP_{key.upper()}"] = str(value)
    return env


def start_server(
    env: dict[str, str],
    data_dir: Path,
    *args: str,
    timeout: float = 60,
    ready_path: str = "/readyz",
) -> RunningServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    state = data_dir / "state" / "serve.json"
    state.unlink(missing_ok=True)
    log_path = data_dir / f"serve-{time.time_ns()}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed by the process's end
    process = subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "serve", *args],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: kill -9 hits every child
    )
    server = RunningServer(url="", data_dir=data_dir, process=process, log_path=log_path, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cxloop serve exited early:\n{server.log()}")
        if state.exists():
            server.url = json.loads(state.read_text())["url"]
            try:
                if httpx.get(f"{server.url}{ready_path}", timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"cxloop serve did not become ready:\n{server.log()}")


@contextmanager
def running_server(
    data_dir: Path, database_url: str | None, *args: str, **settings: Any
) -> Iterator[RunningServer]:
    server = start_server(server_env(data_dir, database_url, **settings), data_dir, *args)
    try:
        yield server
    finally:
        server.stop()


def create_project(database_url: str, name: str = "test") -> Project:
    """Through the real CLI, as a vendor would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env["DATABASE_URL"] = database_url
    out = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "projects", "create", name, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(out.stdout)
    return Project(id=data["id"], write_key=data["write_key"], secret_key=data["secret_key"])

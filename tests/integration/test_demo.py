"""The README's first command: `cxloop demo` on embedded defaults shows the loop working."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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


def test_demo_on_embedded_defaults(tmp_path: Path) -> None:
    # The embedded PostgreSQL, as on a fresh machine.
    done = run_cli(embedded_env(tmp_path / "data", port=0), "demo", "--exit", timeout=300)
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
    """One data directory for the stop tests (one initdb); each leaves nothing running."""
    with scratch_dir("cxloop-demo-stop-") as path:
        yield path


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"]
)
def test_stopping_the_demo_stops_its_server_and_database(
    demo_data_dir: Path, stop_signal: int
) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "demo"],
        env=embedded_env(demo_data_dir, port=0),
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
            *postgres_tree(demo_data_dir / "postgres"),
        ]
        assert any(p.pid == state["pid"] for p in processes)  # the demo's `cxloop serve`

        demo.send_signal(stop_signal)
        demo.wait(90)
        if stop_signal != signal.SIGKILL:
            assert demo.returncode == 0, "".join(lines)
        assert_all_gone(processes, 60)
        assert not postgres_tree(demo_data_dir / "postgres")
        assert_nobody_listens(int(state["url"].rsplit(":", 1)[1]))
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()

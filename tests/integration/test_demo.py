"""The README's first command: `cxloop demo` on embedded defaults shows the loop working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


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

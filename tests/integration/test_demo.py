"""The README's first command: `cxloop demo` on embedded defaults shows the loop working."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import psutil
import pytest

from cxloop.demo import demo_events, feedback_events
from cxloop.projects import create_project, project_for_secret_key, rotate_secret_key
from tests.helpers.processes import (
    assert_all_gone,
    assert_nobody_listens,
    embedded_env,
    postgres_tree,
    run_cli,
    scratch_dir,
)


def _sent_by_type(now: datetime) -> dict[str, str]:
    sent = [*demo_events(now), *feedback_events({"nps": "n", "csat": "c"}, now)]
    return {kind: str(count) for kind, count in Counter(e["type"] for e in sent).items()}


def test_demo_on_embedded_defaults(tmp_path: Path) -> None:
    # The embedded PostgreSQL, as on a fresh machine.
    done = run_cli(embedded_env(tmp_path / "data", port=0), "demo", "--exit", timeout=300)
    out = done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-> 200" in out
    assert "'accepted': 19" in out and "'reason': 'missing_event'" in out
    # Every event it sent is in the lake, counted by DuckDB: the small day, three months of
    # history (which depends on the calendar: the run may have started the day before) and the
    # simulated portfolio of 200 accounts over 90 days around them.
    assert re.search(r"x\d+: three months of usage .*, (\d+) of \1 events accepted", out), out
    portfolio = re.search(
        r"x\d+: a simulated portfolio of 200 accounts over 90 days .*, (\d+) of \1 events "
        r"accepted",
        out,
    )
    assert portfolio, out
    counted = dict(re.findall(r"^  (identify|group|page|track) +(\d+)$", out, re.MULTILINE))
    total = sum(int(n) for n in counted.values()) - int(portfolio[1])
    today = datetime.now(UTC)
    assert any(
        total == sum(int(n) for n in _sent_by_type(now).values())
        for now in (today, today - timedelta(days=1))
    ), counted
    assert "acct_acme" in out and "acct_globex" in out  # projected accounts
    # The secret key it prints opens the private API: the demo itself used it.
    secret_key = re.search(r"secret key  (sk_\S+)", out)
    assert secret_key, out
    # Every account is projected and scored: the story's 18 and the 200 simulated ones.
    projected = re.search(r"accounts projected into PostgreSQL: (\d+)", out)
    assert projected and projected[1] == "218", out
    assert f"/v1/health/refresh -> 200: {projected[1]} accounts scored" in out, out
    assert "each of the last 90 days scored as a refresh on that day would have" in out, out
    # The console and its demo people, a fresh password each.
    assert re.search(r"the CS console: http://127\.0\.0\.1:\d+/console/ ", out), out
    passwords = [
        re.search(rf"^  {role} +{role}@demo\.cxloop\.dev +password (\S{{16}})$", out, re.M)
        for role in ("owner", "analyst", "viewer")
    ]
    assert all(passwords) and len({p[1] for p in passwords if p}) == 3, out
    # Feedback insights find the story the demo data tells (cxloop.demo.feedback).
    for plan in ("enterprise", "pro", "starter"):
        assert re.search(rf"^    {plan} +NPS +-?\d+\.\d \[", out, re.MULTILINE), out
    assert re.search(r"reports-export +% satisfied .*\(-\d+\.\d, significant\)", out), out
    assert re.search(r"verbatims\?churn_intent=true -> \d+ comments talk about leaving", out)
    assert re.search(r"acct_(xinghe|northwind): score \d+, negative", out), out
    assert re.search(r"^    (dashboards|alerts|alerts-digest) +-?\d+\.\d vs", out, re.MULTILINE), (
        out
    )
    assert re.search(r"acct_acme +health +\d+\.\d \((green|yellow|red), ", out), out
    assert f"curl -H 'Authorization: Bearer {secret_key[1]}' http://127.0.0.1:" in out
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
        # A small portfolio: what is tested is the stopping, not the data.
        [sys.executable, "-m", "cxloop.cli", "demo", "--accounts", "10", "--days", "14"],
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


async def test_a_new_secret_key_replaces_the_old_one(conn: asyncpg.Connection) -> None:
    # What every later `cxloop demo` does: only hashes are stored, so it shows a fresh key.
    created = await create_project(conn, "demo-rotation")
    new_key = await rotate_secret_key(conn, created.id)
    assert new_key is not None and new_key != created.secret_key
    assert await project_for_secret_key(conn, new_key) == created.id
    assert await project_for_secret_key(conn, created.secret_key) is None
    assert await rotate_secret_key(conn, "prj_missing") is None

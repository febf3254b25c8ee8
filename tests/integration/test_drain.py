"""``cxloop drain``: a stopped node's WAL emptied into the lake and PostgreSQL, its cluster row
removed; refused, with the WAL kept, while serve runs or PostgreSQL is away."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pyarrow.dataset as ds
import pytest

from cxloop.db import apply_migrations
from tests.helpers.rows import wal_row
from tests.helpers.segments import segment_path, write_segment

REPO = Path(__file__).resolve().parents[2]
NO_DATABASE = "postgresql://nobody@127.0.0.1:9/none"


@pytest.fixture
async def migrated(database_url: str) -> AsyncIterator[str]:
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    yield database_url


def _wal(data_dir: Path) -> list[Path]:
    """Two sealed segments and one a killed worker left open, in two slots."""
    wal = data_dir / "wal"
    sealed = [
        write_segment(segment_path(wal / "w0", 1), [[wal_row(f"m{i}") for i in range(5)]]),
        write_segment(segment_path(wal / "w1", 2, slot="w1"), [[wal_row("m5"), wal_row("m2")]]),
    ]
    opened = segment_path(wal / "w0", 3).with_suffix(".open")
    write_segment(opened, [[wal_row("m6", user_id="u2")], [wal_row("m7", user_id="u2")]])
    return [*sealed, opened]


def _drain(data_dir: Path, url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "drain", "--data-dir", str(data_dir)],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO / "backend"), str(REPO)]),
            "DATABASE_URL": url,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
    )


def _segments(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "wal").glob("w*/w*-*"))


def _lake_ids(data_dir: Path) -> list[str]:
    dataset = ds.dataset(data_dir / "lake" / "events", format="parquet", partitioning="hive")
    return sorted(dataset.to_table(columns=["message_id"]).column("message_id").to_pylist())


async def test_drain_empties_the_wal_and_takes_the_node_out(migrated: str, tmp_path: Path) -> None:
    _wal(tmp_path)
    conn = await asyncpg.connect(migrated)
    try:
        await conn.execute(
            "INSERT INTO cluster_nodes (node_id, host, data_dir, pid, started_at, "
            "wal_scanned_at, oldest_segment_at, backlog_bytes) "
            "VALUES ('n1', 'h', $1, 1, now(), now(), now(), 100), "
            "('n2', 'h', '/other', 2, now(), now(), NULL, 0)",
            str(tmp_path),
        )
        await conn.execute(
            "INSERT INTO cluster_leases VALUES ('retention', 'n1', now() + interval '1 hour')"
        )
        done = _drain(tmp_path, migrated, CXLOOP_CLUSTER="true", CXLOOP_NODE_ID="n1")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "drained"
        assert "sealed 1 segment(s) left open" in done.stderr
        assert "node n1 left the cluster" in done.stderr
        assert _segments(tmp_path) == []  # nothing acked is left only on this disk
        assert _lake_ids(tmp_path) == [f"m{i}" for i in range(8)]  # m2's replay counted once
        users = await conn.fetch("SELECT user_id FROM users ORDER BY user_id")
        assert [r["user_id"] for r in users] == ["u1", "u2"]
        nodes = await conn.fetch("SELECT node_id FROM cluster_nodes")
        assert [r["node_id"] for r in nodes] == ["n2"]
        assert await conn.fetchval("SELECT count(*) FROM cluster_leases") == 0
        again = _drain(tmp_path, migrated, CXLOOP_CLUSTER="true", CXLOOP_NODE_ID="n1")
        assert again.returncode == 0, again.stderr
        assert "had no row in cluster_nodes" in again.stderr
    finally:
        await conn.close()


async def test_drain_of_a_single_node(migrated: str, tmp_path: Path) -> None:
    _wal(tmp_path)
    done = _drain(tmp_path, migrated)
    assert done.returncode == 0, done.stderr
    assert _segments(tmp_path) == []
    assert len(_lake_ids(tmp_path)) == 8


def test_drain_refuses_while_serve_runs(tmp_path: Path) -> None:
    segments = _wal(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    fd = os.open(state / "serve.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running serve holds it
        refused = _drain(tmp_path, NO_DATABASE)
    finally:
        os.close(fd)
    assert refused.returncode == 1
    assert "cxloop serve is already running" in refused.stderr
    assert "stop it first, then run cxloop drain" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _segments(tmp_path) == sorted(p.name for p in segments)  # untouched


def test_drain_refuses_while_a_worker_writes_its_slot(tmp_path: Path) -> None:
    _wal(tmp_path)
    fd = os.open(tmp_path / "wal" / "w1" / "slot.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused = _drain(tmp_path, NO_DATABASE)
    finally:
        os.close(fd)
    assert refused.returncode == 1
    assert "still writes the WAL slot" in refused.stderr


def test_drain_refuses_when_postgresql_is_away(tmp_path: Path) -> None:
    _wal(tmp_path)
    refused = _drain(tmp_path, NO_DATABASE, CXLOOP_CLUSTER="true", CXLOOP_NODE_ID="n1")
    assert refused.returncode == 1
    assert "cannot reach PostgreSQL" in refused.stderr
    assert "run cxloop drain again" in refused.stderr
    assert "Traceback" not in refused.stderr
    # Every segment is still there (the open one sealed by recovery, as serve would).
    assert len(_segments(tmp_path)) == 3
    assert not (tmp_path / "lake" / "events").exists()

"""Cluster coordination without a database: node ids, and what a lease holder trusts.

The statements themselves race against a real PostgreSQL in
tests/integration/test_cluster_coord.py."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cxloop.cluster import Leases, PartitionLeases, SingletonRole, node_id, partition_lease_name
from cxloop.settings import Settings


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path, **overrides)


def test_a_node_id_is_made_once_and_kept(tmp_path: Path) -> None:
    first = node_id(_settings(tmp_path))
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", first)
    assert (tmp_path / "state" / "node_id").read_text().strip() == first
    assert node_id(_settings(tmp_path)) == first  # a restart: the same name
    # It is valid as the setting, so it can be pinned later with CXLOOP_NODE_ID.
    assert _settings(tmp_path, node_id=first).node_id == first
    assert node_id(_settings(tmp_path / "other")) != first


def test_the_setting_wins_over_the_kept_id(tmp_path: Path) -> None:
    node_id(_settings(tmp_path))
    assert node_id(_settings(tmp_path, node_id="n1")) == "n1"


def test_processes_making_the_id_at_once_agree(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        names = set(pool.map(lambda _: node_id(settings), range(32)))
    assert len(names) == 1
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["node_id"]  # no temp left


def test_an_empty_id_file_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "node_id").write_text("\n")
    with pytest.raises(RuntimeError, match="delete it"):
        node_id(_settings(tmp_path))


def test_a_lease_shorter_than_a_second_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CXLOOP_CLUSTER_LEASE_S"):
        _settings(tmp_path, cluster_lease_s=0.5)


class _FakePool:
    """Answers lease statements like PostgreSQL would for one other holder, ``other``."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}
        self.statements: list[str] = []
        self.delay_s = 0.0
        self.down = False

    async def fetchval(self, sql: str, name: str, holder: str, ttl: float, **_: Any) -> Any:
        self.statements.append(sql.split()[0])
        await asyncio.sleep(self.delay_s)
        if self.down:
            raise OSError("connection refused")
        current = self.rows.get(name)
        if sql.lstrip().startswith("INSERT"):
            if current in (None, holder):
                self.rows[name] = holder
                return datetime.now(UTC)
            return None
        return datetime.now(UTC) if current == holder else None

    async def execute(self, sql: str, *args: Any, **_: Any) -> str:
        self.statements.append(sql.split()[0])
        if args and self.rows.get(args[0]) == args[1]:
            del self.rows[args[0]]
        return "DELETE 1"


class _FakeDatabase:
    def __init__(self) -> None:
        self.pool: Any = _FakePool()


async def test_a_holder_trusts_its_lease_for_the_ttl_counted_from_before_sending() -> None:
    database = _FakeDatabase()
    leases = Leases(database, "n1", ttl_s=1.0)  # type: ignore[arg-type]
    database.pool.delay_s = 0.3  # a slow answer eats into the lease, never extends it
    before = time.monotonic()
    assert await leases.acquire("job")
    assert leases.holds("job")
    assert leases._valid_until["job"] <= before + 1.0 + 0.05
    database.pool.delay_s = 0
    database.pool.rows["other"] = "n2"
    assert not await leases.acquire("other")
    assert not leases.holds("other")


async def test_postgresql_away_means_not_held() -> None:
    database = _FakeDatabase()
    leases = Leases(database, "n1", ttl_s=5.0)  # type: ignore[arg-type]
    assert await leases.acquire("job")
    database.pool.down = True
    assert not await leases.renew("job")
    assert not leases.holds("job")
    database.pool = None  # not connected yet
    assert not await leases.acquire("job")


async def test_a_role_is_kept_by_renewing_and_given_back_on_stop() -> None:
    database = _FakeDatabase()
    leases = Leases(database, "n1", ttl_s=1.2)  # type: ignore[arg-type]
    role = SingletonRole(leases, "health-refresh")
    stop = asyncio.Event()
    task = asyncio.create_task(role.run(stop))
    await asyncio.sleep(1.5)
    assert role.held
    assert database.pool.statements.count("INSERT") >= 3  # every third of the TTL
    stop.set()
    await task
    assert not role.held
    assert "health-refresh" not in database.pool.rows


@pytest.fixture
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_partition_leases_hold_from_the_lake_thread(
    loop_thread: asyncio.AbstractEventLoop,
) -> None:
    database = _FakeDatabase()
    leases = Leases(database, "n1", ttl_s=0.6)  # type: ignore[arg-type]
    partitions = PartitionLeases(leases, loop_thread)
    name = partition_lease_name("events/project_id=p/date=2026-12-01")
    assert name == "partition:events/project_id=p/date=2026-12-01"
    with partitions.hold("events/project_id=p/date=2026-12-01") as held:
        assert held
        time.sleep(0.9)  # longer than the TTL: renewed meanwhile
        assert leases.holds(name)
        assert database.pool.statements.count("UPDATE") >= 2
    assert name not in database.pool.rows  # given back
    database.pool.rows[name] = "n2"
    with partitions.hold("events/project_id=p/date=2026-12-01") as held:
        assert not held  # another node merges there: skip


async def test_partition_leases_refuse_to_block_the_event_loop() -> None:
    leases = Leases(_FakeDatabase(), "n1", ttl_s=5)  # type: ignore[arg-type]
    partitions = PartitionLeases(leases, asyncio.get_running_loop())
    with pytest.raises(RuntimeError, match="off the event loop"), partitions.hold("x"):
        pass

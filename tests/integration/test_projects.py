"""Projects and keys against a real PostgreSQL; the write key cache, including PostgreSQL down."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner

from cxloop.db import create_pool
from cxloop.projects import (
    ProjectError,
    WriteKeyCache,
    create_project,
    list_projects,
    project_for_secret_key,
)
from cxloop.projects.cli import projects_group

UNREACHABLE_URL = "postgresql://cxloop@127.0.0.1:1/nowhere"


@pytest.fixture
async def pool(database_url: str, conn: asyncpg.Connection) -> AsyncIterator[asyncpg.Pool]:
    connection_pool = await create_pool(database_url, min_size=1, max_size=2)
    yield connection_pool
    await connection_pool.close()


@pytest.fixture
async def unreachable_pool() -> AsyncIterator[asyncpg.Pool]:
    # min_size=0: the pool is created without connecting; every query then fails to connect.
    dead = await create_pool(UNREACHABLE_URL, min_size=0, max_size=1, timeout=2)
    yield dead
    await dead.close()


async def test_create_project_stores_only_the_hash(conn: asyncpg.Connection) -> None:
    created = await create_project(conn, "  Acme  ")
    assert created.name == "Acme"
    assert created.id.startswith("prj_")
    assert created.write_key.startswith("wk_") and len(created.write_key) == 27
    assert created.secret_key.startswith("sk_") and len(created.secret_key) == 46

    stored = await conn.fetchval("SELECT row_to_json(p)::text FROM projects p")
    assert created.secret_key not in stored
    assert created.secret_key[3:] not in stored
    row = await conn.fetchrow("SELECT secret_key_hash, secret_key_prefix FROM projects")
    assert row["secret_key_hash"] == hashlib.sha256(created.secret_key.encode()).hexdigest()
    assert created.secret_key.startswith(row["secret_key_prefix"])
    assert len(row["secret_key_prefix"]) < 16


async def test_secret_key_lookup(conn: asyncpg.Connection) -> None:
    acme = await create_project(conn, "Acme")
    globex = await create_project(conn, "Globex")
    assert await project_for_secret_key(conn, acme.secret_key) == acme.id
    assert await project_for_secret_key(conn, globex.secret_key) == globex.id
    for wrong in [
        acme.secret_key[:-1] + ("A" if acme.secret_key[-1] != "A" else "B"),
        acme.write_key,
        "",
        "sk_",
        "sk_" + "x" * 500,
    ]:
        assert await project_for_secret_key(conn, wrong) is None


async def test_list_projects_shows_no_secret(conn: asyncpg.Connection) -> None:
    first = await create_project(conn, "First")
    second = await create_project(conn, "Second")
    projects = await list_projects(conn)
    assert [p.id for p in projects] == [first.id, second.id]
    assert projects[0].write_key == first.write_key
    assert not hasattr(projects[0], "secret_key")


async def test_project_needs_a_name(conn: asyncpg.Connection) -> None:
    with pytest.raises(ProjectError):
        await create_project(conn, "   ")
    with pytest.raises(ProjectError):
        await create_project(conn, "x" * 201)


# -- write key cache ---------------------------------------------------------------------------


async def test_cache_resolves_from_memory_after_refresh(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    project = await create_project(conn, "Acme")
    cache = WriteKeyCache(tmp_path / "state" / "write_keys.json")
    assert cache.resolve(project.write_key) is None
    assert await cache.refresh(pool) == 1
    assert cache.resolve(project.write_key) == project.id
    assert cache.resolve("wk_unknown") is None
    assert cache.database_lookups == 0


async def test_known_keys_survive_a_restart_with_postgres_down(
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    unreachable_pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "write_keys.json"
    refreshed = await create_project(conn, "Refreshed")
    found_on_miss = await create_project(conn, "Found on miss")
    before = WriteKeyCache(path)
    await before.refresh(pool)
    assert await before.lookup_miss(pool, found_on_miss.write_key) == found_on_miss.id

    # A new process: PostgreSQL is gone, only the file remains.
    after = WriteKeyCache(path)
    assert after.resolve(refreshed.write_key) == refreshed.id
    assert after.resolve(found_on_miss.write_key) == found_on_miss.id
    with pytest.raises(OSError):
        await after.refresh(unreachable_pool)
    # A failed refresh keeps what is known; an unknown key cannot be checked, and says so.
    assert after.resolve(refreshed.write_key) == refreshed.id
    with pytest.raises(OSError):
        await after.lookup_miss(unreachable_pool, "wk_never_seen_before_0000")
    # ...and that failure is not remembered as "unknown".
    later = await create_project(conn, "Later")
    assert await after.lookup_miss(pool, later.write_key) == later.id


async def test_new_key_is_found_by_a_miss_lookup(
    conn: asyncpg.Connection, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    cache = WriteKeyCache(tmp_path / "keys.json")
    await cache.refresh(pool)
    project = await create_project(conn, "Created after refresh")
    assert cache.resolve(project.write_key) is None
    assert await cache.lookup_miss(pool, project.write_key) == project.id
    assert cache.resolve(project.write_key) == project.id
    saved = json.loads((tmp_path / "keys.json").read_text())
    assert saved["keys"][project.write_key] == project.id


async def test_unknown_keys_are_negatively_cached(
    conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    now = [1000.0]
    cache = WriteKeyCache(None, negative_ttl_s=30.0, clock=lambda: now[0])
    bad = "wk_not_a_real_key_000000"
    # A flood of the same bad key, concurrently and then in sequence: one query.
    results = await asyncio.gather(*(cache.lookup_miss(pool, bad) for _ in range(50)))
    assert results == [None] * 50
    for _ in range(50):
        assert await cache.lookup_miss(pool, bad) is None
    assert cache.database_lookups == 1
    # After the TTL the key is checked again.
    now[0] += 31.0
    assert await cache.lookup_miss(pool, bad) is None
    assert cache.database_lookups == 2
    # Junk never reaches the database.
    assert await cache.lookup_miss(pool, "not a key\n" * 100) is None
    assert cache.database_lookups == 2


async def test_refresh_clears_a_stale_negative_entry(
    conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    cache = WriteKeyCache(None, negative_ttl_s=3600)
    project = await create_project(conn, "Acme")
    await conn.execute("UPDATE projects SET write_key = 'wk_renamed_for_the_test_00'")
    assert await cache.lookup_miss(pool, "wk_renamed_for_the_test_00") == project.id
    assert await cache.lookup_miss(pool, project.write_key) is None  # cached as unknown
    await conn.execute("UPDATE projects SET write_key = $1", project.write_key)
    await cache.refresh(pool)
    assert await cache.lookup_miss(pool, project.write_key) == project.id


async def test_refresher_survives_an_outage(
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    unreachable_pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    cache = WriteKeyCache(tmp_path / "keys.json")
    down = asyncio.create_task(cache.run_refresher(unreachable_pool, 0.01, max_backoff_s=0.05))
    await asyncio.sleep(0.3)
    assert not down.done()  # kept retrying instead of dying
    down.cancel()
    with pytest.raises(asyncio.CancelledError):
        await down

    up = asyncio.create_task(cache.run_refresher(pool, 0.02))
    project = await create_project(conn, "Acme")
    for _ in range(100):
        if cache.resolve(project.write_key):
            break
        await asyncio.sleep(0.02)
    assert cache.resolve(project.write_key) == project.id
    up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await up


def test_corrupt_cache_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    assert len(WriteKeyCache(path)) == 0


# -- command line ------------------------------------------------------------------------------


def test_cli_create_and_list(database_url: str) -> None:
    runner = CliRunner()
    created = runner.invoke(
        projects_group, ["create", "Acme", "--json", "--database-url", database_url]
    )
    assert created.exit_code == 0, created.output
    project = json.loads(created.stdout)
    assert project["name"] == "Acme"
    assert project["secret_key"].startswith("sk_")
    assert "applied migration 0001_core" in created.stderr

    human = runner.invoke(projects_group, ["create", "Globex", "--database-url", database_url])
    assert human.exit_code == 0, human.output
    assert "shown only this once" in human.stdout
    assert "Authorization: Bearer sk_" in human.stdout
    assert "write key   wk_" in human.stdout

    listed = runner.invoke(projects_group, ["list", "--json", "--database-url", database_url])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["Acme", "Globex"]
    assert all("secret_key" not in r for r in rows)

    table = runner.invoke(projects_group, ["list", "--database-url", database_url])
    assert table.exit_code == 0, table.output
    assert project["write_key"] in table.stdout
    assert project["secret_key"] not in table.stdout


def test_cli_rejects_an_empty_name(database_url: str) -> None:
    result = CliRunner().invoke(projects_group, ["create", " ", "--database-url", database_url])
    assert result.exit_code == 2
    assert "needs a name" in result.output

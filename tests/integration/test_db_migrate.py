"""Migrations against a real PostgreSQL: applied once, recorded, safe to race; the pool codecs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner

from cxloop.db import (
    MigrationError,
    apply_migrations,
    create_pool,
    discover_migrations,
    pending_migrations,
)
from cxloop.db.cli import migrate_command

CORE_TABLES = {
    "projects",
    "users",
    "accounts",
    "memberships",
    "survey_responses",
    "surveys",
    "alerts",
    "webhooks",
    "webhook_deliveries",
    "webhook_attempts",
    "rollup_partitions",
    "health_config",
    "health_snapshots",
    "schema_migrations",
}
ALL = [m.name for m in discover_migrations()]
assert ALL[:4] == [
    "0001_core",
    "0002_surveys_alerts_webhooks",
    "0003_alerts_webhooks",
    "0004_health",
]


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {row["tablename"] for row in rows}


async def test_applies_once_and_records(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await pending_migrations(conn) == ALL
        assert await apply_migrations(conn) == ALL
        assert await _tables(conn) >= CORE_TABLES
        rows = await conn.fetch("SELECT version, name, applied_at FROM schema_migrations")
        assert [(r["name"]) for r in rows] == ALL
        assert rows[0]["applied_at"] is not None

        assert await apply_migrations(conn) == []
        assert await pending_migrations(conn) == []
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(ALL)
    finally:
        await conn.close()


async def test_concurrent_callers_apply_each_migration_once(database_url: str) -> None:
    connections = [await asyncpg.connect(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(c) for c in connections))
        assert sorted(name for applied in results for name in applied) == ALL
        assert await connections[0].fetchval("SELECT count(*) FROM schema_migrations") == len(ALL)
    finally:
        for conn in connections:
            await conn.close()


def _write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql)


async def test_applies_in_order_and_stops_at_a_failing_migration(
    database_url: str, tmp_path: Path
) -> None:
    _write(tmp_path, "0002_second.sql", "INSERT INTO first_table VALUES (2);")
    _write(
        tmp_path,
        "0001_first.sql",
        "CREATE TABLE first_table (n int); INSERT INTO first_table VALUES (1);",
    )
    _write(tmp_path, "0003_broken.sql", "CREATE TABLE half_done (n int); SELECT no_such_column;")
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(MigrationError, match="0003_broken"):
            await apply_migrations(conn, tmp_path)
        assert [r["n"] for r in await conn.fetch("SELECT n FROM first_table ORDER BY n")] == [1, 2]
        # The failed migration left nothing behind and is still pending.
        assert "half_done" not in await _tables(conn)
        assert await pending_migrations(conn, tmp_path) == ["0003_broken"]

        _write(tmp_path, "0003_broken.sql", "CREATE TABLE half_done (n int);")
        assert await apply_migrations(conn, tmp_path) == ["0003_broken"]
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [1, 2, 3]
    finally:
        await conn.close()


def test_repository_migrations_are_found() -> None:
    names = [m.name for m in discover_migrations()]
    assert names[0] == "0001_core"


async def test_pool_decodes_and_encodes_json_with_msgspec(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        value = {"plan": "pro", "seats": 12, "tags": ["a", "é"], "nested": {"x": None}}
        assert await pool.fetchval("SELECT $1::jsonb", value) == value
        assert await pool.fetchval("SELECT $1::json", value) == value
        assert await pool.fetchval("""SELECT '{"a": [1, 2.5, true]}'::jsonb""") == {
            "a": [1, 2.5, True]
        }
    finally:
        await pool.close()


async def test_pool_runs_a_caller_init_too(database_url: str) -> None:
    seen: list[object] = []

    async def init(conn: asyncpg.Connection) -> None:
        seen.append(conn)

    pool = await create_pool(database_url, min_size=1, max_size=1, init=init)
    try:
        assert await pool.fetchval("SELECT '[1]'::jsonb") == [1]
        assert len(seen) == 1
    finally:
        await pool.close()


def test_migrate_command(database_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(migrate_command, ["--database-url", database_url])
    assert first.exit_code == 0, first.output
    assert "applied 0001_core" in first.output
    second = runner.invoke(migrate_command, ["--database-url", database_url])
    assert second.exit_code == 0, second.output
    assert "database is up to date" in second.output


def test_migrate_command_explains_an_unreachable_database() -> None:
    result = CliRunner().invoke(
        migrate_command, ["--database-url", "postgresql://cx:secret@127.0.0.1:1/none"]
    )
    assert result.exit_code != 0
    assert "cannot connect to PostgreSQL" in result.output
    assert "secret" not in result.output  # the password is redacted

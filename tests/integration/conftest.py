"""Integration fixtures: a real server over a real database, shared per test module."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cxloop.db import apply_migrations
from tests.conftest import _with_database
from tests.helpers.server import Project, RunningServer, create_project, running_server


def _create_database(server_url: str) -> tuple[str, str]:
    name = "cxloop_it_" + secrets.token_hex(6)

    async def create() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return name, _with_database(server_url, name)


def _drop_database(server_url: str, name: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(scope="module")
def module_database_url(postgres_server_url: str) -> Iterator[str]:
    name, url = _create_database(postgres_server_url)
    yield url
    _drop_database(postgres_server_url, name)


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    """The ``CXLOOP_*`` settings (lower case, no prefix) of the module's ``server``: a test
    module that needs others overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def server(
    module_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    server_settings: dict[str, Any],
) -> Iterator[RunningServer]:
    data_dir: Path = tmp_path_factory.mktemp("cxloop-data")
    with running_server(data_dir, module_database_url, **server_settings) as running:
        yield running


@pytest.fixture(scope="module")
def project(server: RunningServer, module_database_url: str) -> Project:
    return create_project(module_database_url, "acme")


@pytest.fixture(scope="module")
def other_project(server: RunningServer, module_database_url: str) -> Project:
    return create_project(module_database_url, "globex")


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A migrated, fresh database over a plain connection (no pool codecs: the stores and the
    projection must work on either)."""
    connection = await asyncpg.connect(database_url)
    await apply_migrations(connection)
    yield connection
    await connection.close()

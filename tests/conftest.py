"""Shared fixtures: a real PostgreSQL (DATABASE_URL, or the embedded server) per test session."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings

from cxloop.db import embedded_postgres

# Property tests judge results, not speed: on a loaded 2-core machine one example can take longer
# than Hypothesis's default 200 ms deadline, which failed runs for nothing.
settings.register_profile("cxloop", deadline=None)
settings.load_profile("cxloop")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server for the whole session (maintenance database)."""
    url = os.environ.get("CXLOOP_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="cxloop-test-pg-"))
        yield stack.enter_context(embedded_postgres(root / "pgdata"))


def _with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = "cxloop_test_" + secrets.token_hex(6)
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(postgres_server_url, name)
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()

"""What counts as "the database is unreachable": the errors a real asyncpg connect raises."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import asyncpg
import pytest

from cxloop.api.errors import is_database_unavailable


async def _connect_error(host: str, port: int, connect_timeout: float) -> BaseException:
    with pytest.raises(BaseException) as caught:
        await asyncpg.connect(host=host, port=port, timeout=connect_timeout, user="x", database="x")
    return caught.value


async def test_a_server_that_never_answers_is_unavailable() -> None:
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        exc = await _connect_error(host="127.0.0.1", port=port, connect_timeout=0.3)
    finally:
        silent.close()
    assert isinstance(exc, TimeoutError)
    assert is_database_unavailable(exc)


async def test_a_closed_port_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exc = await _connect_error(host="127.0.0.1", port=port, connect_timeout=2)
    assert is_database_unavailable(exc)


async def test_a_missing_unix_socket_is_unavailable(tmp_path: Path) -> None:
    exc = await _connect_error(host=str(tmp_path), port=5432, connect_timeout=2)
    assert is_database_unavailable(exc)


def test_errors_of_our_own_are_not_called_an_outage() -> None:
    try:
        (Path("/nonexistent") / "lake.parquet").read_bytes()
    except FileNotFoundError as exc:
        assert not is_database_unavailable(exc)
    assert not is_database_unavailable(TimeoutError("the pipeline is behind"))
    assert not is_database_unavailable(asyncpg.exceptions.UniqueViolationError("dup"))

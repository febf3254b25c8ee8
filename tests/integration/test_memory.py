"""A real ``cxloop serve``'s processes stay lean: the supervisor loads neither the app nor the
lake, and every child starts with a bounded number of malloc arenas."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

from tests.helpers.server import RunningServer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")


def _children(server: RunningServer) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(server.process.pid).children(recursive=True)
        if "spawn_main" in " ".join(child.cmdline())
    ]


def _smaps_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in smaps_rollup of {pid}")


def test_the_supervisor_loads_neither_the_app_nor_the_lake(server: RunningServer) -> None:
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    # DuckDB, Arrow and numpy are shared libraries: mapped only if imported.
    for library in ("duckdb", "libarrow", "numpy", "asyncpg"):
        assert library not in maps, f"the supervisor maps {library}"
    # It waits on its children; before, it carried every CLI command's imports (~63 MiB
    # of private memory); now ~13 MiB: asyncpg and the event loop load only in children.
    # A generous ceiling, well under the old figure.
    assert _smaps_kib(server.process.pid, "Anonymous") < 25 * 1024


def test_the_children_are_the_workers_and_the_pipeline(server: RunningServer) -> None:
    children = _children(server)
    assert len(children) == 2  # one worker (the default) and the pipeline
    for child in children:
        maps = Path(f"/proc/{child.pid}/maps").read_text()
        assert "libarrow" in maps  # both write or read Arrow: the check above can fail


def test_every_child_starts_with_two_malloc_arenas(server: RunningServer) -> None:
    for child in _children(server):
        environ = Path(f"/proc/{child.pid}/environ").read_bytes().split(b"\0")
        assert b"MALLOC_ARENA_MAX=2" in environ, child.pid


def test_every_child_uses_arrows_jemalloc_pool(server: RunningServer) -> None:
    for child in _children(server):
        environ = Path(f"/proc/{child.pid}/environ").read_bytes().split(b"\0")
        assert b"ARROW_DEFAULT_MEMORY_POOL=jemalloc" in environ, child.pid


def test_migrations_run_in_a_child_and_a_failure_stops_serve_with_its_reason() -> None:
    # The supervisor applies them in a short-lived child (asyncpg and the event loop go with
    # it): what went wrong there still reaches the person starting the server.
    from cxloop.server.supervisor import ServeError, _migrate

    with pytest.raises(
        ServeError, match=r"cannot apply the database migrations: ConnectionRefusedError"
    ):
        _migrate("postgresql://nobody@127.0.0.1:1/none")

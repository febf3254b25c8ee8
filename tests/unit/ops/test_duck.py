"""DuckDB connections under a memory limit: the settings hold, and a query bigger than the
limit still completes by spilling to the temp directory."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cxloop.ops import duckdb_config, duckdb_connect
from cxloop.ops.duck import DUCKDB_THREADS


def test_the_settings_are_those_asked_for() -> None:
    with duckdb_connect(memory_limit="64MB", preserve_insertion_order=False) as db:
        limit, threads, order = (
            db.execute(
                "SELECT current_setting('memory_limit'), current_setting('threads'), "
                "current_setting('preserve_insertion_order')"
            ).fetchone()
            or ()
        )
    assert limit == "61.0 MiB"  # DuckDB reports 64 MB in MiB
    assert threads == DUCKDB_THREADS == 1
    assert order is False


def test_an_aggregate_bigger_than_the_limit_spills_and_completes(tmp_path: Path) -> None:
    query = (
        "SELECT count(*), sum(c) FROM "
        "(SELECT i % 2000000 AS k, count(*) AS c FROM range(4000000) t(i) GROUP BY k)"
    )
    with duckdb_connect(memory_limit="24MB", temp_directory=tmp_path / "spill") as db:
        assert db.execute(query).fetchone() == (2_000_000, 4_000_000)
        # It did not fit: DuckDB wrote to the temp directory to finish it.
        assert (tmp_path / "spill").exists()


def test_what_cannot_spill_fails_clearly_instead_of_growing() -> None:
    with (
        duckdb_connect(memory_limit="16MB") as db,
        pytest.raises(duckdb.OutOfMemoryException),
    ):
        db.execute("SELECT list(i) FROM range(20000000) t(i)").fetchall()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        duckdb_config(threads=0)
    with pytest.raises(ValueError, match="memory_limit"):
        duckdb_config(memory_limit=" ")

"""Two nodes compacting into one object-store lake (moto's S3 API) at once, with the cluster's
dedupe claims in PostgreSQL: equal segment ids on both nodes, overlapping messageIds, a retry
after a crash; every id is in the lake exactly once."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow.parquet as pq
import pytest

from cxloop.cluster import ClusterDedupe
from cxloop.db import apply_migrations
from cxloop.ingest import events_table
from cxloop.lake import LakeLocation, compact_segments
from tests.helpers.rows import wal_row
from tests.helpers.s3 import S3Server, s3_server
from tests.helpers.segments import failed_row, segment_path, write_segment

_lake: Any = importlib.import_module("cxloop.lake")
if not (
    hasattr(_lake, "live_files") and "node_id" in inspect.signature(compact_segments).parameters
):
    pytest.skip(
        "needs compaction into an object store with node ids in file names (h19-lakew)",
        allow_module_level=True,
    )


async def _migrate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


def _lake_ids(location: LakeLocation, store: str) -> Counter[str]:
    ids: Counter[str] = Counter()
    for partition in _lake.list_partitions(location, store):
        for file in _lake.live_files(location, partition):
            table = pq.read_table(file.key, filesystem=location.fs, columns=["message_id"])
            ids.update(table.column("message_id").to_pylist())
    return ids


def _compact(node: str, url: str, paths: list[Path], lake: LakeLocation, root: Path) -> None:
    with ClusterDedupe(url, node) as claims:
        for start in range(0, len(paths), 2):  # batches of two segments, as the pipeline's
            compact_segments(
                paths[start : start + 2],
                expand=events_table,
                lake_dir=lake,
                index=claims,  # type: ignore[arg-type]
                corrupt_dir=root / "corrupt",
                node_id=node,
            )


def test_two_nodes_compact_into_one_s3_lake_each_id_once(
    tmp_path: Path, database_url: str, s3: S3Server
) -> None:
    asyncio.run(_migrate(database_url))
    lake = LakeLocation.object_store(s3.lake_url(), s3.endpoint_url)
    spans = {"n1": (0, 900), "n2": (450, 1350)}
    paths: dict[str, list[Path]] = {}
    for node, (first, last) in spans.items():
        wal = tmp_path / node / "wal" / "w0"  # the same segment ids on both nodes
        paths[node] = [
            write_segment(
                segment_path(wal, number + 1),
                [
                    [wal_row(f"m{i}") for i in range(start, start + 150)],
                    [wal_row(f"m{i}") for i in range(max(first, start - 30), start)],
                    [failed_row(f"f{start}")],
                ],
            )
            for number, start in enumerate(range(first, last, 150))
        ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(node: str) -> None:
        try:
            barrier.wait()
            _compact(node, database_url, paths[node], lake, tmp_path / node)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(node,)) for node in spans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert errors == []
    events = _lake_ids(lake, "events")
    assert set(events) == {f"m{i}" for i in range(0, 1350)}
    assert max(events.values()) == 1
    failed = _lake_ids(lake, "failed")
    assert set(failed) == {
        f"f{s}" for first, last in spans.values() for s in range(first, last, 150)
    }
    assert max(failed.values()) == 1
    # n1 crashed before renaming its segments: compacted again, same claims, same objects.
    keys_before = sorted(
        f.key
        for store in ("events", "failed")
        for p in _lake.list_partitions(lake, store)
        for f in _lake.live_files(lake, p)
    )
    _compact("n1", database_url, paths["n1"], lake, tmp_path / "n1")
    keys_after = sorted(
        f.key
        for store in ("events", "failed")
        for p in _lake.list_partitions(lake, store)
        for f in _lake.live_files(lake, p)
    )
    assert keys_after == keys_before
    assert any("part-n1.w0-" in key for key in keys_after)
    assert any("part-n2.w0-" in key for key in keys_after)
    assert _lake_ids(lake, "events") == events

"""Two pipelines in cluster mode (two data directories, one PostgreSQL, one lake) compacting
segments with overlapping messageIds at once: the lake holds each id exactly once."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import Counter
from pathlib import Path

import asyncpg
import pyarrow.parquet as pq
import pytest

from cxloop.cluster import ClusterDedupe
from cxloop.db import apply_migrations
from cxloop.lake import compact_segments
from cxloop.ops import Registry
from cxloop.pipeline import Pipeline
from cxloop.settings import Settings
from tests.helpers.rows import wal_row
from tests.helpers.segments import failed_row, segment_path, write_segment


async def _migrate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


@pytest.fixture
def claims_url(database_url: str) -> str:
    asyncio.run(_migrate(database_url))
    return database_url


def _node(tmp_path: Path, name: str, url: str, lake: Path) -> Settings:
    data_dir = tmp_path / name
    data_dir.mkdir()
    # One lake for both nodes. A local directory shared through a link stands in for the
    # object store here (the S3 lake is LAKE-W's).
    (data_dir / "lake").symlink_to(lake, target_is_directory=True)
    return Settings(data_dir=data_dir, database_url=url, cluster=True, node_id=name)


def _lake_ids(lake: Path, store: str) -> Counter[str]:
    ids: Counter[str] = Counter()
    for file in sorted((lake / store).rglob("*.parquet")):
        ids.update(pq.read_table(file, columns=["message_id"]).column("message_id").to_pylist())
    return ids


# Lake files named after their node (LAKE-W's ``node_id`` of compact_segments, passed by the
# pipeline in cluster mode) let two nodes' equal segment ids share a partition.
_NODE_NAMES = "node_id" in inspect.signature(compact_segments).parameters


@pytest.mark.parametrize(
    "same_slots",
    [
        False,
        pytest.param(
            True,
            marks=pytest.mark.skipif(
                not _NODE_NAMES, reason="needs node ids in lake file names (h19-lakew)"
            ),
        ),
    ],
)
def test_two_nodes_put_each_message_id_in_the_lake_once(
    tmp_path: Path, claims_url: str, same_slots: bool
) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    nodes = {name: _node(tmp_path, name, claims_url, lake) for name in ("n1", "n2")}
    # n1 gets m0-m1199, n2 m600-m1799: a third are the same batches sent to both nodes; each
    # node also retries some of its own batches in a later segment, and a few failed events
    # (their own namespace) overlap too. With ``same_slots`` both nodes' segment ids are equal.
    spans = {"n1": (0, 1200), "n2": (600, 1800)}
    expected: set[str] = set()
    for name, settings in nodes.items():
        first, last = spans[name]
        slot = "w0" if same_slots else f"w{name}"
        for number, start in enumerate(range(first, last, 200)):
            frames = [
                [wal_row(f"m{i}") for i in range(start, start + 100)],
                [wal_row(f"m{i}") for i in range(start + 100, start + 200)],
                [wal_row(f"m{i}") for i in range(max(first, start - 50), start)],  # retries
                [failed_row(f"m{start}")],
            ]
            write_segment(segment_path(settings.wal_dir / slot, number + 1, slot), frames)
        expected.update(f"m{i}" for i in range(first, last))
    pipelines = {name: Pipeline(settings, Registry()) for name, settings in nodes.items()}
    start = threading.Barrier(len(pipelines))
    errors: list[BaseException] = []

    def compact(pipeline: Pipeline) -> None:
        try:
            start.wait()
            while pipeline.compact_pending():
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=compact, args=(p,)) for p in pipelines.values()]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        assert all(isinstance(p.index, ClusterDedupe) for p in pipelines.values())
        events = _lake_ids(lake, "events")
        assert set(events) == expected
        assert [message for message, count in events.items() if count != 1] == []
        failed = _lake_ids(lake, "failed")
        assert set(failed) == {
            f"m{start}" for first, last in spans.values() for start in range(first, last, 200)
        }
        assert max(failed.values()) == 1
        # What the projection reads back (owned valid events of each compacted segment, as
        # after a restart) is each id once across the nodes too.
        projected: Counter[str] = Counter()
        for name, pipeline in pipelines.items():
            for path in sorted(nodes[name].wal_dir.glob("*/*.compacted")):
                table = pipeline._expand_again(path)
                projected.update(table.column("message_id").to_pylist())
        assert projected == events
        # Projected and deleted segments are released on their node only, by the hourly
        # expiry's sweep (a crash between projecting and releasing); the gauges read the
        # cluster's claims.
        n1 = pipelines["n1"]
        gone = sorted(nodes["n1"].wal_dir.glob("*/*.compacted"))[0]
        gone.unlink()
        n1.expire_index()
        assert n1.index is not None
        assert gone.name.split(".")[0] not in n1.index.claimed_segments()
        assert len(n1.index.claimed_segments()) == 5
        assert pipelines["n2"].index is not None
        assert len(pipelines["n2"].index.claimed_segments()) == 6
        assert n1.dedupe_keys.values[()] == sum(events.values()) + sum(failed.values())
    finally:
        for pipeline in pipelines.values():
            if pipeline.index is not None:
                pipeline.index.close()

"""The pipeline's loops run side by side: a long health refresh does not stop compaction."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cxloop.db import ResilientPool
from cxloop.ops import Registry
from cxloop.pipeline import process
from cxloop.pipeline.process import Pipeline
from cxloop.settings import Settings
from tests.helpers.rows import wal_row
from tests.helpers.segments import segment_path, write_segment

# Nothing listens there: PostgreSQL is away, which only delays the projection.
NO_DATABASE = "postgresql://nobody@127.0.0.1:9/none"


async def _until(check: object, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        await asyncio.sleep(0.02)
    return False


def test_a_running_health_refresh_does_not_stop_compaction(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=NO_DATABASE, health_refresh_s=0.05, pipeline_poll_s=0.05
    )

    async def scenario() -> tuple[bool, bool]:
        pipeline = Pipeline(settings, Registry())
        stop = asyncio.Event()
        refreshing = asyncio.Event()

        async def slow_refresh(database: ResilientPool) -> int:
            refreshing.set()
            await stop.wait()  # a refresh of a huge lake: it lasts until the test ends
            return 0

        pipeline.refresh_health = slow_refresh  # type: ignore[method-assign]
        running = asyncio.create_task(pipeline.run(stop))
        try:
            await asyncio.wait_for(refreshing.wait(), 10)
            sealed = write_segment(
                segment_path(settings.wal_dir / "w0", 1), [[wal_row("m1"), wal_row("m2")]]
            )
            compacted = sealed.with_suffix(".compacted")
            done = await _until(compacted.exists, 10)
            laked = any((settings.lake_dir / "events").rglob("*.parquet"))
            return done, laked
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)

    compacted, laked = asyncio.run(scenario())
    assert compacted, "the segment sealed during the refresh was not compacted"
    assert laked


def test_merging_gets_a_share_of_compaction_time_while_segments_wait(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings(data_dir=tmp_path), Registry())
    assert pipeline._tidy_budget_s() == process.TIDY_BUDGET_S  # nothing waits
    pipeline._sealed_waiting = 3
    for compaction_s, budget in ((0.1, 0.25), (1.0, 0.5), (3.0, 1.5), (10.0, 2.0)):
        pipeline._last_compaction_s = compaction_s
        assert pipeline._tidy_budget_s() == budget


def test_a_lake_step_that_fails_is_retried_and_the_pipeline_goes_on(tmp_path: Path) -> None:
    """The object store or the cluster's claims not answering fails one lake step, not the
    process: the same segment is compacted once they answer again."""
    settings = Settings(
        data_dir=tmp_path, database_url=NO_DATABASE, health_refresh_s=3600, pipeline_poll_s=0.05
    )

    async def scenario() -> tuple[int, bool]:
        pipeline = Pipeline(settings, Registry())
        real = pipeline.compact_pending
        failures = 0

        def flaky() -> int:
            nonlocal failures
            if failures < 2:
                failures += 1
                raise OSError("AWS Error NETWORK_CONNECTION during PutObject operation")
            return real()

        pipeline.compact_pending = flaky  # type: ignore[method-assign]
        stop = asyncio.Event()
        sealed = write_segment(
            segment_path(settings.wal_dir / "w0", 1), [[wal_row("m1"), wal_row("m2")]]
        )
        running = asyncio.create_task(pipeline.run(stop))
        try:
            done = await _until(sealed.with_suffix(".compacted").exists, 20)
            return failures, done and not running.done()
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)

    failures, compacted = asyncio.run(scenario())
    assert failures == 2
    assert compacted, "the pipeline stopped, or never compacted the segment after the failures"


def test_a_cluster_never_merges_a_directory_lake(tmp_path: Path) -> None:
    """A merge swaps the partition's directory; another node's file written meanwhile would be
    lost with the old copy. Only an object-store lake is merged in a cluster."""
    settings = Settings(
        data_dir=tmp_path, database_url=NO_DATABASE, cluster=True, lake_merge_min_files=2
    )
    pipeline = Pipeline(settings, Registry())
    partition = settings.lake_dir / "events" / "project_id=prj_test" / "date=2026-01-01"
    partition.mkdir(parents=True)
    for n in range(3):  # three small files in one partition: a single node would merge them
        pq.write_table(pa.table({"message_id": [f"m{n}"]}), partition / f"part-n{n}.parquet")
    pipeline._untidy = {partition: None}
    assert pipeline.tidy_lake() == 0
    assert sorted(p.name for p in partition.iterdir()) == [f"part-n{n}.parquet" for n in range(3)]
    single = Pipeline(Settings(data_dir=tmp_path / "single", lake_merge_min_files=2), Registry())
    assert not single._shared_directory

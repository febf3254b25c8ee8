"""The pipeline process: WAL segments → Parquet lake → PostgreSQL projections.

It runs beside the ingest workers (one per data directory) and works through segment
states: ``sealed`` → compacted into the lake (deduplicated, crash-safe) → ``compacted`` →
projected into PostgreSQL → deleted. PostgreSQL being down only delays the last step:
compacted segments wait on disk and are projected when it is back. The process also sends
queued webhook deliveries (``cxloop.webhooks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pyarrow as pa

from cxloop.db import ResilientPool
from cxloop.ingest import events_table
from cxloop.insights import analyse_in_pipeline
from cxloop.lake import DedupeIndex, compact_segments, owned_valid_events
from cxloop.ops import Registry, configure_logging, stop_with_parent
from cxloop.privacy import DeletionJobs, RetentionSweep, SuppressionFilter
from cxloop.projection import project_events
from cxloop.settings import Settings
from cxloop.wal import SegmentState, fsync_dir, segment_created_ns, segment_id
from cxloop.webhooks import WebhookDispatcher

__all__ = ["Pipeline", "run_pipeline", "yield_cpu"]

log = logging.getLogger("cxloop.pipeline")


COMPACTION_BATCH_SEGMENTS = 4


def _segment_order(path: Path) -> tuple[int, str]:
    """Oldest first across slots: by the nanosecond stamp in ``<slot>-<ns>``."""
    return segment_created_ns(path), segment_id(path)


class Pipeline:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.corrupt_dir = settings.wal_dir / "corrupt"
        # SQLite connections belong to one thread: every index call runs on this executor.
        self._index_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cxloop-lake")
        self.index: DedupeIndex | None = None
        self._owned_events: dict[str, pa.Table] = {}  # segment id -> its owned valid events
        # Privacy: events of deleted subjects are dropped at expansion (before dedupe claims),
        # deletion requests are worked a bounded step per round, retention runs on a schedule.
        self.suppression = SuppressionFilter(settings, registry)
        self.expand = self.suppression.wrap(events_table)
        self.deletions = DeletionJobs(settings, registry, suppression=self.suppression)
        self.retention = RetentionSweep(settings, registry)

        self.compacted = registry.counter(
            "cxloop_lake_segments_compacted_total", "WAL segments written to the lake."
        )
        self.lake_events = registry.counter(
            "cxloop_lake_events_written_total", "Events written to the lake (after dedupe)."
        )
        self.duplicates = registry.counter(
            "cxloop_lake_duplicates_dropped_total",
            "Events dropped because their (project, messageId) was already in the lake.",
        )
        self.failed_events = registry.counter(
            "cxloop_lake_failed_events_written_total", "Invalid events written to lake/failed."
        )
        self.corrupt_frames = registry.counter(
            "cxloop_wal_corrupt_frames_total",
            "Damaged WAL frames found at compaction (quarantined in wal/corrupt/).",
        )
        self.compaction_seconds = registry.histogram(
            "cxloop_lake_compaction_seconds", "Time to compact one WAL segment."
        )
        self.projected = registry.counter(
            "cxloop_projection_events_total", "Events projected into PostgreSQL."
        )
        self.projection_errors = registry.counter(
            "cxloop_projection_errors_total", "Projection attempts that failed (retried)."
        )
        self.projection_quarantined = registry.counter(
            "cxloop_projection_quarantined_total",
            "Events PostgreSQL refused, recorded in projection_quarantine instead of projected.",
        )
        self.projection_lag = registry.gauge(
            "cxloop_projection_lag_seconds",
            "Age of the oldest acked segment not yet projected into PostgreSQL (0 when caught up).",
        )
        self.health_seconds = registry.histogram(
            "cxloop_health_refresh_seconds", "Time to roll up and score one project."
        )
        self.health_errors = registry.counter(
            "cxloop_health_refresh_errors_total", "Scheduled health refreshes that failed."
        )
        self.pending_segments = registry.gauge(
            "cxloop_pipeline_pending_segments", "WAL segments waiting, by state.", ["state"]
        )

    # -- compaction (runs on the index thread) ----------------------------------------------

    def _open_index(self) -> DedupeIndex:
        if self.index is None:
            self.index = DedupeIndex(
                self.settings.state_dir / "dedupe.sqlite",
                window_days=self.settings.dedupe_window_days,
            )
        return self.index

    def compact_pending(self) -> int:
        """Compact the oldest few sealed segments; returns how many (0: none waiting).

        A backlog is claimed a few segments per transaction (one index commit for all);
        bounded, because the segments are held in memory together. One batch per call, so
        the projection of a batch follows it while its expanded events are still at hand.
        """
        index = self._open_index()
        sealed = sorted(
            self.settings.wal_dir.glob(f"*/*.{SegmentState.SEALED}"), key=_segment_order
        )
        batch = sealed[:COMPACTION_BATCH_SEGMENTS]
        if not batch:
            return 0
        started = time.perf_counter()
        results = compact_segments(
            batch,
            expand=self.expand,
            lake_dir=self.settings.lake_dir,
            index=index,
            corrupt_dir=self.corrupt_dir,
            row_group_rows=self.settings.lake_row_group_rows,
        )
        for path in batch:
            path.rename(path.with_suffix(f".{SegmentState.COMPACTED}"))
        for directory in {path.parent for path in batch}:
            fsync_dir(directory)
        self.compaction_seconds.observe(time.perf_counter() - started)
        # Only the latest batch is kept: memory stays bounded however long PostgreSQL is away.
        self._owned_events = {
            result.segment: result.owned_events
            for result in results
            if result.owned_events is not None
        }
        for result in results:
            self.compacted.inc()
            self.lake_events.inc(result.events_written)
            self.duplicates.inc(result.duplicates)
            self.failed_events.inc(result.failed_written)
            self.corrupt_frames.inc(result.corrupt_frames)
        return len(batch)

    def _owned_valid_events(self, path: Path) -> pa.Table:
        """The valid events this segment owns in the dedupe index (what it put in the lake):
        from the compaction just done, or read and expanded again (after a restart)."""
        cached = self._owned_events.pop(segment_id(path), None)
        if cached is not None:
            return cached
        return owned_valid_events(path, self._open_index(), expand=self.expand)

    def expire_index(self) -> None:
        self._open_index().expire()

    # -- projection ----------------------------------------------------------------------

    async def project_pending(self, database: ResilientPool) -> int:
        loop = asyncio.get_running_loop()
        compacted = sorted(
            self.settings.wal_dir.glob(f"*/*.{SegmentState.COMPACTED}"), key=_segment_order
        )
        self._update_lag(compacted)
        if database.pool is None:
            return 0
        done = 0
        for path in compacted:
            table = await loop.run_in_executor(self._index_thread, self._owned_valid_events, path)
            try:
                async with database.pool.acquire() as conn, conn.transaction():
                    stats = await project_events(conn, table)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.projection_errors.inc()
                log.warning("projection of %s failed, will retry: %s", path.name, exc)
                break
            self.projected.inc(table.num_rows)
            self.projection_quarantined.inc(stats.quarantined)
            path.unlink()
            fsync_dir(path.parent)
            done += 1
        self._update_lag(compacted[done:])
        return done

    def _update_lag(self, waiting: list[Path]) -> None:
        self.pending_segments.set(len(waiting), SegmentState.COMPACTED)
        sealed = len(list(self.settings.wal_dir.glob(f"*/*.{SegmentState.SEALED}")))
        self.pending_segments.set(sealed, SegmentState.SEALED)
        if not waiting:
            self.projection_lag.set(0.0)
            return
        with contextlib.suppress(FileNotFoundError):
            oldest_ns = segment_created_ns(waiting[0])
            self.projection_lag.set(max(0.0, time.time() - oldest_ns / 1e9))

    # -- health --------------------------------------------------------------------------

    async def refresh_health(self, database: ResilientPool) -> int:
        """Roll up and score every project with events in the lake; how many projects."""
        from cxloop.health import lake_partitions, refresh_project

        if database.pool is None:
            return 0
        done = 0
        for project_id in lake_partitions(self.settings.lake_dir):
            started = time.perf_counter()
            try:
                async with database.pool.acquire() as conn:
                    report = await refresh_project(conn, self.settings.lake_dir, project_id)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.health_errors.inc()
                log.warning("health refresh of %s failed, will retry: %s", project_id, exc)
                continue
            except Exception:
                # One project's failure (a damaged lake file, a bug) must not stop the others'
                # refresh, nor the pipeline: logged with the traceback, counted, retried.
                self.health_errors.inc()
                log.exception("health refresh of %s failed, will retry", project_id)
                continue
            self.health_seconds.observe(time.perf_counter() - started)
            log.info("health of %s: %d accounts scored", project_id, report.accounts)
            done += 1
        return done

    # -- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        assert self.settings.database_url
        database = ResilientPool(self.settings.database_url, max_size=2)
        await database.start(wait_s=0)
        loop = asyncio.get_running_loop()
        metrics_file = self.settings.state_dir / "metrics" / "pipeline.json"
        metrics_file.parent.mkdir(parents=True, exist_ok=True)
        last_expiry = 0.0
        last_health = time.monotonic()  # the first scheduled refresh after one interval
        # Webhook deliveries go out beside the projection (its own task and connections).
        webhooks = WebhookDispatcher(self.settings, self.registry)
        webhooks.start()
        try:
            while True:
                await self.suppression.refresh(database)
                await self.deletions.prepare(database)
                compacted = await loop.run_in_executor(self._index_thread, self.compact_pending)
                projected = await self.project_pending(database)
                analysed = await analyse_in_pipeline(database, registry=self.registry)
                deleted = await self.deletions.step(database)
                await self.retention.step(database)
                if time.monotonic() - last_expiry > 3600:
                    await loop.run_in_executor(self._index_thread, self.expire_index)
                    last_expiry = time.monotonic()
                interval = self.settings.health_refresh_s
                if interval > 0 and time.monotonic() - last_health > interval:
                    await self.refresh_health(database)
                    last_health = time.monotonic()
                with contextlib.suppress(OSError):
                    self.registry.write_snapshot(metrics_file)
                if stop.is_set():
                    break
                if not compacted and not projected and not analysed and not deleted:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.pipeline_poll_s)
        finally:
            await webhooks.close()
            await database.close()
            self._index_thread.shutdown(wait=True)


def yield_cpu(priority: str) -> str:
    """Make this process (and every thread it starts later) give way to the ingest workers.

    Acks are latency-critical, lake freshness is not: the WAL holds everything meanwhile.
    ``nice 10`` alone is not enough on a small machine: the load balancer weighs tasks by
    priority, so it leaves the light-looking pipeline a CPU to itself and stacks the worker
    and its clients on the other. A CPU running only ``SCHED_IDLE`` work counts as idle when
    a task wakes up, so the worker lands there and preempts at once (ARCHITECTURE.md,
    decision 26). Returns what was applied.
    """
    if priority == "idle" and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "idle"
        except OSError as exc:  # not allowed here (some container policies): fall back
            log.warning("could not make the pipeline SCHED_IDLE (%s); using nice 10", exc)
    os.nice(10)
    return "nice"


def run_pipeline(settings: Settings, parent_pid: int | None = None) -> None:
    """The pipeline process's entry point; it stops (SIGTERM) when ``parent_pid``, the
    supervisor, dies, even by kill -9."""

    if parent_pid is not None:
        stop_with_parent(parent_pid)
    configure_logging(settings.log_level, "pipeline")
    yield_cpu(settings.pipeline_priority)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await Pipeline(settings, Registry()).run(stop)

    asyncio.run(main())

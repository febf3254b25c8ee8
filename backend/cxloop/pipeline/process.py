"""The pipeline process: WAL segments → Parquet lake → PostgreSQL projections.

It runs beside the ingest workers (one per data directory) and works through segment
states: ``sealed`` → compacted into the lake (deduplicated, crash-safe) → ``compacted`` →
projected into PostgreSQL → deleted. PostgreSQL being down only delays the last step:
compacted segments wait on disk and are projected when it is back. The process also sends
queued webhook deliveries (``cxloop.webhooks``).

Three loops run side by side (ARCHITECTURE.md, decision 61), so none waits on another's slow
step: the *lake* loop (compaction, small-file merging, erasure and retention, which all
rewrite the lake and so run one after another), the *projection* loop (compacted segments
into PostgreSQL, comment analysis) and the scheduled *health* refresh. Projection of one batch
overlaps compaction of the next; a refresh of a big lake no longer stops compaction.

In a cluster (``CXLOOP_CLUSTER``; ARCHITECTURE.md, decision 66) the process also upserts its
node's heartbeat row, runs the health refresh and the retention sweep only while its node holds
their lease, and takes a partition's lease around each merge and erasure rewrite there.
``cxloop drain`` (:func:`drain`) runs the lake and projection steps alone until the WAL is
empty, so a node can leave the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import asyncpg
import pyarrow as pa

from cxloop.cluster import (
    HEALTH_REFRESH_LEASE,
    RETENTION_LEASE,
    ClusterDedupe,
    ClusterDedupeUnavailable,
    Leases,
    NodeHeartbeat,
    PartitionLeases,
    SingletonRole,
    heartbeat_interval_s,
    node_id,
)
from cxloop.db import ResilientPool
from cxloop.ingest import events_table
from cxloop.insights import analyse_in_pipeline
from cxloop.lake import (
    DedupeIndex,
    LakeLocation,
    compact_segments,
    owned_valid_events,
    recover_lake,
    tidy_partitions,
)
from cxloop.ops import Registry, configure_logging, release_memory, stop_with_parent
from cxloop.privacy import DeletionJobs, RetentionSweep, SuppressionFilter
from cxloop.projection import project_events
from cxloop.settings import Settings
from cxloop.wal import SegmentState, backlog, fsync_dir, segment_created_ns, segment_id
from cxloop.webhooks import WebhookDispatcher

__all__ = ["DrainError", "DrainReport", "Pipeline", "run_pipeline", "yield_cpu"]

log = logging.getLogger("cxloop.pipeline")


COMPACTION_BATCH_SEGMENTS = 4
# ... and no more WAL bytes than this (at least one segment): the batch's expansion is held in
# memory at once, and four full 64 MiB segments made the pipeline's peak (bench_memory.py).
COMPACTION_BATCH_BYTES = 64 * 1024 * 1024
# Small-file merging per loop round: no merge starts after this (one may run past it).
TIDY_BUDGET_S = 2.0
# While sealed segments wait, merging gets this share of the time the last compaction took
# (at least TIDY_BUDGET_BEHIND_S): enough to keep files per partition-day bounded under a
# standing load (every batch adds files to the day's and the late events' partitions), and
# the back-pressure gate sees that work in the pipeline's capacity.
TIDY_BUDGET_BEHIND_S = 0.25
TIDY_SHARE_BEHIND = 0.5
MEMORY_RELEASE_S = 5.0
# Compaction hands each segment's owned events to the projection in memory. It waits (this
# long at most) for the projection to take the last batch before compacting the next, so at
# most two batches are held; past that bound the oldest are dropped (re-read when projected).
HANDOFF_WAIT_S = 2.0
HANDOFF_MAX_SEGMENTS = 2 * COMPACTION_BATCH_SEGMENTS
# A scheduled refresh waits this long at most for what was acked before it to be projected,
# and for the comments to be analysed.
HEALTH_WAIT_S = 120.0
# Connections: one per loop plus the analysis; in a cluster one more for heartbeats and leases.
POOL_CONNECTIONS = 4
CLUSTER_POOL_CONNECTIONS = 6


def _segment_order(path: Path) -> tuple[int, str]:
    """Oldest first across slots: by the nanosecond stamp in ``<slot>-<ns>``."""
    return segment_created_ns(path), segment_id(path)


def _take_batch(sealed: list[Path]) -> list[Path]:
    """The oldest sealed segments to compact together, bounded by count and bytes."""
    batch: list[Path] = []
    size = 0
    for path in sealed[:COMPACTION_BATCH_SEGMENTS]:
        try:
            size += path.stat().st_size
        except FileNotFoundError:  # gone since the listing (another pass renamed it)
            break
        if batch and size > COMPACTION_BATCH_BYTES:
            break
        batch.append(path)
    return batch


class Pipeline:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.corrupt_dir = settings.wal_dir / "corrupt"
        # SQLite connections belong to one thread: every index call runs on this executor.
        self._index_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cxloop-lake")
        self.index: DedupeIndex | None = None
        # Segment id -> its owned valid events, from compaction to the projection (in order).
        self._owned_events: dict[str, pa.Table] = {}
        self._handoff_lock = threading.Lock()  # the index thread adds, the event loop takes
        self._handed_over = asyncio.Event()  # the projection took events from _owned_events
        self._laked = asyncio.Event()  # compaction renamed segments to compacted
        # The projection's last attempt reached PostgreSQL (until one fails, assume it will: at
        # the start compaction must not outrun it and drop what it handed over).
        self._projecting = True
        self._releases: set[asyncio.Future[None]] = set()
        # Privacy: events of deleted subjects are dropped at expansion (before dedupe claims),
        # deletion requests are worked a bounded step per round, retention runs on a schedule.
        self.suppression = SuppressionFilter(settings, registry)
        self.expand = self.suppression.wrap(events_table)
        self.deletions = DeletionJobs(settings, registry, suppression=self.suppression)
        self.retention = RetentionSweep(settings, registry)
        # Cluster mode: this node's name; the leases are made when the loop runs (they reach
        # PostgreSQL through the loop's pool).
        self.node_id = node_id(settings) if settings.cluster else None
        # Where the lake lives: `<data dir>/lake`, a shared directory, or an object store
        # (CXLOOP_LAKE_URL); files carry the node id in a cluster.
        self.lake = LakeLocation.from_settings(settings)
        # A directory several nodes write is never merged: a merge swaps the partition's
        # directory, and a file another node compacts into it meanwhile would go with the old
        # copy (bench_nodes.py --lake directory lost 40 % of the events). On object storage a
        # merge is PUT-then-DELETE under the partition's lease (decision 68).
        self._shared_directory = settings.cluster and self.lake.local is not None
        if self._shared_directory and settings.lake_merge_min_files:
            log.warning(
                "cluster on a directory lake (%s): small lake files are not merged; use an "
                "object store (CXLOOP_LAKE_URL=s3://...) for a cluster",
                self.lake.url,
            )
        self.leases: Leases | None = None
        self.partition_leases: PartitionLeases | None = None
        self.health_role: SingletonRole | None = None
        self.retention_role: SingletonRole | None = None

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
        # The lag and backlog gauges are the workers' (ops/controller.py, from their WAL scan
        # at scrape time): a stopped pipeline's snapshot would go on saying what it said last.
        self.health_seconds = registry.histogram(
            "cxloop_health_refresh_seconds", "Time to roll up and score one project."
        )
        self.health_errors = registry.counter(
            "cxloop_health_refresh_errors_total", "Scheduled health refreshes that failed."
        )
        self.health_rounds = registry.counter(
            "cxloop_health_refresh_rounds_total",
            "Scheduled health refreshes this process ran (in a cluster: while its node held "
            "the refresh's lease).",
        )
        # Partition directories compaction wrote to since their last tidy; None: all (start).
        # In the order they are to be tidied: those a budget left over first (round robin).
        self._untidy: dict[Path, None] | None = None
        self._last_compaction_s = 0.0
        # Sealed segments left waiting by the last compaction round (merging yields to them).
        self._sealed_waiting = 0
        self.lake_merges = registry.counter(
            "cxloop_lake_merges_total", "Merges of small lake files into one (per partition-day)."
        )
        self.lake_files_merged = registry.counter(
            "cxloop_lake_files_merged_total", "Small lake files replaced by merged files."
        )
        self.lake_merge_seconds = registry.histogram(
            "cxloop_lake_merge_seconds", "Time spent merging small lake files per loop round."
        )
        self.pending_segments = registry.gauge(
            "cxloop_pipeline_pending_segments", "WAL segments waiting, by state.", ["state"]
        )
        # The dedupe index's size and effective window (shorter once its budget bites).
        self.dedupe_keys = registry.gauge("cxloop_dedupe_keys", "Keys in the dedupe index.")
        self.dedupe_bytes = registry.gauge(
            "cxloop_dedupe_index_bytes", "Bytes of the dedupe index's run files (12 per key)."
        )
        self.dedupe_window = registry.gauge(
            "cxloop_dedupe_window_seconds",
            "How far back duplicates are recognised (below the window once the budget bites).",
        )

    # -- compaction (runs on the index thread) ----------------------------------------------

    def _open_index(self) -> DedupeIndex:
        if self.index is None:
            if self.settings.cluster:
                self.index = self._open_cluster_index()
            else:
                self.index = DedupeIndex(
                    self.settings.state_dir / "dedupe.sqlite",
                    window_days=self.settings.dedupe_window_days,
                    max_bytes=self.settings.dedupe_max_bytes,
                )
        return self.index

    def _open_cluster_index(self) -> DedupeIndex:
        """The cluster's dedupe claims in PostgreSQL, owned as ``<node_id>.<segment_id>``
        (the local index's budget does not apply: PostgreSQL holds the keys)."""
        assert self.settings.database_url, "cluster mode needs DATABASE_URL (settings check it)"
        claims = ClusterDedupe(
            self.settings.database_url,
            node_id(self.settings),
            window_days=self.settings.dedupe_window_days,
        )
        # Duck-typed: ClusterDedupe answers every DedupeIndex call compaction and projection
        # make (tests/unit/test_cluster_claims_interface.py holds the two interfaces equal).
        return cast(DedupeIndex, claims)

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
        batch = _take_batch(sealed)
        self._sealed_waiting = len(sealed) - len(batch)
        if not batch:
            return 0
        started = time.perf_counter()
        results = compact_segments(
            batch,
            expand=self.expand,
            lake_dir=self.lake,
            index=index,
            corrupt_dir=self.corrupt_dir,
            row_group_rows=self.settings.lake_row_group_rows,
            node_id=self.node_id,
        )
        # Handed over before the rename: the projection may list a compacted segment at once.
        with self._handoff_lock:
            for result in results:
                if result.owned_events is not None:
                    self._owned_events[result.segment] = result.owned_events
            # Bounded however long PostgreSQL is away: the oldest go (re-read when projected).
            while len(self._owned_events) > HANDOFF_MAX_SEGMENTS:
                self._owned_events.pop(next(iter(self._owned_events)))
        for path in batch:
            path.rename(path.with_suffix(f".{SegmentState.COMPACTED}"))
        for directory in {path.parent for path in batch}:
            fsync_dir(directory)
        self._last_compaction_s = time.perf_counter() - started
        self.compaction_seconds.observe(self._last_compaction_s)
        if self._untidy is not None:
            for result in results:
                self._untidy.update(dict.fromkeys(path.parent for path in result.files))
        for result in results:
            self.compacted.inc()
            self.lake_events.inc(result.events_written)
            self.duplicates.inc(result.duplicates)
            self.failed_events.inc(result.failed_written)
            self.corrupt_frames.inc(result.corrupt_frames)
        return len(batch)

    def tidy_lake(self) -> int:
        """Merge small lake files in the partitions compaction touched (all of them on the
        first call), those left over last time first, for at most ``TIDY_BUDGET_S`` (while
        sealed segments wait: half the time the last compaction took, at least
        ``TIDY_BUDGET_BEHIND_S``); how many merges (+1 if work is left)."""
        settings = self.settings
        if settings.lake_merge_min_files == 0 or self._shared_directory:
            self._untidy = {}  # merging is off (what tidy_partitions would answer)
            return 0
        # In a cluster each partition is merged under its lease (cxloop.lake's PartitionLeases).
        report = tidy_partitions(
            self.lake,
            self._untidy,
            min_files=settings.lake_merge_min_files,
            target_bytes=settings.lake_target_file_bytes,
            budget_s=self._tidy_budget_s(),
            row_group_rows=settings.lake_row_group_rows,
            skip=self._deleting,
            leases=self.partition_leases,
        )
        self._untidy = dict.fromkeys([*report.remaining, *report.deferred])
        if report.merges:
            self.lake_merges.inc(report.merges)
            self.lake_files_merged.inc(report.files_merged)
            self.lake_merge_seconds.observe(report.seconds)
        return report.merges + (1 if report.remaining else 0)

    def _tidy_budget_s(self) -> float:
        if not self._sealed_waiting:
            return TIDY_BUDGET_S
        share = TIDY_SHARE_BEHIND * self._last_compaction_s
        return min(TIDY_BUDGET_S, max(TIDY_BUDGET_BEHIND_S, share))

    def _deleting(self, partition: Path) -> bool:
        """Whether an erasure is under way in the partition's project (no merging there)."""
        return unquote(partition.parent.name.split("=", 1)[1]) in self.deletions.busy_projects

    def recover_lake(self) -> None:
        """Settle merges and rewrites a crash left half-done, before the lake is written."""
        found = recover_lake(self.lake)
        if found:
            log.info("lake: settled %d interrupted merge(s) or rewrite(s)", found)

    async def _owned_valid_events(self, path: Path) -> pa.Table:
        """The valid events this segment owns in the dedupe index (what it put in the lake):
        handed over by the compaction just done, or read and expanded again (after a restart,
        or dropped from the hand-over) on the index thread."""
        with self._handoff_lock:
            cached = self._owned_events.pop(segment_id(path), None)
        self._handed_over.set()
        if cached is not None:
            return cached
        return await asyncio.get_running_loop().run_in_executor(
            self._index_thread, self._expand_again, path
        )

    def _expand_again(self, path: Path) -> pa.Table:
        return owned_valid_events(path, self._open_index(), expand=self.expand)

    async def _room_for_batch(self, stop: asyncio.Event) -> None:
        """Before compacting: give the projection (while it reaches PostgreSQL) up to
        ``HANDOFF_WAIT_S`` to take the events handed over last, so a batch is not compacted
        only to be dropped from memory and expanded again."""
        deadline = time.monotonic() + HANDOFF_WAIT_S
        while self._owned_events and self._projecting and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._handed_over.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._handed_over.wait(), left)

    def expire_index(self) -> None:
        index = self._open_index()
        # Release the runs of segments already projected and gone (a crash between
        # projecting and releasing), so they merge with their day's others.
        present = {segment_id(path) for path in self.settings.wal_dir.glob("*/*")}
        for name in index.claimed_segments():
            if name not in present:
                index.release(name)
        index.expire()
        self._dedupe_gauges()

    def _release(self, path: Path) -> None:
        """The segment is projected and deleted: its dedupe run may merge with others."""
        self._open_index().release(segment_id(path))
        self._dedupe_gauges()

    def _dedupe_gauges(self) -> None:
        stats = self._open_index().stats()
        self.dedupe_keys.set(stats.keys)
        self.dedupe_bytes.set(stats.bytes)
        self.dedupe_window.set(stats.window_seconds)

    # -- projection ----------------------------------------------------------------------

    async def project_pending(self, database: ResilientPool) -> int:
        loop = asyncio.get_running_loop()
        compacted = sorted(
            self.settings.wal_dir.glob(f"*/*.{SegmentState.COMPACTED}"), key=_segment_order
        )
        if database.pool is None:
            self._projecting = False
            self._count_segments()
            return 0
        done = 0
        for path in compacted:
            table = await self._owned_valid_events(path)
            try:
                async with database.pool.acquire() as conn, conn.transaction():
                    stats = await project_events(conn, table)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.projection_errors.inc()
                self._projecting = False
                log.warning("projection of %s failed, will retry: %s", path.name, exc)
                break
            self._projecting = True
            self.projected.inc(table.num_rows)
            self.projection_quarantined.inc(stats.quarantined)
            path.unlink()
            fsync_dir(path.parent)
            # Not awaited: the index thread may be compacting the next batch. A release lost
            # to a crash is redone by expire_index (the segment is gone from the WAL).
            release = loop.run_in_executor(self._index_thread, self._release, path)
            self._releases.add(release)
            release.add_done_callback(self._released)
            done += 1
        self._count_segments()
        return done

    def _released(self, release: asyncio.Future[None]) -> None:
        self._releases.discard(release)
        if not release.cancelled() and release.exception() is not None:
            log.error(
                "dedupe release failed (expire_index redoes it)", exc_info=release.exception()
            )

    def _count_segments(self) -> None:
        """WAL segments waiting, by state, from one scan of the WAL."""
        scan = backlog(self.settings.wal_dir)
        self.pending_segments.set(scan.compacted_segments, SegmentState.COMPACTED)
        self.pending_segments.set(scan.sealed_segments, SegmentState.SEALED)
        self.pending_segments.set(scan.open_segments, SegmentState.OPEN)

    # -- health --------------------------------------------------------------------------

    async def refresh_health(self, database: ResilientPool) -> int:
        """Roll up and score every project with events in the lake; how many projects."""
        from cxloop.health import (
            lake_partitions,
            refresh_project,
            rollup_engine,
            wait_for_acked,
            wait_for_analysed,
        )

        if database.pool is None:
            return 0
        # Like a refresh on request: everything acked before it starts is scored (the other
        # loops go on meanwhile); past the wait, what is there is scored, as on schedule.
        try:
            await wait_for_acked(self.settings.wal_dir, time.time_ns(), HEALTH_WAIT_S)
        except TimeoutError as exc:
            log.warning("scheduled health refresh goes ahead without waiting: %s", exc)
        done = 0
        for project_id in lake_partitions(self.lake):
            started = time.perf_counter()
            try:
                async with database.pool.acquire() as conn:
                    with contextlib.suppress(TimeoutError):
                        await wait_for_analysed(conn, project_id, HEALTH_WAIT_S)
                    report = await refresh_project(
                        conn, self.lake, project_id, rollup=rollup_engine(self.settings)
                    )
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

    # -- draining ------------------------------------------------------------------------

    def close(self) -> None:
        """After :meth:`drain` (``run`` closes by itself): the index thread stops."""
        self._index_thread.shutdown(wait=True)

    async def drain(
        self,
        database: ResilientPool,
        *,
        timeout_s: float,
        progress: Callable[[str], None] = log.info,
    ) -> DrainReport:
        """Compact and project until the WAL holds nothing (its open segments already sealed by
        recovery, and no worker writing it); raises :class:`DrainError` when PostgreSQL does not
        take the segments or ``timeout_s`` passes first."""
        loop = asyncio.get_running_loop()
        report = DrainReport()
        started = time.monotonic()
        await loop.run_in_executor(self._index_thread, self.recover_lake)
        # Deleted subjects' events are dropped at expansion, as in the running pipeline.
        await self.suppression.refresh(database)
        failures = 0
        while True:
            scan = backlog(self.settings.wal_dir)
            report.left = {
                str(SegmentState.OPEN): scan.open_segments,
                str(SegmentState.SEALED): scan.sealed_segments,
                str(SegmentState.COMPACTED): scan.compacted_segments,
            }
            if not scan.in_flight:
                break
            if time.monotonic() - started > timeout_s:
                raise DrainError(
                    f"the WAL still holds {_segments(report.left)} after {timeout_s:.0f} s"
                )
            if scan.open_segments:
                raise DrainError(
                    f"the WAL holds {scan.open_segments} open segment(s): a worker still writes it "
                    "(stop cxloop serve on this data directory first)"
                )
            compacted = await loop.run_in_executor(self._index_thread, self.compact_pending)
            report.compacted += compacted
            projected = await self.project_pending(database)
            report.projected += projected
            if compacted or projected:
                failures = 0
                progress(f"drain: {report.compacted} compacted, {report.projected} projected")
                continue
            failures += 1
            if failures >= 3 and (database.pool is None or not self._projecting):
                raise DrainError(
                    f"PostgreSQL does not take the WAL's segments ({_segments(report.left)} "
                    "left): start it or fix DATABASE_URL, then run cxloop drain again"
                )
            await asyncio.sleep(min(1.0, 0.1 * failures))
        await loop.run_in_executor(self._index_thread, self.expire_index)
        report.seconds = time.monotonic() - started
        return report

    # -- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        assert self.settings.database_url
        # One connection each for the lake loop's erasure steps, the projection, the
        # analysis and a scheduled refresh's transaction (and heartbeats and leases).
        connections = CLUSTER_POOL_CONNECTIONS if self.settings.cluster else POOL_CONNECTIONS
        database = ResilientPool(self.settings.database_url, max_size=connections)
        await database.start(wait_s=0)
        loop = asyncio.get_running_loop()
        # Webhook deliveries go out beside the projection (its own task and connections).
        webhooks = WebhookDispatcher(self.settings, self.registry)
        webhooks.start()
        await loop.run_in_executor(self._index_thread, self.recover_lake)
        try:
            async with asyncio.TaskGroup() as loops:
                if self.node_id is not None:
                    for task in self._join_cluster(database, self.node_id, loop, stop):
                        loops.create_task(task)
                loops.create_task(self._lake_loop(database, stop))
                loops.create_task(self._projection_loop(database, stop))
                loops.create_task(self._health_loop(database, stop))
        finally:
            await webhooks.close()
            await database.close()
            self._index_thread.shutdown(wait=True)

    def _join_cluster(
        self,
        database: ResilientPool,
        node: str,
        loop: asyncio.AbstractEventLoop,
        stop: asyncio.Event,
    ) -> list[Coroutine[Any, Any, None]]:
        """The heartbeat and the singleton roles' lease keepers, to run beside the loops; the
        partition leases for the lake thread's merges and the erasure's rewrites."""
        self.leases = Leases(database, node, self.settings.cluster_lease_s)
        self.partition_leases = PartitionLeases(self.leases, loop)
        self.deletions.partition_leases = self.partition_leases
        self.health_role = SingletonRole(self.leases, HEALTH_REFRESH_LEASE)
        self.retention_role = SingletonRole(self.leases, RETENTION_LEASE)
        heartbeat = NodeHeartbeat(self.settings, database, node, self.registry)
        log.info(
            "cluster node %s: heartbeat every %.1f s, leases of %.0f s",
            node,
            heartbeat_interval_s(self.settings),
            self.settings.cluster_lease_s,
        )
        return [heartbeat.run(stop), self.health_role.run(stop), self.retention_role.run(stop)]

    async def _idle(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Wait ``pipeline_poll_s`` (or until ``stop``, or ``wake``)."""
        waits = [asyncio.ensure_future(stop.wait())]
        if wake is not None:
            waits.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(
                waits, timeout=self.settings.pipeline_poll_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _lake_loop(self, database: ResilientPool, stop: asyncio.Event) -> None:
        """Everything that writes the lake, one step after another: compaction, merging,
        erasure, retention (a merge or an erasure swaps a partition directory, so nothing
        else may write it meanwhile)."""
        loop = asyncio.get_running_loop()
        metrics_file = self.settings.state_dir / "metrics" / "pipeline.json"
        metrics_file.parent.mkdir(parents=True, exist_ok=True)
        last_expiry = 0.0
        last_release = time.monotonic()
        failures = 0
        while not stop.is_set():
            await self.suppression.refresh(database)
            await self.deletions.prepare(database)
            await self._room_for_batch(stop)
            try:
                compacted = await loop.run_in_executor(self._index_thread, self.compact_pending)
                if compacted:
                    self._laked.set()
                merged = await loop.run_in_executor(self._index_thread, self.tidy_lake)
            except (ClusterDedupeUnavailable, OSError) as exc:
                # The shared claims (PostgreSQL) or the lake (an object store) did not answer:
                # every step is idempotent, so the same segments are taken again after a pause;
                # the WAL keeps them, and back-pressure bounds how many wait.
                failures += 1
                log.warning("lake step failed (attempt %d), retrying: %s", failures, exc)
                await self._idle(stop)
                await asyncio.sleep(min(10.0, 0.5 * failures))
                continue
            failures = 0
            deleted = await self.deletions.step(database)
            if self.retention_role is None or self.retention_role.held:
                await self.retention.step(database)
            if time.monotonic() - last_expiry > 3600:
                await loop.run_in_executor(self._index_thread, self.expire_index)
                last_expiry = time.monotonic()
            with contextlib.suppress(OSError):
                self.registry.write_snapshot(metrics_file)
            if time.monotonic() - last_release > MEMORY_RELEASE_S:
                # Each round's tables are gone by now: their memory back to the system.
                await loop.run_in_executor(self._index_thread, release_memory)
                last_release = time.monotonic()
            if not compacted and not merged and not deleted:
                await self._idle(stop)

    async def _projection_loop(self, database: ResilientPool, stop: asyncio.Event) -> None:
        """Compacted segments into PostgreSQL as soon as compaction hands them over, then
        a bounded round of comment analysis."""
        while not stop.is_set():
            self._laked.clear()  # a compaction finishing from here on wakes the next round
            projected = await self.project_pending(database)
            analysed = await analyse_in_pipeline(database, registry=self.registry)
            if not projected and not analysed:
                await self._idle(stop, self._laked)

    async def _health_loop(self, database: ResilientPool, stop: asyncio.Event) -> None:
        """The scheduled refresh, every ``health_refresh_s`` (0: never), the first after one
        interval; in its own task, so compaction and projection go on meanwhile."""
        interval = self.settings.health_refresh_s
        if interval <= 0:
            return
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                break
            # In a cluster one node refreshes: the holder of the lease, which its role keeps
            # renewing while the refresh runs (another node takes over if this one dies).
            if self.health_role is not None and not self.health_role.held:
                continue
            self.health_rounds.inc()
            await self.refresh_health(database)


# -- draining -----------------------------------------------------------------------------


class DrainError(RuntimeError):
    """The WAL could not be emptied; the message says what is left and what to do."""


@dataclass
class DrainReport:
    compacted: int = 0  # segments written to the lake
    projected: int = 0  # segments projected into PostgreSQL (and deleted)
    seconds: float = 0.0
    left: dict[str, int] = field(default_factory=dict)  # segments still there, by state


def _segments(left: dict[str, int]) -> str:
    listed = ", ".join(f"{count} {state}" for state, count in left.items() if count)
    return f"segments ({listed})" if listed else "no segments"


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

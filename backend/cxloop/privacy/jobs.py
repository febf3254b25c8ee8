"""Deletion jobs, run by the pipeline: WAL, lake files, PostgreSQL, rollups — with a receipt.

A request (``privacy_requests``, made with its suppression by ``privacy/store.py``) is claimed
with ``FOR UPDATE SKIP LOCKED`` and advanced a bounded step per pipeline round (~2 s of work)
through its phases, kept in ``receipt.phase`` with their progress, so a crash or a restart
resumes where the last committed step left it. Every phase is idempotent:

1. ``wal``: wait until every process has the suppression (2 × ``key_refresh_s`` + 1 s after the
   request) and no WAL segment made before that moment is left; the pipeline's
   ``SuppressionFilter`` drops the subject's events from those segments. In a cluster, no other
   node's WAL either, by its heartbeat row (``cxloop.cluster``): a node whose heartbeat
   stopped keeps the job waiting (its WAL may hold the subject) until it is drained or back.
2. ``lake``: find the files that hold the subject (reading only the id columns; failed events
   by their ``raw`` JSON), rewrite each without those rows (``cxloop.lake.rewrite_file``:
   temp, fsync, rename, directory fsync; on object storage one PUT over the same key), then
   scan once more to prove none is left. On object storage, merges a crash interrupted in the
   project's partitions are finished before each listing: a merged file and its sources,
   both counted, would make the receipt count rows twice.
3. ``postgres``: ``privacy/purge.py`` in the transaction that records the phase's end.
4. ``rollups``: each day whose events or usage rollups held the subject is rolled up again
   from the rewritten lake (a day with no event left loses its rollup files), then the
   rollups are scanned to prove none names the subject.
5. ``done``: the receipt, ``subject`` set to NULL (the digests stay), ``finished_at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxloop.cluster import node_id, nodes_holding_wal_before
from cxloop.health import ROLLUP_STORES, lake_partitions, rollup_project
from cxloop.lake import (
    EVENTS_STORE,
    FAILED_STORE,
    STAGING_DIR,
    LakeLocation,
    clean_stale_temps,
    finish_merges,
    partition_dir,
    project_dir,
    purge_replaced,
    rewrite_file,
)
from cxloop.privacy.purge import SubjectIds, purge_subject
from cxloop.wal import segments_in_flight

if TYPE_CHECKING:
    from cxloop.cluster import PartitionLeases
    from cxloop.db import Connection, ResilientPool
    from cxloop.ops import Registry
    from cxloop.privacy.suppression import SuppressionFilter
    from cxloop.settings import Settings

__all__ = ["DeletionJobs", "events_of_subject", "failed_of_subject"]

log = logging.getLogger("cxloop.privacy")

STEP_BUDGET_S = 2.0
# Rollup days recomputed per step: one DuckDB slice (health.rollup's CHUNK_DAYS).
ROLLUP_DAYS_PER_STEP = 10

# JSON travels as text, so the job runs on a connection with or without the pool's codecs.
CLAIM = """
SELECT id, project_id, subject::text AS subject, status, receipt::text AS receipt, created_at
FROM privacy_requests
WHERE status IN ('queued', 'running') AND kind = 'deletion'
ORDER BY created_at, id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""
SAVE = """
UPDATE privacy_requests
SET status = 'running', receipt = $2::text::jsonb, error = $3, started_at = coalesce(started_at, now())
WHERE id = $1
"""
FINISH = """
UPDATE privacy_requests
SET status = 'done', receipt = $2::text::jsonb, error = NULL, subject = NULL, finished_at = now()
WHERE id = $1
"""
FAIL = """
UPDATE privacy_requests SET status = 'failed', receipt = $2::text::jsonb, error = $3, finished_at = now()
WHERE id = $1
"""
QUEUED = "SELECT id, project_id FROM privacy_requests WHERE status = 'queued'"
# Projects with an erasure under way: the pipeline merges no lake files there meanwhile (a
# merge would move files the scan has counted, and keep replaced sets for a while).
BUSY_PROJECTS = (
    "SELECT DISTINCT project_id FROM privacy_requests "
    "WHERE status IN ('queued', 'running') AND kind = 'deletion'"
)
QUARANTINED_IDS = "SELECT message_id FROM projection_quarantine WHERE project_id = $1"
FORGET_ROLLUP_DAYS = """
DELETE FROM rollup_partitions WHERE project_id = $1 AND day = any($2::date[])
"""

# Errors that pass by themselves: retried on the next round, the request stays running.
# (Deadlocks and serialization failures, PostgreSQL shutting down or cancelling included.)
TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.OperatorInterventionError,
)

_decode_raw = msgspec.json.Decoder().decode
_decode_object = msgspec.json.Decoder(dict[str, Any]).decode


def _json_text(value: dict[str, Any]) -> str:
    return msgspec.json.encode(value).decode()


class _Waiting(Exception):
    """The phase cannot go on yet (the suppression is not everywhere, old WAL segments)."""


class DeletionJobs:
    """``step`` advances the oldest queued/running deletion request by at most about
    ``budget_s`` of work; returns how many requests it advanced (0: nothing to do, or
    waiting)."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        suppression: SuppressionFilter | None = None,
        budget_s: float = STEP_BUDGET_S,
        wait_for_workers: bool = True,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.suppression = suppression
        self.budget_s = budget_s
        # False only when no `cxloop serve` runs (the CLI holds serve.lock): no worker can
        # still hold a list without the subject, so there is nothing to wait for.
        self.wait_for_workers = wait_for_workers
        self.deletions = registry.counter(
            "cxloop_privacy_deletions_total",
            "Deletion requests finished, by status (done, failed).",
            ["status"],
        )
        self.bytes_rewritten = registry.counter(
            "cxloop_privacy_lake_bytes_rewritten_total",
            "Bytes of lake files written by deletions (files rewritten without a subject).",
        )
        self.waiting_reason: str | None = None  # why the last step could not advance
        # The filter's drop count per project when each queued request was first seen, taken
        # before the round's compaction: what the filter drops afterwards is the request's.
        self._dropped_bases: dict[str, int] = {}
        self.busy_projects: frozenset[str] = frozenset()
        # In a cluster (set by the pipeline): a file is rewritten under its partition's lease,
        # so no other node merges the partition meanwhile.
        self.partition_leases: PartitionLeases | None = None

    async def prepare(self, database: ResilientPool) -> None:
        """Note the suppression filter's drop counts for newly queued requests; the pipeline
        calls it after refreshing the filter and before compacting."""
        if database.pool is None:
            return
        try:
            busy = await database.pool.fetch(BUSY_PROJECTS)
            self.busy_projects = frozenset(row["project_id"] for row in busy)
            if self.suppression is None:
                return
            rows = await database.pool.fetch(QUEUED)
        except TRANSIENT:
            return
        queued = {row["id"]: row["project_id"] for row in rows}
        for request_id in set(self._dropped_bases) - set(queued):
            del self._dropped_bases[request_id]
        for request_id, project_id in queued.items():
            self._dropped_bases.setdefault(request_id, self.suppression.dropped(project_id))

    async def step(self, database: ResilientPool) -> int:
        if database.pool is None:
            return 0
        try:
            async with database.pool.acquire() as conn:
                return await self.step_with(conn)
        except TRANSIENT as exc:
            log.warning("deletion step failed, will retry: %s", exc)
            return 0

    async def step_with(self, conn: Connection) -> int:
        """:meth:`step` on a connection of the caller's (JSON codecs registered)."""
        try:
            async with conn.transaction():
                return await self._step(conn)
        except TRANSIENT as exc:
            log.warning("deletion step failed, will retry: %s", exc)
            return 0

    async def _step(self, conn: Connection) -> int:
        row = await conn.fetchrow(CLAIM)
        if row is None:
            self.waiting_reason = None
            return 0
        request_id: str = row["id"]
        receipt: dict[str, Any] = _decode_object(row["receipt"] or "{}")
        subject_json = _decode_object(row["subject"] or "{}")
        if not subject_json:
            await conn.execute(
                FAIL, request_id, _json_text(receipt), "the request names no subject"
            )
            self.deletions.inc(1, "failed")
            return 1
        job = _Job(
            request_id,
            row["project_id"],
            SubjectIds.from_json(subject_json),
            row["created_at"],
            receipt,
        )
        deadline = time.monotonic() + self.budget_s
        before = msgspec.json.encode(receipt)
        advanced = False
        try:
            while receipt.get("phase", "wal") != "done" and time.monotonic() < deadline:
                # A savepoint: a phase's failed SQL must not abort the claim's transaction.
                async with conn.transaction():
                    await self._advance(conn, job, deadline)
                advanced = True
        except _Waiting as waiting:
            self.waiting_reason = str(waiting)
        except TRANSIENT as exc:
            log.warning("deletion %s: %s; will retry", request_id, exc)
            await conn.execute(SAVE, request_id, _json_text(receipt), f"will retry: {exc}")
            return 0
        except Exception as exc:
            log.exception("deletion %s failed", request_id)
            await conn.execute(
                FAIL, request_id, _json_text(receipt), f"{type(exc).__name__}: {exc}"
            )
            self.deletions.inc(1, "failed")
            return 1
        if receipt.get("phase") == "done":
            await conn.execute(FINISH, request_id, _json_text(_final_receipt(receipt)))
            self.deletions.inc(1, "done")
            log.info("deletion %s done: %s", request_id, _final_receipt(receipt))
            self.waiting_reason = None
            return 1
        if row["status"] == "queued" or msgspec.json.encode(receipt) != before:
            await conn.execute(SAVE, request_id, _json_text(receipt), None)
        return 1 if advanced else 0

    async def _advance(self, conn: Connection, job: _Job, deadline: float) -> None:
        """One unit of work in the current phase (or the move to the next one)."""
        phase = job.receipt.setdefault("phase", "wal")
        if phase == "wal":
            if self.settings.cluster:
                await self._wait_for_other_nodes(conn, job)
            self._wal_phase(job)
        elif phase == "lake":
            # Quarantined events are few: their ids are matched against the subject's rows.
            rows = await conn.fetch(QUARANTINED_IDS, job.project_id)
            job.quarantined = {r["message_id"] for r in rows}
            await asyncio.to_thread(self._lake_work, job, deadline)
        elif phase == "postgres":
            counts = await purge_subject(
                conn,
                job.project_id,
                job.subject,
                request_id=job.request_id,
                message_ids=list(job.lake.get("quarantined", [])),
            )
            job.receipt["postgres"] = counts
            job.receipt["phase"] = "rollups"
        elif phase == "rollups":
            await self._rollup_work(conn, job)
        else:
            raise ValueError(f"unknown deletion phase {phase!r}")

    # -- 1. WAL ----------------------------------------------------------------------------

    def _in_force(self, job: _Job) -> datetime:
        """When every process suppresses the subject (each refreshes within ``key_refresh_s``)."""
        if not self.wait_for_workers:
            return job.created_at
        return job.created_at + timedelta(seconds=2 * self.settings.key_refresh_s + 1)

    def _wal_phase(self, job: _Job) -> None:
        wal = job.receipt.setdefault("wal", {"events_dropped": 0})
        dropped_now = self.suppression.dropped(job.project_id) if self.suppression else 0
        wal.setdefault("dropped_base", self._dropped_bases.pop(job.request_id, dropped_now))
        in_force = self._in_force(job)
        if self.wait_for_workers and datetime.now(UTC) < in_force:
            raise _Waiting("waiting until every process suppresses the subject")
        waiting = segments_in_flight(self.settings.wal_dir, int(in_force.timestamp() * 1e9))
        if waiting:
            raise _Waiting(
                f"waiting for {len(waiting)} WAL segment(s) written before the request to "
                "pass through the pipeline"
            )
        # The filter counts per project since its process started: what it dropped from the
        # request's first sight to now (another subject of the project suppressed meanwhile
        # counts too; a restart in between loses the earlier part).
        wal["events_dropped"] = max(0, dropped_now - wal.pop("dropped_base"))
        job.receipt["phase"] = "lake"

    async def _wait_for_other_nodes(self, conn: Connection, job: _Job) -> None:
        """In a cluster, before :meth:`_wal_phase`: every other node's WAL must be past the
        moment too, by its last heartbeat (a node's WAL only moves past it, so the order of the
        two checks does not matter). A node that stopped speaking still blocks (its WAL may hold
        the subject); the receipt names the nodes waited for, and a log line says what to do."""
        wal = job.receipt.setdefault("wal", {"events_dropped": 0})
        nodes = await nodes_holding_wal_before(
            conn, node_id(self.settings), self._in_force(job), self.settings.cluster_lease_s
        )
        named = [{"node": n.node_id, "live": n.live} for n in nodes]
        if named != wal.get("waiting_for_nodes"):
            for node in nodes:
                if not node.live:
                    log.warning(
                        "deletion %s waits for node %s, silent since %s: its WAL may hold the "
                        "subject's events; restart it, or run cxloop drain on its data directory",
                        job.request_id,
                        node.node_id,
                        node.heartbeat_at.isoformat(),
                    )
        if not nodes:
            wal.pop("waiting_for_nodes", None)
            return
        wal["waiting_for_nodes"] = named
        silent = sum(not n.live for n in nodes)
        raise _Waiting(
            f"waiting for the WAL of {len(nodes)} other node(s) ({silent} not live) to pass "
            "the request"
        )

    # -- 2. lake ---------------------------------------------------------------------------

    def _lake_work(self, job: _Job, deadline: float) -> None:
        """Scan and rewrite files until the deadline; runs on a thread.

        What a file holds of the subject is counted when the scan finds it, and that is
        committed (the step ends) before the file is rewritten: a crash after a rewrite but
        before the next commit rewrites it again (a no-op), and the receipt stays exact.
        """
        lake = job.lake
        lake.setdefault("pass", 0)
        lake.setdefault("cursor", "")
        lake.setdefault("pending", [])
        lake.setdefault("found", 0)
        for key in ("events", "failed", "files_rewritten", "files_removed", "bytes_rewritten"):
            lake.setdefault(key, 0)
        lake.setdefault("days", [])
        lake.setdefault("quarantined", [])
        location = LakeLocation.from_settings(self.settings)
        found_now = False
        first = True  # every call does at least one unit of work, however small the budget
        while first or time.monotonic() < deadline:
            first = False
            if lake["pending"] and not found_now:
                with self._partition_lease(lake["pending"][0]):
                    self._rewrite_one(job, location, lake["pending"][0])
                lake["pending"].pop(0)
                continue
            listed = self._lake_files(location, job.project_id)
            files = [f for f in listed if f > lake["cursor"]]
            if files:
                for relative in files:
                    if self._scan_one(job, location, relative):
                        lake["pending"].append(relative)
                        lake["found"] += 1
                        found_now = True
                    lake["cursor"] = relative
                    if time.monotonic() >= deadline:
                        break
                continue
            if lake["pending"]:
                return  # the scan's findings are committed before their files are rewritten
            # A pass has ended. The first finds the files; each later one must find none
            # (files compacted meanwhile went through the filter), or it rewrites and repeats.
            if lake["pass"] >= 1 and lake["found"] == 0:
                # Sets replaced by merges before the erasure began may still hold the subject.
                if location.local is not None:
                    purge_replaced(location.local / STAGING_DIR, grace_s=0)
                for key in ("pass", "cursor", "pending", "found"):
                    lake.pop(key)
                job.receipt["phase"] = "postgres"
                return
            lake["pass"] += 1
            lake["cursor"] = ""
            lake["found"] = 0

    @contextlib.contextmanager
    def _partition_lease(self, relative: str) -> Iterator[None]:
        """In a cluster: the lease of the file's partition, held around its rewrite (another
        node holding it: wait for the next step)."""
        if self.partition_leases is None:
            yield
            return
        partition = relative.rsplit("/", 1)[0]
        with self.partition_leases.hold(partition) as held:
            if not held:
                raise _Waiting(f"waiting for another node's merge in {partition}")
            yield

    def _lake_files(self, location: LakeLocation, project_id: str) -> list[str]:
        """The project's event and failed files, relative to the lake, in one sorted list."""
        if location.local is None:
            return _object_files(location, project_id)
        lake_dir = location.local
        out: list[str] = []
        for store in (EVENTS_STORE, FAILED_STORE):
            root = project_dir(lake_dir, store, project_id)
            for directory in sorted(root.glob("date=*")):
                clean_stale_temps(directory)
                out.extend(str(p.relative_to(lake_dir)) for p in directory.glob("*.parquet"))
        return sorted(out)

    def _scan_one(self, job: _Job, location: LakeLocation, relative: str) -> bool:
        """Whether the file holds the subject; if so, what it holds goes into the receipt."""
        path = Path(relative)
        store = path.parts[0]
        source, filesystem = _source(location, relative)
        try:
            if store == EVENTS_STORE:
                # Ids read as their dictionaries (as the compactor wrote them): a compare per
                # distinct id, not per row. Message ids (unique, the costly column) only when
                # a quarantined event may be among the subject's.
                columns = [*_EVENT_ID_COLUMNS, *(["message_id"] if job.quarantined else [])]
                table = pq.read_table(
                    source,
                    columns=columns,
                    read_dictionary=_DICTIONARY_IDS,
                    filesystem=filesystem,
                )
                mask = events_of_subject(table, job.subject)
            else:
                table = pq.read_table(source, columns=["raw"], filesystem=filesystem)
                mask = failed_of_subject(table, job.subject)
        except FileNotFoundError:  # compacted again or removed since the listing
            return False
        rows = int(pc.sum(mask).as_py() or 0)
        if not rows:
            return False
        lake = job.lake
        lake["events" if store == EVENTS_STORE else "failed"] += rows
        lake["files_removed" if rows == table.num_rows else "files_rewritten"] += 1
        if store == EVENTS_STORE:
            day = path.parent.name.split("=", 1)[1]
            if day not in lake["days"]:
                lake["days"].append(day)
            if job.quarantined:
                ids = table.column("message_id").filter(mask).to_pylist()
                lake["quarantined"].extend(i for i in ids if i in job.quarantined)
        return True

    def _rewrite_one(self, job: _Job, location: LakeLocation, relative: str) -> None:
        """Rewrite a file without the subject's rows (already counted by the scan)."""
        source, _ = _source(location, relative)
        if location.local is not None and not Path(source).exists():
            return
        subject = job.subject
        if Path(relative).parts[0] == EVENTS_STORE:

            def keep(table: pa.Table) -> pa.Array:
                return pc.invert(events_of_subject(table, subject))
        else:

            def keep(table: pa.Table) -> pa.Array:
                return pc.invert(failed_of_subject(table, subject))

        try:
            result = rewrite_file(
                source, keep, row_group_rows=self.settings.lake_row_group_rows, location=location
            )
        except FileNotFoundError:  # removed (retention) since the scan
            return
        job.lake["bytes_rewritten"] += result.bytes_written
        self.bytes_rewritten.inc(result.bytes_written)

    # -- 4. rollups ------------------------------------------------------------------------

    async def _rollup_work(self, conn: Connection, job: _Job) -> None:
        rollups = job.receipt.setdefault("rollups", {"days": 0})
        if "pending" not in rollups:
            named = await asyncio.to_thread(self._rollup_days_naming, job)
            rollups["pending"] = sorted({*job.lake.get("days", []), *named})
            rollups["verified"] = False
        pending: list[str] = rollups["pending"]
        if not pending:
            if rollups["verified"]:
                rollups.pop("pending")
                rollups.pop("verified")
                job.receipt["phase"] = "done"
                return
            # Prove it: no rollup file names the subject any more (else those days again).
            rollups["pending"] = sorted(await asyncio.to_thread(self._rollup_days_naming, job))
            rollups["verified"] = not rollups["pending"]
            if rollups["pending"] and rollups.get("rounds", 0) >= 3:
                raise RuntimeError(
                    f"rollups still name the subject on {rollups['pending'][:5]} after "
                    "3 recomputations"
                )
            rollups["rounds"] = rollups.get("rounds", 0) + 1
            return
        days = [date.fromisoformat(d) for d in pending[:ROLLUP_DAYS_PER_STEP]]
        await self._recompute_rollups(conn, job.project_id, days)
        rollups["days"] += len(days)
        del pending[: len(days)]

    async def _recompute_rollups(self, conn: Connection, project_id: str, days: list[date]) -> None:
        """Roll these days up again from the lake as it is now; a day without events loses its
        rollup files. Its ``rollup_partitions`` rows go first, so nothing is skipped as
        unchanged."""
        lake_dir = self.settings.lake_dir
        await conn.execute(FORGET_ROLLUP_DAYS, project_id, days)
        wanted = set(days)
        partitions = [p for p in lake_partitions(lake_dir).get(project_id, []) if p.day in wanted]
        for day in wanted - {p.day for p in partitions}:
            for store in ROLLUP_STORES:
                directory = partition_dir(lake_dir / "rollups", store, project_id, day)
                await asyncio.to_thread(shutil.rmtree, directory, True)
        if partitions:
            await rollup_project(conn, lake_dir, project_id, partitions)

    def _rollup_days_naming(self, job: _Job) -> set[str]:
        """Days whose usage rollups name the subject (by user or by account)."""
        persons = job.subject.person_ids
        account = job.subject.account_id
        days: set[str] = set()
        for store in ROLLUP_STORES:
            root = project_dir(self.settings.lake_dir / "rollups", store, job.project_id)
            for directory in sorted(root.glob("date=*")):
                for path in directory.glob("*.parquet"):
                    schema = pq.read_schema(path)
                    columns = [c for c in ("user_key", "account_id") if c in schema.names]
                    table = pq.read_table(path, columns=columns)
                    masks = []
                    if persons and "user_key" in columns:
                        masks.append(pc.is_in(table.column("user_key"), pa.array(persons)))
                    if account and "account_id" in columns:
                        masks.append(pc.equal(table.column("account_id"), account))
                    if any(bool(pc.any(pc.fill_null(m, False)).as_py()) for m in masks):
                        days.add(directory.name.split("=", 1)[1])
        return days


class _Job:
    """One claimed request: its ids and its receipt, which holds the progress."""

    def __init__(
        self,
        request_id: str,
        project_id: str,
        subject: SubjectIds,
        created_at: datetime,
        receipt: dict[str, Any],
    ) -> None:
        self.request_id = request_id
        self.project_id = project_id
        self.subject = subject
        self.created_at = created_at
        self.receipt = receipt
        self.quarantined: set[str] = set()

    @property
    def lake(self) -> dict[str, Any]:
        lake: dict[str, Any] = self.receipt.setdefault("lake", {})
        return lake


# -- matching ------------------------------------------------------------------------------

_EVENT_ID_COLUMNS = ("user_id", "anonymous_id", "previous_id", "group_id")
_DICTIONARY_IDS = ("user_id", "anonymous_id", "group_id")


def events_of_subject(table: pa.Table, subject: SubjectIds) -> pa.Array:
    """Which event rows are the subject's: their user, anonymous or previous id is one of the
    person's ids, or (an account) their group id is the account."""
    mask = pa.array([False] * table.num_rows, pa.bool_())
    persons = subject.person_ids
    if persons:
        values = pa.array(persons, pa.string())
        for column in ("user_id", "anonymous_id", "previous_id"):
            mask = pc.or_(mask, pc.is_in(table.column(column), values))
    if subject.account_id:
        mask = pc.or_(mask, pc.equal(table.column("group_id"), subject.account_id))
    return _combined(pc.fill_null(mask, False))


def failed_of_subject(table: pa.Table, subject: SubjectIds) -> pa.Array:
    """Which failed rows are the subject's, by the ids in their ``raw`` JSON (top-level
    ``userId``/``anonymousId``/``previousId``, ``groupId`` or ``context.groupId``); a raw text
    that is no JSON object matches when it holds one of the ids as a JSON string."""
    persons = set(subject.person_ids)
    account = subject.account_id
    quoted = [msgspec.json.encode(v) for v in subject.ids]
    out: list[bool] = []
    for raw in table.column("raw").to_pylist():
        out.append(_raw_names(raw, persons, account, quoted))
    return pa.array(out, pa.bool_())


def _raw_names(
    raw: str | None, persons: set[str], account: str | None, quoted: list[bytes]
) -> bool:
    if raw is None:
        return False
    try:
        event = _decode_raw(raw)
    except msgspec.DecodeError:
        event = None
    if not isinstance(event, dict):
        data = raw.encode()
        return any(q in data for q in quoted)
    for key in ("userId", "anonymousId", "previousId"):
        if _text(event.get(key)) in persons:
            return True
    if account is None:
        return False
    context = event.get("context")
    groups = [event.get("groupId"), context.get("groupId") if isinstance(context, dict) else None]
    return any(_text(g) == account for g in groups)


def _text(value: object) -> str | None:
    """An id as ingest keeps it: strings as they are, numbers as their JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return msgspec.json.encode(value).decode()
    return None


def _combined(mask: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(mask, pa.ChunkedArray):
        return mask.combine_chunks() if mask.num_chunks else pa.array([], pa.bool_())
    return mask


def _source(location: LakeLocation, relative: str) -> tuple[str, pafs.FileSystem | None]:
    """A lake file (relative to the root) as pyarrow opens it: a path, or a key and the store."""
    if location.local is not None:
        return str(location.local / relative), None
    return location.path(relative), location.fs


def _object_files(location: LakeLocation, project_id: str) -> list[str]:
    """:meth:`DeletionJobs._lake_files` on object storage; a merge a crash interrupted in a
    partition is finished first (else its rows would be found, and counted, twice)."""
    out: list[str] = []
    root = location.path()
    for store in (EVENTS_STORE, FAILED_STORE):
        prefix = project_dir(Path(), store, project_id).as_posix()
        selector = pafs.FileSelector(location.path(prefix), recursive=True, allow_not_found=True)
        infos = location.fs.get_file_info(selector)
        partitions = sorted(
            {
                i.path[len(root) + 1 :].rsplit("/", 1)[0]
                for i in infos
                if i.path.endswith(".parquet")
            }
        )
        finished = sum(finish_merges(location, partition) for partition in partitions)
        if finished:  # sources deleted: list again
            infos = location.fs.get_file_info(selector)
        out.extend(
            i.path[len(root) + 1 :]
            for i in infos
            if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
        )
    return sorted(out)


def _final_receipt(receipt: dict[str, Any]) -> dict[str, Any]:
    """The receipt as the request keeps it: counts only, no progress state, no ids."""
    lake = receipt.get("lake", {})
    return {
        "phase": "done",
        "postgres": receipt.get("postgres", {}),
        "lake": {
            key: lake.get(key, 0)
            for key in ("events", "failed", "files_rewritten", "files_removed", "bytes_rewritten")
        },
        "wal": {"events_dropped": receipt.get("wal", {}).get("events_dropped", 0)},
        "rollups": {"days": receipt.get("rollups", {}).get("days", 0)},
    }

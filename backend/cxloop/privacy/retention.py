"""Retention: events older than a project's ``retention_days`` leave the lake.

Whole day partitions go: ``lake/events/project_id=P/date=D`` (event time) and
``lake/failed/project_id=P/date=D`` (receive time) once D is more than ``retention_days`` days
before today (UTC), and the health rollups of those days unless ``keep_rollups``. A partition
is first renamed into ``lake/.trash/`` (one atomic rename: a reader sees it whole or not at
all, and no reader's glob reaches the trash), then deleted. On object storage the day's
objects are deleted (there is no rename; a reader listing meanwhile may get part of an expired
day, which it was about to lose anyway).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pyarrow.fs as pafs

from cxloop.lake import EVENTS_STORE, FAILED_STORE, LakeLocation, project_dir

if TYPE_CHECKING:
    from cxloop.db import ResilientPool
    from cxloop.ops import Registry
    from cxloop.settings import Settings

__all__ = [
    "RetentionSweep",
    "expired_object_partitions",
    "expired_partitions",
    "remove_object_partition",
    "remove_partition",
]

log = logging.getLogger("cxloop.privacy")

# Every project with a retention: the sweep runs in the pipeline, for all projects.
SELECT_RETENTIONS = """
SELECT project_id, retention_days, keep_rollups FROM privacy_config
WHERE retention_days IS NOT NULL
"""
DELETE_ROLLUP_DAYS = "DELETE FROM rollup_partitions WHERE project_id = $1 AND day = any($2::date[])"
TRASH_DIR = ".trash"
ROLLUPS_DIR = "rollups"


@dataclass(frozen=True, slots=True)
class _Retention:
    project_id: str
    days: int
    keep_rollups: bool


def expired_partitions(directory: Path, cutoff: date) -> list[tuple[date, Path]]:
    """The ``date=D`` partitions under a project's store directory with D before ``cutoff``."""
    found: list[tuple[date, Path]] = []
    if not directory.is_dir():
        return found
    for child in directory.glob("date=*"):
        try:
            day = date.fromisoformat(child.name.split("=", 1)[1])
        except ValueError:
            continue  # not ours
        if day < cutoff:
            found.append((day, child))
    return sorted(found)


def expired_object_partitions(
    location: LakeLocation, directory: str, cutoff: date
) -> list[tuple[date, str]]:
    """:func:`expired_partitions` on object storage: ``directory`` is a project's store
    prefix relative to the root; the partitions come back relative to the root too."""
    selector = pafs.FileSelector(location.path(directory), allow_not_found=True)
    found: list[tuple[date, str]] = []
    for info in location.fs.get_file_info(selector):
        if info.type != pafs.FileType.Directory or not info.base_name.startswith("date="):
            continue
        try:
            day = date.fromisoformat(info.base_name.split("=", 1)[1])
        except ValueError:
            continue  # not ours
        if day < cutoff:
            found.append((day, f"{directory}/{info.base_name}"))
    return sorted(found)


def remove_object_partition(location: LakeLocation, partition: str) -> None:
    """Delete every object of a partition (relative to the root)."""
    location.fs.delete_dir(location.path(partition))


def remove_partition(lake_dir: Path, partition: Path) -> None:
    """Rename into the trash (atomic for readers), then delete."""
    trash = lake_dir / TRASH_DIR
    trash.mkdir(parents=True, exist_ok=True)
    target = trash / f"{uuid.uuid4().hex}-{partition.name}"
    partition.rename(target)
    shutil.rmtree(target, ignore_errors=True)


class RetentionSweep:
    """``step`` removes expired lake partitions (and, unless ``keep_rollups``, their rollups),
    at most once per ``retention_interval_s``; returns partitions removed."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.today = today
        self._last_run = -float("inf")
        self.removed = registry.counter(
            "cxloop_retention_partitions_removed_total",
            "Lake day partitions removed by retention, by store (events, failed, rollups).",
            ["store"],
        )

    async def step(self, database: ResilientPool) -> int:
        if time.monotonic() - self._last_run < self.settings.retention_interval_s:
            return 0
        if database.pool is None:
            return 0
        try:
            rows = await database.pool.fetch(SELECT_RETENTIONS)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot read retention settings, will retry: %s", exc)
            return 0
        self._last_run = time.monotonic()
        removed = 0
        for row in rows:
            retention = _Retention(row["project_id"], row["retention_days"], row["keep_rollups"])
            try:
                removed += await self._sweep(database, retention)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("retention of %s failed, will retry: %s", retention.project_id, exc)
                self._last_run = -float("inf")
        return removed

    async def _sweep(self, database: ResilientPool, retention: _Retention) -> int:
        location = LakeLocation.from_settings(self.settings)
        cutoff = self.today() - timedelta(days=retention.days)
        if location.local is None:
            found = await asyncio.to_thread(self._expired_objects, location, retention, cutoff)
            return await self._removed(database, retention, cutoff, found, location)
        lake = location.local
        stores = [(name, project_dir(lake, name, retention.project_id))
                  for name in (EVENTS_STORE, FAILED_STORE)]  # fmt: skip
        rollups = lake / ROLLUPS_DIR
        if not retention.keep_rollups and rollups.is_dir():
            stores += [
                (ROLLUPS_DIR, project_dir(rollups, store.name, retention.project_id))
                for store in sorted(rollups.iterdir())
                if store.is_dir() and not store.name.startswith(".")
            ]
        removed = 0
        rollup_days: set[date] = set()
        for name, directory in stores:
            expired = await asyncio.to_thread(expired_partitions, directory, cutoff)
            for day, partition in expired:
                await asyncio.to_thread(remove_partition, lake, partition)
                self.removed.inc(1, name)
                removed += 1
                if name == ROLLUPS_DIR:
                    rollup_days.add(day)
        return await self._forget(database, retention, cutoff, removed, rollup_days)

    def _expired_objects(
        self, location: LakeLocation, retention: _Retention, cutoff: date
    ) -> list[tuple[str, date, str]]:
        """(store name, day, partition) of every expired partition of the project."""
        project = retention.project_id
        prefixes = [(name, project_dir(Path(), name, project).as_posix())
                    for name in (EVENTS_STORE, FAILED_STORE)]  # fmt: skip
        if not retention.keep_rollups:
            selector = pafs.FileSelector(location.path(ROLLUPS_DIR), allow_not_found=True)
            for info in location.fs.get_file_info(selector):
                if info.type == pafs.FileType.Directory and not info.base_name.startswith("."):
                    store = project_dir(Path(ROLLUPS_DIR), info.base_name, project)
                    prefixes.append((ROLLUPS_DIR, store.as_posix()))
        return [
            (name, day, partition)
            for name, prefix in prefixes
            for day, partition in expired_object_partitions(location, prefix, cutoff)
        ]

    async def _removed(
        self,
        database: ResilientPool,
        retention: _Retention,
        cutoff: date,
        found: list[tuple[str, date, str]],
        location: LakeLocation,
    ) -> int:
        rollup_days: set[date] = set()
        for name, day, partition in found:
            await asyncio.to_thread(remove_object_partition, location, partition)
            self.removed.inc(1, name)
            if name == ROLLUPS_DIR:
                rollup_days.add(day)
        return await self._forget(database, retention, cutoff, len(found), rollup_days)

    async def _forget(
        self,
        database: ResilientPool,
        retention: _Retention,
        cutoff: date,
        removed: int,
        rollup_days: set[date],
    ) -> int:
        if rollup_days and database.pool is not None:
            # Forget their signatures too: nothing of those days is left to roll up.
            await database.pool.execute(
                DELETE_ROLLUP_DAYS, retention.project_id, sorted(rollup_days)
            )
        if removed:
            log.info(
                "retention of %s (%d days): %d partition(s) before %s removed",
                retention.project_id, retention.days, removed, cutoff,
            )  # fmt: skip
        return removed
